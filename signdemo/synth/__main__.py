"""Command line of the synthetic signer.

    python -m signdemo.synth make data/synth --per-class 40 --seed 0          # the data set
    python -m signdemo.synth check data/synth --limit 28                      # MediaPipe vs truth
    python -m signdemo.synth check 2 --fps 15                                  # on fresh renders
    python -m signdemo.synth preview sheet.png                                 # one frame per class
    python -m signdemo.synth preview wave.mp4 --label wave --overlay           # one clip
    python -m signdemo.synth classes                                           # the "try these" table
    python -m signdemo.synth examples data/synth data/synth-kp --out examples  # the app's examples
    python -m signdemo.synth transfer ../shared/data/gislr_hello_thankyou/gislr_hello_thankyou.npz  # real people
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from signdemo.errors import SigndemoError


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m signdemo.synth", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("make", help="render the data set: clips, labels.csv, ground-truth keypoints")
    p.add_argument("out", type=Path)
    p.add_argument("--per-class", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--signers", type=int, default=24, help="number of signer identities")
    p.add_argument("--val-signers", type=int, default=4)
    p.add_argument("--test-signers", type=int, default=4)
    p.add_argument("--first-signer", type=int, default=0,
                   help="id of the first signer: a second set with ids past the first set's has new signers")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--fps", type=float, default=None, help="frame rate (default: 25 or 30 per clip)")
    p.add_argument("--left-fraction", type=float, default=0.4, help="share of left-handed clips")
    p.add_argument("--classes", default=None, help="comma-separated subset of the vocabulary")
    p.add_argument("--workers", type=int, default=2)

    p = sub.add_parser("check", help="run the landmark extractor and compare with the ground truth")
    p.add_argument("target", help="a data-set folder, or N: render N fresh clips per class")
    p.add_argument("--limit", type=int, default=28, help="data set: at most this many clips (0 = all)")
    p.add_argument("--split", default=None, help="data set: only this split")
    p.add_argument("--fps", type=float, default=None, help="fresh renders: frame rate")
    p.add_argument("--seed", type=int, default=777, help="fresh renders: seed (signers 1000+)")
    p.add_argument("--json", type=Path, default=None, help="also write the summary as JSON")

    p = sub.add_parser("preview", help="a contact sheet (.png) or one clip (.mp4)")
    p.add_argument("out", type=Path)
    p.add_argument("--label", default="wave", help="class of the .mp4 preview")
    p.add_argument("--signer", type=int, default=0)
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--left", action="store_true", help="left-handed")
    p.add_argument("--overlay", action="store_true", help="draw the ground-truth keypoints")

    sub.add_parser("classes", help="print the vocabulary as a Markdown table")

    p = sub.add_parser("examples", help="copy held-out clips and keypoint rows into the app's examples/")
    p.add_argument("dataset", type=Path, help="a data set made by `make`")
    p.add_argument("prepared", type=Path, help="its keypoints prepared by `python -m signdemo.train.prepare`")
    p.add_argument("--out", type=Path, default=Path("examples"))
    p.add_argument("--every", type=int, default=2, help="one clip for every N-th class")

    p = sub.add_parser("transfer", help="the keypoint demo model on real people's landmarks (GISLR hello/thankyou)")
    p.add_argument("npz", type=Path, help="gislr_hello_thankyou.npz (packed GISLR landmarks)")
    p.add_argument("--bigru", help="keypoint bundle (default: the resolved one)")
    p.add_argument("--json", action="store_true")
    return parser


def _progress(done: int, total: int, elapsed: float) -> None:
    rate = done / max(elapsed, 1e-9)
    eta = (total - done) / max(rate, 1e-9)
    sys.stderr.write(f"\r[{done:5d}/{total}] {100 * done / total:5.1f}%  {rate:.2f} clips/s  ETA {eta / 60:.1f} min ")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _make(args) -> int:
    from signdemo.synth.dataset import DatasetConfig, make_dataset

    labels = tuple(args.classes.split(",")) if args.classes else None
    config = DatasetConfig(
        per_class=args.per_class, seed=args.seed, signers=args.signers, val_signers=args.val_signers,
        test_signers=args.test_signers, width=args.width, height=args.height, fps=args.fps,
        first_signer=args.first_signer, left_fraction=args.left_fraction,
        **({"labels": labels} if labels else {}),
    )  # fmt: skip
    path = make_dataset(args.out, config, workers=args.workers, progress=_progress)
    print(f"wrote {path}")
    return 0


def _check(args) -> int:
    from signdemo.landmarks import extract_landmarks
    from signdemo.synth.evaluate import ExtractionStats, format_summary

    stats = ExtractionStats()
    start = time.perf_counter()
    if args.target.isdigit():
        from signdemo.synth.sample import render_sample
        from signdemo.synth.vocabulary import LABELS

        n = int(args.target)
        for k, label in enumerate(LABELS):
            for i in range(n):
                clip = render_sample(label, 1000 + k * n + i, i, args.seed, fps=args.fps)
                lm = extract_landmarks(clip.frames, fps=clip.fps)
                stats.add(clip.keypoints, lm.points, lm.present, lm.image_size, clip.active, clip.handedness, label)
                _progress(k * n + i + 1, n * len(LABELS), time.perf_counter() - start)
    else:
        from signdemo.synth.dataset import read_labels
        from signdemo.video import VideoLimits, read_clip

        rows = read_labels(args.target)
        if args.split:
            rows = [r for r in rows if r["split"] == args.split]
        if args.limit:  # round-robin over classes so a small limit still covers all of them
            by_label: dict[str, list[dict]] = {}
            for r in rows:
                by_label.setdefault(r["label"], []).append(r)
            ordered = [r for group in zip(*by_label.values()) for r in group]
            rows = ordered[: args.limit]
        for i, r in enumerate(rows):
            clip = read_clip(r["path"], VideoLimits(max_side=max(int(r["width"]), int(r["height"]))))
            lm = extract_landmarks(clip.frames, clip.source_indices, fps=clip.fps)
            with np.load(r["groundtruth_path"]) as gt:
                truth = gt["keypoints"][clip.source_indices] * clip.scale
                active = gt["active"][clip.source_indices]
            stats.add(truth, lm.points, lm.present, lm.image_size, active, r["handedness"], r["label"])
            _progress(i + 1, len(rows), time.perf_counter() - start)
    summary = stats.summary()
    print(format_summary(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 0


def _draw_truth(frame: np.ndarray, points: np.ndarray) -> np.ndarray:
    import cv2

    out = frame.copy()
    for x, y in points:
        if np.isfinite(x) and np.isfinite(y):
            cv2.circle(out, (int(x), int(y)), 2, (0, 0, 255), -1, cv2.LINE_AA)
    return out


def _preview(args) -> int:
    import cv2

    from signdemo.synth.sample import render_sample
    from signdemo.synth.vocabulary import LABELS

    left = True if args.left else None
    if args.out.suffix.lower() == ".mp4":
        from signdemo.video import write_mp4

        clip = render_sample(args.label, args.signer, args.index, args.seed, left_handed=left)
        frames = clip.frames
        if args.overlay:
            frames = np.stack([_draw_truth(f, p) for f, p in zip(frames, clip.keypoints)])
        write_mp4(args.out, frames, clip.fps)
    else:
        tiles = []
        for k, label in enumerate(LABELS):
            clip = render_sample(label, args.signer + k, args.index, args.seed, left_handed=left, fps=10)
            active = np.flatnonzero(clip.active)
            i = int(active[len(active) * 2 // 3]) if len(active) else len(clip.frames) // 2
            frame = _draw_truth(clip.frames[i], clip.keypoints[i]) if args.overlay else clip.frames[i]
            tile = cv2.resize(frame, (320, 240), interpolation=cv2.INTER_AREA)
            cv2.putText(tile, f"{label} ({clip.handedness})", (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                        (255, 255, 255), 2, cv2.LINE_AA)  # fmt: skip
            tiles.append(tile)
        while len(tiles) % 4:
            tiles.append(np.zeros_like(tiles[0]))
        sheet = np.concatenate([np.concatenate(tiles[i : i + 4], 1) for i in range(0, len(tiles), 4)], 0)
        if not cv2.imwrite(str(args.out), sheet):
            raise SystemExit(f"could not write {args.out} (use a .png or .mp4 name)")
    print(f"wrote {args.out}")
    return 0


def _classes(args) -> int:
    from signdemo.synth.vocabulary import VOCABULARY

    print("| label | name | hands | how to perform it |")
    print("|---|---|---|---|")
    for c in VOCABULARY:
        print(f"| `{c.name}` | {c.title} | {'both' if c.hands == 2 else 'one'} | {c.how_to} |")
    return 0


def _examples(args) -> int:
    from signdemo.synth.examples import write_examples

    written = write_examples(args.dataset, args.prepared, args.out, every=args.every)
    print(f"wrote {len(written['clips'])} clips and {len(written['keypoints'])} keypoint rows to {args.out}")
    return 0


def _transfer(args) -> int:
    from signdemo.inference import Recognizer
    from signdemo.synth.transfer import format_transfer, measure_transfer

    rec = Recognizer.from_defaults(bigru=args.bigru, models=("bigru_attention",))
    results = measure_transfer(rec, args.npz)
    if args.json:
        print(json.dumps({k: {"synth": v.synth, "sequences": v.sequences, "top1": v.top1, "pair": v.pair,
                              "answers": dict(v.answers)} for k, v in results.items()}, indent=2))  # fmt: skip
    else:
        print(f"{rec.bigru.describe()}\n")
        print(format_transfer(results, len(rec.bigru.labels)))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        commands = {"make": _make, "check": _check, "preview": _preview, "classes": _classes, "examples": _examples,
                    "transfer": _transfer}
        return commands[args.command](args)
    except (SigndemoError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

"""python -m signdemo.train.wlasl_hands ../shared/data/wlasl_hands --out data/wlasl100-hands --num-classes 100 --pose drop --normalize hands

Convert MediaPipe **Hands** landmarks of WLASL clips (the layout of `../shared/data/wlasl_hands/`:
`wlasl300_hands.npz` with `frames` (M, 2, 21, 3) float16, `offsets`, `video_id`; `index.csv` with
video_id, gloss, class_index, split, signer_id, ...; `wlasl_class_list.txt`) into a prepared keypoint
data set, through the same landmark files and feature code as `python -m signdemo.train.prepare`
(MediaPipe is skipped: the landmarks are given). The split is WLASL's official one.

The data has no body pose, and its two hand slots per frame are in MediaPipe's detection order, not
left/right. `--hand-rule` decides which slot is the signer's left and right hand; the default,
"wrist_x", agrees best with what Holistic (which knows the body) calls left and right on the same
frames of the shared WLASL clips (measure it with `--check-handedness CLIPS_DIR`):

    python -m signdemo.train.wlasl_hands ../shared/data/wlasl_hands --check-handedness ../shared/data/wlasl_clips

Licence: WLASL's C-UDA (computational use). A model trained on it may ship; the landmarks may not.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signdemo import schema
from signdemo.hand_slots import DEFAULT_HAND_RULE, HAND_RULES, hands_to_schema, slot_present, slot_sides
from signdemo.train import script_parser
from signdemo.train.datasets import normalize_split, read_class_list, wlasl_range
from signdemo.train.prepare import PROGRESS_NAME, add_feature_args, build_exchange, feature_config_from_args

log = logging.getLogger(__name__)

NPZ_NAME = "wlasl300_hands.npz"
INDEX_NAME = "index.csv"
CLASS_LIST_NAME = "wlasl_class_list.txt"
#: The rate recorded for the rows: MediaPipe Hands ran on every frame of the 24-30 fps WLASL videos.
#: It is also the landmark rate a model trained on them asks of the app (every frame of such a video).
WLASL_FPS = 30.0

_LEFT, _RIGHT = schema.part_slice("left_hand"), schema.part_slice("right_hand")


@dataclass(frozen=True)
class HandClip:
    """One clip of the data set: its index row and its (T, 2, 21, 3) slots (-1 = no hand)."""

    video_id: str
    gloss: str
    class_index: int
    split: str
    signer: str
    slots: np.ndarray
    frame_start: int = 1  # WLASL's sign boundaries: 1-based, inclusive; frame_end -1 = the last frame
    frame_end: int = -1

    def sign_range(self) -> slice:
        """The frames of the sign itself (WLASL's annotation, clipped to the frames there are)."""
        n = len(self.slots)
        start, end = wlasl_range(self.frame_start, self.frame_end)
        start = min(start, max(n - 1, 0))
        return slice(start, n if end is None else min(max(end, start + 1), n))


def rows_every(fps: float | None) -> int:
    """N of `convert(every=N)` for a model that records `fps` landmark rows a second (0 or None:
    every frame): the hand data's rows it was trained on are every N-th frame."""
    return max(1, round(WLASL_FPS / float(fps or WLASL_FPS)))


def read_index(folder: str | Path) -> dict[str, dict]:
    """video_id -> its row of index.csv."""
    with open(Path(folder) / INDEX_NAME, newline="", encoding="utf-8") as f:
        return {row["video_id"]: row for row in csv.DictReader(f)}


def read_clips(folder: str | Path, num_classes: int | None = 100) -> Iterator[HandClip]:
    """The clips of the first `num_classes` WLASL classes (None: all), in the file's order."""
    folder = Path(folder)
    index = read_index(folder)
    with np.load(folder / NPZ_NAME, allow_pickle=False) as data:
        frames, offsets, video_ids = data["frames"], data["offsets"], data["video_id"]
    for i, vid in enumerate(video_ids):
        row = index.get(str(vid))
        if row is None:
            raise ValueError(f"{NPZ_NAME}: clip {vid} has no row in {INDEX_NAME}")
        class_index = int(row["class_index"])
        if num_classes is not None and class_index >= num_classes:
            continue
        yield HandClip(str(vid), row["gloss"], class_index, normalize_split(row["split"]),
                       row.get("signer_id") or "", frames[offsets[i] : offsets[i + 1]].astype(np.float32),
                       int(row.get("frame_start") or 1), int(row.get("frame_end") or -1))  # fmt: skip


def convert(
    folder: str | Path,
    out: str | Path,
    *,
    num_classes: int | None = 100,
    feature_config=None,
    hand_rule: str = DEFAULT_HAND_RULE,
    limit: int | None = None,
    every: int = 1,
    sign_range: bool = False,
) -> Path:
    """Write landmark files and the exchange format for the first `num_classes` classes.

    every: keep every N-th frame (2: about 15 fps, the rows a model extracting at 15 fps sees); the
    rate recorded for the data (and asked of the app by a model trained on it) is 30 / N.
    sign_range: keep only the frames inside WLASL's annotated sign boundaries (frame_start,
    frame_end), as WLASL's own video pipeline cuts them; else every frame of the video.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    fps = WLASL_FPS / every
    from signdemo.features import FeatureConfig
    from signdemo.landmarks import Landmarks

    feature_config = feature_config or FeatureConfig(pose="drop", normalize="hands")
    folder, out = Path(folder), Path(out)
    classes = read_class_list(folder / CLASS_LIST_NAME)
    # all: the classes the data holds clips of (the class list names all 2000 WLASL glosses)
    num_classes = num_classes or 1 + max(int(row["class_index"]) for row in read_index(folder).values())
    classes = classes[:num_classes]
    landmarks_dir = out / "landmarks"
    landmarks_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, clip in enumerate(read_clips(folder, num_classes)):
        if limit is not None and n >= limit:
            break
        if classes[clip.class_index] != clip.gloss:
            raise ValueError(f"{clip.video_id}: gloss {clip.gloss!r} but class {clip.class_index} is "
                             f"{classes[clip.class_index]!r} in {CLASS_LIST_NAME}")  # fmt: skip
        part = clip.sign_range() if sign_range else slice(0, len(clip.slots))
        points, present = hands_to_schema(clip.slots[part][::every], hand_rule)
        lm = Landmarks(points, present, np.arange(part.start, part.stop, every), fps, (0, 0))
        key = f"wlasl_{clip.video_id}"
        lm.save(landmarks_dir / f"{key}.npz")
        rows.append({
            "sample_id": clip.video_id, "label": clip.gloss, "label_id": clip.class_index, "split": clip.split,
            "signer": clip.signer, "source_path": f"{NPZ_NAME}#{clip.video_id}", "frame_start": part.start,
            "frame_end": part.stop, "original_frames": part.stop - part.start, "landmark_rows": len(points),
            "landmarks": f"{key}.npz",
        })  # fmt: skip
    (landmarks_dir / PROGRESS_NAME).unlink(missing_ok=True)
    build_exchange(out, rows, classes, feature_config, landmarks_dir, extra_config={
        "source": f"WLASL{len(classes)} MediaPipe Hands landmarks ({folder.name}/{NPZ_NAME}; no pose)",
        "split": "WLASL official", "hand_rule": hand_rule, "hand_rule_meaning": HAND_RULES[hand_rule],
        "extraction_fps": fps, "licence": "WLASL C-UDA (computational use)",
        # the graph that made these landmarks: a model trained on them is fed the same at inference
        "landmark_model": "hands",
        "frames": "WLASL's annotated sign boundaries" if sign_range else "every frame of the video",
        "command": "python -m signdemo.train.wlasl_hands " + " ".join(sys.argv[1:]),
    })  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------------
# Which slot is which hand: measured against Holistic on the same frames


def holistic_sides(slots: np.ndarray, points: np.ndarray, present: np.ndarray, tol: float = 0.05) -> np.ndarray:
    """The side Holistic gives each slot's hand on the same frames: (T, 2) int, 0 left, 1 right,
    -1 where Holistic has no hand within `tol` (mean absolute x, y difference of the 21 points).

    slots: (T, 2, 21, 3) from the Hands data; points (T, 75, 3) / present (T, 3) from Holistic."""
    if len(slots) != len(points):
        raise ValueError(f"{len(slots)} frames of hand slots but {len(points)} Holistic rows")
    sides = np.full(slots.shape[:2], -1, dtype=np.int64)
    has = slot_present(slots)
    dist = np.full(slots.shape[:2] + (2,), np.inf)  # (T, 2 slots, 2 sides)
    for side, rows in ((0, _LEFT), (1, _RIGHT)):
        d = np.abs(points[:, None, rows, :2] - slots[..., :2]).mean(axis=(2, 3))  # (T, 2)
        dist[..., side] = np.where(present[:, None, 1 + side] & has, d, np.inf)
    best = dist.argmin(axis=2)
    ok = np.take_along_axis(dist, best[..., None], axis=2)[..., 0] < tol
    sides[ok] = best[ok]
    return sides


def handedness_agreement(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, dict]:
    """Per rule: the fraction of hands (slot x frame) that Holistic places where the rule does.

    pairs: (slots (T, 2, 21, 3), holistic sides (T, 2)) per clip. Returns
    {rule: {"agreement", "hands", "per_clip": [...]}}."""
    result = {}
    for rule in HAND_RULES:
        agree, total, per_clip = 0, 0, []
        for slots, truth in pairs:
            known = truth >= 0
            hits = int(((slot_sides(slots, rule) == truth) & known).sum())
            agree, total = agree + hits, total + int(known.sum())
            per_clip.append(hits / max(int(known.sum()), 1))
        result[rule] = {"agreement": agree / max(total, 1), "hands": total, "per_clip": per_clip}
    return result


def check_handedness(folder: str | Path, clips_dir: str | Path) -> dict:
    """Run Holistic on every frame of the clips of `clips_dir` that the data set holds, and measure
    each hand rule against it. Returns {"clips": [video ids], "rules": handedness_agreement(...)}."""
    from signdemo.landmarks import extract_clip_landmarks
    from signdemo.video import read_clip

    wanted = {p.stem: p for p in sorted(Path(clips_dir).glob("*.mp4"))}
    pairs, ids = [], []
    for clip in read_clips(folder, None):
        if clip.video_id not in wanted:
            continue
        lm = extract_clip_landmarks(read_clip(wanted[clip.video_id]), None)  # every frame, as the data
        pairs.append((clip.slots, holistic_sides(clip.slots, lm.points, lm.present)))
        ids.append(clip.video_id)
    return {"clips": ids, "rules": handedness_agreement(pairs)}


def compare_sources(folder: str | Path, clips_dir: str | Path, bundle_source: str | Path,
                    rates: tuple[float | None, ...] = (None,),
                    landmark_models: tuple[str | None, ...] = (None,)) -> dict:  # fmt: skip
    """A keypoint bundle on the shared clips that the data set holds, from two sources of landmarks:
    the Hands data it was trained on (at the rate it records), and the app's own path (decode, landmarks,
    the bundle's features) at each extraction rate in `rates` (None: the rate the bundle records, as
    the app) with each landmark model of `landmark_models` (None: the one the bundle records, as the app;
    "holistic", "hands": `landmarks.LANDMARK_MODELS`).

    Returns {"clips": [{video_id, gloss, known, hands: top-5, app@RATE: top-5, ..., fidelity}], "summary":
    {source: {top1_agreement, top5_overlap, accuracy, known, same_hands_frames, median_feature_distance}}};
    accuracy counts only the clips whose gloss the model knows. Where a source's rows are the data's
    (the same rate), `fidelity` compares the landmarks themselves: the fraction of frames with the
    same hands found (on the same sides), and the distance of the model's input features from those
    of the data, relative to their norm (0: the model gets exactly what it was trained on)."""
    from signdemo.features import landmarks_to_features
    from signdemo.inference import Recognizer
    from signdemo.video import read_clip
    from signdemo.weights import BIGRU, load_bundle

    bundle = load_bundle(bundle_source)
    wanted = {p.stem: p for p in sorted(Path(clips_dir).glob("*.mp4"))}
    recognizers = {}
    for model in landmark_models:
        for rate in rates:
            name = "app" if rate is None else ("app@every-frame" if rate == 0 else f"app@{rate:g}fps")
            name += "" if model is None else f"/{model}"
            kwargs = {} if rate is None else {"extraction_fps": rate or None}
            recognizers[name] = Recognizer(bundle, None, landmark_model=model, **kwargs)
    reference = next(iter(recognizers.values()))
    rule = reference.bigru.provenance.get("hand_rule", DEFAULT_HAND_RULE)
    every = rows_every(bundle.provenance.get("landmark_extraction_fps"))  # the rows it was trained on
    rows = []
    for clip in read_clips(folder, None):
        if clip.video_id not in wanted:
            continue
        points, present = hands_to_schema(clip.slots[::every], rule)
        data_features = landmarks_to_features(points, present, reference.feature_config)
        pred = reference.predict_features(data_features)
        row = {"video_id": clip.video_id, "gloss": clip.gloss, "known": clip.gloss in bundle.labels,
               "hands": pred.labels, "fidelity": {}}  # fmt: skip
        video = read_clip(wanted[clip.video_id], reference.limits)  # decoded once, for every source
        for name, rec in recognizers.items():
            result = rec.recognize(wanted[clip.video_id], models=(BIGRU,), clip=video)
            row[name] = result.bigru.labels if result.bigru else []
            lm = result.landmarks
            if len(lm.present) == len(present):  # the same rows as the data: compare them
                app_features = landmarks_to_features(lm.points, lm.present, rec.feature_config)
                row["fidelity"][name] = {
                    # the frames where the app finds the same hands (on the same sides) as the data
                    "same_hands": float((lm.present[:, 1:] == present[:, 1:]).all(axis=1).mean()),
                    # how far the model's input is from the one it would get from the data
                    "feature_distance": float(np.linalg.norm(app_features - data_features)
                                              / max(np.linalg.norm(data_features), 1e-9)),
                }  # fmt: skip
        rows.append(row)
    summary = {}
    for name in ["hands", *recognizers]:
        known = [r for r in rows if r["known"]]
        summary[name] = {
            "top1_agreement_with_hands": float(np.mean([r[name][:1] == r["hands"][:1] for r in rows])) if rows else 0.0,
            "top5_overlap_with_hands": float(np.mean([len(set(r[name]) & set(r["hands"])) / max(len(r["hands"]), 1)
                                                      for r in rows])) if rows else 0.0,
            "top1_accuracy": float(np.mean([r[name][:1] == [r["gloss"]] for r in known])) if known else None,
            "top5_accuracy": float(np.mean([r["gloss"] in r[name] for r in known])) if known else None,
            "clips": len(rows), "known": len(known),
        }  # fmt: skip
        fidelity = [r["fidelity"][name] for r in rows if name in r["fidelity"]]
        if fidelity:
            summary[name]["same_hands_frames"] = float(np.mean([f["same_hands"] for f in fidelity]))
            summary[name]["median_feature_distance"] = float(np.median([f["feature_distance"] for f in fidelity]))
    return {"bundle": bundle.describe(), "clips": rows, "summary": summary}


def get_args_parser() -> argparse.ArgumentParser:
    parser = script_parser("python -m signdemo.train.wlasl_hands", __doc__)
    parser.add_argument("folder", type=Path, help=f"folder with {NPZ_NAME}, {INDEX_NAME}, {CLASS_LIST_NAME}")
    parser.add_argument("--out", type=Path, help="output folder (the prepared data set)")
    parser.add_argument("--num-classes", type=int, default=100, help="the first K WLASL classes (0 = all 300)")
    parser.add_argument("--hand-rule", choices=sorted(HAND_RULES), default=DEFAULT_HAND_RULE)
    parser.add_argument("--limit", type=int, help="only the first N clips")
    parser.add_argument("--every", type=int, default=1, metavar="N",
                        help="keep every N-th frame (2: ~15 fps; the model then asks the app for 30/N fps)")
    parser.add_argument("--sign-range", action="store_true",
                        help="only the frames inside WLASL's annotated sign boundaries (frame_start, frame_end)")
    parser.add_argument("--check-handedness", type=Path, metavar="CLIPS_DIR",
                        help="measure each hand rule against Holistic on the clips of CLIPS_DIR and exit")
    parser.add_argument("--compare-sources", type=Path, metavar="CLIPS_DIR",
                        help="run --bundle on the clips of CLIPS_DIR from the hand data and through the app's "
                        "own path, report their agreement and exit")
    parser.add_argument("--bundle", help="keypoint bundle for --compare-sources")
    parser.add_argument("--rates", type=float, nargs="*", default=[],
                        help="--compare-sources: extraction rates besides the bundle's own (0 = every frame)")
    parser.add_argument("--landmark-models", nargs="*", default=[], choices=("holistic", "hands"),
                        help="--compare-sources: landmark models besides the bundle's own")
    parser.add_argument("--json", type=Path, help="--compare-sources: also write the report here")  # fmt: skip
    add_feature_args(parser)
    parser.set_defaults(pose="drop", normalize="hands")
    return parser


def main(args: argparse.Namespace):
    if args.check_handedness:
        report = check_handedness(args.folder, args.check_handedness)
        print(f"{len(report['clips'])} clips held against Holistic: {', '.join(report['clips'])}")
        for rule, r in sorted(report["rules"].items(), key=lambda kv: -kv[1]["agreement"]):
            print(f"  {rule:12s} {100 * r['agreement']:5.1f}% of {r['hands']} hands  ({HAND_RULES[rule]})")
        return report
    if args.compare_sources:
        if not args.bundle:
            raise SystemExit("--compare-sources needs --bundle")
        report = compare_sources(args.folder, args.compare_sources, args.bundle, (None, *args.rates),
                                 (None, *args.landmark_models))  # fmt: skip
        for row in report["clips"]:
            print(row["video_id"], row["gloss"], "(known)" if row["known"] else "(not in the vocabulary)",
                  " | ".join(f"{k}: {', '.join(v[:3])}" for k, v in row.items() if isinstance(v, list)))  # fmt: skip
        for name, s in report["summary"].items():
            same = (f"; same hands on {s['same_hands_frames']:.1%} of the frames, features "
                    f"{s['median_feature_distance']:.3f} from the data's" if "same_hands_frames" in s else "")
            print(f"{name:27s} top-1 as the hand data {s['top1_agreement_with_hands']:.0%}, top-5 overlap "
                  f"{s['top5_overlap_with_hands']:.0%}; on the {s['known']} known clips: top-1 {s['top1_accuracy']}, "
                  f"top-5 {s['top5_accuracy']}{same}")  # fmt: skip
        if args.json:
            args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        return report
    if not args.out:
        raise SystemExit("--out is required (or --check-handedness CLIPS_DIR)")
    return convert(args.folder, args.out, num_classes=args.num_classes or None,
                   feature_config=feature_config_from_args(args), hand_rule=args.hand_rule, limit=args.limit,
                   every=args.every, sign_range=args.sign_range)  # fmt: skip


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main(get_args_parser().parse_args())

"""Command line: `python -m signdemo predict CLIP [CLIP...] [--json]`, `python -m signdemo weights`.

    python -m signdemo predict clip.mp4 --json                  # both models' top-5 as JSON
    python -m signdemo predict clip.mp4 --bigru weights/demo-bigru-attention --mirror
    python -m signdemo predict keypoints.npy                    # BiGRU on (N, 200, 450) features
    python -m signdemo weights                                  # which bundles resolve, and from where
    python -m signdemo evaluate data/synth/labels.csv --split test   # held-out accuracy, full video path
    python -m signdemo evaluate hf://datasets/SharoonArshad/asl-citizen-processed-200 --split test --try-assumptions
    python -m signdemo parity data/processed-200 --videos asl_citizen/videos --split test --limit 50
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from signdemo.errors import SigndemoError


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m signdemo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="score clips (or .npy keypoint arrays) with both models")
    p.add_argument("inputs", nargs="+", type=Path, help="video files, or .npy (N, 200, 450) feature arrays")
    p.add_argument("--json", action="store_true", help="print one JSON object per input")
    p.add_argument("--bigru", help="BiGRU bundle: folder, checkpoint file, or hf://owner/repo[@rev]")
    p.add_argument("--i3d", help="I3D bundle: folder, checkpoint file, or hf://owner/repo[@rev]")
    p.add_argument("--models", default="bigru_attention,i3d", help="comma-separated models to run")
    p.add_argument("--mirror", action="store_true", help="the clip is mirrored (selfie view): flip it back")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--extraction-fps", type=float, default=None,
                   help="landmark extraction rate (default: the BiGRU bundle's, else 15; 0 = every frame)")
    p.add_argument("--max-duration", type=float, default=10.0, help="refuse clips longer than this (s)")
    p.add_argument("--no-hub", action="store_true", help="never try the Hugging Face hub")

    p = sub.add_parser("parity", help="which FeatureConfig reproduces a processed-200 set from its raw videos")
    p.add_argument("processed", help="processed-200 data set: folder or hf://datasets/owner/name[@revision]")
    p.add_argument("--videos", required=True, type=Path, help="folder of the raw videos (manifest source_path "
                   "or filename, relative to it)")  # fmt: skip
    p.add_argument("--split", default="test", help="split whose rows are compared (default test)")
    p.add_argument("--limit", type=int, default=50, help="compare at most N clips (default 50; 0 = all)")
    p.add_argument("--extraction-fps", type=float, default=0.0,
                   help="landmark rows per second (default 0: every frame, as the published keypoints)")
    p.add_argument("--write", type=Path, metavar="BUNDLE", help="write the best variant into this bundle "
                   "folder's record (its manifest; one is written for a folder in the published layout)")  # fmt: skip
    p.add_argument("--max-duration", type=float, default=30.0, help="skip clips longer than this (s)")
    p.add_argument("--cache-dir", help="Hugging Face cache folder for a hub data set")
    p.add_argument("--json", action="store_true")

    sub.add_parser("weights", help="show which weight bundles resolve, and from where").add_argument(
        "--no-hub", action="store_true"
    )

    p = sub.add_parser("evaluate", help="top-1/top-5/macro F1 on labelled clips (full video path) or on a "
                       "processed-200 keypoint set")  # fmt: skip
    p.add_argument("labels_csv", help="CSV with file and label columns (optionally split), or a processed-200 "
                   "data set: a folder or hf://datasets/owner/name[@revision] (BiGRU only)")  # fmt: skip
    p.add_argument("--split", help="only rows whose split column has this value (e.g. test); processed-200: "
                   "the split to score (default test)")  # fmt: skip
    p.add_argument("--try-assumptions", action="store_true",
                   help="processed-200: also score each reading of the model's assumed parameterless layers "
                   "(activation gelu, relu, none) with the same weights")  # fmt: skip
    p.add_argument("--limit", type=int, help="processed-200: score only the first N rows of the split")
    p.add_argument("--cache-dir", help="processed-200 from the hub: Hugging Face cache folder")
    p.add_argument("--bigru", help="BiGRU bundle (default: the resolved one)")
    p.add_argument("--i3d", help="I3D bundle (default: the resolved one)")
    p.add_argument("--models", default="bigru_attention,i3d", help="comma-separated models to run")
    p.add_argument("--predictions", type=Path, help="write per-sample predictions to this CSV")
    p.add_argument("--record", action="store_true",
                   help="store the figures in each bundle as reports/full_path_evaluation.json")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-hub", action="store_true")
    p.set_defaults(mirror=False, extraction_fps=None, top_k=5, max_duration=10.0)
    return parser


def _load(args) -> "Recognizer":  # noqa: F821
    import os

    from signdemo.inference import Recognizer
    from signdemo.video import VideoLimits

    if args.no_hub:
        os.environ["SIGNDEMO_USE_HUB"] = "0"
    models = tuple(m.strip() for m in args.models.split(","))
    unknown = set(models) - {"bigru_attention", "i3d"}
    if unknown:
        raise SigndemoError(f"unknown model(s) {sorted(unknown)}: choose from bigru_attention, i3d")
    rec = Recognizer.from_defaults(
        bigru=args.bigru,
        i3d=args.i3d,
        models=models,
        limits=VideoLimits(max_duration_s=args.max_duration),
        top_k=args.top_k,
        **({} if args.extraction_fps is None else {"extraction_fps": args.extraction_fps or None}),
    )
    return rec


def _print_human(name: str, result: dict) -> None:
    print(f"== {name}")
    for key in ("bigru", "i3d"):
        pred = result.get(key)
        if not pred:
            continue
        print(f"  {pred['model']}  [{pred['weights']}]")
        for row in pred["top"]:
            print(f"    {row['probability']:6.1%}  {row['label']}")
    for model, err in (result.get("errors") or {}).items():
        print(f"  {model}: no answer: {err}")
    for w in result.get("warnings") or []:
        print(f"  warning: {w}")
    if result.get("timings_ms"):
        print("  timings (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in result["timings_ms"].items()))


def predict(args) -> int:
    rec = _load(args)
    status = 0
    for path in args.inputs:
        try:
            if path.suffix == ".npy":
                feats = np.load(path, allow_pickle=False)
                feats = feats[None] if feats.ndim == 2 else feats
                results = [
                    {"path": f"{path}[{i}]", "bigru": rec.predict_features(f).as_dict()} for i, f in enumerate(feats)
                ]
            else:
                results = [rec.recognize(path, mirror=args.mirror).as_dict()]
        except SigndemoError as exc:
            status = 1
            results = [{"path": str(path), "error": type(exc).__name__, "message": str(exc)}]
        for r in results:
            if args.json:
                r.get("bigru") and r["bigru"].pop("attention", None)
                print(json.dumps(r))
            elif "error" in r:
                print(f"== {r['path']}\n  error: {r['message']}")
            else:
                _print_human(r["path"], r)
    return status


def weights(args) -> int:
    import os

    from signdemo.weights import ARCHITECTURES, resolve_bundle

    if args.no_hub:
        os.environ["SIGNDEMO_USE_HUB"] = "0"
    status = 0
    for arch in ARCHITECTURES:
        try:
            print(f"{arch}: {resolve_bundle(arch).describe()}")
        except SigndemoError as exc:
            print(f"{arch}: none ({exc})")
            status = 1
    return status


def _is_processed(source: str) -> bool:
    from signdemo.processed import is_processed_dir

    return source.startswith("hf://datasets/") or (Path(source).is_dir() and is_processed_dir(source))


def evaluate_processed_set(args) -> int:
    import time

    from signdemo.processed import evaluate_processed, open_processed
    from signdemo.published import MODEL_UNKNOWNS

    args.models = "bigru_attention"
    rec = _load(args)
    data = open_processed(args.labels_csv, cache_dir=args.cache_dir)
    split = args.split or "test"
    t0 = time.perf_counter()
    progress = None if args.json else lambda name, i, n: print(f"  [{name}] {i}/{n}", file=sys.stderr)
    figures = evaluate_processed(rec.bigru, data, split, variants=MODEL_UNKNOWNS if args.try_assumptions else None,
                                 limit=args.limit, predictions_csv=args.predictions, progress=progress)  # fmt: skip
    figures["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    m = figures["models"]["bigru_attention"]
    print(f"{figures['samples']} rows of {data.source} (split {figures['split']}); {figures['label_check']['message']}")
    if figures["out_of_vocabulary"]:
        print(f"  {figures['out_of_vocabulary']} rows have a gloss outside the model's vocabulary (not scored)")
    print(f"  bigru_attention: top-1 {m['top1']:.2%} ({m['correct']}/{m['scored']}), top-5 {m['top5']:.2%}, "
          f"macro F1 {m['macro_f1']:.3f}  [{m['weights']}]")
    for name, v in (figures.get("variants") or {}).items():
        mark = "  (the bundle's reading)" if v["bundle_reading"] else ""
        print(f"    {name:16s} top-1 {v['top1']:.2%} ({v['correct']}/{v['scored']}), top-5 {v['top5']:.2%}{mark}")
    return 0


def evaluate(args) -> int:
    import csv
    import time

    from signdemo.evaluation import evaluate_clips, record_in_bundle

    if _is_processed(args.labels_csv):
        return evaluate_processed_set(args)
    args.labels_csv = Path(args.labels_csv)
    rec = _load(args)
    with open(args.labels_csv, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if args.split is None or r.get("split") == args.split]
    if not rows:
        print(f"error: no rows in {args.labels_csv}" + (f" with split {args.split}" if args.split else ""))
        return 2
    t0 = time.perf_counter()
    figures = evaluate_clips(rec, args.labels_csv, rows, predictions_csv=args.predictions,
                             progress=None if args.json else lambda i, n, name: print(f"  [{i}/{n}] {name}", file=sys.stderr))
    figures["command"] = " ".join(
        ["python -m signdemo evaluate", str(args.labels_csv)]
        + ([f"--split {args.split}"] if args.split else [])
        + ([f"--bigru {args.bigru}"] if args.bigru else [])
        + ([f"--i3d {args.i3d}"] if args.i3d else [])
    )
    figures["seconds"] = round(time.perf_counter() - t0, 1)
    if args.record:
        for bundle in (rec.bigru, rec.i3d):
            if bundle is not None and bundle.architecture in figures["models"]:
                record_in_bundle(bundle, figures)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"{figures['samples']} clips from {args.labels_csv}" + (f" (split {args.split})" if args.split else ""))
        for arch, m in figures["models"].items():
            print(f"  {arch}: top-1 {m['top1']:.2%} ({m['correct']}/{m['scored']}), top-5 {m['top5']:.2%}, "
                  f"macro F1 {m['macro_f1']:.3f}, unanswered {m['unanswered']}  [{m['weights']}]")
    return 0


def parity(args) -> int:
    from signdemo.parity import format_report, run_parity

    report = run_parity(args.processed, args.videos, split=args.split, limit=args.limit or None,
                        extraction_fps=args.extraction_fps or None, max_duration=args.max_duration,
                        write=args.write, cache_dir=args.cache_dir,
                        progress=None if args.json else lambda i, n, name: print(f"  [{i}/{n}] {name}", file=sys.stderr))  # fmt: skip
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0 if report["compared"] else 1


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = get_args_parser().parse_args(argv)
    try:
        commands = {"predict": predict, "weights": weights, "evaluate": evaluate, "parity": parity}
        return commands[args.command](args)
    except SigndemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

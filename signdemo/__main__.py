"""Command line: `python -m signdemo predict CLIP [CLIP...] [--json]`, `python -m signdemo weights`.

    python -m signdemo predict clip.mp4 --json                  # both models' top-5 as JSON
    python -m signdemo predict clip.mp4 --bigru weights/demo-bigru-attention --mirror
    python -m signdemo predict keypoints.npy                    # BiGRU on (N, 200, 450) features
    python -m signdemo weights                                  # which bundles resolve, and from where
    python -m signdemo evaluate data/synth/labels.csv --split test   # held-out accuracy, full video path
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

    sub.add_parser("weights", help="show which weight bundles resolve, and from where").add_argument(
        "--no-hub", action="store_true"
    )

    p = sub.add_parser("evaluate", help="top-1/top-5/macro F1 of both models on labelled clips (full video path)")
    p.add_argument("labels_csv", type=Path, help="CSV with file and label columns (optionally split)")
    p.add_argument("--split", help="only rows whose split column has this value (e.g. test)")
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


def evaluate(args) -> int:
    import csv
    import time

    from signdemo.evaluation import evaluate_clips, record_in_bundle

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


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = get_args_parser().parse_args(argv)
    try:
        return {"predict": predict, "weights": weights, "evaluate": evaluate}[args.command](args)
    except SigndemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

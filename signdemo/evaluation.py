"""Held-out accuracy of the loaded models on labelled clips, through the full video path.

`python -m signdemo evaluate LABELS_CSV --split test [--record]` runs every clip through
`Recognizer.recognize` (decode -> MediaPipe -> features -> BiGRU; frames -> I3D), exactly as the app
does, and reports top-1, top-5 and macro F1 per model. With `--record` the figures are stored in each
bundle as `reports/full_path_evaluation.json` (and the bundle's manifest is rewritten to list it).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Callable

import numpy as np

from signdemo.errors import SigndemoError
from signdemo.inference import Recognizer
from signdemo.metrics import classification_summary
from signdemo.weights import Bundle, update_manifest

FILE_COLUMNS = ("file", "path", "video", "filename", "clip")
LABEL_COLUMNS = ("label", "gloss", "class", "sign")


def _column(row: dict, names: tuple[str, ...]) -> str:
    for name in names:
        if name in row:
            return name
    raise SigndemoError(f"labels CSV needs one of the columns {names}; it has {list(row)}")


def evaluate_clips(
    recognizer: Recognizer,
    labels_csv: str | Path,
    rows: list[dict],
    *,
    predictions_csv: str | Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict:
    """Score the clips of `rows` (dicts read from `labels_csv`; paths relative to its folder)."""
    folder = Path(labels_csv).parent
    fcol, lcol = _column(rows[0], FILE_COLUMNS), _column(rows[0], LABEL_COLUMNS)
    models = {b.architecture: b for b in (recognizer.bigru, recognizer.i3d) if b is not None}
    scores: dict[str, list] = {a: [] for a in models}
    targets: dict[str, list] = {a: [] for a in models}
    unanswered = {a: 0 for a in models}
    per_sample = []
    for i, row in enumerate(rows, 1):
        if progress:
            progress(i, len(rows), row[fcol])
        label = row[lcol]
        entry = {"file": row[fcol], "label": label}
        try:
            result = recognizer.recognize(folder / row[fcol])
            preds = {"bigru_attention": result.bigru, "i3d": result.i3d}
        except SigndemoError as exc:
            preds, entry["error"] = {}, str(exc)
        for arch, bundle in models.items():
            pred = preds.get(arch)
            if pred is None or label not in bundle.labels:
                unanswered[arch] += 1
                continue
            scores[arch].append(pred.scores)
            targets[arch].append(bundle.labels.index(label))
            entry[f"{arch}_top1"] = pred.top1
            entry[f"{arch}_probability"] = round(pred.probabilities[0], 4)
        per_sample.append(entry)
    figures = {"labels_csv": str(labels_csv), "samples": len(rows), "models": {}}
    for arch, bundle in models.items():
        if not targets[arch]:
            continue
        s = classification_summary(np.stack(scores[arch]), np.asarray(targets[arch]), bundle.labels)
        figures["models"][arch] = {
            "weights": bundle.describe(),
            "scored": s["total"], "correct": s["correct"], "unanswered": unanswered[arch],
            "top1": s["top1"], "top5": s["top5"], "macro_f1": s["macro_f1"],
        }  # fmt: skip
    if predictions_csv:
        keys = sorted({k for e in per_sample for k in e}, key=lambda k: (k not in ("file", "label"), k))
        with open(predictions_csv, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(per_sample)
    return figures


def record_in_bundle(bundle: Bundle, figures: dict) -> Path:
    """Store one model's figures in its bundle (`reports/full_path_evaluation.json`) and rewrite the
    manifest so its file list includes it."""
    if bundle.root is None:
        raise SigndemoError(f"{bundle.name} is not a bundle folder; nothing to record into")
    m = figures["models"][bundle.architecture]
    data = {"command": figures.get("command"), "labels_csv": figures["labels_csv"], "samples": figures["samples"],
            "seconds": figures.get("seconds"), **m}  # fmt: skip
    path = bundle.root / "reports" / "full_path_evaluation.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    update_manifest(bundle)
    return path

"""The app's examples: held-out synthetic clips and keypoint rows, picked deterministically.

    python -m signdemo.synth examples data/synth data/synth-kp --out examples

Takes one test-split clip of every other class (rotating through signers by class order, whatever
the models make of them), copies the clips with a `labels.csv`, and writes the same classes' first
test rows of the prepared keypoints as `keypoints.npy` ((N, 200, 450) float16, the exchange
format) with `keypoints_manifest.csv`.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_examples(dataset: Path, prepared: Path, out: Path, *, every: int = 2, split: str = "test") -> dict:
    """Copy the chosen clips and keypoint rows into `out`; returns what was written."""
    dataset, prepared, out = Path(dataset), Path(prepared), Path(out)
    labels = json.loads((prepared / "labels.json").read_text(encoding="utf-8"))
    chosen = labels[::every]
    out.mkdir(parents=True, exist_ok=True)

    clips = sorted((r for r in _rows(dataset / "labels.csv") if r["split"] == split), key=lambda r: r["file"])
    # Rotate through the candidates so the examples show different signers and backgrounds.
    picked = []
    for j, label in enumerate(chosen):
        candidates = [r for r in clips if r["label"] == label]
        picked.append(candidates[j % len(candidates)])
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label", "signer", "handedness", "source"])
        for r in picked:
            name = Path(r["file"]).name
            shutil.copyfile(dataset / r["file"], out / name)
            writer.writerow([name, r["label"], r["signer"], r["handedness"], "signdemo.synth test split"])

    manifest = _rows(prepared / "manifest.csv")
    features = np.load(prepared / "features.npy", mmap_mode="r")
    rows = []
    for j, label in enumerate(chosen):
        candidates = [m for m in manifest if m["split"] == split and m["label"] == label]
        rows.append(candidates[(j + 1) % len(candidates)])  # other samples than the clips
    np.save(out / "keypoints.npy", np.asarray(features[[int(m["index"]) for m in rows]], dtype=np.float16))
    with open(out / "keypoints_manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sample_id", "label", "signer", "split"])
        for m in rows:
            writer.writerow([m["sample_id"], m["label"], m["signer"], m["split"]])
    return {"clips": [Path(r["file"]).name for r in picked], "keypoints": [m["sample_id"] for m in rows]}

"""A bundle's `reports/` folder: written by the trainers, read by the app's model cards.

Files (all optional when reading):
    final_metrics.json                 best_epoch, best_val_top1, test_loss, test_correct, test_total,
                                       test_top1, test_top5, test_macro_f1, test_weighted_f1
    training_history.csv               one row per epoch: epoch, train_loss, train_top1, val_loss, val_top1, lr, ...
    test_classification_report.json    per-class precision/recall/f1/support + averages
    test_classification_report.csv     the same as a table
    test_confusion_matrix.npy          (C, C) int64, rows = true class
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from signdemo.metrics import classification_summary


@dataclass
class Reports:
    metrics: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    classification: list[dict] = field(default_factory=list)
    confusion: np.ndarray | None = None

    @property
    def empty(self) -> bool:
        return not (self.metrics or self.history or self.classification) and self.confusion is None


def _num(value: str):
    try:
        f = float(value)
    except (TypeError, ValueError):
        return value
    return int(f) if f.is_integer() and "." not in str(value) else f


def read_reports(folder: str | Path | None) -> Reports:
    """Whatever of the report files exist in `folder` (a bundle's `reports/`)."""
    out = Reports()
    if folder is None or not Path(folder).is_dir():
        return out
    folder = Path(folder)
    if (folder / "final_metrics.json").is_file():
        out.metrics = json.loads((folder / "final_metrics.json").read_text(encoding="utf-8"))
    if (folder / "training_history.csv").is_file():
        with open(folder / "training_history.csv", newline="", encoding="utf-8") as f:
            out.history = [{k: _num(v) for k, v in row.items()} for row in csv.DictReader(f)]
    if (folder / "test_classification_report.json").is_file():
        data = json.loads((folder / "test_classification_report.json").read_text(encoding="utf-8"))
        rows = data.get("per_class", data) if isinstance(data, dict) else data
        if isinstance(rows, dict):  # sklearn's {label: {precision, recall, f1-score, support}}
            rows = [
                {"label": k, "precision": v.get("precision"), "recall": v.get("recall"),
                 "f1": v.get("f1-score", v.get("f1")), "support": v.get("support")}
                for k, v in rows.items() if isinstance(v, dict) and k not in ("macro avg", "weighted avg")
            ]  # fmt: skip
        out.classification = list(rows)
    if (folder / "test_confusion_matrix.npy").is_file():
        out.confusion = np.load(folder / "test_confusion_matrix.npy", allow_pickle=False)
    return out


def write_test_reports(
    folder: str | Path,
    scores: np.ndarray,
    targets: np.ndarray,
    labels: list[str],
    *,
    test_loss: float,
    best_epoch: int,
    best_val_top1: float,
    extra: dict | None = None,
) -> dict:
    """Write final_metrics.json, the classification report (json + csv) and the confusion matrix
    for a test set; returns the final metrics."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary = classification_summary(scores, targets, labels)
    metrics = {
        "best_epoch": int(best_epoch),
        "best_val_top1": float(best_val_top1),
        "test_loss": float(test_loss),
        "test_correct": summary["correct"],
        "test_total": summary["total"],
        "test_top1": summary["top1"],
        "test_top5": summary["top5"],
        "test_macro_f1": summary["macro_f1"],
        "test_weighted_f1": summary["weighted_f1"],
        **(extra or {}),
    }
    metrics = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}
    (folder / "final_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    report = {
        "per_class": summary["per_class"],
        "macro_f1": metrics["test_macro_f1"],
        "weighted_f1": metrics["test_weighted_f1"],
        "accuracy": metrics["test_top1"],
    }
    (folder / "test_classification_report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    with open(folder / "test_classification_report.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["label", "precision", "recall", "f1", "support"])
        writer.writeheader()
        writer.writerows(summary["per_class"])
    np.save(folder / "test_confusion_matrix.npy", summary["confusion_matrix"])
    return metrics


def append_history(folder: str | Path, row: dict) -> None:
    """Append one epoch's row to training_history.csv (header from the first row)."""
    path = Path(folder) / "training_history.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.is_file()
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def split_leak_warning(metrics: dict, threshold: float = 0.05) -> str | None:
    """A warning when validation and test top-1 diverge strongly (a sign of a leaking split)."""
    val, test = metrics.get("best_val_top1"), metrics.get("test_top1")
    if val is None or test is None:
        return None
    val, test = float(val), float(test)
    if val > 1.5 or test > 1.5:  # percentages
        val, test = val / 100, test / 100
    if abs(test - val) >= threshold:
        higher = "test" if test > val else "validation"
        return (
            f"Validation top-1 {val:.2%} and test top-1 {test:.2%} differ by {abs(test - val):.2%}; "
            f"a {higher} score this much higher suggests the split may leak (duplicate samples or "
            "signers shared across splits). Run `python -m signdemo.audit` on the data before quoting it."
        )
    return None

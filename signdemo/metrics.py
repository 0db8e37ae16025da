"""Classification metrics shared by the trainers, the error inspector and the reports (numpy only)."""

from __future__ import annotations

import numpy as np


def topk_correct(scores: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """(N, C) scores, (N,) int targets -> (N,) bool: target among the k highest scores."""
    scores = np.asarray(scores)
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return (top == np.asarray(targets)[:, None]).any(axis=1)


def confusion_matrix(targets: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts, rows = true class, columns = predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(targets, dtype=np.int64), np.asarray(predictions, dtype=np.int64)), 1)
    return cm


def per_class_report(cm: np.ndarray, labels: list[str]) -> list[dict]:
    """Precision, recall, F1 and support per class from a confusion matrix."""
    tp = np.diag(cm).astype(np.float64)
    pred = cm.sum(axis=0).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, pred, out=np.zeros_like(tp), where=pred > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return [
        {"label": labels[i], "precision": float(precision[i]), "recall": float(recall[i]),
         "f1": float(f1[i]), "support": int(support[i])}
        for i in range(len(labels))
    ]  # fmt: skip


def classification_summary(scores: np.ndarray, targets: np.ndarray, labels: list[str]) -> dict:
    """Top-1, top-5, macro and weighted F1 (over classes present in `targets`), the confusion
    matrix and the per-class report. `scores`: (N, C) probabilities or logits."""
    scores = np.asarray(scores)
    targets = np.asarray(targets, dtype=np.int64)
    n = len(targets)
    preds = scores.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
    cm = confusion_matrix(targets, preds, len(labels))
    report = per_class_report(cm, labels)
    support = np.array([r["support"] for r in report], dtype=np.float64)
    f1 = np.array([r["f1"] for r in report])
    seen = support > 0
    return {
        "total": int(n),
        "correct": int((preds == targets).sum()),
        "top1": float((preds == targets).mean()) if n else float("nan"),
        "top5": float(topk_correct(scores, targets, 5).mean()) if n else float("nan"),
        "macro_f1": float(f1[seen].mean()) if seen.any() else float("nan"),
        "weighted_f1": float((f1 * support).sum() / support.sum()) if support.sum() else float("nan"),
        "confusion_matrix": cm,
        "per_class": report,
    }


def most_confused_pairs(cm: np.ndarray, labels: list[str], top: int = 10) -> list[tuple[str, str, int]]:
    """Off-diagonal cells with the most samples: (true label, predicted label, count)."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None)[:top]
    pairs = []
    for flat in order:
        i, j = np.unravel_index(flat, off.shape)
        if off[i, j] == 0:
            break
        pairs.append((labels[i], labels[j], int(off[i, j])))
    return pairs

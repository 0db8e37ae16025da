"""Shared checks of the project's real (WLASL hand landmark) keypoint bundles."""

import csv
import json

import numpy as np

from _paths import need_shared
from signdemo.features import FeatureConfig


def recorded_metrics(folder) -> dict:
    """reports/final_metrics.json, after checking the shipped checkpoint is its run's best validation epoch."""
    metrics = json.loads((folder / "reports" / "final_metrics.json").read_text())
    with open(folder / "reports" / "training_history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    assert int(max(history, key=lambda r: float(r["val_top1"]))["epoch"]) == metrics["best_epoch"]
    return metrics


def recomputed_test_figures(bundle, tmp_path, num_classes: int) -> tuple[int, float]:
    """(top-1 correct, top-5) of `bundle` on the official WLASL test clips of the first `num_classes`
    glosses, from ../shared through the project's reader at the rows it was trained on."""
    import torch

    from signdemo.train import wlasl_hands
    from signdemo.train.datasets import PreparedDataset

    every = wlasl_hands.rows_every(bundle.provenance["landmark_extraction_fps"])
    data = PreparedDataset.load(wlasl_hands.convert(need_shared("data", "wlasl_hands"), tmp_path / "kp", every=every,
                                                    num_classes=num_classes,
                                                    feature_config=FeatureConfig.from_dict(bundle.preprocessing)))  # fmt: skip
    assert data.labels[: bundle.num_classes] == bundle.labels
    test = data.indices("test")
    x = torch.from_numpy(np.asarray(data.features[test], np.float32))
    with torch.inference_mode():
        logits = torch.cat([bundle.model(x[i : i + 64]) for i in range(0, len(x), 64)])
    targets = torch.as_tensor(data.targets[test])
    top5 = logits.topk(5, dim=1).indices
    return int((top5[:, 0] == targets).sum()), float((top5 == targets[:, None]).any(dim=1).float().mean())

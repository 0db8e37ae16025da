"""Tiny synthetic keypoint data sets for the trainer and audit tests (no MediaPipe, no videos).

Each class moves the right hand along its own path (a circle, a line, a zig-zag, ...) in front of a
static body, with per-sample jitter, so a small model separates the classes in a few epochs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from signdemo import schema
from signdemo.features import FeatureConfig
from signdemo.landmarks import Landmarks
from signdemo.train.prepare import build_exchange

_RIGHT = schema.part_slice("right_hand")
_LEFT = schema.part_slice("left_hand")


def synthetic_landmarks(label_id: int, rng: np.random.Generator, frames: int = 30) -> Landmarks:
    """A (frames, 75, 3) clip whose right-hand path depends on `label_id`."""
    t = np.linspace(0, 1, frames)
    points = np.zeros((frames, schema.NUM_POINTS, 3), np.float32)
    pose = rng.normal(0.5, 0.1, (schema.part_slice("pose").stop, 3)).astype(np.float32)
    points[:, : pose.shape[0]] = pose
    phase = label_id * 2.1
    cx = 0.5 + 0.15 * np.cos(2 * np.pi * (label_id + 1) * t + phase)
    cy = 0.5 + 0.15 * np.sin(2 * np.pi * t * (1 + label_id % 2) + phase)
    hand = rng.normal(0, 0.02, (21, 3)).astype(np.float32)
    points[:, _RIGHT] = hand[None] + np.stack([cx, cy, np.zeros_like(t)], axis=1)[:, None, :]
    points[:, _LEFT] = hand[None] + np.array([0.3, 0.7, 0.0], np.float32)
    points += rng.normal(0, 0.003, points.shape).astype(np.float32)
    present = np.ones((frames, 3), bool)
    return Landmarks(points, present, np.arange(frames), 15.0, (640, 480))


def make_prepared(
    root: Path,
    *,
    classes: tuple[str, ...] = ("alpha", "bravo", "charlie"),
    per_split: dict[str, int] | None = None,
    seed: int = 0,
    feature_config: FeatureConfig = FeatureConfig(),
) -> Path:
    """Write a prepared data set (landmarks/*.npz, features.npy, manifest.csv, labels.json) with
    `per_split[split]` samples per class; signers are disjoint between splits."""
    per_split = per_split or {"train": 8, "val": 3, "test": 3}
    rng = np.random.default_rng(seed)
    lm_dir = root / "landmarks"
    lm_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for split, n in per_split.items():
        for c, name in enumerate(classes):
            for k in range(n):
                key = f"{split}_{name}_{k}"
                synthetic_landmarks(c, rng, frames=int(rng.integers(20, 40))).save(lm_dir / f"{key}.npz")
                rows.append({"sample_id": key, "label": name, "label_id": c, "split": split,
                             "signer": f"{split}-signer{k % 2}", "source_path": f"{key}.mp4", "frame_start": 0,
                             "frame_end": "", "original_frames": 30, "landmark_rows": 30, "landmarks": f"{key}.npz"})  # fmt: skip
    build_exchange(root, rows, list(classes), feature_config, lm_dir, extra_config={"source": "synthetic"})
    return root

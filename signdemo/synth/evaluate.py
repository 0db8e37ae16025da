"""Measure landmark extraction on synthetic clips against the renderer's ground truth.

`ExtractionStats` accumulates, over clips: pose and per-hand detection rates (all frames and the
frames of the sign itself), and the mean pixel distance between MediaPipe's points and the ground
truth per keypoint group, on frames where that part was detected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from signdemo import schema

#: Keypoint groups reported by `check`: name -> rows of the (75, ...) schema arrays.
GROUPS: dict[str, tuple[int, ...]] = {
    "face": tuple(
        schema.index("pose", n)
        for n in ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
                  "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right")
    ),  # fmt: skip
    "shoulders": (schema.index("pose", "left_shoulder"), schema.index("pose", "right_shoulder")),
    "elbows": (schema.index("pose", "left_elbow"), schema.index("pose", "right_elbow")),
    "wrists": (schema.index("pose", "left_wrist"), schema.index("pose", "right_wrist")),
    "pose_hand_points": tuple(
        schema.index("pose", f"{s}_{n}") for s in ("left", "right") for n in ("pinky", "index", "thumb")
    ),
    "hips": (schema.index("pose", "left_hip"), schema.index("pose", "right_hip")),
    "left_hand": tuple(range(schema.part_slice("left_hand").start, schema.part_slice("left_hand").stop)),
    "right_hand": tuple(range(schema.part_slice("right_hand").start, schema.part_slice("right_hand").stop)),
}
_PART_OF_GROUP = {"left_hand": 1, "right_hand": 2}  # column of `present`; every other group: pose


@dataclass
class ExtractionStats:
    """Running totals over clips (add clips with `add`, read with `summary`)."""

    frames: int = 0
    active_frames: int = 0
    detected: np.ndarray = field(default_factory=lambda: np.zeros(3))  # pose, left, right
    detected_active: np.ndarray = field(default_factory=lambda: np.zeros(3))
    hand_in_frame: np.ndarray = field(default_factory=lambda: np.zeros(2))  # left, right
    detected_in_frame: np.ndarray = field(default_factory=lambda: np.zeros(2))
    dominant_active: float = 0.0
    nondominant_active: float = 0.0
    err_sum: dict[str, float] = field(default_factory=dict)
    err_count: dict[str, int] = field(default_factory=dict)
    per_label: dict[str, np.ndarray] = field(default_factory=dict)  # frames, pose, dominant (active)

    def add(
        self,
        truth_px: np.ndarray,
        points: np.ndarray,
        present: np.ndarray,
        image_size: tuple[int, int],
        active: np.ndarray,
        dominant: str,
        label: str = "",
    ) -> None:
        """Add one clip.

        truth_px: (T, 75, 2) ground-truth pixels at the extractor's image size (NaN = undefined);
        points: (T, 75, 3) MediaPipe landmarks (normalised x, y); present: (T, 3) bool;
        image_size: (width, height); active: (T,) bool frames of the sign; dominant: "left"/"right".
        """
        w, h = image_size
        pred = points[..., :2] * np.array([w, h], dtype=np.float64)  # (T, 75, 2) pixels
        dist = np.linalg.norm(pred - truth_px, axis=-1)  # (T, 75), NaN where truth is undefined
        present = np.asarray(present, dtype=bool)
        active = np.asarray(active, dtype=bool)
        self.frames += len(present)
        self.active_frames += int(active.sum())
        self.detected += present.sum(axis=0)
        self.detected_active += present[active].sum(axis=0)
        for k, part in enumerate(("left_hand", "right_hand")):
            # A hand counts as visible when at least 80% of its ground-truth points are inside.
            xy = truth_px[:, schema.part_slice(part)]
            inside = (xy[..., 0] >= 0) & (xy[..., 0] < w) & (xy[..., 1] >= 0) & (xy[..., 1] < h)
            visible = inside.mean(axis=1) >= 0.8
            self.hand_in_frame[k] += visible.sum()
            self.detected_in_frame[k] += (visible & present[:, 1 + k]).sum()
        dom_col = 1 if dominant == "left" else 2
        self.dominant_active += float(present[active, dom_col].sum())
        self.nondominant_active += float(present[active, 3 - dom_col].sum())
        for group, rows in GROUPS.items():
            ok = present[:, _PART_OF_GROUP.get(group, 0)]
            d = dist[ok][:, list(rows)]
            d = d[np.isfinite(d)]
            self.err_sum[group] = self.err_sum.get(group, 0.0) + float(d.sum())
            self.err_count[group] = self.err_count.get(group, 0) + int(d.size)
        if label:
            row = self.per_label.setdefault(label, np.zeros(3))
            row += (active.sum(), present[active, 0].sum(), present[active, dom_col].sum())

    def summary(self) -> dict:
        """Rates in [0, 1] and mean errors in pixels (None where nothing was measured)."""
        n, a = max(self.frames, 1), max(self.active_frames, 1)
        return {
            "frames": self.frames,
            "active_frames": self.active_frames,
            "pose_rate": float(self.detected[0] / n),
            "left_hand_rate": float(self.detected[1] / n),
            "right_hand_rate": float(self.detected[2] / n),
            "left_hand_rate_in_frame": float(self.detected_in_frame[0] / max(self.hand_in_frame[0], 1)),
            "right_hand_rate_in_frame": float(self.detected_in_frame[1] / max(self.hand_in_frame[1], 1)),
            "pose_rate_active": float(self.detected_active[0] / a),
            "dominant_hand_rate_active": self.dominant_active / a,
            "nondominant_hand_rate_active": self.nondominant_active / a,
            "mean_error_px": {
                g: (self.err_sum[g] / self.err_count[g]) if self.err_count.get(g) else None
                for g in GROUPS
            },
            "per_label": {
                k: {"pose_rate": float(v[1] / max(v[0], 1)), "dominant_hand_rate": float(v[2] / max(v[0], 1))}
                for k, v in self.per_label.items()
            },
        }


def format_summary(s: dict) -> str:
    """A plain-text report of `ExtractionStats.summary()`."""
    lines = [
        f"frames: {s['frames']} ({s['active_frames']} during the sign)",
        f"pose detected:        {100 * s['pose_rate']:.1f}% of frames",
        f"left hand detected:   {100 * s['left_hand_rate']:.1f}%   right hand: {100 * s['right_hand_rate']:.1f}%",
        f"  when inside the frame: left {100 * s['left_hand_rate_in_frame']:.1f}%   right "
        f"{100 * s['right_hand_rate_in_frame']:.1f}%",
        f"during the sign:      pose {100 * s['pose_rate_active']:.1f}%, dominant hand "
        f"{100 * s['dominant_hand_rate_active']:.1f}%, other hand {100 * s['nondominant_hand_rate_active']:.1f}%",
        "mean error vs ground truth (pixels, frames where the part was found):",
    ]
    for g, e in s["mean_error_px"].items():
        lines.append(f"  {g:17s} {'-' if e is None else f'{e:6.1f}'}")
    if s["per_label"]:
        lines.append("per class (frames of the sign): pose / dominant hand")
        for k, v in s["per_label"].items():
            lines.append(f"  {k:12s} {100 * v['pose_rate']:5.1f}%  {100 * v['dominant_hand_rate']:5.1f}%")
    return "\n".join(lines)

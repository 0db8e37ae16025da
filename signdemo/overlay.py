"""Draw landmarks on frames and render an overlay video (browser-playable H.264 mp4).

Colours are BGR. The pose skeleton is `schema.POSE_EDGES` (upper body and face), hands are
`schema.hand_edges(part)`. A small legend in the top-left corner says which parts MediaPipe
found on that frame. "left"/"right" are the signer's own hands (schema convention), so on an
unmirrored video the left hand appears on the right-hand side of the image.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from . import schema
from .landmarks import Landmarks
from .video import write_mp4

__all__ = ["PART_COLORS", "draw_landmarks", "render_overlay"]

#: BGR colour of each part.
PART_COLORS: dict[str, tuple[int, int, int]] = {
    "pose": (80, 220, 80),  # green
    "left_hand": (40, 160, 255),  # orange
    "right_hand": (255, 170, 40),  # blue
}
_LEGEND_LABELS = {"pose": "pose", "left_hand": "left hand", "right_hand": "right hand"}
_MISSING_COLOR = (140, 140, 140)
_EDGES: dict[str, tuple[tuple[int, int], ...]] = {
    "pose": schema.POSE_EDGES,
    "left_hand": schema.hand_edges("left_hand"),
    "right_hand": schema.hand_edges("right_hand"),
}
# Pose points worth a dot: those of the drawn skeleton (the legs are usually off-screen).
_POSE_POINTS = tuple(sorted({i for edge in schema.POSE_EDGES for i in edge}))
_SHIFT = 4  # sub-pixel precision of cv2 drawing: coordinates in 1/16 px


def _to_pixels(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 3) normalised points -> (N, 2) int32 fixed-point pixel coordinates (clipped far
    outside the image, so off-screen points do not overflow)."""
    xy = points[:, :2] * np.array([width, height], dtype=np.float64)
    xy = np.clip(xy, -2.0 * max(width, height), 3.0 * max(width, height))
    return np.round(xy * (1 << _SHIFT)).astype(np.int32)


def draw_landmarks(frame_bgr: np.ndarray, points: np.ndarray, present: np.ndarray) -> np.ndarray:
    """A copy of `frame_bgr` (uint8 (H, W, 3)) with the skeleton of the present parts and a legend.

    points: (75, 3) normalised landmarks of this frame; present: (3,) bool per part.
    """
    out = frame_bgr.copy()
    height, width = out.shape[:2]
    short = min(width, height)
    radius = max(1, round(short / 160))  # 3 px at 480p, 2 px at 288p
    thickness = max(1, round(short / 240))
    xy = _to_pixels(points, width, height)  # (75, 2)
    for column, part in enumerate(schema.PART_NAMES):
        if not present[column]:
            continue
        color = PART_COLORS[part]
        for a, b in _EDGES[part]:
            cv2.line(out, tuple(xy[a]), tuple(xy[b]), color, thickness, cv2.LINE_AA, _SHIFT)
        rows = _POSE_POINTS if part == "pose" else range(*schema.part_slice(part).indices(schema.NUM_POINTS))
        for row in rows:
            cv2.circle(out, tuple(xy[row]), radius << _SHIFT, color, -1, cv2.LINE_AA, _SHIFT)
    _draw_legend(out, present)
    return out


def _draw_legend(image: np.ndarray, present: np.ndarray) -> None:
    """Top-left box: a filled dot and bright label per part found, a hollow grey one otherwise."""
    height, width = image.shape[:2]
    scale = max(0.3, min(width, height) / 1000)
    line = max(10, round(26 * scale / 0.6))
    pad = max(3, line // 4)
    labels = [_LEGEND_LABELS[p] for p in schema.PART_NAMES]
    text_w = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for t in labels)
    box_w, box_h = pad * 3 + line // 2 + text_w, pad * 2 + line * len(labels)
    box_w, box_h = min(box_w, width), min(box_h, height)
    corner = image[:box_h, :box_w]
    corner[:] = (corner * 0.45).astype(np.uint8)  # darken so the legend reads on any background
    for i, (part, label) in enumerate(zip(schema.PART_NAMES, labels, strict=True)):
        found = bool(present[i])
        y = pad + line * i + line // 2
        center = (pad + line // 4, y)
        color = PART_COLORS[part] if found else _MISSING_COLOR
        cv2.circle(image, center, max(2, line // 4), color, -1 if found else 1, cv2.LINE_AA)
        text_color = (255, 255, 255) if found else _MISSING_COLOR
        origin = (pad * 2 + line // 2, y + line // 4)
        cv2.putText(image, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, text_color, 1, cv2.LINE_AA)


def _overlay_frames(
    frames: np.ndarray, landmarks: Landmarks, frame_indices: np.ndarray
) -> Iterator[np.ndarray]:
    # Row of each frame: the last landmark row at or before the frame (held between rows).
    rows = np.searchsorted(landmarks.frame_indices, frame_indices, side="right") - 1  # (T,)
    no_points = np.zeros((schema.NUM_POINTS, schema.NUM_COORDS), dtype=np.float32)
    nothing = np.zeros(len(schema.PART_NAMES), dtype=bool)
    for frame, row in zip(frames, rows, strict=True):
        if row < 0:  # before the first analysed frame
            yield draw_landmarks(frame, no_points, nothing)
        else:
            yield draw_landmarks(frame, landmarks.points[row], landmarks.present[row])


def render_overlay(
    path: str | os.PathLike,
    frames: np.ndarray,
    landmarks: Landmarks,
    fps: float,
    frame_indices: np.ndarray | None = None,
) -> Path:
    """Draw `landmarks` on `frames` ((T, H, W, 3) uint8 BGR) and write an H.264 mp4 at `fps`.

    Landmark rows are matched to frames through source-video frame indices: `frame_indices`
    (T,) gives each frame's index (pass `clip.source_indices`; default 0..T-1) and
    `landmarks.frame_indices` each row's. Landmarks extracted at a lower rate than the frames are
    held until the next row. Returns the path written.
    """
    n = len(frames)
    indices = (
        np.arange(n, dtype=np.int64) if frame_indices is None else np.asarray(frame_indices, dtype=np.int64)
    )
    if indices.shape != (n,):
        raise ValueError(f"frame_indices must have shape ({n},), got {indices.shape}")
    return write_mp4(path, _overlay_frames(frames, landmarks, indices), fps)

"""signdemo.overlay: drawing, the legend, landmark rows held across frames, the H.264 output."""

from __future__ import annotations

import numpy as np
import pytest
from _paths import need_shared

from signdemo import schema
from signdemo.landmarks import Landmarks, extract_clip_landmarks
from signdemo.overlay import PART_COLORS, _overlay_frames, draw_landmarks, render_overlay
from signdemo.video import probe, read_clip


def _frame_landmarks(shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(75, 3) points of a stick figure roughly filling the image, all parts present."""
    points = np.zeros((75, 3), np.float32)
    named = {
        "nose": (0.5, 0.2), "left_eye": (0.53, 0.17), "right_eye": (0.47, 0.17),
        "left_shoulder": (0.7, 0.45), "right_shoulder": (0.3, 0.45), "left_elbow": (0.75, 0.7),
        "right_elbow": (0.25, 0.7), "left_wrist": (0.7, 0.9), "right_wrist": (0.3, 0.9),
        "left_hip": (0.65, 1.2), "right_hip": (0.35, 1.2),
    }  # fmt: skip
    for name, (x, y) in named.items():
        points[schema.index("pose", name), :2] = (x + shift, y)
    for part, (x0, y0) in (("left_hand", (0.8, 0.6)), ("right_hand", (0.2, 0.6))):
        rows = range(*schema.part_slice(part).indices(75))
        for k, row in enumerate(rows):
            points[row, :2] = (x0 + shift + 0.01 * (k % 5), y0 - 0.02 * (k // 5))
    return points, np.ones(3, bool)


def _color_near(image: np.ndarray, xy: tuple[float, float], color, tolerance: int = 40) -> bool:
    height, width = image.shape[:2]
    x, y = int(xy[0] * width), int(xy[1] * height)
    patch = image[max(0, y - 3) : y + 4, max(0, x - 3) : x + 4].astype(int)
    return bool((np.abs(patch - np.array(color)).max(axis=-1) <= tolerance).any())


def test_draw_landmarks_draws_present_parts_only():
    frame = np.full((240, 320, 3), 30, np.uint8)
    points, present = _frame_landmarks()
    drawn = draw_landmarks(frame, points, present)
    assert drawn is not frame and (frame == 30).all()  # a copy; the input is untouched
    assert _color_near(drawn, (0.5, 0.45), PART_COLORS["pose"])  # middle of the shoulder line
    assert _color_near(drawn, (0.8, 0.6), PART_COLORS["left_hand"])
    assert _color_near(drawn, (0.2, 0.6), PART_COLORS["right_hand"])

    only_pose = draw_landmarks(frame, points, np.array([True, False, False]))
    assert _color_near(only_pose, (0.5, 0.45), PART_COLORS["pose"])
    assert not _color_near(only_pose, (0.8, 0.6), PART_COLORS["left_hand"])
    # Nothing present: only the legend corner changes.
    nothing = draw_landmarks(frame, points, np.zeros(3, bool))
    changed = np.argwhere((nothing != frame).any(axis=-1))
    assert changed[:, 0].max() < 240 / 3 and changed[:, 1].max() < 320 / 2


def test_legend_marks_found_parts():
    frame = np.full((480, 640, 3), 200, np.uint8)
    points = np.zeros((75, 3), np.float32)
    found = draw_landmarks(frame, points, np.array([True, True, False]))
    corner = found[:60, :30].reshape(-1, 3).astype(int)
    for part, expected in (("pose", True), ("left_hand", True), ("right_hand", False)):
        has = (np.abs(corner - PART_COLORS[part]).max(axis=-1) <= 30).any()
        assert has == expected, part


def test_landmarks_are_held_between_rows(tmp_path):
    frames = np.full((10, 96, 128, 3), 40, np.uint8)
    rows = [_frame_landmarks(shift) for shift in (-0.1, 0.0, 0.1)]
    lm = Landmarks(
        np.stack([p for p, _ in rows]), np.stack([q for _, q in rows]), np.array([2, 5, 8]), 10.0, (128, 96)
    )
    out = list(_overlay_frames(frames, lm, np.arange(10)))
    nothing = draw_landmarks(frames[0], np.zeros((75, 3), np.float32), np.zeros(3, bool))
    expected_row = [None, None, 0, 0, 0, 1, 1, 1, 2, 2]
    for t, row in enumerate(expected_row):
        expected = nothing if row is None else draw_landmarks(frames[t], *rows[row])
        np.testing.assert_array_equal(out[t], expected, err_msg=f"frame {t}")

    path = render_overlay(tmp_path / "overlay.mp4", frames, lm, fps=25.0)
    info = probe(path)
    assert (info.frame_count, info.width, info.height, info.codec) == (10, 128, 96, "h264")
    with pytest.raises(ValueError, match="frame_indices"):
        render_overlay(tmp_path / "bad.mp4", frames, lm, 25.0, frame_indices=np.arange(3))


def test_render_overlay_on_a_real_clip(tmp_path):
    clip = read_clip(need_shared("data", "wlasl_clips", "17356.mp4"))  # 30 frames, 288x192
    lm = extract_clip_landmarks(clip, 10.0)  # every third frame
    path = render_overlay(tmp_path / "overlay.mp4", clip.frames, lm, clip.fps, clip.source_indices)
    back = read_clip(path)
    assert len(back) == len(clip) and back.frames.shape[1:3] == clip.frames.shape[1:3]
    # The skeleton is drawn on (nearly) every frame: pose was found on the held rows.
    differs = (np.abs(back.frames.astype(int) - clip.frames).max(axis=-1) > 60).mean(axis=(1, 2))
    assert (differs > 0.002).mean() >= 0.9

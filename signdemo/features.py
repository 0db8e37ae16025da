"""Keypoint features: the one implementation used by training and inference.

A clip's landmarks, (T, 75, 3) positions with a (T, 3) part-presence mask, become a (200, 450)
float32 matrix: 225 positions (75 points x (x, y, z), point-major) followed by 225 velocities
(frame-to-frame differences on the 200-frame grid, the first frame zero). Many clips stack into the
exchange format, an (N, 200, 450) float16 array (the layout of the processed ASL Citizen data).

The choices that are not known for certain for the published ASL Citizen checkpoint are the fields
of `FeatureConfig`; a weight bundle records the config it was trained with and inference reads it
from there, so preprocessing cannot drift between training and inference.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from signdemo import schema

if TYPE_CHECKING:
    from signdemo.landmarks import Landmarks

NUM_FRAMES = 200
NUM_FEATURES = 2 * schema.NUM_POSITION_FEATURES  # 450

_LEFT_SHOULDER = schema.index("pose", "left_shoulder")
_RIGHT_SHOULDER = schema.index("pose", "right_shoulder")
_POSE = schema.part_slice("pose")
_HANDS = [schema.part_slice(p) for p in ("left_hand", "right_hand")]
_WRIST = schema.HAND_NAMES.index("wrist")
_MIDDLE_MCP = schema.HAND_NAMES.index("middle_finger_mcp")


def _wrist_offset_rows() -> np.ndarray:
    """(75,) bool: each hand's points other than its wrist (offsets from it with hand_points="wrist")."""
    rows = np.zeros(schema.NUM_POINTS, dtype=bool)
    for s in _HANDS:
        rows[s] = True
        rows[s.start + _WRIST] = False
    return rows


_WRIST_OFFSET_ROWS = _wrist_offset_rows()


#: Choices of the options added for readings of the published recipe that its record leaves open
#: (the first value of each is the behaviour of bundles that do not record it).
UNKNOWN_CHOICES: dict[str, tuple[str, ...]] = {
    "shoulder_reference": ("frame", "clip"),
    "shoulder_dims": ("xy", "xyz"),
    "missing": ("zero", "normalized"),
    "first_velocity": ("zero", "repeat", "position"),
}


@dataclass(frozen=True)
class FeatureConfig:
    """How landmarks become features. Defaults are our best reading of the published recipe.

    num_frames: length of the time axis the model sees (200 for the published checkpoint).
    resample: "interpolate" stretches or squeezes the clip to `num_frames` by linear interpolation
        (every clip fills the window); "pad" keeps the original rate, truncating longer clips and
        zero-padding shorter ones at the end.
    normalize: "none" keeps MediaPipe's image-normalised coordinates; "shoulder" centres every frame
        on the shoulder midpoint and divides by the shoulder width (robust to position and scale in
        frame); "hands" is for data without a body pose: the whole clip is centred on the mean of its
        hand points and divided by the median hand size (wrist to middle-finger knuckle), one
        transform per clip so the hands' movement and position relative to each other are kept.
        Missing points stay zero in every case.
    hand_order: "left_right" stores the left hand before the right (the schema order); "right_left"
        swaps the two hand blocks (for checkpoints trained with the other order).
    pose: "keep" uses the body pose; "drop" zeroes its 33 points (positions and velocities) so a model
        trained on hand landmarks alone (no pose in its data) sees no pose at inference either. The
        input keeps the 450-feature layout.
    velocity: "masked" sets a velocity to zero where the part is missing in either frame (a hand that
        appears does not produce a jump from zero); "raw" is the plain difference of positions.
    shoulder_reference: with normalize="shoulder", "frame" takes the shoulder centre and width of
        each frame; "clip" takes their mean over the clip's frames with a pose (one centre and one
        scale per clip, so the body's own motion stays in the features).
    shoulder_dims: with normalize="shoulder", "xy" subtracts the centre from x and y and measures
        the width in the image plane (z is only divided by it); "xyz" centres all three
        coordinates and measures the 3-D distance between the shoulders.
    missing: with normalize="shoulder", "zero" keeps missing points at zero; "normalized" treats
        the zero-filled points as data and normalises them with the body (as a pipeline that never
        kept a presence mask does: they become -centre / width, and velocities see them).
    first_velocity: velocity of the first step: "zero"; "repeat" (that of the second step);
        "position" (the difference from an all-zero frame before the clip, i.e. its positions).
    hand_points: "absolute" keeps every hand point where the normalisation put it; "wrist" keeps
        each hand's wrist there and gives its other 20 points relative to that wrist in the same
        frame (same scale): the hand's place and its shape become separate features.
    fill_gaps: a part (a hand, or the pose) missing for at most this many consecutive frames between
        two frames that have it is filled in by linear interpolation of its points between those
        two frames, before normalisation; longer gaps and the frames before the part's first and
        after its last appearance stay missing. 0 fills nothing. (MediaPipe loses a moving hand for
        a frame or two at a time: 12% of the frames between a hand's first and last detection in
        the WLASL100 hand data, 92% of those gaps 5 frames or shorter.)
    hands_centre: with normalize="hands", "clip" centres on the mean of the clip's hand points (where
        in the picture the hands are is lost); "frame" centres on the image centre (0.5, 0.5), so the
        hands' place in the picture is kept, in hand sizes from its centre (with no body pose the
        picture is the only reference for where a sign is made: on the WLASL100 training clips the
        clip's mean hand height varies between glosses 12.8 times as much as within one, F statistic).
    """

    num_frames: int = NUM_FRAMES
    resample: Literal["interpolate", "pad"] = "interpolate"
    normalize: Literal["none", "shoulder", "hands"] = "none"
    hand_order: Literal["left_right", "right_left"] = "left_right"
    velocity: Literal["masked", "raw"] = "masked"
    pose: Literal["keep", "drop"] = "keep"
    shoulder_reference: Literal["frame", "clip"] = "frame"
    shoulder_dims: Literal["xy", "xyz"] = "xy"
    missing: Literal["zero", "normalized"] = "zero"
    first_velocity: Literal["zero", "repeat", "position"] = "zero"
    hand_points: Literal["absolute", "wrist"] = "absolute"
    fill_gaps: int = 0
    hands_centre: Literal["clip", "frame"] = "clip"

    def __post_init__(self) -> None:
        choices = {
            "resample": ("interpolate", "pad"),
            "normalize": ("none", "shoulder", "hands"),
            "hand_order": ("left_right", "right_left"),
            "velocity": ("masked", "raw"),
            "pose": ("keep", "drop"),
            "hand_points": ("absolute", "wrist"),
            "hands_centre": ("clip", "frame"),
            **UNKNOWN_CHOICES,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"FeatureConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.num_frames < 2:
            raise ValueError(f"FeatureConfig.num_frames must be >= 2, got {self.num_frames}")
        if isinstance(self.fill_gaps, bool) or not isinstance(self.fill_gaps, int) or self.fill_gaps < 0:
            raise ValueError(f"FeatureConfig.fill_gaps must be an int >= 0, got {self.fill_gaps!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def uses_pose(self) -> bool:
        """Whether the model reads the body pose (else only the hands are needed to score a clip)."""
        return self.pose == "keep"

    def relative_points(self) -> np.ndarray:
        """(75,) bool: the points whose positions are offsets from their hand's wrist (an augmentation
        shifts or flips them about 0, not about the clip's centre)."""
        return _WRIST_OFFSET_ROWS.copy() if self.hand_points == "wrist" else np.zeros(schema.NUM_POINTS, dtype=bool)

    @classmethod
    def from_dict(cls, data: dict | None) -> "FeatureConfig":
        """Build from a bundle's record; unknown keys are an error, missing keys take defaults."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown feature options {unknown}; known: {sorted(known)}")
        return cls(**data)


def _point_mask(present: np.ndarray) -> np.ndarray:
    """(T, 3) part presence -> (T, 75) point presence."""
    mask = np.zeros((present.shape[0], schema.NUM_POINTS), dtype=bool)
    for i, part in enumerate(schema.PART_NAMES):
        mask[:, schema.part_slice(part)] = present[:, i : i + 1]
    return mask


def _fill_gaps(points: np.ndarray, mask: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Fill each part's runs of at most `max_gap` missing frames that have the part on both sides by
    linear interpolation between those two frames; returns new (T, 75, 3) points and (T, 75) mask."""
    points, mask = points.copy(), mask.copy()
    for part in schema.PART_NAMES:
        s = schema.part_slice(part)
        have = np.flatnonzero(mask[:, s].all(axis=1))  # frames where the whole part is there
        for a, b in zip(have[:-1], have[1:]):
            if 1 < b - a <= max_gap + 1:
                w = (np.arange(a + 1, b) - a)[:, None, None] / (b - a)  # (gap, 1, 1)
                points[a + 1 : b, s] = (1 - w) * points[a, s] + w * points[b, s]
                mask[a + 1 : b, s] = True
    return points, mask


def _normalize_shoulders(points: np.ndarray, mask: np.ndarray, config: "FeatureConfig | None" = None) -> np.ndarray:
    """Centre on the shoulder midpoint and scale by shoulder width (per frame or per clip, in 2-D
    or 3-D: `FeatureConfig.shoulder_reference`, `shoulder_dims`).

    Frames without a pose use the nearest frame's centre and scale (in time); a clip without any
    pose is returned unchanged (there is nothing to anchor to). Missing points stay zero unless
    `config.missing` is "normalized".
    """
    config = config or FeatureConfig()
    has_pose = mask[:, _LEFT_SHOULDER]
    if not has_pose.any():
        return points
    dims = 3 if config.shoulder_dims == "xyz" else 2
    left, right = points[:, _LEFT_SHOULDER, :dims], points[:, _RIGHT_SHOULDER, :dims]
    centre = (left + right) / 2  # (T, dims)
    width = np.linalg.norm(left - right, axis=1)  # (T,)
    if config.shoulder_reference == "clip":
        centre, width = _clip_anchor(centre, width, has_pose)
    else:
        idx = np.flatnonzero(has_pose)
        nearest = idx[np.abs(np.arange(len(points))[:, None] - idx[None, :]).argmin(axis=1)]
        centre, width = centre[nearest], width[nearest]
    width = np.where(width > 1e-6, width, 1.0)
    out = points.copy()
    out[..., :dims] = (points[..., :dims] - centre[:, None, :]) / width[:, None, None]
    if dims == 2:
        out[..., 2] = points[..., 2] / width[:, None]
    if config.missing == "normalized":
        return out
    return np.where(mask[..., None], out, 0.0)


def _clip_anchor(centre: np.ndarray, width: np.ndarray, has_pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One centre and width for the whole clip: their means over the frames with a pose, (T, d), (T,)."""
    t = len(width)
    return np.repeat(centre[has_pose].mean(axis=0, keepdims=True), t, axis=0), np.full(t, width[has_pose].mean())


def _first_velocity(velocity: np.ndarray, points: np.ndarray, mode: str) -> None:
    """Set the first step's velocity in place: "zero" (as computed), "repeat" or "position"."""
    if mode == "repeat" and len(velocity) > 1:
        velocity[0] = velocity[1]
    elif mode == "position":
        velocity[0] = points[0]


def _normalize_hands(points: np.ndarray, mask: np.ndarray, centre_on: str = "clip") -> np.ndarray:
    """One transform per clip: centre on the mean of all present hand points (x, y), or on the image
    centre (`centre_on="frame"`), and divide by the median hand size, the wrist to middle-finger
    knuckle distance in (x, y) over every present hand. A clip without any hand is returned unchanged."""
    hands = np.concatenate([points[:, s] for s in _HANDS], axis=1)  # (T, 42, 3)
    hand_mask = np.concatenate([mask[:, s] for s in _HANDS], axis=1)  # (T, 42)
    if not hand_mask.any():
        return points
    centre = hands[hand_mask][:, :2].mean(axis=0) if centre_on == "clip" else np.array([0.5, 0.5])  # (2,)
    sizes = [
        np.linalg.norm(points[:, s][:, _MIDDLE_MCP, :2] - points[:, s][:, _WRIST, :2], axis=1)[mask[:, s][:, _WRIST]]
        for s in _HANDS
    ]
    sizes = np.concatenate(sizes)
    size = float(np.median(sizes)) if sizes.size else 1.0
    size = size if size > 1e-6 else 1.0
    out = points.copy()
    out[..., :2] = (points[..., :2] - centre) / size
    out[..., 2] = points[..., 2] / size
    return np.where(mask[..., None], out, 0.0)


def _relative_to_wrist(points: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Each hand's points other than the wrist minus that hand's wrist in the same frame (a hand is
    present or missing whole, so its wrist is there wherever its points are)."""
    out = points.copy()
    for s in _HANDS:
        rows = np.flatnonzero(_WRIST_OFFSET_ROWS[s]) + s.start  # (20,)
        wrist = points[:, s.start + _WRIST][:, None]  # (T, 1, 3)
        out[:, rows] = np.where(mask[:, rows, None], points[:, rows] - wrist, 0.0)
    return out


def _resample_interpolate(points: np.ndarray, mask: np.ndarray, num_frames: int):
    """Linear interpolation of each point onto `num_frames` evenly spaced times.

    A point is present on the new grid when it is present in the nearest original frame; it is
    interpolated where both neighbouring frames have it, else copied from the nearest frame.
    """
    return _resample_at(points, mask, np.linspace(0.0, points.shape[0] - 1, num_frames))


def _resample_at(points: np.ndarray, mask: np.ndarray, pos: np.ndarray):
    """`_resample_interpolate` at the given fractional frame positions (F,), each in [0, T - 1]."""
    t = points.shape[0]
    pos = np.clip(np.asarray(pos, dtype=np.float64), 0.0, t - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, t - 1)
    nearest = np.rint(pos).astype(np.int64)
    w = (pos - lo)[:, None, None]  # (F, 1, 1)
    both = (mask[lo] & mask[hi])[..., None]  # (F, 75, 1)
    out_mask = mask[nearest]  # (F, 75)
    out = np.where(both, (1 - w) * points[lo] + w * points[hi], points[nearest])
    return np.where(out_mask[..., None], out, 0.0), out_mask


def _resample_pad(points: np.ndarray, mask: np.ndarray, num_frames: int):
    t = min(points.shape[0], num_frames)
    out = np.zeros((num_frames,) + points.shape[1:], dtype=points.dtype)
    out_mask = np.zeros((num_frames, points.shape[1]), dtype=bool)
    out[:t], out_mask[:t] = points[:t], mask[:t]
    return out, out_mask


def landmarks_to_features(
    points: np.ndarray, present: np.ndarray, config: FeatureConfig = FeatureConfig()
) -> np.ndarray:
    """(T, 75, 3) positions + (T, 3) part presence -> (num_frames, 450) float32 features.

    Positions of missing parts must be given as anything (NaN allowed); they become zeros.
    """
    points = np.asarray(points, dtype=np.float64)
    present = np.asarray(present, dtype=bool)
    if points.ndim != 3 or points.shape[1:] != (schema.NUM_POINTS, schema.NUM_COORDS):
        raise ValueError(f"points must be (T, {schema.NUM_POINTS}, 3), got {points.shape}")
    if present.shape != (points.shape[0], len(schema.PART_NAMES)):
        raise ValueError(f"present must be ({points.shape[0]}, 3), got {present.shape}")
    if points.shape[0] == 0:
        raise ValueError("cannot make features from zero frames")

    mask = _point_mask(present) & np.isfinite(points).all(axis=2)  # (T, 75)
    if config.pose == "drop":
        mask[:, _POSE] = False
    points = np.where(mask[..., None], points, 0.0)
    if config.fill_gaps:
        points, mask = _fill_gaps(points, mask, config.fill_gaps)
    if config.normalize == "shoulder":
        points = _normalize_shoulders(points, mask, config)
        if config.missing == "normalized":  # the zero fill is data now: interpolated, and seen by velocities
            mask = np.ones_like(mask)
            mask[:, _POSE] = config.pose == "keep"
    elif config.normalize == "hands":
        points = _normalize_hands(points, mask, config.hands_centre)
    if config.hand_points == "wrist":
        points = _relative_to_wrist(points, mask)

    if config.resample == "interpolate":
        points, mask = _resample_interpolate(points, mask, config.num_frames)
    else:
        points, mask = _resample_pad(points, mask, config.num_frames)
    # (F, 75, 3), (F, 75)

    if config.hand_order == "right_left":
        order = np.r_[
            np.arange(schema.part_slice("pose").stop),
            np.arange(schema.NUM_POINTS)[schema.part_slice("right_hand")],
            np.arange(schema.NUM_POINTS)[schema.part_slice("left_hand")],
        ]
        points, mask = points[:, order], mask[:, order]

    return _with_velocities(points, mask, config)


def _with_velocities(points: np.ndarray, mask: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """(F, 75, 3) final positions + (F, 75) presence -> (F, 450) float32 positions and velocities."""
    velocity = np.zeros_like(points)
    velocity[1:] = points[1:] - points[:-1]
    if config.velocity == "masked":
        velocity[1:] *= (mask[1:] & mask[:-1])[..., None]
    _first_velocity(velocity, points, config.first_velocity)

    f = points.shape[0]
    features = np.concatenate([points.reshape(f, -1), velocity.reshape(f, -1)], axis=1)  # (F, 450)
    return features.astype(np.float32)


def features_from_positions(points: np.ndarray, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """(F, 75, 3) feature positions (normalised and resampled, missing points zero) -> (F, 450)
    features: the velocities are computed again as `landmarks_to_features` computes them. Used to
    edit features (training augmentation) without going back to the landmarks."""
    points = np.asarray(points, dtype=np.float64)
    return _with_velocities(points, (points != 0).any(axis=2), config)


def retime_features(features: np.ndarray, times: np.ndarray, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Features sampled again at fractional steps `times` (F',) of the given (F, 450) features.

    Positions are interpolated with the presence rule of the resampling (a point is present where
    the nearest step has it) and the velocities computed again: a clip played at another speed or
    trimmed, as `landmarks_to_features` would have made it (up to the clip's normalisation, which
    is kept)."""
    points = position_features(features).astype(np.float64)
    points, mask = _resample_at(points, (points != 0).any(axis=2), times)
    return _with_velocities(points, mask, config)


def features_from_landmarks(landmarks: "Landmarks", config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Features of an extracted clip; see `landmarks_to_features`."""
    return landmarks_to_features(landmarks.points, landmarks.present, config)


def present_from_points(points: np.ndarray) -> np.ndarray:
    """Part presence of landmark arrays that mark missing points as NaN or all-zero rows.

    (T, 75, 3) -> (T, 3) bool. A part counts as present when any of its points is finite and
    non-zero (used for external data such as the GISLR landmarks, where missing is NaN).
    """
    points = np.asarray(points)
    valid = np.isfinite(points).all(axis=2) & (np.nan_to_num(points) != 0).any(axis=2)  # (T, 75)
    return np.stack([valid[:, schema.part_slice(p)].any(axis=1) for p in schema.PART_NAMES], axis=1)


def position_features(features: np.ndarray) -> np.ndarray:
    """(..., 450) features -> (..., 75, 3) positions (for drawing keypoint-only samples)."""
    features = np.asarray(features)
    return features[..., : schema.NUM_POSITION_FEATURES].reshape(
        features.shape[:-1] + (schema.NUM_POINTS, schema.NUM_COORDS)
    )


def stack_exchange(features: list[np.ndarray]) -> np.ndarray:
    """Stack per-clip (200, 450) features into the (N, 200, 450) float16 exchange array."""
    if not features:
        return np.zeros((0, NUM_FRAMES, NUM_FEATURES), dtype=np.float16)
    return np.stack(features).astype(np.float16)


def feature_frame_positions(num_rows: int, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """For each of the `num_frames` feature steps, the landmark row it mostly comes from.

    (num_frames,) int64; -1 for zero-padded steps. Maps attention weights back to video frames.
    """
    if config.resample == "interpolate":
        return np.rint(np.linspace(0.0, num_rows - 1, config.num_frames)).astype(np.int64)
    pos = np.arange(config.num_frames, dtype=np.int64)
    return np.where(pos < num_rows, pos, -1)

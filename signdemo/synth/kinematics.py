"""Kinematics of the synthetic signer: proportions, anchors, hand shapes, arm IK and timelines.

Body frame (3D, units of the shoulder width): origin at the neck base (midway between the
shoulder joints), x to the image right, y down, z towards the camera. The figure faces the camera
UNMIRRORED, so its anatomical right shoulder is at x < 0 (image left).

Signs are written for a right-handed signer in *signing coordinates* (lat, down, fwd): lat > 0
points to the dominant side, down is y, fwd is z. For a right-handed signer x = -lat; a left-handed
performance is the exact mirror image (x = +lat), so a class never differs only by which hand moves.

`perform(...)` turns a sign, a body and a timing into per-frame 3D joints (`Performance`); the
renderer projects and draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------------------------
# Body proportions and anchors


@dataclass(frozen=True)
class Proportions:
    """Segment lengths and widths of one figure, in shoulder widths (neck base to shoulder = 0.5)."""

    shoulder_half: float = 0.46  # neck base -> shoulder joint, along x
    shoulder_drop: float = 0.05  # shoulder joints sit a little below the neck base
    neck_len: float = 0.20  # neck base -> chin
    head_w: float = 0.40
    head_h: float = 0.55
    upper_arm: float = 0.76
    forearm: float = 0.66
    hand_len: float = 0.44  # wrist -> middle fingertip
    torso_len: float = 1.30  # neck base -> hip joints
    waist_half: float = 0.36
    hip_half: float = 0.40
    arm_r: float = 0.12  # upper-arm radius at the shoulder
    neck_r: float = 0.11

    @property
    def head_center_down(self) -> float:
        return -(self.neck_len + 0.5 * self.head_h)


def anchors(p: Proportions) -> dict[str, np.ndarray]:
    """Named body locations in signing coordinates (lat, down, fwd) for proportions `p`.

    "_d" / "_n" are the dominant and non-dominant sides. Hands are placed relative to these, so a
    sign follows the figure's proportions.
    """
    hc = p.head_center_down
    hh, hw = p.head_h, p.head_w
    sh = p.shoulder_half
    pts = {
        "origin": (0.0, 0.0, 0.0),
        "head_top": (0.0, hc - 0.5 * hh, 0.0),
        "forehead": (0.0, hc - 0.22 * hh, 0.5 * hw),
        "temple_d": (0.42 * hw, hc - 0.12 * hh, 0.3 * hw),
        "eye_d": (0.2 * hw, hc, 0.5 * hw),
        "nose": (0.0, hc + 0.17 * hh, 0.62 * hw),
        "mouth": (0.0, hc + 0.3 * hh, 0.52 * hw),
        "chin": (0.0, hc + 0.5 * hh, 0.38 * hw),
        "shoulder_d": (sh, p.shoulder_drop, 0.0),
        "shoulder_n": (-sh, p.shoulder_drop, 0.0),
        "chest": (0.0, 0.35, 0.2),
        "chest_d": (0.22, 0.35, 0.2),
        "chest_n": (-0.22, 0.35, 0.2),
        "belly": (0.0, 0.85, 0.22),
        "waist_d": (p.waist_half, 0.9, 0.1),
        "waist_n": (-p.waist_half, 0.9, 0.1),
    }
    return {k: np.asarray(v, dtype=np.float64) for k, v in pts.items()}


# ---------------------------------------------------------------------------------------------
# Hand model: 21 joints in the schema's HAND_NAMES order, in hand-local coordinates of a RIGHT
# hand: X = thumb side, Y = finger direction, Z = palm normal (out of the palm); wrist at the origin,
# units of the hand length (wrist -> middle fingertip ~ 1).

_FINGERS = {  # mcp position (x, y), segment lengths (proximal, middle, distal)
    "index": ((0.165, 0.45), (0.22, 0.13, 0.10)),
    "middle": ((0.055, 0.47), (0.24, 0.15, 0.11)),
    "ring": ((-0.06, 0.455), (0.22, 0.14, 0.10)),
    "pinky": ((-0.165, 0.415), (0.17, 0.11, 0.09)),
}
_THUMB_CMC = (0.11, 0.09, 0.03)
_THUMBS = {  # mcp, ip, tip
    "side": ((0.21, 0.22, 0.05), (0.25, 0.33, 0.06), (0.27, 0.43, 0.06)),
    "out": ((0.24, 0.19, 0.05), (0.36, 0.28, 0.06), (0.46, 0.35, 0.06)),
    "across": ((0.2, 0.22, 0.12), (0.12, 0.32, 0.21), (0.02, 0.36, 0.22)),
    "touch": ((0.21, 0.24, 0.14), (0.2, 0.4, 0.26), (0.16, 0.53, 0.34)),
    "relaxed": ((0.22, 0.21, 0.08), (0.28, 0.31, 0.12), (0.3, 0.4, 0.15)),
}


def _hand_points(curls: dict[str, tuple[float, float, float]], thumb: str, spread: float) -> np.ndarray:
    pts = np.zeros((21, 3))
    pts[1] = _THUMB_CMC
    pts[2:5] = _THUMBS[thumb]
    for i, (name, ((mx, my), lengths)) in enumerate(_FINGERS.items()):
        base = np.array([mx, my, 0.0])
        # Spread fans the fingers out around the middle finger.
        angle = spread * (mx - 0.055) * 3.0
        along = np.array([np.sin(angle), np.cos(angle), 0.0])
        normal = np.array([0.0, 0.0, 1.0])
        row = 5 + 4 * i
        pts[row] = base
        theta, pos = 0.0, base
        for j, (bend, length) in enumerate(zip(curls[name], lengths)):
            theta += bend  # cumulative flexion towards the palm side (+Z)
            pos = pos + length * (np.cos(theta) * along + np.sin(theta) * normal)
            pts[row + 1 + j] = pos
    return pts


def _uniform(m: float, p: float, d: float) -> dict[str, tuple[float, float, float]]:
    return {name: (m, p, d) for name in _FINGERS}


# MCP flexion below 90 degrees so the knuckles stand out above the back of a fist.
_FIST = (1.2, 1.75, 0.6)
HAND_SHAPES: dict[str, np.ndarray] = {
    "flat": _hand_points(_uniform(0.05, 0.05, 0.0), "side", 0.0),  # B hand
    "open": _hand_points(_uniform(0.05, 0.05, 0.0), "out", 0.55),  # 5 hand
    "fist": _hand_points(_uniform(*_FIST), "across", 0.0),  # S hand
    "point": _hand_points(  # 1 hand: index extended
        {"index": (0.05, 0.05, 0.0), "middle": _FIST, "ring": _FIST, "pinky": _FIST}, "across", 0.0
    ),
    "flat_o": _hand_points(_uniform(1.0, 0.35, 0.1), "touch", 0.0),  # fingertips meet the thumb
    "c": _hand_points(_uniform(0.55, 0.6, 0.3), "out", 0.0),
    "bent": _hand_points(_uniform(1.0, 0.2, 0.05), "side", 0.0),  # bent B: flat fingers bent at the knuckles
    "relaxed": _hand_points(_uniform(0.3, 0.4, 0.2), "relaxed", 0.15),
}

#: Palm outline in hand-local coordinates (drawn as the convex hull of both faces of the palm).
PALM_OUTLINE = np.array(
    [
        (-0.13, 0.0), (0.12, 0.0), (0.2, 0.13), (0.22, 0.3), (0.2, 0.46), (0.055, 0.49),
        (-0.06, 0.475), (-0.19, 0.43), (-0.21, 0.25), (-0.17, 0.08),
    ]
)  # fmt: skip
PALM_THICKNESS = 0.14


def hand_frame(fingers: np.ndarray, palm: np.ndarray, right: bool) -> np.ndarray:
    """Rotation (3, 3) whose columns are the hand's thumb side, finger direction and palm normal.

    `fingers` and `palm` are (3,) body-frame directions (need not be unit or orthogonal); the palm
    normal is made orthogonal to the finger direction. For a right hand the thumb side is
    palm x fingers in this (x right, y down, z to camera) frame; for a left hand the opposite.
    """
    d = fingers / np.linalg.norm(fingers)
    n = palm - np.dot(palm, d) * d
    norm = np.linalg.norm(n)
    if norm < 1e-6:  # palm given parallel to the fingers: pick any perpendicular
        n = np.cross(d, [0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.cross(d, [1.0, 0.0, 0.0])
        norm = np.linalg.norm(n)
    n = n / norm
    t = np.cross(n, d) if right else np.cross(d, n)
    return np.stack([t, d, n], axis=1)


# ---------------------------------------------------------------------------------------------
# Sign definitions: keyframes of the two arms


@dataclass(frozen=True)
class ArmKey:
    """Target of one arm at a keyframe, in signing coordinates of a right-handed signer.

    at: anchor name; offset: (lat, down, fwd) added to the anchor (shoulder widths);
    fingers / palm: directions of the fingers and of the palm normal; shape: a HAND_SHAPES key;
    pole: direction the elbow bends towards (IK pole vector).
    """

    at: str
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    fingers: tuple[float, float, float] = (0.0, -1.0, 0.0)
    palm: tuple[float, float, float] = (0.0, 0.0, 1.0)
    shape: str = "flat"
    pole: tuple[float, float, float] = (0.4, 1.0, -0.3)


@dataclass(frozen=True)
class Key:
    """A keyframe: time (s, at nominal speed), the dominant arm `d`, the non-dominant arm `n`
    (None = rest pose), and whether the motion stops here (zero velocity) or passes through."""

    t: float
    d: ArmKey | None
    n: ArmKey | None = None
    stop: bool = True


REST_STYLES = ("belly", "sides")


def rest_key(side: str, jitter: np.ndarray | None = None, style: str = "belly") -> ArmKey:
    """The resting arm of `side` ("d" or "n").

    "belly": relaxed hand in front of the lower belly, back of the hand to the camera;
    "sides": arm hanging beside the body, hand near the hip (often below the frame's edge,
    as when a webcam user starts with the hands down).
    """
    s = 1.0 if side == "d" else -1.0
    if style == "sides":
        off, anchor = np.array([0.1 * s, 0.25, -0.05]), "waist_d" if side == "d" else "waist_n"
        fingers, palm, pole = (0.1 * s, 1.0, 0.1), (-1.0 * s, 0.0, 0.1), (0.25 * s, 0.3, -1.0)
    elif style == "belly":
        off, anchor = np.array([0.3 * s, -0.05, 0.12]), "belly"
        fingers, palm, pole = (-0.45 * s, 1.0, 0.15), (-0.2 * s, 0.0, -1.0), (0.35 * s, 1.0, -0.4)
    else:
        raise ValueError(f"unknown rest style {style!r}; expected one of {REST_STYLES}")
    if jitter is not None:
        off = off + jitter
    return ArmKey(anchor, tuple(off), fingers=fingers, palm=palm, shape="relaxed", pole=pole)


# ---------------------------------------------------------------------------------------------
# Timelines: cubic Hermite interpolation of a state vector through keyframes


def hermite(times: np.ndarray, values: np.ndarray, stops: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Interpolate `values` (K, D) given at strictly increasing `times` (K,) at query times (T,).

    Keys with `stops` True (and the end keys) have zero velocity; the others pass through with a
    Catmull-Rom tangent. Returns (T, D).
    """
    k = len(times)
    tangents = np.zeros_like(values)
    for i in range(1, k - 1):
        if not stops[i]:
            tangents[i] = (values[i + 1] - values[i - 1]) / (times[i + 1] - times[i - 1])
    t = np.clip(t, times[0], times[-1])
    seg = np.clip(np.searchsorted(times, t, side="right") - 1, 0, k - 2)
    h = (times[seg + 1] - times[seg])[:, None]
    s = (t[:, None] - times[seg][:, None]) / h
    s2, s3 = s * s, s * s * s
    return (
        (2 * s3 - 3 * s2 + 1) * values[seg]
        + (s3 - 2 * s2 + s) * h * tangents[seg]
        + (-2 * s3 + 3 * s2) * values[seg + 1]
        + (s3 - s2) * h * tangents[seg + 1]
    )


# ---------------------------------------------------------------------------------------------
# Performance: per-frame 3D joints


@dataclass(frozen=True)
class Timing:
    """How a sample is performed in time (seconds)."""

    fps: float = 30.0
    delay: float = 0.3  # rest before the hands move
    approach: float = 0.4  # rest -> first key
    speed: float = 1.0  # >1 = faster sign
    hold: float = 0.25  # after the last key
    retreat: float | None = 0.4  # last key -> rest (None: stay until the end)
    tail: float = 0.2  # rest after the retreat
    jitter: float = 0.012  # amplitude of the smooth hand tremor (shoulder widths)
    key_noise: float = 0.025  # per-key position noise (shoulder widths)
    amplitude: float = 1.0  # scales each key's offset from the first key (motion size)
    rest: str = "belly"  # rest pose before and after the sign (REST_STYLES)

    def core_end(self, keys: tuple[Key, ...]) -> float:
        return self.delay + self.approach + (keys[-1].t - keys[0].t) / self.speed

    def duration(self, keys: tuple[Key, ...]) -> float:
        end = self.core_end(keys) + self.hold
        if self.retreat is not None:
            end += self.retreat + self.tail
        return end


@dataclass
class Performance:
    """Per-frame 3D joints in the body frame, by anatomical side ("left" = the figure's left).

    shoulders/elbows/wrists: {"left","right"} -> (T, 3); hands: {"left","right"} -> (T, 21, 3)
    (schema HAND_NAMES order); hand_rot: {"left","right"} -> (T, 3, 3) hand frames (columns: thumb
    side, fingers, palm normal); sway: (T, 3) torso offset; head: (T, 3) head roll (rad),
    yaw (-1..1) and nod (shoulder widths); dominant: "left" or "right"; active: (T,) bool,
    True between the start of the approach and the end of the hold (the sign itself).
    """

    fps: float
    shoulders: dict[str, np.ndarray]
    elbows: dict[str, np.ndarray]
    wrists: dict[str, np.ndarray]
    hands: dict[str, np.ndarray]
    hand_rot: dict[str, np.ndarray]
    sway: np.ndarray
    head: np.ndarray
    dominant: str
    active: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.sway)


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, dims: int, amp: float) -> np.ndarray:
    """Sum of three random sinusoids per dimension (0.4-3 Hz): a tremor-like (T, dims) signal."""
    out = np.zeros((len(t), dims))
    for _ in range(3):
        freq = rng.uniform(0.4, 3.0, size=dims)
        phase = rng.uniform(0, 2 * np.pi, size=dims)
        out += np.sin(2 * np.pi * freq * t[:, None] + phase)
    return out * (amp / 3.0)


def _ik_elbow(shoulder: np.ndarray, wrist: np.ndarray, a: float, b: float, pole: np.ndarray):
    """Two-bone IK for (T, 3) shoulder/wrist targets; returns (elbow, wrist) with reach clamped."""
    delta = wrist - shoulder
    d = np.linalg.norm(delta, axis=1, keepdims=True)
    d_c = np.clip(d, abs(a - b) * 1.05 + 1e-6, (a + b) * 0.995)
    u = delta / np.maximum(d, 1e-9)
    wrist = shoulder + u * d_c
    cos_a = np.clip((a * a + d_c * d_c - b * b) / (2 * a * d_c), -1.0, 1.0)
    sin_a = np.sqrt(1.0 - cos_a * cos_a)
    v = pole - np.sum(pole * u, axis=1, keepdims=True) * u
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    elbow = shoulder + a * (cos_a * u + sin_a * v)
    return elbow, wrist


_SHAPE_DIM = 63


def _arm_vector(key: ArmKey, anc: dict[str, np.ndarray], base: np.ndarray | None, amplitude: float,
                noise: np.ndarray) -> np.ndarray:
    pos = anc[key.at] + np.asarray(key.offset) + noise
    if base is not None:  # scale the motion around the first key's position
        pos = base + amplitude * (pos - base)
    return np.concatenate(
        [pos, key.fingers, key.palm, key.pole, HAND_SHAPES[key.shape].ravel()]
    )  # (12 + 63,)


def perform(
    keys: tuple[Key, ...],
    body: Proportions,
    timing: Timing,
    num_frames: int,
    left_handed: bool,
    rng: np.random.Generator,
) -> Performance:
    """Per-frame 3D joints of `keys` performed by `body` with `timing`, `num_frames` frames long.

    The timeline is: rest (delay) -> approach -> the keys (times / speed) -> hold -> retreat to
    rest (optional) -> rest. Key positions get a little random noise, the hands a smooth tremor,
    the torso a slow sway. Deterministic given `rng`'s state.
    """
    anc = anchors(body)
    rest_jit = {s: rng.normal(0, 0.03, 3) for s in ("d", "n")}
    rest = {s: rest_key(s, rest_jit[s], timing.rest) for s in ("d", "n")}

    # Key times on the clip clock.
    t0 = timing.delay + timing.approach
    times = [0.0, timing.delay]
    arms: list[tuple[ArmKey, ArmKey]] = [(rest["d"], rest["n"])] * 2
    stops = [True, True]
    for k in keys:
        times.append(t0 + (k.t - keys[0].t) / timing.speed)
        arms.append((k.d or rest["d"], k.n or rest["n"]))
        stops.append(k.stop)
    end = times[-1] + timing.hold
    times.append(end)
    arms.append(arms[-1])
    stops.append(True)
    if timing.retreat is not None:
        times.append(end + timing.retreat)
        arms.append((rest["d"], rest["n"]))
        stops.append(True)

    # State vectors; the motion amplitude scales offsets from the first key.
    first = {"d": arms[2][0], "n": arms[2][1]}
    base = {s: anc[first[s].at] + np.asarray(first[s].offset) for s in ("d", "n")}
    vecs = []
    for kd, kn in arms:
        row = []
        for side, key in (("d", kd), ("n", kn)):
            is_rest = key is rest[side]
            noise = np.zeros(3) if is_rest else rng.normal(0, timing.key_noise, 3)
            row.append(_arm_vector(key, anc, None if is_rest else base[side], timing.amplitude, noise))
        vecs.append(np.concatenate(row))
    values = np.stack(vecs)  # (K, 2 * 75)
    times_a = np.asarray(times)
    # Keys closer than a frame would make the Hermite segments degenerate.
    times_a = np.maximum.accumulate(times_a + np.arange(len(times_a)) * 1e-4)

    t = np.arange(num_frames) / timing.fps
    state = hermite(times_a, values, np.asarray(stops), t)  # (T, 150)
    per = 12 + _SHAPE_DIM

    # Signing coordinates -> body frame of a right-handed signer (x = -lat); a left-handed
    # performance is its mirror image. The hand frame's handedness is decided in the canonical
    # frame (dominant = anatomical right), so mirroring turns it into a proper left hand.
    to_canon = np.array([-1.0, 1.0, 1.0])
    mirror = np.array([-1.0, 1.0, 1.0]) if left_handed else np.ones(3)
    dominant = "left" if left_handed else "right"
    other = "right" if left_handed else "left"

    sway = _smooth_noise(rng, t, 3, 0.015) * np.array([1.0, 0.4, 0.5])
    shoulders, elbows, wrists, hands, hand_rot = {}, {}, {}, {}, {}
    for j, (side, anat) in enumerate((("d", dominant), ("n", other))):
        s = state[:, j * per : (j + 1) * per]
        pos = (s[:, 0:3] + _smooth_noise(rng, t, 3, timing.jitter)) * to_canon
        fingers = (s[:, 3:6] + _smooth_noise(rng, t, 3, 0.05)) * to_canon
        palm = (s[:, 6:9] + _smooth_noise(rng, t, 3, 0.05)) * to_canon
        pole = s[:, 9:12] * to_canon
        shape = s[:, 12:].reshape(-1, 21, 3)
        shoulder = np.empty_like(pos)
        shoulder[:] = (-body.shoulder_half if side == "d" else body.shoulder_half,
                       body.shoulder_drop, 0.0)
        elbow, wrist = _ik_elbow(shoulder, pos, body.upper_arm, body.forearm, pole)
        rot = np.stack(
            [hand_frame(f, p, right=(side == "d")) for f, p in zip(fingers, palm)]
        )  # (T, 3, 3)
        joints = wrist[:, None, :] + body.hand_len * np.einsum("tij,tkj->tki", rot, shape)
        shoulders[anat] = shoulder * mirror + sway
        elbows[anat] = elbow * mirror + sway
        wrists[anat] = wrist * mirror + sway
        hands[anat] = joints * mirror + sway[:, None, :]
        hand_rot[anat] = mirror[None, :, None] * rot

    head = np.stack(
        [
            _smooth_noise(rng, t, 1, 0.05)[:, 0] + rng.normal(0, 0.04),  # roll (rad)
            _smooth_noise(rng, t, 1, 0.08)[:, 0] + rng.normal(0, 0.08),  # yaw (-1..1)
            _smooth_noise(rng, t, 1, 0.01)[:, 0],  # nod
        ],
        axis=1,
    )
    active = (t >= timing.delay) & (t <= end)
    return Performance(
        timing.fps, shoulders, elbows, wrists, hands, hand_rot, sway, head, dominant, active
    )

"""Drawing the synthetic signer: a filled, shaded upper-body figure with a face, and its keypoints.

MediaPipe's pose detector looks for a face and a torso, so the figure is drawn as a person, not a
skeleton: head with hair, eyes, nose and mouth; neck; torso with clothing; tapered, shaded arms;
hands with a palm and five jointed fingers. Everything is numpy/OpenCV polygon filling with
sub-pixel coordinates and anti-aliasing (a few milliseconds per 640x480 frame).

Ground truth comes out in the project's landmark schema (`signdemo.schema`): (T, 75, 2) pixel
coordinates, where pixel column i spans [i, i + 1) (so x / width is MediaPipe's normalised x);
points the figure does not have (knees, ankles, feet) are NaN.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from signdemo import schema
from signdemo.synth.appearance import Scene, Signer, render_background
from signdemo.synth.kinematics import PALM_OUTLINE, PALM_THICKNESS, Performance

logger = logging.getLogger(__name__)

FOCAL = 7.0  # camera distance from the shoulder plane, in shoulder widths (mild perspective)
_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_ONE = 1 << _SHIFT
_AA = cv2.LINE_AA

# Face layout in head units: u across (head widths, + = the figure's left = image right),
# v down (head heights) from the head centre.
_FACE = {
    "eye": (0.2, -0.02), "eye_inner": (0.1, -0.015), "eye_outer": (0.3, -0.02),
    "ear": (0.5, 0.03), "nose": (0.0, 0.18), "mouth": (0.13, 0.31),
}  # fmt: skip
_FINGER_CHAINS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
_FINGER_RADII = (0.068, 0.053, 0.055, 0.051, 0.045)  # hand lengths, thumb .. pinky

#: Hand drawing style: outline darkness (skin multiplier), outline width (px), finger fill shade.
HAND_STYLE = {"outline": 0.75, "outline_px": 0.7, "fill": 0.9, "band": 1.08, "scale": 1.0}

#: Which hand joint stands for each of the pose model's three hand points.
POSE_HAND_POINTS = {"pinky": "pinky_mcp", "index": "index_finger_mcp", "thumb": "thumb_mcp"}


# ---------------------------------------------------------------------------------------------
# Primitives


def _c(color, f: float = 1.0, add: float = 0.0) -> tuple[int, int, int]:
    """Colour scaled by `f` plus `add`, clipped to 0..255 (plain Python: called thousands of times)."""
    return tuple(int(min(255.0, max(0.0, float(v) * f + add))) for v in color)


def _fill(img: np.ndarray, pts: np.ndarray, color) -> None:
    cv2.fillPoly(img, [np.round(np.asarray(pts) * _ONE).astype(np.int32)], color, _AA, _SHIFT)


def _ellipse(img, center, axes, angle_deg, color, thickness=-1, start=0, end=360) -> None:
    c = (int(round(center[0] * _ONE)), int(round(center[1] * _ONE)))
    a = (max(int(round(axes[0] * _ONE)), 1), max(int(round(axes[1] * _ONE)), 1))
    cv2.ellipse(img, c, a, float(angle_deg), start, end, color, thickness, _AA, _SHIFT)


def _polyline(img, pts, color, thickness: float) -> None:
    p = np.round(np.asarray(pts) * _ONE).astype(np.int32)
    cv2.polylines(img, [p], False, color, max(int(round(thickness)), 1), _AA, _SHIFT)


_ARCS: dict[int, np.ndarray] = {}


def _arc(n: int) -> np.ndarray:
    """(n, 2) unit half circle from -90 to +90 degrees (cached)."""
    if n not in _ARCS:
        t = np.linspace(-np.pi / 2, np.pi / 2, n)
        _ARCS[n] = np.stack([np.cos(t), np.sin(t)], axis=1)
    return _ARCS[n]


def _capsule(p0: np.ndarray, p1: np.ndarray, r0: float, r1: float, n: int = 7) -> np.ndarray:
    """Polygon (2n, 2) of a tapered capsule from p0 (radius r0) to p1 (radius r1)."""
    dx, dy = float(p1[0] - p0[0]), float(p1[1] - p0[1])
    norm = (dx * dx + dy * dy) ** 0.5
    c, s = (dx / norm, dy / norm) if norm > 1e-6 else (1.0, 0.0)
    arc = _arc(n) @ np.array([[c, s], [-s, c]])  # rotated so that +90 deg ... faces along p0->p1
    return np.concatenate([p1 + r1 * arc, p0 - r0 * arc])


def _shaded_capsule(img, p0, p1, r0, r1, color, light: np.ndarray, outline: float = 1.0) -> None:
    """A limb: dark outline, shadowed body, lit band and highlight on the side facing the light."""
    d = p1 - p0
    norm = np.hypot(*d)
    v = np.array([-d[1], d[0]]) / norm if norm > 1e-6 else np.array([0.0, -1.0])
    if np.dot(v, light) < 0:
        v = -v
    if outline > 0:
        _fill(img, _capsule(p0, p1, r0 + outline, r1 + outline), _c(color, 0.45))
    _fill(img, _capsule(p0, p1, r0, r1), _c(color, 0.72))
    _fill(img, _capsule(p0 + 0.2 * r0 * v, p1 + 0.2 * r1 * v, 0.72 * r0, 0.72 * r1), _c(color))
    _fill(img, _capsule(p0 + 0.42 * r0 * v, p1 + 0.42 * r1 * v, 0.28 * r0, 0.28 * r1),
          _c(color, 1.08, 10))  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The figure


@dataclass
class _Frame:
    """Per-frame projected geometry shared by the drawing functions (pixels, cv2 convention)."""

    s: float  # shoulder width in pixels at depth 0
    light: np.ndarray  # (2,) unit vector towards the light, image coordinates
    head_c: np.ndarray  # (2,)
    head_rot: np.ndarray  # (2, 2)
    head_scale: float  # pixels per shoulder width at the head
    yaw: float


class FigureRenderer:
    """Draws one signer in one scene; `render(perf)` gives frames and ground-truth keypoints."""

    def __init__(self, signer: Signer, scene: Scene):
        self.signer = signer
        self.scene = scene
        self.background = render_background(scene)
        light = np.array([scene.light, -0.7])
        self.light = light / np.linalg.norm(light)
        rng = np.random.default_rng(scene.bg_seed + 1)
        # A few fixed noise frames, cycled: per-frame Gaussian noise would cost more than drawing.
        # Kept as saturating uint8 add / subtract pairs (fast OpenCV arithmetic).
        shape = (scene.height, scene.width, 3)
        self._noise = []
        for _ in range(3):
            n = np.round(rng.normal(0, scene.noise, shape))
            self._noise.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))

    # -- geometry -----------------------------------------------------------------------------

    def project(self, p3: np.ndarray) -> np.ndarray:
        """Body-frame points (..., 3) -> pixel coordinates (..., 2) (cv2 convention)."""
        p3 = np.asarray(p3, dtype=np.float64)
        k = FOCAL / (FOCAL - p3[..., 2])
        cx, cy = self.scene.center
        s = self.scene.scale
        return np.stack([cx + s * k * p3[..., 0], cy + s * k * p3[..., 1]], axis=-1)

    def _pixels_per_unit(self, z: float) -> float:
        return self.scene.scale * FOCAL / (FOCAL - z)

    def _head_point(self, f: _Frame, u: float, v: float) -> np.ndarray:
        b = self.signer.body
        shift = f.yaw * 0.12 * (1.0 - min(abs(u) / 0.5, 1.0) ** 2)
        local = np.array([(u + shift) * b.head_w, v * b.head_h]) * f.head_scale
        return f.head_c + f.head_rot @ local

    # -- rendering ----------------------------------------------------------------------------

    def render(self, perf: Performance) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All frames of `perf`.

        Returns frames (T, H, W, 3) uint8 BGR, keypoints (T, 75, 2) float32 pixels (NaN where the
        figure has no such point), depth (T, 75) float32 (body-frame z, towards the camera).
        """
        n = perf.num_frames
        frames = np.empty((n, self.scene.height, self.scene.width, 3), np.uint8)
        points = np.full((n, schema.NUM_POINTS, 2), np.nan, np.float32)
        depth = np.full((n, schema.NUM_POINTS), np.nan, np.float32)
        for i in range(n):
            frames[i] = self._render_frame(perf, i, points[i], depth[i])
        points += 0.5  # cv2 pixel centres are integers; MediaPipe's x * width has them at +0.5
        return frames, points, depth

    def _render_frame(self, perf: Performance, i: int, points: np.ndarray, depth: np.ndarray):
        """Draw frame `i` (back to front) and fill its rows of `points` / `depth`."""
        b = self.signer.body
        img = self.background.copy()
        sway = perf.sway[i]
        roll, yaw, nod = perf.head[i]
        head3 = np.array([sway[0], b.head_center_down + sway[1] + nod, 0.05 + sway[2]])
        f = _Frame(
            s=self.scene.scale,
            light=self.light,
            head_c=self.project(head3),
            head_rot=np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]]),
            head_scale=self._pixels_per_unit(head3[2]),
            yaw=float(np.clip(yaw, -0.3, 0.3)),
        )
        self._draw_hair_back(img, f)
        self._draw_torso(img, f, sway)
        self._draw_neck(img, f, sway)
        self._draw_head(img, f)
        self._draw_arms(img, perf, i)
        if self.scene.blur > 0:
            img = cv2.GaussianBlur(img, (0, 0), self.scene.blur)
        img = cv2.convertScaleAbs(img, alpha=self.scene.gain)
        plus, minus = self._noise[i % len(self._noise)]
        img = cv2.subtract(cv2.add(img, plus), minus)
        self._keypoints(perf, i, f, points, depth)
        return img

    # -- ground truth -------------------------------------------------------------------------

    def _keypoints(self, perf: Performance, i: int, f: _Frame, points, depth) -> None:
        b = self.signer.body
        pose = {}
        for side, sgn in (("left", 1.0), ("right", -1.0)):
            for feature, pose_name in (("eye", f"{side}_eye"), ("eye_inner", f"{side}_eye_inner"),
                                       ("eye_outer", f"{side}_eye_outer"), ("ear", f"{side}_ear"),
                                       ("mouth", f"mouth_{side}")):  # fmt: skip
                u, v = _FACE[feature]
                pose[pose_name] = self._head_point(f, sgn * u, v)
            for name, arr in (("shoulder", perf.shoulders), ("elbow", perf.elbows), ("wrist", perf.wrists)):
                pose[f"{side}_{name}"] = self.project(arr[side][i])
                depth[schema.index("pose", f"{side}_{name}")] = arr[side][i][2]
            hip = np.array([sgn * b.hip_half * 0.72, b.torso_len, 0.0]) + perf.sway[i]
            pose[f"{side}_hip"] = self.project(hip)
            hand = perf.hands[side][i]  # (21, 3)
            part = f"{side}_hand"
            rows = schema.part_slice(part)
            points[rows] = self.project(hand)
            depth[rows] = hand[:, 2]
            for pose_name, hand_name in POSE_HAND_POINTS.items():
                j = schema.HAND_NAMES.index(hand_name)
                pose[f"{side}_{pose_name}"] = points[rows][j]
                depth[schema.index("pose", f"{side}_{pose_name}")] = hand[j, 2]
        pose["nose"] = self._head_point(f, 0.0, _FACE["nose"][1])
        for name, xy in pose.items():
            points[schema.index("pose", name)] = xy

    # -- drawing ------------------------------------------------------------------------------

    def _draw_hair_back(self, img, f: _Frame) -> None:
        sg, b = self.signer, self.signer.body
        hs = f.head_scale
        angle = np.degrees(np.arctan2(f.head_rot[1, 0], f.head_rot[0, 0]))
        hair = _c(sg.hair, 0.8)
        if sg.hair_style == "long":
            top = self._head_point(f, 0.0, -0.35)
            bottom = self._head_point(f, 0.0, 1.25)
            w = 0.62 * b.head_w * hs
            _fill(img, _capsule(top, bottom, w, w * 0.9, 9), hair)
        elif sg.hair_style in ("short", "curly"):
            _ellipse(img, self._head_point(f, 0.0, -0.07), (0.55 * b.head_w * hs, 0.5 * b.head_h * hs),
                     angle, hair)  # fmt: skip
        elif sg.hair_style == "bun":
            _ellipse(img, self._head_point(f, 0.0, -0.04), (0.53 * b.head_w * hs, 0.5 * b.head_h * hs),
                     angle, hair)  # fmt: skip
            _ellipse(img, self._head_point(f, 0.0, -0.55), (0.2 * b.head_w * hs, 0.17 * b.head_h * hs),
                     angle, hair)  # fmt: skip

    def _torso_outline(self) -> np.ndarray:
        b = self.signer.body
        sh, wa, hi, tl = b.shoulder_half, b.waist_half, b.hip_half, b.torso_len
        half = np.array(
            [
                (0.12, -0.06), (0.28, -0.01), (sh + 0.01, 0.02), (sh + 0.08, 0.1), (sh + 0.095, 0.22),
                (sh + 0.05, 0.4), (wa + 0.04, 0.62), (wa, 0.92), (hi + 0.02, tl), (hi + 0.08, tl + 1.4),
            ]
        )  # fmt: skip
        other = half[::-1] * np.array([-1.0, 1.0])
        return np.concatenate([half, other])

    def _draw_torso(self, img, f: _Frame, sway: np.ndarray) -> None:
        sg, b = self.signer, self.signer.body
        outline = self._torso_outline()

        def px(xy):
            xy = np.asarray(xy, dtype=float)
            p3 = np.concatenate([xy, np.zeros((len(xy), 1))], axis=1) + sway
            return self.project(p3)

        main = sg.top2 if sg.top_style == "jacket" else sg.top
        lx = self.light[0]
        _fill(img, px(outline * [1.0, 1.0]) + [[0, 0]], _c(main, 0.45))
        _fill(img, px(outline * [0.985, 0.995]), _c(main, 0.7))
        _fill(img, px(outline * [0.8, 1.0] + [0.07 * lx, 0.02]), _c(main))
        _fill(img, px(outline * [0.4, 0.9] + [0.16 * lx, 0.1]), _c(main, 1.07, 8))
        if sg.top_style == "jacket":  # the shirt shows in a V between the jacket's fronts
            _fill(img, px([(-0.13, -0.05), (0.13, -0.05), (0.1, b.torso_len + 1.0),
                           (-0.1, b.torso_len + 1.0)]), _c(sg.top, 0.92))  # fmt: skip
            for sgn in (-1.0, 1.0):
                _polyline(img, px([(sgn * 0.13, -0.05), (sgn * 0.1, b.torso_len + 1.0)]),
                          _c(sg.top2, 0.5), max(1.0, 0.012 * f.s))  # fmt: skip
        # Trousers below the waistband.
        tl, hi = b.torso_len, b.hip_half
        _fill(img, px([(-(hi + 0.03), tl - 0.12), (hi + 0.03, tl - 0.12), (hi + 0.1, tl + 1.4),
                       (-(hi + 0.1), tl + 1.4)]), _c(sg.pants, 0.85))  # fmt: skip
        _polyline(img, px([(-(hi + 0.03), tl - 0.12), (hi + 0.03, tl - 0.12)]), _c(sg.pants, 0.4),
                  max(1.0, 0.02 * f.s))  # fmt: skip
        # Neckline.
        skin = sg.skin
        if sg.neckline == "v":
            _fill(img, px([(-0.13, -0.06), (0.13, -0.06), (0.0, 0.2)]), _c(skin, 0.85))
        elif sg.neckline == "round":
            _ellipse(img, px([(0.0, -0.02)])[0], (0.15 * f.s, 0.08 * f.s), 0, _c(skin, 0.85))
        else:  # collar
            _ellipse(img, px([(0.0, -0.03)])[0], (0.12 * f.s, 0.05 * f.s), 0, _c(skin, 0.85))
            for sgn in (-1.0, 1.0):
                _fill(img, px([(sgn * 0.02, 0.06), (sgn * 0.16, -0.07), (sgn * 0.2, 0.1)]),
                      _c(sg.top2, 1.0, 20))  # fmt: skip

    def _draw_neck(self, img, f: _Frame, sway: np.ndarray) -> None:
        sg, b = self.signer, self.signer.body
        p0 = self.project(np.array([0.0, 0.02, 0.0]) + sway)
        p1 = self.project(np.array([0.0, -b.neck_len - 0.06, 0.02]) + sway)
        r = b.neck_r * f.s
        _shaded_capsule(img, p0, p1, r, r, _c(sg.skin, 0.92), f.light, outline=0.8)
        chin = self._head_point(f, 0.0, 0.47)
        _ellipse(img, chin, (0.3 * b.head_w * f.head_scale, 0.07 * f.s), 0, _c(sg.skin, 0.6))

    def _draw_head(self, img, f: _Frame) -> None:
        sg, b = self.signer, self.signer.body
        hs = f.head_scale
        hw, hh = b.head_w * hs, b.head_h * hs
        angle = np.degrees(np.arctan2(f.head_rot[1, 0], f.head_rot[0, 0]))
        skin = sg.skin
        # Ears first, half hidden behind the face.
        for sgn in (-1.0, 1.0):
            c = self._head_point(f, sgn * 0.49, _FACE["ear"][1])
            _ellipse(img, c, (0.1 * hw + 1, 0.15 * hh + 1), angle, _c(skin, 0.45))
            _ellipse(img, c, (0.1 * hw, 0.15 * hh), angle, _c(skin, 0.85))
            _ellipse(img, self._head_point(f, sgn * 0.51, _FACE["ear"][1]), (0.04 * hw, 0.08 * hh),
                     angle, _c(skin, 0.65))  # fmt: skip
        # Face: an egg shape (skull ellipse + narrower jaw), shaded towards the light.
        centre = self._head_point(f, 0.0, 0.0)
        lu = np.array([self.light[0] * 0.06, -0.04])
        _ellipse(img, centre, (0.5 * hw + 1, 0.5 * hh + 1), angle, _c(skin, 0.45))
        _ellipse(img, centre, (0.5 * hw, 0.5 * hh), angle, _c(skin, 0.78))
        _ellipse(img, self._head_point(f, *lu), (0.42 * hw, 0.45 * hh), angle, _c(skin, 0.93))
        _ellipse(img, self._head_point(f, *(lu * 2.5)), (0.24 * hw, 0.3 * hh), angle, _c(skin, 1.02, 6))
        # Eyes.
        white = _c((235, 238, 240), 0.95)
        lid = _c(skin, 0.35)
        iris_r = 0.05 * hw
        brow_t = max(1.0, 0.035 * hh * sg.eyebrow_weight)
        for sgn in (-1.0, 1.0):
            eu, ev = _FACE["eye"]
            c = self._head_point(f, sgn * eu, ev)
            _ellipse(img, c, (0.1 * hw, 0.045 * hh), angle, white)
            _ellipse(img, c, (iris_r, iris_r), 0, sg.iris)
            _ellipse(img, c, (iris_r * 0.45, iris_r * 0.45), 0, (15, 15, 15))
            _ellipse(img, c, (0.105 * hw, 0.05 * hh), angle, lid, max(1, int(round(0.012 * hw + 0.6))),
                     180, 360)  # fmt: skip
            brow = [self._head_point(f, sgn * u, v) for u, v in ((0.08, -0.1), (0.2, -0.14), (0.33, -0.11))]
            _polyline(img, brow, _c(sg.hair, 0.7), brow_t)
        # Nose: a shadowed ridge, the tip and nostrils.
        side = 1.0 if self.light[0] < 0 else -1.0  # shadow on the side away from the light
        ridge = [self._head_point(f, side * 0.04, -0.02), self._head_point(f, side * 0.06, 0.15)]
        _polyline(img, ridge, _c(skin, 0.72), max(1.0, 0.02 * hw))
        _ellipse(img, self._head_point(f, 0.0, 0.185), (0.09 * hw, 0.04 * hh), angle, _c(skin, 0.8))
        _ellipse(img, self._head_point(f, 0.0, 0.17), (0.05 * hw, 0.03 * hh), angle, _c(skin, 1.0, 8))
        for sgn in (-1.0, 1.0):
            _ellipse(img, self._head_point(f, sgn * 0.045, 0.2), (0.022 * hw, 0.013 * hh), angle,
                     _c(skin, 0.4))  # fmt: skip
        # Mouth: lips and the line between them.
        mouth = self._head_point(f, 0.0, 0.31)
        _ellipse(img, self._head_point(f, 0.0, 0.33), (0.12 * hw, 0.035 * hh), angle, sg.lips)
        _ellipse(img, self._head_point(f, 0.0, 0.297), (0.135 * hw, 0.022 * hh), angle, _c(sg.lips, 0.8))
        corners = [self._head_point(f, -_FACE["mouth"][0], 0.31), mouth,
                   self._head_point(f, _FACE["mouth"][0], 0.31)]  # fmt: skip
        _polyline(img, corners, _c(sg.lips, 0.35), max(1.0, 0.012 * hw))
        self._draw_hair_front(img, f, hw, hh)
        if sg.glasses:
            frame_col = (30, 30, 30)
            for sgn in (-1.0, 1.0):
                c = self._head_point(f, sgn * 0.2, -0.02)
                _ellipse(img, c, (0.15 * hw, 0.09 * hh), angle, frame_col, max(1, int(0.02 * hw + 0.5)))
            _polyline(img, [self._head_point(f, -0.06, -0.04), self._head_point(f, 0.06, -0.04)],
                      frame_col, max(1.0, 0.02 * hw))  # fmt: skip

    def _draw_hair_front(self, img, f: _Frame, hw: float, hh: float) -> None:
        sg = self.signer
        if sg.hair_style == "bald":
            return
        a = np.linspace(np.pi * 1.04, np.pi * 1.96, 17)
        outer = [self._head_point(f, 0.54 * np.cos(t), -0.03 + 0.54 * np.sin(t)) for t in a]
        xs = np.linspace(0.5, -0.5, 13)
        line_v = -0.27 + 0.22 * (np.abs(xs) / 0.5) ** 2
        if sg.hair_style == "curly":
            line_v = line_v + 0.03 * np.sin(xs * 40)
        hairline = [self._head_point(f, x, v) for x, v in zip(xs, line_v)]
        pts = np.array(outer + hairline)
        _fill(img, pts, _c(sg.hair, 0.9))
        # A lighter band across the top suggests volume.
        band = [self._head_point(f, 0.3 * np.cos(t), -0.2 + 0.25 * np.sin(t)) for t in a[3:-3]]
        _polyline(img, band, _c(sg.hair, 1.25, 15), max(1.0, 0.05 * hh))
        if sg.hair_style == "curly":
            for t in a[::2]:
                c = self._head_point(f, 0.52 * np.cos(t), -0.03 + 0.52 * np.sin(t))
                _ellipse(img, c, (0.08 * hw, 0.08 * hw), 0, _c(sg.hair, 0.8))

    # -- arms and hands ---------------------------------------------------------------------------

    def _draw_arms(self, img, perf: Performance, i: int) -> None:
        """Upper arms, forearms and hands of both sides, sorted back to front by depth."""
        items = []  # (depth, order, callable)
        for k, side in enumerate(("left", "right")):
            sh, el, wr = perf.shoulders[side][i], perf.elbows[side][i], perf.wrists[side][i]
            items.append(((sh[2] + el[2]) / 2, 3 * k, lambda s=sh, e=el: self._upper_arm(img, s, e)))
            items.append(((el[2] + wr[2]) / 2, 3 * k + 1, lambda e=el, w=wr: self._forearm(img, e, w)))
            hand, rot = perf.hands[side][i], perf.hand_rot[side][i]
            items.append((wr[2] + 0.08, 3 * k + 2, lambda h=hand, r=rot, w=wr: self._hand(img, h, r, w)))
        for _, _, draw in sorted(items, key=lambda it: (it[0], it[1])):
            draw()

    def _sleeve_color(self):
        sg = self.signer
        return sg.top2 if sg.top_style == "jacket" else sg.top

    def _upper_arm(self, img, sh3, el3) -> None:
        sg, b = self.signer, self.signer.body
        p0, p1 = self.project(sh3), self.project(el3)
        r0 = b.arm_r * self._pixels_per_unit(sh3[2])
        r1 = 0.85 * b.arm_r * self._pixels_per_unit(el3[2])
        if sg.top_style == "tshirt":
            _shaded_capsule(img, p0, p1, r0, r1, sg.skin, self.light)
            mid = p0 + 0.5 * (p1 - p0)
            _shaded_capsule(img, p0, mid, r0 * 1.12, (r0 + r1) * 0.6, sg.top, self.light)
        else:
            _shaded_capsule(img, p0, p1, r0, r1, self._sleeve_color(), self.light)

    def _forearm(self, img, el3, wr3) -> None:
        sg, b = self.signer, self.signer.body
        p0, p1 = self.project(el3), self.project(wr3)
        r0 = 0.8 * b.arm_r * self._pixels_per_unit(el3[2])
        r1 = 0.52 * b.arm_r * self._pixels_per_unit(wr3[2])
        if sg.top_style == "tshirt":
            _shaded_capsule(img, p0, p1, r0, r1, sg.skin, self.light)
        else:
            cuff = p0 + 0.9 * (p1 - p0)
            _shaded_capsule(img, p0, p1, r0 * 0.9, r1, sg.skin, self.light)
            _shaded_capsule(img, p0, cuff, r0, r1 * 1.15, self._sleeve_color(), self.light)

    def _hand(self, img, joints3: np.ndarray, rot: np.ndarray, wrist3: np.ndarray) -> None:
        """A hand: the palm (hull of both faces of the palm slab) and five tapered fingers,
        drawn back to front; nails show when the back of the hand faces the camera."""
        sg, b = self.signer, self.signer.body
        L = b.hand_len
        outline_local = np.concatenate(
            [
                np.column_stack([PALM_OUTLINE, np.full(len(PALM_OUTLINE), z)])
                for z in (-PALM_THICKNESS / 2, PALM_THICKNESS / 2)
            ]
        )  # (20, 3)
        palm3 = wrist3 + L * outline_local @ rot.T
        palm2 = self.project(palm3)
        joints2 = self.project(joints3)
        ppu = self._pixels_per_unit(float(wrist3[2]))
        palm_facing = rot[2, 2] > 0  # palm normal towards the camera
        skin = np.asarray(sg.skin, dtype=float)
        palm_col = _c(skin * 0.8 + np.array([215, 205, 225]) * 0.2) if palm_facing else _c(skin)
        items = [(float(palm3[:, 2].mean()) - 0.02, -1)]
        for k, chain in enumerate(_FINGER_CHAINS):
            items.append((float(joints3[list(chain), 2].mean()), k))
        for _, k in sorted(items):
            if k < 0:
                hull = cv2.convexHull(palm2.astype(np.float32)).reshape(-1, 2)
                _fill(img, hull, _c(skin, HAND_STYLE["outline"]))
                o = max(HAND_STYLE["outline_px"], 0.0) + 0.3
                inner = hull + (hull.mean(0) - hull) * (o / max(ppu * L * 0.2, o))
                _fill(img, inner, palm_col)
                continue
            chain = _FINGER_CHAINS[k]
            r = _FINGER_RADII[k] * L * ppu
            pts = joints2[list(chain)]
            radii = r * np.array([1.0, 0.95, 0.88, 0.8])
            hs = HAND_STYLE
            o = hs["outline_px"]
            if o > 0:
                for j in range(3):
                    _fill(img, _capsule(pts[j], pts[j + 1], radii[j] + o, radii[j + 1] + o, 5),
                          _c(skin, hs["outline"]))
            for j in range(3):
                _fill(img, _capsule(pts[j], pts[j + 1], radii[j], radii[j + 1], 5), _c(skin, hs["fill"]))
            # A lit band along the finger, on the side facing the light.
            d = pts[-1] - pts[0]
            v = np.array([-d[1], d[0]]) / max(np.hypot(*d), 1e-6)
            v = v if np.dot(v, self.light) > 0 else -v
            band = pts + v * (0.35 * radii[:, None])
            _polyline(img, band, _c(skin, HAND_STYLE["band"], 10), max(1.0, 0.6 * r))
            if not palm_facing and k > 0:
                tip = pts[2] + 0.6 * (pts[3] - pts[2])
                _ellipse(img, tip, (radii[3] * 0.6, radii[3] * 0.6), 0, _c(skin, 1.05, 25))

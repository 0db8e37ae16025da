"""How the synthetic signer looks: signer identities (body, colours, style) and per-clip scenes.

A *signer* is a fixed identity (proportions, skin, hair, clothing, face details), so data-set splits
can hold signers out. A *scene* is what changes from clip to clip for the same signer: background,
framing (position and scale), lighting and camera noise. Colours are BGR uint8 triples.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np

from signdemo.synth.kinematics import Proportions

Color = tuple[int, int, int]

# Skin tones from light to dark (RGB, converted to BGR below).
_SKIN_RGB = (
    (255, 224, 196), (241, 194, 167), (234, 192, 150), (224, 172, 138), (210, 160, 120),
    (198, 134, 100), (180, 120, 85), (161, 102, 70), (125, 80, 56), (92, 58, 40),
)  # fmt: skip
_HAIR_RGB = (
    (25, 20, 20), (45, 32, 25), (70, 45, 30), (105, 70, 45), (140, 75, 40), (190, 160, 105),
    (225, 200, 140), (150, 150, 150), (215, 215, 210),
)  # fmt: skip
_IRIS_RGB = ((60, 40, 25), (95, 65, 40), (70, 110, 150), (80, 110, 70), (30, 25, 20))
HAIR_STYLES = ("short", "long", "bun", "bald", "curly")
TOP_STYLES = ("tshirt", "longsleeve", "jacket")
NECKLINES = ("round", "v", "collar")


def _bgr(rgb) -> Color:
    r, g, b = (int(np.clip(c, 0, 255)) for c in rgb)
    return (b, g, r)


def _random_cloth(rng: np.random.Generator) -> Color:
    if rng.random() < 0.2:  # greys, black, white
        v = rng.choice([30, 55, 90, 140, 200, 235])
        return (int(v), int(v), int(v))
    h = rng.random()
    s = rng.uniform(0.25, 0.85)
    v = rng.uniform(0.3, 0.92)
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return _bgr((255 * r, 255 * g, 255 * b))


def _jitter(rng: np.random.Generator, rgb, amount: float) -> tuple[float, float, float]:
    return tuple(np.asarray(rgb, dtype=float) * rng.uniform(1 - amount, 1 + amount, 3))


@dataclass(frozen=True)
class Signer:
    """A fixed identity: body proportions and the look of skin, hair, face and clothing."""

    signer_id: int
    body: Proportions
    skin: Color
    hair: Color
    hair_style: str
    top: Color  # shirt / t-shirt colour
    top2: Color  # jacket or trim colour
    top_style: str
    neckline: str
    pants: Color
    iris: Color
    lips: Color
    glasses: bool
    eyebrow_weight: float  # relative thickness


def make_signer(seed: int, signer_id: int) -> Signer:
    """The signer `signer_id` of data-set seed `seed` (deterministic)."""
    rng = np.random.default_rng([seed, 101, signer_id])
    u = rng.uniform
    body = Proportions(
        shoulder_half=0.46,
        shoulder_drop=u(0.03, 0.08),
        neck_len=u(0.13, 0.19),
        head_w=u(0.4, 0.46),
        head_h=u(0.54, 0.62),
        upper_arm=u(0.72, 0.8),
        forearm=u(0.62, 0.7),
        hand_len=u(0.41, 0.47),
        torso_len=u(1.2, 1.38),
        waist_half=u(0.3, 0.42),
        hip_half=u(0.34, 0.44),
        arm_r=u(0.1, 0.135),
        neck_r=u(0.1, 0.13),
    )
    skin_rgb = _jitter(rng, _SKIN_RGB[rng.integers(len(_SKIN_RGB))], 0.06)
    lips_rgb = np.asarray(skin_rgb) * np.array([0.8, 0.55, 0.58])
    skin = _bgr(skin_rgb)

    def cloth() -> Color:  # clothing clearly unlike the skin, so bare arms stand out
        for _ in range(20):
            c = _random_cloth(rng)
            if np.linalg.norm(np.subtract(c, skin)) > 70:
                break
        return c

    return Signer(
        signer_id=signer_id,
        body=body,
        skin=skin,
        hair=_bgr(_jitter(rng, _HAIR_RGB[rng.integers(len(_HAIR_RGB))], 0.1)),
        hair_style=str(rng.choice(HAIR_STYLES, p=[0.35, 0.25, 0.12, 0.13, 0.15])),
        top=cloth(),
        top2=cloth(),
        top_style=str(rng.choice(TOP_STYLES, p=[0.4, 0.35, 0.25])),
        neckline=str(rng.choice(NECKLINES)),
        pants=cloth(),
        iris=_bgr(_IRIS_RGB[rng.integers(len(_IRIS_RGB))]),
        lips=_bgr(lips_rgb),
        glasses=bool(rng.random() < 0.15),
        eyebrow_weight=float(u(0.7, 1.3)),
    )


# ---------------------------------------------------------------------------------------------
# Scenes

BACKGROUND_KINDS = ("solid", "linear", "radial", "noise", "room", "stripes")

#: Extent of every performance in the body frame (shoulder widths): x, y ranges that framing keeps
#: in view for every class (the raised hand above the head, the resting hands at the hips).
FRAMING_BOX = (-1.32, 1.32, -1.45, 1.3)


@dataclass(frozen=True)
class Scene:
    """What varies per clip: frame size, framing, light, background and camera noise."""

    width: int
    height: int
    scale: float  # shoulder width in pixels
    center: tuple[float, float]  # neck base in pixels
    light: float  # -1 (from the image left) .. 1 (from the right)
    gain: float  # brightness multiplier of the whole frame
    noise: float  # sensor noise standard deviation (grey levels)
    blur: float  # Gaussian blur sigma (pixels)
    background: str
    bg_colors: tuple[Color, Color]
    bg_seed: int


def make_scene(rng: np.random.Generator, signer: Signer, width: int = 640, height: int = 480,
               scale_range: tuple[float, float] = (0.75, 1.0)) -> Scene:  # fmt: skip
    """A random scene for `signer`; the figure always fits FRAMING_BOX inside the frame."""
    x0, x1, y0, y1 = FRAMING_BOX
    margin = 6.0
    s_max = min((width - 2 * margin) / (x1 - x0), (height - 2 * margin) / (y1 - y0))
    s = s_max * rng.uniform(*scale_range)
    cx = rng.uniform(margin - x0 * s, width - margin - x1 * s)
    cy = rng.uniform(margin - y0 * s, height - margin - y1 * s)
    skin = np.asarray(signer.skin, dtype=float)
    # Background colours, kept away from the skin tone so the hands stay visible.
    colors = []
    for _ in range(2):
        for _attempt in range(20):
            c = np.asarray(_random_cloth(rng), dtype=float)
            if np.linalg.norm(c - skin) > 60:
                break
        colors.append(tuple(int(v) for v in c))
    return Scene(
        width=width,
        height=height,
        scale=float(s),
        center=(float(cx), float(cy)),
        light=float(rng.uniform(-1, 1)),
        gain=float(rng.uniform(0.85, 1.12)),
        noise=float(rng.uniform(0.5, 4.0)),
        blur=float(rng.uniform(0.3, 0.9)),
        background=str(rng.choice(BACKGROUND_KINDS, p=[0.15, 0.2, 0.15, 0.2, 0.2, 0.1])),
        bg_colors=(colors[0], colors[1]),
        bg_seed=int(rng.integers(2**31)),
    )


def render_background(scene: Scene) -> np.ndarray:
    """The scene's static background, (H, W, 3) uint8 BGR."""
    h, w = scene.height, scene.width
    rng = np.random.default_rng(scene.bg_seed)
    c0 = np.asarray(scene.bg_colors[0], dtype=np.float32)
    c1 = np.asarray(scene.bg_colors[1], dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = scene.background
    if kind == "solid":
        t = np.zeros((h, w), np.float32)
    elif kind == "linear":
        a = rng.uniform(0, 2 * np.pi)
        proj = xx * np.cos(a) + yy * np.sin(a)
        t = (proj - proj.min()) / max(float(np.ptp(proj)), 1.0)
    elif kind == "radial":
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.1, 0.6) * h
        t = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / np.hypot(w, h)
        t = np.clip(t * 1.6, 0, 1)
    elif kind == "noise":
        small = rng.random((max(h // 40, 2), max(w // 40, 2))).astype(np.float32)
        t = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        fine = cv2.resize(rng.random((h // 6, w // 6)).astype(np.float32), (w, h))
        t = np.clip(0.8 * t + 0.2 * fine, 0, 1)
    elif kind == "stripes":
        period = rng.uniform(20, 80)
        a = rng.uniform(0, np.pi)
        t = 0.5 + 0.5 * np.sign(np.sin((xx * np.cos(a) + yy * np.sin(a)) * 2 * np.pi / period))
        t = cv2.GaussianBlur(t.astype(np.float32), (0, 0), 1.5) * 0.6
    else:  # room: a wall gradient with a floor line, a door/shelf and a couple of frames
        t = (yy / h) * 0.35
        img = (c0[None, None, :] * (1 - t[..., None]) + (c0 * 0.7)[None, None, :] * t[..., None])
        img = img.astype(np.uint8)
        floor = int(rng.uniform(0.75, 0.95) * h)
        img[floor:] = (c1 * 0.6).astype(np.uint8)
        for _ in range(rng.integers(2, 5)):
            x = int(rng.uniform(0, w - 40))
            y = int(rng.uniform(0, floor - 60))
            rw, rh = int(rng.uniform(40, 180)), int(rng.uniform(40, 220))
            col = np.asarray(_random_cloth(rng), dtype=float) * 0.7 + c0 * 0.3
            cv2.rectangle(img, (x, y), (x + rw, min(y + rh, floor)), tuple(int(v) for v in col), -1)
            edge = tuple(int(v) for v in col * 0.6)
            cv2.rectangle(img, (x, y), (x + rw, min(y + rh, floor)), edge, 2)
        return img
    img = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)

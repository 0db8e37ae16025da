"""One synthetic clip: draw a sample's random choices from its seed, perform and render it.

`render_sample(label, signer_id, index, seed)` is deterministic: the same arguments give the same
frames and keypoints on every machine (numpy's PCG64 streams keyed by the arguments).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np

from signdemo.synth.appearance import Scene, Signer, make_scene, make_signer
from signdemo.synth.kinematics import Performance, Timing, perform
from signdemo.synth.render import FigureRenderer
from signdemo.synth.vocabulary import LABELS, SignClass, get_class

logger = logging.getLogger(__name__)

MIN_SECONDS, MAX_SECONDS = 2.0, 4.0
FPS_CHOICES = (25.0, 30.0)


@dataclass
class RenderedClip:
    """A rendered sample.

    frames: (T, H, W, 3) uint8 BGR, unmirrored (the figure's left arm on the image right).
    keypoints: (T, 75, 2) float32 ground-truth pixels in schema order (x / width is MediaPipe's
    normalised x); NaN for points the figure lacks (legs). depth: (T, 75) float32 body-frame z.
    active: (T,) bool, frames from the start of the movement to the end of the hold.
    """

    label: str
    signer_id: int
    index: int
    seed: int
    left_handed: bool
    fps: float
    frames: np.ndarray
    keypoints: np.ndarray
    depth: np.ndarray
    active: np.ndarray
    timing: Timing
    scene: Scene
    signer: Signer

    @property
    def handedness(self) -> str:
        return "left" if self.left_handed else "right"

    def metadata(self) -> dict:
        """JSON-able description of the sample (for the npz / labels)."""
        scene = asdict(self.scene)
        return {
            "label": self.label, "signer": self.signer_id, "index": self.index, "seed": self.seed,
            "handedness": self.handedness, "fps": self.fps, "frames": int(len(self.frames)),
            "width": self.scene.width, "height": self.scene.height,
            "timing": asdict(self.timing), "scene": scene, "signer_style": {
                "hair_style": self.signer.hair_style, "top_style": self.signer.top_style,
                "neckline": self.signer.neckline, "glasses": self.signer.glasses,
            },
        }  # fmt: skip


def _timing(rng: np.random.Generator, sign: SignClass, fps: float) -> Timing:
    u = rng.uniform
    timing = Timing(
        fps=fps,
        delay=u(0.15, 0.5),
        approach=u(0.3, 0.5),
        speed=u(0.8, 1.25),
        hold=u(0.1, 0.45),
        retreat=u(0.3, 0.5) if rng.random() < 0.8 else None,
        tail=u(0.05, 0.35),
        jitter=u(0.005, 0.016),
        key_noise=u(0.01, 0.03),
        amplitude=u(0.85, 1.15),
        rest="sides" if rng.random() < 0.35 else "belly",
    )
    # Keep the clip within MIN..MAX seconds: speed up long performances, pad short ones.
    for _ in range(20):
        if timing.duration(sign.keys) <= MAX_SECONDS - 0.05:
            break
        timing = Timing(**{**asdict(timing), "speed": timing.speed * 1.1,
                           "delay": timing.delay * 0.9, "hold": timing.hold * 0.9})  # fmt: skip
    return timing


def sample_rng(seed: int, label: str, signer_id: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, 202, LABELS.index(label), signer_id, index])


def render_sample(
    label: str,
    signer_id: int,
    index: int,
    seed: int = 0,
    *,
    width: int = 640,
    height: int = 480,
    left_handed: bool | None = None,
    left_fraction: float = 0.4,
    fps: float | None = None,
    signer: Signer | None = None,
) -> RenderedClip:
    """Render sample `index` of class `label` by signer `signer_id` (all choices from `seed`).

    `left_handed` / `fps` override the drawn values (a lower fps gives a short clip for tests);
    `signer` overrides the identity made from (seed, signer_id).
    """
    sign = get_class(label)
    rng = sample_rng(seed, label, signer_id, index)
    signer = signer or make_signer(seed, signer_id)
    drawn_left = bool(rng.random() < left_fraction)
    drawn_fps = float(rng.choice(FPS_CHOICES))
    left = drawn_left if left_handed is None else left_handed
    rate = drawn_fps if fps is None else float(fps)
    timing = _timing(rng, sign, rate)
    seconds = min(max(timing.duration(sign.keys), MIN_SECONDS), MAX_SECONDS)
    num_frames = int(math.ceil(seconds * rate))
    scene = make_scene(rng, signer, width, height)
    perf: Performance = perform(sign.keys, signer.body, timing, num_frames, left, rng)
    frames, keypoints, depth = FigureRenderer(signer, scene).render(perf)
    return RenderedClip(
        label=label, signer_id=signer_id, index=index, seed=seed, left_handed=left, fps=rate,
        frames=frames, keypoints=keypoints, depth=depth, active=perf.active, timing=timing,
        scene=scene, signer=signer,
    )  # fmt: skip

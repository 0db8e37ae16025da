"""Input contract of the WLASL I3D checkpoints: decoded BGR frames -> (1, 3, T, 224, 224) tensor.

The one implementation of I3D preprocessing, shared by inference and training. Steps, each a
function so that training can swap in its own choices (random offsets, flips):

1. `sample_frame_indices`: up to `num_frames` indices spread evenly over the clip
   (`np.linspace(0, n - 1, k).round()`), repeated up to `min_frames` for short clips, because the
   network needs at least 9 frames (`signdemo.models.i3d.MIN_FRAMES`);
2. `resize_short_side`: bilinear `cv2.resize` so the short side is 256 (long side rounded);
3. `center_crop_offsets` + `crop`: 224x224 crop at offsets ((H - 224) // 2, (W - 224) // 2);
4. `to_unit_range`: uint8 -> float32 `x / 255 * 2 - 1`, in [-1, 1];
5. `to_clip_tensor`: (T, H, W, 3) -> (1, 3, T, H, W).

Channels stay in BGR order, as OpenCV decodes them: the public checkpoints were trained on frames
read with OpenCV and never converted (feeding RGB changes their logits by about 14).

Two contracts, chosen by `I3DInputConfig.resize` and `sampling` (a bundle records its own):
- the project's bundles (the defaults): short side 256, frames spread over the whole clip;
- `WLASL_INPUT`, the contract of WLASL's training code (`code/I3D/datasets/nslt_dataset.py`), the
  default for a bare WLASL checkpoint: a frame with a side under 226 px scaled up so its short side is
  226, then a frame whose original size has a side over 256 px resized to 256 x 256 (aspect not kept;
  `wlasl_resize`); every frame at the clip's own rate (`wlasl_frame_indices`: a clip longer than
  `num_frames` gives its centred `num_frames` consecutive frames, one shorter than `min_frames` = 64
  repeats its last frame at the end, as the training code pads); centre crop 224 at offsets
  `round((side - 224) / 2)` (its `CenterCrop`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import torch

from signdemo.errors import NoFramesError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class I3DInputConfig:
    """Preprocessing options of an I3D weight bundle (recorded with the weights).

    num_frames: most frames given to the model (shorter clips keep all their frames); with
        sampling="all" the cap on very long clips.
    resize_short: short side after resizing, in pixels (resize="short_side").
    crop: side of the square centre crop, in pixels.
    min_frames: fewest frames given to the model (short clips repeat frames up to this).
    resize: "short_side" (resize so the short side is `resize_short`, aspect kept) or "wlasl"
        (WLASL's training code: `wlasl_resize`, squashed to 256 x 256, and its crop rounding).
    sampling: "spread" (up to `num_frames` indices spread evenly over the clip; short clips repeat
        frames nearest in time) or "all" (every frame at the clip's own rate: `wlasl_frame_indices`).
    """

    num_frames: int = 64
    resize_short: int = 256
    crop: int = 224
    min_frames: int = 9
    resize: Literal["short_side", "wlasl"] = "short_side"
    sampling: Literal["spread", "all"] = "spread"

    def __post_init__(self) -> None:
        if self.resize not in ("short_side", "wlasl"):
            raise ValueError(f"resize must be 'short_side' or 'wlasl', got {self.resize!r}")
        if self.sampling not in ("spread", "all"):
            raise ValueError(f"sampling must be 'spread' or 'all', got {self.sampling!r}")
        if self.min_frames < 1 or self.num_frames < self.min_frames:
            raise ValueError(f"need 1 <= min_frames <= num_frames, got {self.min_frames}, {self.num_frames}")
        if self.crop > self.resize_short:
            raise ValueError(f"crop ({self.crop}) must not exceed resize_short ({self.resize_short})")


def sample_frame_indices(n: int, num_frames: int, min_frames: int = 9) -> np.ndarray:
    """Indices (k,) int64 into a clip of `n` frames, evenly spread from the first to the last frame.

    k = max(min(n, num_frames), min_frames): a long clip is subsampled to `num_frames`, a short one
    keeps every frame, and one with fewer than `min_frames` repeats frames (nearest in time) so that
    `min_frames` come out. Indices are non-decreasing.
    """
    if n < 1:
        raise NoFramesError("the clip has no frames; record or upload a clip that shows the sign")
    k = max(min(n, num_frames), min_frames)
    return np.linspace(0, n - 1, k).round().astype(np.int64)


def wlasl_frame_indices(n: int, max_frames: int, min_frames: int = 64) -> np.ndarray:
    """Every frame of a clip of `n` frames, at its own rate, as WLASL's code feeds them.

    A clip longer than `max_frames` gives its centred `max_frames` consecutive frames (a cap on
    very long clips); one shorter than `min_frames` repeats its last frame at the end up to
    `min_frames` (the training code's padding). (k,) int64, non-decreasing.
    """
    if n < 1:
        raise NoFramesError("the clip has no frames; record or upload a clip that shows the sign")
    start = max(0, (n - max_frames) // 2)
    idx = np.arange(start, min(n, start + max_frames), dtype=np.int64)
    if len(idx) < min_frames:
        idx = np.concatenate([idx, np.full(min_frames - len(idx), idx[-1], dtype=np.int64)])
    return idx


def frame_indices(n: int, config: "I3DInputConfig") -> np.ndarray:
    """The frames of a clip of `n` frames the model is given under `config` (its `sampling`)."""
    if config.sampling == "all":
        return wlasl_frame_indices(n, config.num_frames, config.min_frames)
    return sample_frame_indices(n, config.num_frames, config.min_frames)


def wlasl_resize(frame: np.ndarray) -> np.ndarray:
    """WLASL's `load_rgb_frames_from_video` resizing of one (H, W, C) frame.

    A side under 226 px: scaled up by 226 / short side (`cv2.resize` with fx = fy). Then, if the
    frame as decoded had a side over 256 px: resized to ceil(side * (256 / side)) on each axis,
    256 x 256 (aspect not kept). Both tests use the decoded size, as the code does; a frame with
    both sides <= 256 and one under 226 stays at its scaled-up size.
    """
    h, w = frame.shape[:2]
    out = frame
    if h < 226 or w < 226:
        scale = 1 + (226.0 - min(h, w)) / min(h, w)
        out = cv2.resize(out, dsize=(0, 0), fx=scale, fy=scale)
    if h > 256 or w > 256:
        out = cv2.resize(out, (math.ceil(w * (256 / w)), math.ceil(h * (256 / h))))
    return out


def resize_short_side(frame: np.ndarray, size: int = 256) -> np.ndarray:
    """Resize (H, W, C) so min(H, W) == `size` with bilinear interpolation; the long side is rounded."""
    h, w = frame.shape[:2]
    scale = size / min(h, w)
    new_h, new_w = (size, round(w * scale)) if h <= w else (round(h * scale), size)
    if (new_h, new_w) == (h, w):
        return frame
    return cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)  # (new_h, new_w, C)


def center_crop_offsets(height: int, width: int, size: int = 224) -> tuple[int, int]:
    """(top, left) of a centred `size` x `size` crop: ((height - size) // 2, (width - size) // 2)."""
    if min(height, width) < size:
        raise ValueError(f"cannot crop {size}x{size} from a {height}x{width} frame")
    return (height - size) // 2, (width - size) // 2


def wlasl_crop_offsets(height: int, width: int, size: int = 224) -> tuple[int, int]:
    """(top, left) of WLASL's `CenterCrop`: `np.round((side - size) / 2)` (half to even)."""
    if min(height, width) < size:
        raise ValueError(f"cannot crop {size}x{size} from a {height}x{width} frame")
    return int(np.round((height - size) / 2.0)), int(np.round((width - size) / 2.0))


def crop(frames: np.ndarray, top: int, left: int, size: int = 224) -> np.ndarray:
    """Square crop of (..., H, W, C) frames (one frame or a stack) -> (..., size, size, C), a view."""
    return frames[..., top : top + size, left : left + size, :]


def to_unit_range(frames: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [-1, 1] (`x / 255 * 2 - 1`), same shape."""
    return frames.astype(np.float32) / 255.0 * 2.0 - 1.0


def to_clip_tensor(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, C) float32 array -> contiguous (1, C, T, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(frames.transpose(3, 0, 1, 2)))[None]  # (1, C, T, H, W)


def preprocess_clip(
    frames: np.ndarray, config: I3DInputConfig = I3DInputConfig(), indices: np.ndarray | None = None
) -> torch.Tensor:
    """Decoded clip -> I3D input.

    frames: (T, H, W, 3) uint8 BGR, as OpenCV decodes them (unmirrored).
    indices: frames to use, (k,) int (default: `frame_indices(T, config)`); must give at least
        `config.min_frames` frames.
    Returns a (1, 3, k, crop, crop) float32 tensor in [-1, 1], BGR channel order.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected (T, H, W, 3) uint8 BGR frames, got {frames.shape} {frames.dtype}")
    if indices is None:
        indices = frame_indices(len(frames), config)
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) < config.min_frames:
        raise ValueError(f"{len(indices)} frame indices given, the model needs at least {config.min_frames}")

    # Resize each distinct frame once (short clips repeat indices), then gather.
    unique, inverse = np.unique(indices, return_inverse=True)
    if config.resize == "wlasl":
        resized = np.stack([wlasl_resize(frames[i]) for i in unique])  # (U, 256, 256, 3) mostly
        top, left = wlasl_crop_offsets(resized.shape[1], resized.shape[2], config.crop)
    else:
        resized = np.stack([resize_short_side(frames[i], config.resize_short) for i in unique])  # (U, H', W', 3)
        top, left = center_crop_offsets(resized.shape[1], resized.shape[2], config.crop)
    clip = crop(resized, top, left, config.crop)[inverse]  # (k, crop, crop, 3)
    return to_clip_tensor(to_unit_range(clip))  # (1, 3, k, crop, crop)


#: Most frames of a clip given to a bare WLASL checkpoint (about 5 s at 30 fps): a longer clip gives
#: its centred 160 consecutive frames, and the app says so.
WLASL_MAX_FRAMES = 160
#: The contract of WLASL's I3D training and test code (see the module docstring).
WLASL_INPUT = I3DInputConfig(num_frames=WLASL_MAX_FRAMES, min_frames=64, resize="wlasl", sampling="all")

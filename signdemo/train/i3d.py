"""python -m signdemo.train.i3d SOURCE... --out weights/my-i3d --init rgb_imagenet.pt [--videos DIR]

Fine-tune the I3D on videos read through the same readers as `signdemo.train.prepare` (WLASL json,
nslt_K.json, ASL Citizen CSVs, folder per gloss, labels.csv), with the WLASL-I3D recipe as defaults:
SGD momentum 0.9, lr 0.01 with cosine annealing over the epochs, weight decay 1e-7, effective batch
16 through gradient accumulation, 60 epochs, initialisation from `--init` (e.g. Kinetics
`rgb_imagenet.pt`) with a fresh head (`reset_classifier`), WLASL's loss (half per-time BCE on the
upsampled per-time logits, half BCE on their maximum over time; `--loss ce` for cross-entropy).

    python -m signdemo.train.i3d WLASL_v0.3.json --videos videos/ --num-classes 100 --init rgb_imagenet.pt \
        --out weights/wlasl100-i3d
    python -m signdemo.train.i3d synth/labels.csv --out weights/demo-i3d --num-frames 16 --eval-frames 16  # CPU demo
    torchrun --nproc_per_node=8 -m signdemo.train.i3d ...                          # DDP (nccl on GPU)

Training clips (WLASL): `--num-frames` (64) consecutive frames at a random start (shorter clips are
padded by repeating their first or last frame), a random 224 crop of the frames resized to a 256
short side, and a horizontal flip with probability 0.5. NOTE: flipping a sign swaps the signer's
hands (a right-handed sign becomes a left-handed one); it is WLASL's recipe and the default, turn it
off with `--no-hflip` when handedness matters. Evaluation: the inference contract of the bundle
(`signdemo.i3d_input`): up to `--eval-frames` (64) frames spread over the whole clip, centre crop,
class score = maximum over time of the per-time logits.

Decoded clips are cached as resized uint8 frames (`--cache DIR`, default OUT.frames/, one
`KEY.npy` (T, H, W, 3) with a 256 short side per clip, in a subfolder per decoding setting) so
that epochs do not decode videos again. Outputs: the same
bundle layout as the BiGRU trainer (checkpoints/best_i3d_model.pt, last_i3d_model.pt, metadata/,
reports/, training_config.json, signdemo_bundle.json with the I3DInputConfig as preprocessing);
`--save-dtype float16` halves the size of the best checkpoint.

With `--freeze-through STAGE` the backbone up to STAGE is frozen and its output cached once per clip
and view (next to the frame cache, keyed by everything it depends on); only the later stages and the
head train. `--warm-start BUNDLE` starts those from an earlier model of the same trunk and classes,
e.g. to go on training a demo model on more signers:

    python -m signdemo.train.i3d synth/labels.csv synth-more/labels.csv --out weights/demo-i3d \\
        --freeze-through MaxPool3d_4a_3x3 --warm-start data/demo-i3d-16-signers ...
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from signdemo.i3d_input import (
    I3DInputConfig,
    crop,
    preprocess_clip,
    resize_short_side,
    sample_frame_indices,
    to_clip_tensor,
    to_unit_range,
)
from signdemo.models.i3d import InceptionI3d, clip_scores
from signdemo.train import common, script_parser
from signdemo.train.datasets import DatasetIndex, Sample, add_reader_args, read_from_args, segment_positions
from signdemo.train.prepare import add_video_args, limits_from_args
from signdemo.weights import I3D, load_state_dict_strict, read_checkpoint, save_bundle, split_checkpoint

log = logging.getLogger(__name__)

BEST_NAME = f"best_{I3D}_model.pt"
LAST_NAME = f"last_{I3D}_model.pt"


# ---------------------------------------------------------------------------------------------
# Frame cache


def cache_clip(sample: Sample, path: Path, *, limits: dict, resize_short: int, trim: str) -> int:
    """Decode the sample's sign (as inference decodes: `video.read_clip`), resize to the short side,
    save (T, H, W, 3) uint8 BGR to `path`; returns T."""
    from signdemo.video import VideoLimits, read_clip

    clip = read_clip(sample.path, VideoLimits(**limits))
    total = max(int(clip.info.frame_count or 0), int(clip.source_indices[-1]) + 1)
    pos = segment_positions(clip.source_indices, sample, total, trim)
    frames = np.stack([resize_short_side(f, resize_short) for f in clip.frames[pos]])  # (T, H', W', 3)
    tmp = path.with_name(path.stem + ".tmp.npy")
    np.save(tmp, frames)
    os.replace(tmp, path)
    return len(frames)


def build_cache(index: DatasetIndex, cache: Path, runtime: common.Runtime, *, limits: dict, resize_short: int,
                trim: str) -> dict[str, Path]:  # fmt: skip
    """Cache every sample's frames (ranks share the work); returns key -> file for the clips that decoded."""
    cache.mkdir(parents=True, exist_ok=True)
    todo = [s for s in index.samples if not (cache / f"{s.key}.npy").is_file()]
    mine = todo[runtime.rank :: runtime.world_size]
    if mine:
        log.info("decoding %d clips into %s", len(todo), cache)
    errors = []
    for i, s in enumerate(mine, 1):
        try:
            cache_clip(s, cache / f"{s.key}.npy", limits=limits, resize_short=resize_short, trim=trim)
        except Exception as exc:  # recorded and skipped, as in prepare
            errors.append(f"{s.path}: {type(exc).__name__}: {exc}")
        if i % 50 == 0 or i == len(mine):
            log.info("decoded %d/%d clips", i, len(mine))
    for line in sum(runtime.all_gather(errors), []):
        log.warning("left out %s", line)
    runtime.barrier()
    return {s.key: cache / f"{s.key}.npy" for s in index.samples if (cache / f"{s.key}.npy").is_file()}


# ---------------------------------------------------------------------------------------------
# Clips


def appearance_jitter(clip: np.ndarray, rng: np.random.Generator, *, scale: tuple[float, float] = (0.75, 1.0),
                      size: int = 224) -> np.ndarray:  # fmt: skip
    """Random appearance of a clip (k, h, w, 3) uint8 -> (k, size, size, 3) uint8, the same draw for
    every frame: a square crop covering `scale` of the short side at a random place, resized to
    `size` (the signer's size and place in frame), then a random order of the colour channels and a
    random brightness and contrast (skin, clothing and background colours). For recognizers that
    must not learn a signer's colours from few signers."""
    k, h, w = clip.shape[:3]
    side = int(round(min(h, w) * rng.uniform(*scale)))
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    out = np.stack([cv2.resize(np.ascontiguousarray(f), (size, size), interpolation=cv2.INTER_LINEAR)
                    for f in crop(clip, top, left, side)])  # fmt: skip  # (k, size, size, 3)
    out = out[..., rng.permutation(3)].astype(np.float32)
    mean = out.mean()
    out = (out - mean) * rng.uniform(0.7, 1.3) + mean * rng.uniform(0.7, 1.3)
    return np.clip(out, 0, 255).astype(np.uint8)


def train_clip(frames: np.ndarray, rng: np.random.Generator, *, num_frames: int, size: int, hflip: bool,
               sampling: str = "consecutive", appearance: bool = False) -> torch.Tensor:
    """WLASL training crop of cached frames (T, H, W, 3) uint8 -> (3, num_frames, size, size) in [-1, 1].

    sampling: "consecutive" (WLASL: `num_frames` consecutive frames at a random start) or "spread"
    (one random frame in each of `num_frames` equal segments of the whole clip, in order: the
    training counterpart of the evaluation's evenly spread frames, for short-window models that
    must see the whole sign). appearance: `appearance_jitter` instead of the plain random crop.
    """
    t = len(frames)
    if sampling == "spread":
        edges = np.linspace(0, t, num_frames + 1)
        idx = np.minimum(np.floor(edges[:-1] + rng.random(num_frames) * (edges[1:] - edges[:-1])), t - 1)
        idx = idx.astype(np.int64)
    elif t > num_frames:
        start = int(rng.integers(0, t - num_frames + 1))
        idx = np.arange(start, start + num_frames)
    else:  # pad by repeating the first frame before or the last frame after (WLASL's pad)
        pad = num_frames - t
        idx = np.r_[np.zeros(pad, np.int64), np.arange(t)] if rng.random() < 0.5 else np.r_[np.arange(t), np.full(pad, t - 1)]
    if appearance:
        clip = appearance_jitter(np.asarray(frames[idx]), rng, size=size)  # (k, size, size, 3)
    else:
        h, w = frames.shape[1:3]
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        clip = crop(np.asarray(frames[idx]), top, left, size)  # (k, size, size, 3)
    if hflip and rng.random() < 0.5:
        clip = clip[:, :, ::-1]  # mirror image: the signer's hands swap sides
    return to_clip_tensor(to_unit_range(clip))[0]  # (3, k, size, size)


class ClipDataset(Dataset):
    def __init__(self, files: list[Path], targets: np.ndarray, *, num_frames: int, size: int, hflip: bool,
                 seed: int, sampling: str = "consecutive", appearance: bool = False) -> None:  # fmt: skip
        self.files, self.targets = files, targets
        self.num_frames, self.size, self.hflip, self.seed, self.epoch = num_frames, size, hflip, seed, 0
        self.sampling, self.appearance = sampling, appearance

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        frames = np.load(self.files[i], mmap_mode="r")
        rng = common.sample_rng(self.seed, self.epoch, i)
        x = train_clip(frames, rng, num_frames=self.num_frames, size=self.size, hflip=self.hflip,
                       sampling=self.sampling, appearance=self.appearance)
        return x, int(self.targets[i]), i


def wlasl_loss(logits_t: torch.Tensor, targets: torch.Tensor, num_frames: int) -> torch.Tensor:
    """WLASL's I3D loss: per-time logits (B, C, T') upsampled linearly to the T input frames, then
    0.5 * BCE against the one-hot label on every frame + 0.5 * BCE of their maximum over time."""
    per_frame = F.interpolate(logits_t, size=num_frames, mode="linear", align_corners=False)  # (B, C, T)
    onehot = F.one_hot(targets, logits_t.shape[1]).to(per_frame.dtype)  # (B, C)
    loc = F.binary_cross_entropy_with_logits(per_frame, onehot[:, :, None].expand_as(per_frame))
    cls = F.binary_cross_entropy_with_logits(per_frame.amax(dim=2), onehot)
    return 0.5 * loc + 0.5 * cls


def compute_loss(kind: str, logits_t: torch.Tensor, targets: torch.Tensor, num_frames: int) -> torch.Tensor:
    if kind == "wlasl":
        return wlasl_loss(logits_t, targets, num_frames)
    return F.cross_entropy(clip_scores(logits_t, "max"), targets)


# ---------------------------------------------------------------------------------------------
# One epoch, evaluation


def train_one_epoch(model, loader, optimizer, scaler, runtime: common.Runtime, *, accum: int, loss_kind: str,
                    clip_grad: float = 0.0) -> dict:  # fmt: skip
    """One pass; an optimizer step every `accum` batches (gradient accumulation)."""
    model.train()
    loss_sum = correct = count = 0.0
    optimizer.zero_grad(set_to_none=True)
    n = len(loader)
    for step, (x, y, _) in enumerate(loader, 1):
        x, y = x.to(runtime.device, non_blocking=True), y.to(runtime.device, non_blocking=True)
        last = step % accum == 0 or step == n
        sync = model.no_sync() if runtime.distributed and not last else contextlib.nullcontext()
        with sync:
            with runtime.autocast():
                logits_t = model(x)  # (B, C, T')
            loss = compute_loss(loss_kind, logits_t.float(), y, x.shape[2])
            scaler.scale(loss / accum).backward()
        if last:
            if clip_grad > 0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
        loss_sum += loss.item() * len(y)
        correct += (clip_scores(logits_t.detach().float(), "max").argmax(1) == y).sum().item()
        count += len(y)
    loss_sum, correct, count = runtime.all_reduce_sum([loss_sum, correct, count])
    return {"loss": loss_sum / max(count, 1), "top1": correct / max(count, 1)}


@torch.no_grad()
def evaluate(model, files: list[Path], targets: np.ndarray, config: I3DInputConfig, runtime: common.Runtime, *,
             loss_kind: str) -> dict:  # fmt: skip
    """Whole-clip evaluation with the bundle's inference contract, one clip at a time (each rank its
    shard). Returns loss, top1, scores (N, C) softmax of the max-over-time logits, targets."""
    net = common.unwrap(model)  # not through DDP: ranks run different numbers of clips
    net.eval()
    part = common.shard(np.arange(len(files)), runtime)
    local = []
    for i in part:
        frames = np.load(files[i], mmap_mode="r")
        idx = sample_frame_indices(len(frames), config.num_frames, config.min_frames)
        x = preprocess_clip(frames, config, indices=idx).to(runtime.device)  # (1, 3, k, 224, 224)
        with runtime.autocast():
            logits_t = net(x).float()  # (1, C, T')
        y = torch.tensor([int(targets[i])], device=runtime.device)
        loss = compute_loss(loss_kind, logits_t, y, x.shape[2]).item()
        local.append((int(i), loss, clip_scores(logits_t, "max")[0].cpu().numpy()))
    rows = sorted(sum(runtime.all_gather(local), []))
    logits = torch.from_numpy(np.stack([r[2] for r in rows])) if rows else torch.zeros(0, 1)
    t = torch.from_numpy(np.asarray(targets)[[r[0] for r in rows]])
    return common.eval_result(logits, t, float(np.mean([r[1] for r in rows])) if rows else float("nan"))


# ---------------------------------------------------------------------------------------------
# Frozen trunk: train the later stages on cached outputs of the earlier ones


class UpperI3D(nn.Module):
    """The stages after `after`, the pooling and the head of `net` (shared modules, not copies):
    (B, C, T, H, W) cached trunk output -> per-time logits (B, num_classes, T')."""

    def __init__(self, net: InceptionI3d, after: str) -> None:
        super().__init__()
        self.net, self.after = net, after

    def forward(self, trunk: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(self.net.avg_pool(self.net.forward_stages(trunk, after=self.after)))


def trunk_stages(net: InceptionI3d, through: str) -> tuple[str, ...]:
    """The backbone stages up to and including `through` (state_dict key prefixes)."""
    return net.endpoints[: net.endpoints.index(through) + 1]


def freeze_trunk(net: InceptionI3d, through: str) -> list[nn.Parameter]:
    """Freeze the stages up to `through` (no gradients, BatchNorm kept in eval mode); returns the
    parameters left to train."""
    for name in trunk_stages(net, through):
        getattr(net, name).requires_grad_(False)
    return [p for p in net.parameters() if p.requires_grad]


def _trunk_view(frames: np.ndarray, config: I3DInputConfig, rng: np.random.Generator | None, *,
                hflip: bool = False, appearance: bool = False) -> torch.Tensor:  # fmt: skip
    """The evaluation view (rng None: evenly spread frames, centre crop) or a training view."""
    if rng is None:
        idx = sample_frame_indices(len(frames), config.num_frames, config.min_frames)
        return preprocess_clip(frames, config, indices=idx)  # (1, 3, k, 224, 224)
    return train_clip(frames, rng, num_frames=config.num_frames, size=config.crop, hflip=hflip,
                      sampling="spread", appearance=appearance)[None]  # fmt: skip


@torch.no_grad()
def warm_start_later_stages(net: InceptionI3d, through: str, source: str | Path, labels: list[str], *,
                            tolerance: float = 0.02) -> None:  # fmt: skip
    """Load the stages after `through` and the head from an earlier model of the same frozen trunk
    (a bundle folder), e.g. to go on training a demo model on more signers without caching the
    trunk again. The earlier model must have the same classes in the same order and, stage by
    stage, the same trunk up to `tolerance` (largest difference relative to the largest value:
    float16 storage and low-precision calibration differ slightly)."""
    from signdemo.weights import load_bundle

    earlier = load_bundle(source)
    state = {k: v.float() for k, v in earlier.model.state_dict().items()}
    if list(earlier.labels) != list(labels):
        raise SystemExit(f"--warm-start {source}: its classes {earlier.labels} differ from the data set's "
                         f"{labels}")
    trunk = trunk_stages(net, through)
    for key, value in net.state_dict().items():
        if key.startswith(trunk) and value.dtype.is_floating_point:
            scale = max(value.float().abs().max().item(), 1e-12)
            diff = (state[key] - value.float()).abs().max().item() / scale
            if diff > tolerance:
                raise SystemExit(f"--warm-start {source}: its trunk differs from this run's at {key} "
                                 f"(relative difference {diff:.3g}); the later stages were trained on "
                                 "another trunk")
    later = {k: v for k, v in state.items() if not k.startswith(trunk)}
    missing, unexpected = net.load_state_dict(later, strict=False)
    assert not unexpected and all(k.startswith(trunk) for k in missing), (missing, unexpected)
    log.info("later stages and head from %s", source)


@torch.no_grad()
def calibrate_trunk(net: InceptionI3d, through: str, files: list[Path], config: I3DInputConfig,
                    runtime: common.Runtime, limit: int = 96) -> None:  # fmt: skip
    """Random-initialised BatchNorm statistics are identities, which lets activations drift layer by
    layer; re-estimate the frozen stages' statistics on training clips (cumulative averages)."""
    bns = [m for name in trunk_stages(net, through) for m in getattr(net, name).modules()
           if isinstance(m, nn.BatchNorm3d)]  # fmt: skip
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    for f in files[:limit]:
        with runtime.autocast():
            net.forward_stages(_trunk_view(np.load(f, mmap_mode="r"), config, None).to(runtime.device), through=through)
    for m in bns:
        m.momentum = 0.01
        m.eval()


@torch.no_grad()
def cache_trunk(net: InceptionI3d, through: str, files: list[Path], config: I3DInputConfig, runtime: common.Runtime,
                *, views: int, seed: int, hflip: bool = False, appearance: bool = False) -> list[torch.Tensor]:  # fmt: skip
    """Trunk outputs per clip: (views, C, T, H, W) float16 (view 0 is the evaluation view, the others
    training views with the given augmentation)."""
    net.eval()
    out = []
    for i, f in enumerate(files):
        frames = np.load(f, mmap_mode="r")
        xs = [_trunk_view(frames, config, None if v == 0 else common.sample_rng(seed, 10_000 + v, i), hflip=hflip,
                          appearance=appearance) for v in range(views)]  # fmt: skip
        with runtime.autocast():
            y = net.forward_stages(torch.cat(xs).to(runtime.device), through=through)
        out.append(y.to(torch.float16).cpu())
        if (i + 1) % 100 == 0:
            log.info("cached the trunk output of %d/%d clips", i + 1, len(files))
    return out


class TrunkDataset(Dataset):
    """Cached trunk outputs; each epoch draws one of a clip's views (seeded by epoch and index)."""

    def __init__(self, trunks: list[torch.Tensor], targets: np.ndarray, seed: int) -> None:
        self.trunks, self.targets, self.seed, self.epoch = trunks, targets, seed, 0

    def __len__(self) -> int:
        return len(self.trunks)

    def __getitem__(self, i: int):
        views = self.trunks[i]
        v = int(common.sample_rng(self.seed, self.epoch, i).integers(0, len(views)))
        return views[v].float(), int(self.targets[i]), i


@torch.no_grad()
def evaluate_cached(upper: UpperI3D, trunks: list[torch.Tensor], targets: np.ndarray, runtime: common.Runtime, *,
                    loss_kind: str, num_frames: int) -> dict:  # fmt: skip
    """`evaluate` on cached trunk outputs (their evaluation view)."""
    upper.eval()
    logits = []
    losses = []
    for i in range(len(trunks)):
        with runtime.autocast():
            logits_t = upper(trunks[i][:1].float().to(runtime.device)).float()  # (1, C, T')
        y = torch.tensor([int(targets[i])], device=runtime.device)
        losses.append(compute_loss(loss_kind, logits_t, y, num_frames).item())
        logits.append(clip_scores(logits_t, "max")[0].cpu())
    t = torch.from_numpy(np.asarray(targets))
    return common.eval_result(torch.stack(logits), t, float(np.mean(losses)) if losses else float("nan"))


# ---------------------------------------------------------------------------------------------
# Main


def get_args_parser() -> argparse.ArgumentParser:
    parser = script_parser("python -m signdemo.train.i3d", __doc__)
    add_reader_args(parser)
    common.add_common_args(parser, epochs=60)
    add_video_args(parser)
    g = parser.add_argument_group("recipe")
    g.add_argument("--init", type=Path, help="checkpoint to start from (e.g. rgb_imagenet.pt); the head is reset")
    g.add_argument("--batch-size", type=int, default=4, help="clips per step and process")
    g.add_argument("--effective-batch", type=int, default=16, help="clips per optimizer step over all processes")
    g.add_argument("--lr", type=float, default=0.01)
    g.add_argument("--momentum", type=float, default=0.9)
    g.add_argument("--weight-decay", type=float, default=1e-7)
    g.add_argument("--loss", choices=("wlasl", "ce"), default="wlasl")
    g.add_argument("--clip-grad", type=float, default=0.0, help="max gradient norm (0 = off, as WLASL)")
    g.add_argument("--patience", type=int, default=0, help="early stopping on val top-1 (0 = off, as WLASL)")
    g.add_argument("--dropout", type=float, default=0.5)
    g.add_argument("--num-frames", type=int, default=64, help="frames per training clip")
    g.add_argument("--train-sampling", choices=("consecutive", "spread"), default="consecutive",
                   help="consecutive frames at a random start (WLASL) or spread over the whole clip")
    g.add_argument("--eval-frames", type=int, default=64, help="frames sampled over a clip at evaluation and inference")
    g.add_argument("--resize-short", type=int, default=256)
    g.add_argument("--crop", type=int, default=224)
    g.add_argument("--hflip", action=argparse.BooleanOptionalAction, default=True,
                   help="random horizontal flip (WLASL's recipe; it swaps the signer's hands)")  # fmt: skip
    g.add_argument("--appearance-jitter", action=argparse.BooleanOptionalAction, default=False,
                   help="random scale, place, colour-channel order, brightness and contrast of training clips")
    g.add_argument("--bn-momentum", type=float,
                   help="BatchNorm momentum of the trained layers (default: the checkpoints' 0.01, for fine-tuning; "
                        "0.1 suits training from random weights, where the statistics move fast)")
    g.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd",
                   help="sgd (WLASL: momentum --momentum) or adamw (faster from random weights)")
    g.add_argument("--cache", type=Path, help="frame cache folder (default: OUT.frames next to OUT)")
    g.add_argument("--freeze-through", metavar="STAGE",
                   help="freeze the backbone up to this stage (e.g. MaxPool3d_4a_3x3), cache its output once "
                        "per clip and view, and train only the later stages and the head (CPU-friendly)")
    g.add_argument("--trunk-views", type=int, default=3,
                   help="with --freeze-through: cached views per training clip (1 = the evaluation view only; "
                        "more add spread-sampled, randomly cropped views)")
    g.add_argument("--warm-start", metavar="BUNDLE",
                   help="with --freeze-through: start the later stages and the head from this earlier "
                        "model of the same frozen trunk and classes (e.g. a demo model trained on fewer "
                        "signers)")
    g.add_argument("--save-dtype", choices=("float32", "float16"), default="float32")
    return parser


def build_model(args: argparse.Namespace, num_classes: int) -> tuple[InceptionI3d, dict]:
    if args.init:
        state_dict, _ = split_checkpoint(read_checkpoint(args.init))
        head = state_dict["logits.conv3d.weight"]
        model = InceptionI3d(num_classes=int(head.shape[0]), dropout=args.dropout)
        load_state_dict_strict(model, state_dict, what=str(args.init))
        model.reset_classifier(num_classes)
    else:
        if not args.warm_start:
            log.warning("no --init checkpoint: training the I3D from random weights (expect poor accuracy)")
        model = InceptionI3d(num_classes=num_classes, dropout=args.dropout)
    return model, {"num_classes": num_classes, "in_channels": 3, "dropout": args.dropout}


def _split_files(index: DatasetIndex, files: dict[str, Path], split: str) -> tuple[list[Path], np.ndarray]:
    samples = [s for s in index.split(split) if s.key in files]
    return [files[s.key] for s in samples], np.array([s.label_id for s in samples], dtype=np.int64)


def main(args: argparse.Namespace) -> dict:
    return common.launch(args, _run)


def _run(args: argparse.Namespace, runtime: common.Runtime) -> dict:
    if args.warm_start and not args.freeze_through:  # before any decoding
        raise SystemExit("--warm-start goes with --freeze-through (a whole model is given with --init)")
    input_config = I3DInputConfig(num_frames=args.eval_frames, resize_short=args.resize_short, crop=args.crop)
    index = read_from_args(args).existing()
    # Cached frames depend on the decoding settings: one subfolder per combination.
    cache = (args.cache or args.out.with_name(args.out.name + ".frames")) / (
        f"short{args.resize_short}-side{args.max_side}-trim_{args.trim}")
    files = build_cache(index, cache, runtime, limits=limits_from_args(args), resize_short=args.resize_short,
                        trim=args.trim)  # fmt: skip
    (train_files, train_y), (val_files, val_y), (test_files, test_y) = (
        _split_files(index, files, s) for s in ("train", "val", "test"))  # fmt: skip
    if not train_files or not val_files:
        raise SystemExit(f"need train and val clips (have {len(train_files)} train, {len(val_files)} val)")
    log.info("%s: %d train, %d val, %d test clips, %d classes", index.source, len(train_files), len(val_files),
             len(test_files), len(index.labels))  # fmt: skip

    net, model_args = build_model(args, len(index.labels))
    if args.bn_momentum is not None:  # frozen layers stay in eval mode: only trained ones update statistics
        for m in net.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.momentum = args.bn_momentum
    trunks: dict[str, list[torch.Tensor]] = {}
    if args.freeze_through:
        if runtime.distributed:
            raise SystemExit("--freeze-through trains on cached trunk outputs in one process; run it without torchrun")
        if args.freeze_through not in net.endpoints:
            raise SystemExit(f"--freeze-through must be one of {net.endpoints}")
        trainable = freeze_trunk(net, args.freeze_through)
        # The trunk outputs are kept next to the frame cache, keyed by everything they depend on, so
        # that another recipe for the later stages does not compute them again.
        key = hashlib.sha256(json.dumps([
            args.init and str(args.init), args.seed, args.freeze_through, args.trunk_views, args.hflip,
            args.appearance_jitter, dataclasses.asdict(input_config), [str(f) for f in train_files + val_files + test_files],
        ]).encode()).hexdigest()[:16]  # fmt: skip
        saved = cache / f"trunk-{args.freeze_through}-{key}.pt"
        if saved.is_file():
            log.info("trunk outputs from %s", saved)
            state = torch.load(saved, weights_only=True)
            # The trunk (its calibrated BatchNorm statistics with it); the later stages stay as built.
            trunk = trunk_stages(net, args.freeze_through)
            trunk_state = {k: v for k, v in state["net"].items() if k.startswith(trunk)}
            net.load_state_dict(trunk_state, strict=False)
            trunks = state["trunks"]
        else:
            if not args.init:
                calibrate_trunk(net, args.freeze_through, train_files, input_config, runtime)
            for split, split_files, views in (("train", train_files, args.trunk_views), ("val", val_files, 1),
                                              ("test", test_files, 1)):  # fmt: skip
                trunks[split] = cache_trunk(net, args.freeze_through, split_files, input_config, runtime,
                                            views=views, seed=args.seed, hflip=args.hflip,
                                            appearance=args.appearance_jitter)  # fmt: skip
            torch.save({"net": net.state_dict(), "trunks": trunks}, saved.with_suffix(".tmp"))
            os.replace(saved.with_suffix(".tmp"), saved)
        if args.warm_start:
            warm_start_later_stages(net, args.freeze_through, args.warm_start, index.labels)
        model = UpperI3D(net, args.freeze_through)
    else:
        model = runtime.wrap(net)
        trainable = list(model.parameters())
    if args.optimizer == "adamw":
        optimizer = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=args.weight_decay)
    else:
        optimizer = torch.optim.SGD(trainable, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    scaler = runtime.grad_scaler()
    accum = max(1, round(args.effective_batch / (args.batch_size * runtime.world_size)))
    provenance = common.provenance_from_args(args, trainer="signdemo.train.i3d", dataset=index.source)
    preprocessing = dataclasses.asdict(input_config)
    save_dtype = torch.float16 if args.save_dtype == "float16" else None

    state, best_state = common.resume_training(args, runtime, model=model, optimizer=optimizer, scheduler=scheduler,
                                               scaler=scaler, last_name=LAST_NAME, best_name=BEST_NAME)  # fmt: skip
    if runtime.is_main:
        common.write_json(args.out / "training_config.json", common.resolved_config(
            args, runtime, num_classes=len(index.labels), accumulation_steps=accum, cache=str(cache),
            effective_batch=args.batch_size * accum * runtime.world_size, input_config=preprocessing,
            counts={"train": len(train_files), "val": len(val_files), "test": len(test_files)}))  # fmt: skip

    if args.freeze_through:
        train_set = TrunkDataset(trunks["train"], train_y, seed=args.seed)
    else:
        train_set = ClipDataset(train_files, train_y, num_frames=args.num_frames, size=args.crop, hflip=args.hflip,
                                seed=args.seed, sampling=args.train_sampling, appearance=args.appearance_jitter)  # fmt: skip
    loader, set_epoch = common.train_loader(train_set, args, runtime)

    def train_epoch(epoch: int) -> dict:
        set_epoch(epoch)
        return train_one_epoch(model, loader, optimizer, scaler, runtime, accum=accum, loss_kind=args.loss,
                               clip_grad=args.clip_grad)  # fmt: skip

    split_data = {"train": (train_files, train_y), "val": (val_files, val_y), "test": (test_files, test_y)}

    def run_eval(split: str) -> dict:
        if args.freeze_through:
            return evaluate_cached(model, trunks[split], split_data[split][1], runtime, loss_kind=args.loss,
                                   num_frames=input_config.num_frames)  # fmt: skip
        return evaluate(model, *split_data[split], input_config, runtime, loss_kind=args.loss)

    def save_best(state: common.TrainState) -> None:
        save_bundle(args.out, architecture=I3D, model=net, model_args=model_args, labels=index.labels,
                    preprocessing=preprocessing, provenance=provenance, name=args.name, checkpoint_name=BEST_NAME,
                    dtype=save_dtype,
                    extra={"training": {"best_epoch": state.best_epoch, "best_val_top1": state.best_top1}})  # fmt: skip

    result = common.fit(
        args, runtime, model=model, model_args=model_args, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
        state=state, best_state=best_state, train_epoch=train_epoch, save_best=save_best,
        validate=lambda: run_eval("val"),
        last_path=args.out / "checkpoints" / LAST_NAME,
    )  # fmt: skip
    if not result.finished:
        return {"state": result.state, "finished": False}
    metrics = common.finish(
        args, runtime, result, model=model, has_test=bool(test_files), labels=index.labels, architecture=I3D,
        evaluate=run_eval,
        model_args=model_args, preprocessing=preprocessing, provenance=provenance,
        checkpoint=f"checkpoints/{BEST_NAME}",
    )  # fmt: skip
    return {"state": result.state, "finished": True, "metrics": metrics}


if __name__ == "__main__":
    _args = get_args_parser().parse_args()
    common.configure_logging(_args.verbose)
    main(_args)

"""python -m signdemo.train.bigru PREPARED --out weights/my-bigru [--epochs 60] [--resume]

Train the BiGRU-attention model on a prepared keypoint data set (`python -m signdemo.train.prepare`
or `python -m signdemo.train.gislr`), with the published ASL Citizen recipe as defaults: AdamW lr 3e-4,
weight decay 1e-4, cosine annealing over the epochs, batch 32 (per process), at most 60 epochs, early
stopping after 10 epochs without a better validation top-1, dropout 0.35, label smoothing 0.10,
gradient clipping at norm 1.0, mixed precision on GPU. Augmentation, weight averaging (`--ema`),
mixup (`--mixup`) and distillation from trained bundles (`--distill`) are off unless asked for.

    python -m signdemo.train.bigru data/gislr_kp --out weights/gislr-bigru --epochs 30
    torchrun --nproc_per_node=2 -m signdemo.train.bigru data/kp --out weights/kp-bigru   # DDP (gloo on CPU)
    # a WLASL100 model that learns from the clips of all 300 WLASL300 glosses (judged and shipped on the 100)
    python -m signdemo.train.bigru data/wlasl300-hands --keep-classes 100 --out weights/wlasl100-bigru
    # the same, also matching the mean answer of trained models (soft targets) on their classes' clips
    python -m signdemo.train.bigru data/wlasl300-hands --keep-classes 100 --out weights/wlasl100-kd \
        --distill weights/wlasl100-bigru --distill runs/seed1

Writes the bundle the app loads unchanged (`signdemo.weights.load_bundle(OUT)`):
    checkpoints/best_bigru_attention_model.pt     {"model_state_dict", "config"} at the best val top-1
                                                  (--ema: the averaged weights, which are what is validated)
    checkpoints/best_bigru_attention_encoder.pt   the same without the classifier (clip -> 512-d embedding)
    checkpoints/last_bigru_attention_model.pt     + optimizer, scheduler, scaler, epoch, RNG (--resume)
    metadata/label_to_id.json, metadata/id_to_label.json, training_config.json
    reports/training_history.csv, final_metrics.json, test_classification_report.{json,csv},
    test_confusion_matrix.npy
    signdemo_bundle.json   manifest: preprocessing = the data set's FeatureConfig, provenance, sha256
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import Dataset

from signdemo import schema
from signdemo.features import FeatureConfig, features_from_positions, position_features, retime_features
from signdemo.models.bigru_attention import BiGRUAttention, BiGRUAttentionConfig
from signdemo.train import common, script_parser
from signdemo.train.datasets import PreparedDataset
from signdemo.weights import BIGRU, load_bundle, load_state_dict_strict, read_checkpoint, save_bundle, split_checkpoint

log = logging.getLogger(__name__)

BEST_NAME = f"best_{BIGRU}_model.pt"
ENCODER_NAME = f"best_{BIGRU}_encoder.pt"
LAST_NAME = f"last_{BIGRU}_model.pt"
#: Key of the `--ema` weight average (with its update count) in the `last` checkpoint.
EMA_KEY = "ema_state_dict"
#: Keys of a prepared data set's config copied into the provenance of the weights trained on it.
DATA_PROVENANCE = ("split", "hand_rule", "hand_rule_meaning", "licence", "landmark_model")


# ---------------------------------------------------------------------------------------------
# Data


def _centres(normalize: str, relative: np.ndarray | None) -> np.ndarray:
    """(75, 1) centre of each point's coordinates: 0.5 for image coordinates, 0 for normalised ones
    and for offsets from a wrist (`FeatureConfig.relative_points`)."""
    centre = np.full((schema.NUM_POINTS, 1), 0.5 if normalize == "none" else 0.0)
    if relative is not None:
        centre[relative] = 0.0
    return centre


def augment_affine(x: np.ndarray, rng: np.random.Generator, scale: float = 0.1, shift: float = 0.05,
                   relative: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Random zoom and shift of one (F, 450) feature matrix, exactly as if applied to the landmarks.

    Positions p -> s * p + t (t on x, y only) where a point is present (non-zero); velocities are
    differences of positions, so they scale by s and ignore t. Missing points stay zero. Points that
    are offsets from their wrist (`relative`, (75,) bool) only scale.
    """
    n = schema.NUM_POSITION_FEATURES
    s = 1.0 + rng.uniform(-scale, scale)
    t = np.array([rng.uniform(-shift, shift), rng.uniform(-shift, shift), 0.0], dtype=np.float32)
    pos = x[:, :n].reshape(len(x), schema.NUM_POINTS, 3)  # (F, 75, 3)
    present = (pos != 0).any(axis=2, keepdims=True)  # (F, 75, 1)
    shifts = np.where(relative[:, None], 0.0, t) if relative is not None else t  # (75, 3) or (3,)
    pos = np.where(present, s * pos + shifts, 0.0)
    return np.concatenate([pos.reshape(len(x), n), s * x[:, n:]], axis=1).astype(np.float32)


_MIRROR_ROWS = np.asarray(schema.MIRROR_PERMUTATION, dtype=np.int64)
#: Augmentations `--augment` combines with "+" (in this order of application), or "none".
AUGMENT_NAMES = ("time", "handdrop", "affine", "rotate", "mirror")
_HAND_ROWS = [np.arange(schema.NUM_POINTS)[schema.part_slice(p)] for p in ("left_hand", "right_hand")]


def parse_augment(spec: str) -> tuple[str, ...]:
    """"none" or names of `AUGMENT_NAMES` joined by "+" -> the names, in order of application."""
    names = [] if spec == "none" else spec.split("+")
    unknown = [n for n in names if n not in AUGMENT_NAMES]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"augment must be 'none' or names of {AUGMENT_NAMES} joined by '+', got {spec!r}")
    return tuple(n for n in AUGMENT_NAMES if n in names)


def augment_mirror(x: np.ndarray, normalize: str, relative: np.ndarray | None = None) -> np.ndarray:
    """One (F, 450) feature matrix of the horizontally mirrored clip, exactly as if the landmarks
    had been mirrored (`Landmarks.mirrored`): left and right swap (hands and pose points) and x
    flips about the image centre (0.5) for image coordinates, about 0 for the normalised ones
    (the centre of the shoulders or of the hands flips with the clip). Signers sign with either hand
    dominant, so the mirrored clip is the same sign by a signer of the other handedness. Offsets
    from a wrist (`relative`) flip about 0."""
    n = schema.NUM_POSITION_FEATURES
    centre = _centres(normalize, relative)[:, 0]  # (75,) the mirror keeps each row's kind
    pos = x[:, :n].reshape(len(x), schema.NUM_POINTS, 3)[:, _MIRROR_ROWS]  # (F, 75, 3)
    vel = x[:, n:].reshape(len(x), schema.NUM_POINTS, 3)[:, _MIRROR_ROWS].copy()
    present = (pos != 0).any(axis=2)  # (F, 75)
    pos = pos.copy()
    pos[..., 0] = np.where(present, 2 * centre - pos[..., 0], 0.0)
    vel[..., 0] = -vel[..., 0]
    return np.concatenate([pos.reshape(len(x), n), vel.reshape(len(x), n)], axis=1).astype(np.float32)


def augment_rotate(x: np.ndarray, rng: np.random.Generator, normalize: str, degrees: float = 15.0,
                   relative: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Random in-plane rotation by up to +-`degrees` about the centre of the coordinates (0.5 for
    image coordinates, 0 for normalised ones and offsets from a wrist), exactly as if applied to the
    landmarks: positions and velocities turn alike; missing points stay zero."""
    n = schema.NUM_POSITION_FEATURES
    a = np.deg2rad(rng.uniform(-degrees, degrees))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    centre = _centres(normalize, relative)  # (75, 1)
    pos = x[:, :n].reshape(len(x), schema.NUM_POINTS, 3).astype(np.float64)
    vel = x[:, n:].reshape(len(x), schema.NUM_POINTS, 3).astype(np.float64)
    present = (pos != 0).any(axis=2, keepdims=True)
    pos[..., :2] = np.where(present, (pos[..., :2] - centre) @ rot.T + centre, 0.0)
    vel[..., :2] = vel[..., :2] @ rot.T
    return np.concatenate([pos.reshape(len(x), n), vel.reshape(len(x), n)], axis=1).astype(np.float32)


def augment_time(x: np.ndarray, rng: np.random.Generator, config: FeatureConfig, trim: float = 0.15,
                 warp: float = 0.2) -> np.ndarray:  # fmt: skip
    """The clip trimmed by up to `trim` of its length at each end and played at a changing speed
    (times u ** g, log g uniform in +-`warp`), resampled to the same number of steps with the
    features' own interpolation; velocities computed again (`features.retime_features`)."""
    f = len(x)
    start, end = rng.uniform(0.0, trim) * (f - 1), (1.0 - rng.uniform(0.0, trim)) * (f - 1)
    u = np.linspace(0.0, 1.0, f) ** np.exp(rng.uniform(-warp, warp))
    return retime_features(x, start + (end - start) * u, config)


def augment_handdrop(x: np.ndarray, rng: np.random.Generator, config: FeatureConfig, p: float = 0.3,
                     longest: float = 0.5) -> np.ndarray:  # fmt: skip
    """Each hand, with probability `p`, missing on a random stretch of up to `longest` of the clip,
    as when the detector loses it; velocities computed again (`features.features_from_positions`)."""
    f = len(x)
    pos = position_features(x).astype(np.float64)
    dropped = False
    for rows in _HAND_ROWS:
        if rng.random() < p:
            length = max(1, int(rng.uniform(0.1, longest) * f))
            start = int(rng.integers(0, f - length + 1))
            pos[start : start + length, rows] = 0.0
            dropped = True
    return features_from_positions(pos, config) if dropped else x


class KeypointDataset(Dataset):
    """Rows of the exchange array as float32 tensors: (x (F, 450), class id, row index)."""

    def __init__(self, features: np.ndarray, targets: np.ndarray, indices: np.ndarray,
                 augment: str = "none", seed: int = 0, config: FeatureConfig | None = None) -> None:  # fmt: skip
        self.features, self.targets, self.indices = features, targets, np.asarray(indices)
        self.augment, self.seed, self.epoch = parse_augment(augment), seed, 0
        self.config = config or FeatureConfig()

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        row = int(self.indices[i])
        x = np.asarray(self.features[row], dtype=np.float32)  # (F, 450)
        rng = common.sample_rng(self.seed, self.epoch, row)
        normalize, relative = self.config.normalize, self.config.relative_points()
        for name in self.augment:
            if name == "time":
                x = augment_time(x, rng, self.config)
            elif name == "handdrop":
                x = augment_handdrop(x, rng, self.config)
            elif name == "affine":
                x = augment_affine(x, rng, relative=relative)
            elif name == "rotate":
                x = augment_rotate(x, rng, normalize, relative=relative)
            elif name == "mirror" and rng.random() < 0.5:
                x = augment_mirror(x, normalize, relative)
        return torch.from_numpy(x), int(self.targets[row]), row


# ---------------------------------------------------------------------------------------------
# Distillation: trained models' answers as soft targets


@dataclass
class Distillation:
    """Soft targets of teacher bundles (`--distill`): for each row of the data set, the teachers' mean
    softmax at `temperature` over their C classes (the data set's first C), and whether it has one."""

    probs: torch.Tensor  # (N, C) rows without a target are zeros
    weight: float
    temperature: float
    teachers: list[dict]

    @property
    def has(self) -> torch.Tensor:
        """(N,) bool: the rows with a soft target (a target is a distribution: its row sums to 1)."""
        return self.probs.sum(1) > 0.5


def teacher_targets(paths: list[Path], data: PreparedDataset, rows: np.ndarray, *, temperature: float,
                    weight: float, runtime: common.Runtime | None = None) -> Distillation:  # fmt: skip
    """The teachers' soft targets on the clips of `rows` as stored (not augmented: a zoomed, shifted or
    mirrored clip is the same sign), for the rows of the teachers' classes only; scored by `evaluate`
    on `runtime` (default: this process's CPU).

    Every teacher must be a BiGRU with the data set's preprocessing and the data set's first C labels,
    all the same C: a model that read other features or speaks another vocabulary teaches nonsense."""
    with torch.random.fork_rng(devices=[]):  # building the teachers must not move the student's random stream
        bundles = [load_bundle(p) for p in paths]
    own = FeatureConfig.from_dict(data.feature_config)
    for path, b in zip(paths, bundles):
        if b.architecture != BIGRU:
            raise SystemExit(f"--distill {path}: a {b.architecture} bundle; teachers are BiGRU bundles")
        if FeatureConfig.from_dict(b.preprocessing) != own:
            raise SystemExit(f"--distill {path}: its preprocessing {b.preprocessing} is not this data set's "
                             f"{data.feature_config}; a teacher must have read the same features")  # fmt: skip
        if b.labels != data.labels[: b.num_classes] or b.num_classes != bundles[0].num_classes:
            raise SystemExit(f"--distill {path}: its {b.num_classes} labels are not the data set's first "
                             f"{bundles[0].num_classes} ({', '.join(data.labels[:3])}, ...)")  # fmt: skip
    num = bundles[0].num_classes
    rows = np.sort(rows[data.targets[rows] < num])
    runtime = runtime or common.Runtime(torch.device("cpu"))
    probs = torch.zeros(len(data.targets), num)
    for b in bundles:
        with torch.no_grad():
            scored = evaluate(b.model.to(runtime.device), data, rows, nn.CrossEntropyLoss(), runtime)
        probs[rows] += torch.softmax(torch.from_numpy(scored["logits"]) / temperature, dim=1) / len(bundles)  # (n, C)
    teachers = [{"bundle": b.name, "source": b.display_source,
                 "sha256": b.manifest.get("sha256", {}).get(b.manifest.get("checkpoint", ""))} for b in bundles]  # fmt: skip
    log.info("distillation: %d teachers, %d classes, soft targets on %d training clips (T %.1f, weight %.2f)",
             len(bundles), num, len(rows), temperature, weight)  # fmt: skip
    return Distillation(probs, weight, temperature, teachers)


def distill_loss(logits: torch.Tensor, y: torch.Tensor, rows: torch.Tensor, label_smoothing: float,
                 distill: Distillation) -> torch.Tensor:  # fmt: skip
    """Per clip (1 - w) * the label loss + w * T^2 * KL(teacher || student at T) over the teachers'
    classes where the clip has a soft target, the label loss alone where it has none; batch mean.
    logits (B, C_all), y (B,), rows (B,) the clips' rows of the data set."""
    t = distill.temperature
    ce = F.cross_entropy(logits, y, label_smoothing=label_smoothing, reduction="none")  # (B,)
    teacher = distill.probs[rows].to(logits.device)  # (B, C)
    log_student = F.log_softmax(logits[:, : teacher.shape[1]] / t, dim=1)  # (B, C)
    kl = (teacher * (torch.log(teacher.clamp_min(1e-12)) - log_student)).sum(1) * t * t  # (B,)
    w = distill.weight * (teacher.sum(1) > 0.5).float()  # (B,) the batch's rows with a soft target (`has`)
    return ((1.0 - w) * ce + w * kl).mean()


# ---------------------------------------------------------------------------------------------
# One epoch, evaluation


def mix_batch(x: torch.Tensor, y: torch.Tensor, alpha: float, rng: np.random.Generator):
    """Mixup of one batch: each clip blended with another of the batch (a random pairing) by one
    weight lam ~ Beta(alpha, alpha), kept >= 0.5 so the clip's own class dominates.

    Returns (mixed x, y, the partners' y, lam). Positions and velocities blend alike, so the mixed
    velocities are still the differences of the mixed positions."""
    lam = float(rng.beta(alpha, alpha))
    lam = max(lam, 1.0 - lam)
    partner = torch.from_numpy(rng.permutation(len(x))).to(x.device)
    return lam * x + (1.0 - lam) * x[partner], y, y[partner], lam


def train_one_epoch(model, loader, optimizer, criterion, scaler, runtime: common.Runtime, clip_grad: float,
                    ema: AveragedModel | None = None, mixup: float = 0.0, seed: int = 0, epoch: int = 0,
                    distill: Distillation | None = None) -> dict:  # fmt: skip
    """One pass over this rank's share of the training set; metrics summed over all ranks. `ema`, if
    given, takes the weights in after every optimizer step. `mixup` > 0: each batch mixed
    (`mix_batch`, Beta(mixup, mixup)), the loss weighted between both clips' classes, the training
    top-1 counted against the dominant clip's class; seeded by (seed, epoch, rank). `distill`: the
    loss is `distill_loss` (label loss and the teachers' soft targets)."""
    model.train()
    rng = np.random.default_rng([seed, epoch, runtime.rank])
    loss_sum = correct = count = 0.0
    for x, y, rows in loader:
        x, y = x.to(runtime.device, non_blocking=True), y.to(runtime.device, non_blocking=True)
        if mixup > 0:
            x, y, y_partner, lam = mix_batch(x, y, mixup, rng)
        with runtime.autocast():
            logits = model(x)  # (B, C)
        if distill is not None:
            loss = distill_loss(logits.float(), y, rows, criterion.label_smoothing, distill)
        else:
            loss = criterion(logits.float(), y)
        if mixup > 0:
            loss = lam * loss + (1.0 - lam) * criterion(logits.float(), y_partner)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if clip_grad > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
        scaler.step(optimizer)
        scaler.update()
        if ema is not None:
            ema.update_parameters(common.unwrap(model))
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        count += len(y)
    loss_sum, correct, count = runtime.all_reduce_sum([loss_sum, correct, count])
    return {"loss": loss_sum / max(count, 1), "top1": correct / max(count, 1)}


@torch.no_grad()
def evaluate(model, data: PreparedDataset, indices: np.ndarray, criterion, runtime: common.Runtime,
             batch_size: int = 128, num_classes: int | None = None) -> dict:  # fmt: skip
    """Scores of every sample in `indices` (each rank scores its shard, all ranks get all scores),
    over the first `num_classes` classes only if given (`--keep-classes`: the shipped head).

    Returns loss, top1, scores (N, C) softmax probabilities and targets (N,), in `indices` order.
    """
    net = common.unwrap(model)  # not through DDP: ranks may run different numbers of batches
    net.eval()
    targets_all = data.targets
    part = common.shard(indices, runtime)
    rows, logits_list = [], []
    for start in range(0, len(part), batch_size):
        chunk = np.sort(part[start : start + batch_size])  # sorted rows read faster from a memory map
        x = torch.from_numpy(np.asarray(data.features[chunk], dtype=np.float32)).to(runtime.device)  # (b, F, 450)
        with runtime.autocast():
            logits_list.append(net(x).float().cpu()[:, :num_classes])  # (b, C)
        rows.append(chunk)
    local = (np.concatenate(rows) if rows else np.zeros(0, np.int64),
             torch.cat(logits_list).numpy() if logits_list else None)  # fmt: skip
    gathered = [g for g in runtime.all_gather(local) if g[1] is not None]
    order = np.concatenate([g[0] for g in gathered])
    logits = torch.from_numpy(np.concatenate([g[1] for g in gathered]))  # (N, C)
    pos = {int(r): i for i, r in enumerate(order)}
    logits = logits[[pos[int(r)] for r in indices]]
    targets = torch.from_numpy(targets_all[indices])
    return common.eval_result(logits, targets, float(criterion(logits, targets)))


# ---------------------------------------------------------------------------------------------
# Main


def _augment_arg(spec: str) -> str:
    try:
        parse_augment(spec)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return spec


def _mixup_arg(text: str) -> float:
    alpha = float(text)
    if not alpha >= 0:
        raise argparse.ArgumentTypeError(f"--mixup takes a Beta parameter >= 0 (0 = off), got {text}")
    return alpha


def _ema_arg(text: str) -> float:
    decay = float(text)
    if not 0 <= decay < 1:
        raise argparse.ArgumentTypeError(f"--ema takes a decay in [0, 1) (0 = off), got {text}")
    return decay


def _positive_arg(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"takes a number > 0, got {text}")
    return value


def _weight_arg(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"takes a weight in [0, 1], got {text}")
    return value


def get_args_parser() -> argparse.ArgumentParser:
    parser = script_parser("python -m signdemo.train.bigru", __doc__)
    parser.add_argument("data", type=Path, help="prepared keypoint folder (features.npy, manifest.csv, labels.json)")
    common.add_common_args(parser, epochs=60)
    g = parser.add_argument_group("recipe")
    g.add_argument("--batch-size", type=int, default=32, help="per process")
    g.add_argument("--eval-batch-size", type=int, default=128)
    g.add_argument("--lr", type=float, default=3e-4)
    g.add_argument("--weight-decay", type=float, default=1e-4)
    g.add_argument("--label-smoothing", type=float, default=0.10)
    g.add_argument("--clip-grad", type=float, default=1.0, help="max gradient norm (0 = off)")
    g.add_argument("--patience", type=int, default=10, help="early stopping on val top-1 (0 = off)")
    g.add_argument("--ema", type=_ema_arg, default=0.0, metavar="DECAY",
                   help="keep an exponential moving average of the weights, updated after every optimizer step "
                   "with this decay (e.g. 0.995: about the last 200 steps), and validate, keep and ship the "
                   "average instead of the raw weights (0 = off)")  # fmt: skip
    g.add_argument("--mixup", type=_mixup_arg, default=0.0, metavar="ALPHA",
                   help="mixup: each training batch's clips blended pairwise by lam ~ Beta(ALPHA, ALPHA) (kept >= "
                   "0.5), the loss weighted between the two classes (0 = off; 0.2-0.4 usual)")  # fmt: skip
    g.add_argument("--distill", type=Path, action="append", default=[], metavar="BUNDLE",
                   help="a trained BiGRU bundle of this data set's features and first C labels (repeat for "
                   "several: their mean): on the training clips of those C classes the loss also matches its "
                   "softmax at --distill-temperature (knowledge distillation; soft targets from the clips as "
                   "stored, computed once)")  # fmt: skip
    g.add_argument("--distill-weight", type=_weight_arg, default=0.5,
                   help="share of the soft-target loss in a clip's loss (the label loss has the rest)")
    g.add_argument("--distill-temperature", type=_positive_arg, default=2.0,
                   help="softmax temperature of teachers and student in the soft-target loss")
    g.add_argument("--augment", type=_augment_arg, default="none",
                   help="'none' or any of time, handdrop, affine, rotate, mirror joined by '+' (e.g. "
                   "time+affine+mirror). time: trimmed up to 15%% at each end, speed warped; handdrop: a hand "
                   "lost on a stretch of the clip (p 0.3 per hand); affine: random zoom +-10%% and shift "
                   "+-0.05 of the landmarks; rotate: +-15 degrees in the image plane; mirror: half of the "
                   "clips mirrored (hands swapped, x flipped), as signed by a signer of the other handedness")  # fmt: skip
    g = parser.add_argument_group("model (BiGRUAttentionConfig)")
    d = BiGRUAttentionConfig()
    g.add_argument("--projection-dim", type=int, default=d.projection_dim)
    g.add_argument("--hidden-dim", type=int, default=d.hidden_dim)
    g.add_argument("--num-gru-layers", type=int, default=d.num_gru_layers)
    g.add_argument("--dropout", type=float, default=d.dropout)
    g.add_argument("--init", type=Path, help="start from this BiGRU checkpoint (the head is replaced if the "
                   "class count differs)")  # fmt: skip
    g.add_argument("--keep-classes", type=int, default=0, metavar="N",
                   help="train on every class of the data set but ship a model of its first N classes (e.g. "
                   "WLASL100 out of WLASL300: the other classes' clips serve only as more training data): "
                   "validation, early stopping and test use the clips of those N classes, scored over them "
                   "alone, and the shipped head keeps their N rows (0 = every class)")  # fmt: skip
    g.add_argument("--train-on-dropped-splits", action="store_true",
                   help="with --keep-classes: the val and test clips of the classes not kept are training data "
                   "too (they judge nothing: validation and test are the kept classes' clips)")  # fmt: skip
    return parser


def build_model(args: argparse.Namespace, num_classes: int, input_dim: int) -> tuple[BiGRUAttention, dict]:
    config = BiGRUAttentionConfig(input_dim=input_dim, projection_dim=args.projection_dim, hidden_dim=args.hidden_dim,
                                  num_gru_layers=args.num_gru_layers, num_classes=num_classes, dropout=args.dropout)  # fmt: skip
    model = BiGRUAttention(config)
    if args.init:
        state_dict, _ = split_checkpoint(read_checkpoint(args.init))
        head = state_dict.get("classifier.weight")
        if head is not None and head.shape[0] != num_classes:
            model.reset_classifier(int(head.shape[0]))
            load_state_dict_strict(model, state_dict, what=str(args.init))
            model.reset_classifier(num_classes)
        else:
            load_state_dict_strict(model, state_dict, what=str(args.init))
    return model, config.to_dict()


def head_rows(state_dict: dict[str, torch.Tensor], num_classes: int) -> dict[str, torch.Tensor]:
    """`state_dict` with the head's first `num_classes` rows only (unchanged if it has no more)."""
    return {k: v[:num_classes] if k.startswith("classifier.") else v for k, v in state_dict.items()}


def head_subset(model: BiGRUAttention, num_classes: int) -> BiGRUAttention:
    """A copy of `model` whose head keeps the first `num_classes` rows: the same logits for those
    classes, the others dropped (`--keep-classes`); `model` itself when it has no more rows."""
    if model.classifier.out_features <= num_classes:
        return model
    subset = BiGRUAttention(BiGRUAttentionConfig.from_dict({**model.config.to_dict(), "num_classes": num_classes}))
    load_state_dict_strict(subset, head_rows(model.state_dict(), num_classes), what="the kept classes' head")
    return subset


def _save_best(args, model, model_args, labels: list[str], data: PreparedDataset, provenance: dict,
               extra: dict) -> None:  # fmt: skip
    ckpt = args.out / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    torch.save({"model_state_dict": model.encoder_state_dict(), "config": dict(model_args)}, ckpt / ENCODER_NAME)
    save_bundle(args.out, architecture=BIGRU, model=head_subset(model, len(labels)), model_args=model_args,
                labels=labels, preprocessing=data.feature_config, provenance=provenance, name=args.name,
                checkpoint_name=BEST_NAME, extra=extra)  # fmt: skip


def main(args: argparse.Namespace) -> dict:
    return common.launch(args, _run)


def _run(args: argparse.Namespace, runtime: common.Runtime) -> dict:
    data = PreparedDataset.load(args.data)
    targets = data.targets
    train_idx, val_idx, test_idx = (data.indices(s) for s in ("train", "val", "test"))
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise SystemExit(f"{args.data} needs train and val samples (has {len(train_idx)} train, {len(val_idx)} val)")
    keep = args.keep_classes or len(data.labels)
    if not 0 < keep <= len(data.labels):
        raise SystemExit(f"--keep-classes {args.keep_classes}: {args.data} has {len(data.labels)} classes")
    labels, kept_only = data.labels[:keep], keep < len(data.labels)
    dataset_desc = f"{data.config.get('source', data.root.name)} ({len(data.labels)} classes)"
    if kept_only:  # judged and shipped on the kept classes only
        dataset_desc += f", the model of its first {keep} classes"
        if args.train_on_dropped_splits:  # the dropped classes' val and test clips judge nothing: train on them
            held_out = np.concatenate([val_idx, test_idx])
            train_idx = np.sort(np.concatenate([train_idx, held_out[targets[held_out] >= keep]]))
            dataset_desc += ", trained on the other classes' val and test clips too"
        val_idx, test_idx = val_idx[targets[val_idx] < keep], test_idx[targets[test_idx] < keep]
        if len(val_idx) == 0:
            raise SystemExit(f"--keep-classes {keep}: {args.data} has no val samples of its first {keep} classes")
    elif args.train_on_dropped_splits:
        raise SystemExit("--train-on-dropped-splits needs --keep-classes N below the data set's class count")
    if args.distill and args.mixup > 0:
        raise SystemExit("--distill and --mixup cannot be combined (a mixed clip has no teacher answer)")
    log.info("data %s: %d train, %d val, %d test, %d classes, features %s",
             data.root, len(train_idx), len(val_idx), len(test_idx), len(data.labels), data.features.shape[1:])  # fmt: skip

    model, train_args = build_model(args, len(data.labels), int(data.features.shape[2]))
    model_args = {**train_args, "num_classes": keep}  # the shipped model's
    model = runtime.wrap(model)
    # --ema: the weight average is what is validated, kept and shipped; it resumes from the last checkpoint
    ema = AveragedModel(common.unwrap(model), multi_avg_fn=get_ema_multi_avg_fn(args.ema)) if args.ema else None
    validated_model = ema.module if ema is not None else common.unwrap(model)
    extra_modules = {EMA_KEY: ema} if ema is not None else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    scaler = runtime.grad_scaler()
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    provenance = common.provenance_from_args(args, trainer="signdemo.train.bigru", dataset=dataset_desc)
    if data.config.get("extraction_fps"):  # the rate the landmarks were extracted at (inference uses 15 by default)
        provenance["landmark_extraction_fps"] = data.config["extraction_fps"]
    # What the data set records about itself and a user of the weights should know (split, licence, ...)
    provenance.update({k: data.config[k] for k in DATA_PROVENANCE if k in data.config})
    if kept_only:
        provenance["trained_classes"] = len(data.labels)
    distill = None
    if args.distill:
        distill = teacher_targets(args.distill, data, train_idx, temperature=args.distill_temperature,
                                  weight=args.distill_weight, runtime=runtime)  # fmt: skip
        provenance["distilled_from"] = distill.teachers

    state, best_state = common.resume_training(args, runtime, model=model, optimizer=optimizer, scheduler=scheduler,
                                               scaler=scaler, last_name=LAST_NAME, best_name=BEST_NAME,
                                               extra_modules=extra_modules)  # fmt: skip
    config = common.resolved_config(args, runtime, num_classes=keep, trained_classes=len(data.labels),
                                    feature_config=data.feature_config, model_args=model_args,
                                    counts={"train": len(train_idx), "val": len(val_idx), "test": len(test_idx)})  # fmt: skip
    if runtime.is_main:
        common.write_json(args.out / "training_config.json", config)

    feature_config = FeatureConfig.from_dict(data.feature_config)
    train_set = KeypointDataset(data.features, targets, train_idx, args.augment, args.seed, feature_config)
    loader, set_epoch = common.train_loader(train_set, args, runtime)

    def train_epoch(epoch: int) -> dict:
        set_epoch(epoch)
        return train_one_epoch(model, loader, optimizer, criterion, scaler, runtime, args.clip_grad, ema,
                               mixup=args.mixup, seed=args.seed, epoch=epoch, distill=distill)  # fmt: skip

    def save_best(state: common.TrainState) -> None:
        _save_best(args, validated_model, model_args, labels, data, provenance,
                   {"training": {"best_epoch": state.best_epoch, "best_val_top1": state.best_top1}})  # fmt: skip

    result = common.fit(
        args, runtime, model=model, model_args=train_args, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
        state=state, best_state=best_state, train_epoch=train_epoch, save_best=save_best,
        validate=lambda: evaluate(validated_model, data, val_idx, criterion, runtime, args.eval_batch_size, keep),
        last_path=args.out / "checkpoints" / LAST_NAME, validated=validated_model, extra_modules=extra_modules,
    )  # fmt: skip
    if not result.finished:
        return {"state": result.state, "finished": False}
    split_idx = {"test": test_idx, "val": val_idx}
    if kept_only:  # the best weights as shipped (a resumed run reads them back so), in a model of that head
        result.best_state = head_rows(result.best_state, keep)
        model = BiGRUAttention(BiGRUAttentionConfig.from_dict(model_args))
    metrics = common.finish(
        args, runtime, result, model=model, has_test=len(test_idx) > 0, labels=labels, architecture=BIGRU,
        evaluate=lambda split: evaluate(model, data, split_idx[split], criterion, runtime, args.eval_batch_size, keep),
        model_args=model_args, preprocessing=data.feature_config, provenance=provenance,
        checkpoint=f"checkpoints/{BEST_NAME}",
    )  # fmt: skip
    return {"state": result.state, "finished": True, "metrics": metrics}


if __name__ == "__main__":
    _args = get_args_parser().parse_args()
    common.configure_logging(_args.verbose)
    main(_args)

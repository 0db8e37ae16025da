"""Training plumbing shared by both trainers, decided in one place.

- `setup_runtime`: processes (torchrun's environment -> DistributedDataParallel; gloo on CPU, nccl
  on GPU), device and mixed precision (float16 autocast + GradScaler on CUDA by default, off on CPU);
- `seed_everything` and `rng_state`/`set_rng_state` (saved per rank in the `last` checkpoint);
- `TrainState` (epoch, best, early-stopping counter, history) and the `last` checkpoint that holds
  it with the optimizer, scheduler and scaler, written atomically, read with `weights_only=True`;
- metric reduction across ranks (`Runtime.all_reduce_sum`, `Runtime.all_gather`);
- command-line options both trainers share (output, seed, device, resume, provenance).

Only rank 0 writes files. Randomness that must survive a resume unchanged (sample order,
augmentation) is derived from (seed, epoch, sample index), never from a generator's running state.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import random
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from signdemo.reports import append_history, write_test_reports
from signdemo.weights import load_state_dict_strict, read_checkpoint, split_checkpoint, write_manifest

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Runtime: processes, device, precision


@dataclass
class Runtime:
    """Where and how this process trains."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    amp_dtype: torch.dtype | None = None  # autocast dtype, None = full precision

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Loss scaling for float16 autocast (a disabled scaler otherwise; its state is empty)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model moved to the device, in DistributedDataParallel when there are several ranks."""
        model = model.to(self.device)
        if not self.distributed:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Elementwise sum of `values` over all ranks (float64)."""
        if not self.distributed:
            return [float(v) for v in values]
        device = self.device if dist.get_backend() == "nccl" else torch.device("cpu")
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def all_gather(self, obj: Any) -> list[Any]:
        """One picklable object from every rank, in rank order (on every rank)."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's object on every rank."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def setup_runtime(device: str = "auto", amp: str = "auto") -> Runtime:
    """Start the process group if launched by torchrun, and pick device and precision.

    device: "auto" (the local rank's GPU if CUDA is available, else CPU), "cpu", "cuda", "cuda:N".
    amp: "auto" (float16 on CUDA, off on CPU), "fp16", "bf16", "off".
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif device == "cuda":
        device = f"cuda:{local_rank}"
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "off": None}.get(amp)
    if amp == "auto":
        amp_dtype = torch.float16 if dev.type == "cuda" else None
    elif amp not in ("fp16", "bf16", "off"):
        raise ValueError(f"amp must be auto, fp16, bf16 or off, got {amp!r}")
    torch.backends.cudnn.benchmark = False  # reproducible kernel choice
    return Runtime(dev, rank, world_size, local_rank, amp_dtype)


def launch(args: argparse.Namespace, run: Callable[[argparse.Namespace, Runtime], Any]) -> Any:
    """A trainer's `main`: runtime from --device/--amp, --threads, seeds (offset by rank, so that
    dropout differs between ranks; DDP copies rank 0's initial weights to all), then `run`."""
    runtime = setup_runtime(args.device, args.amp)
    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        seed_everything(args.seed + runtime.rank)
        return run(args, runtime)
    finally:
        teardown(runtime)


def teardown(runtime: Runtime) -> None:
    if runtime.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def shard(indices: np.ndarray, runtime: Runtime) -> np.ndarray:
    """This rank's share of `indices` for evaluation: every world_size-th, no padding (so that the
    gathered results cover each sample exactly once, unlike DistributedSampler's)."""
    return np.asarray(indices)[runtime.rank :: runtime.world_size]


def train_loader(dataset: Dataset, args: argparse.Namespace, runtime: Runtime) -> tuple[DataLoader, Callable[[int], None]]:
    """A DataLoader over this rank's share of `dataset` (DistributedSampler, shuffled with
    `args.seed`), and the function that starts an epoch: it sets the sampler's epoch and the
    dataset's `epoch` attribute (which seeds per-sample augmentation)."""
    sampler = DistributedSampler(dataset, num_replicas=runtime.world_size, rank=runtime.rank, shuffle=True,
                                 seed=args.seed)  # fmt: skip
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler, num_workers=args.workers,
                        pin_memory=runtime.device.type == "cuda")  # fmt: skip

    def set_epoch(epoch: int) -> None:
        sampler.set_epoch(epoch)
        dataset.epoch = epoch

    return loader, set_epoch


def eval_result(logits: torch.Tensor, targets: torch.Tensor, loss: float) -> dict:
    """What `evaluate` returns: loss, top1, scores (N, C) softmax probabilities, their logits, targets (N,)."""
    n = len(targets)
    return {
        "loss": float(loss),
        "logits": logits.float().numpy(),
        "top1": float((logits.argmax(1) == targets).float().mean()) if n else float("nan"),
        "scores": torch.softmax(logits.float(), dim=1).numpy(),
        "targets": targets.numpy(),
    }


# ---------------------------------------------------------------------------------------------
# Seeds and random state


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one sample's augmentation in one epoch (independent of workers and resume)."""
    return np.random.default_rng([seed, epoch, index])


def rng_state() -> dict:
    """This process's random state, in types `torch.load(weights_only=True)` accepts."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(gauss)},
        "torch": torch.get_rng_state(),
    }  # fmt: skip
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------------------------------
# Training state, checkpoints, history


@dataclass
class TrainState:
    """Progress of a run: the last finished epoch (1-based; 0 = none), the best validation top-1 and
    its epoch, epochs since the last improvement, and one history row per epoch."""

    epoch: int = 0
    best_top1: float = -1.0
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict] = field(default_factory=list)

    def update(self, row: dict, patience: int) -> tuple[bool, bool]:
        """Record an epoch's row; returns (improved, stop early)."""
        self.epoch = int(row["epoch"])
        self.history.append(row)
        improved = row["val_top1"] > self.best_top1
        if improved:
            self.best_top1, self.best_epoch, self.bad_epochs = float(row["val_top1"]), self.epoch, 0
        else:
            self.bad_epochs += 1
        return improved, bool(patience) and self.bad_epochs >= patience

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainState:
        return cls(**data)


def save_atomic(obj: Any, path: str | Path) -> Path:
    """torch.save to a temporary name, then rename (a crash never leaves half a checkpoint)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def save_last(
    path: str | Path,
    *,
    model: nn.Module,
    model_args: dict,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    state: TrainState,
    rng_states: list[dict],
    extra_modules: dict[str, nn.Module] | None = None,
) -> Path:
    """The resume checkpoint: the published `{"model_state_dict", "config"}` keys (so the engine's
    loader reads it too) plus optimizer, scheduler, scaler, epoch, progress, every rank's RNG and the
    state dict of each of `extra_modules` under its key (e.g. the weight average of `--ema`)."""
    extra = {key: module.state_dict() for key, module in (extra_modules or {}).items()}
    return save_atomic(
        {
            "model_state_dict": unwrap(model).state_dict(),
            "config": dict(model_args),
            "optimizer_state_dict": optimizer.state_dict(),
            "scheduler_state_dict": scheduler.state_dict(),
            "scaler_state_dict": scaler.state_dict(),
            "epoch": state.epoch,
            "train_state": state.to_dict(),
            "rng_states": rng_states,
            **extra,
        },
        path,
    )


def load_last(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    runtime: Runtime,
    extra_modules: dict[str, nn.Module] | None = None,
) -> TrainState:
    """Restore everything `save_last` wrote (read with weights_only=True); returns the progress."""
    ckpt = read_checkpoint(path)
    state_dict, _ = split_checkpoint(ckpt)
    load_state_dict_strict(unwrap(model), state_dict, what=str(path))
    for key, module in (extra_modules or {}).items():
        if key not in ckpt:
            raise SystemExit(f"--resume: {path} has no {key!r} (was it written by a run with the same options?)")
        load_state_dict_strict(module, ckpt[key], what=f"{path} ({key})")
    optimizer.load_state_dict(ckpt["optimizer_state_dict"])
    scheduler.load_state_dict(ckpt["scheduler_state_dict"])
    scaler.load_state_dict(ckpt["scaler_state_dict"])
    states = ckpt.get("rng_states") or []
    if len(states) == runtime.world_size:
        set_rng_state(states[runtime.rank])
    else:
        log.warning("checkpoint has random state for %d rank(s), this run has %d: reseeding instead",
                    len(states), runtime.world_size)  # fmt: skip
    state = TrainState.from_dict(ckpt["train_state"])
    log.info("resumed from %s after epoch %d (best val top-1 %.4f at epoch %d)",
             path, state.epoch, state.best_top1, state.best_epoch)  # fmt: skip
    return state


def resume_training(
    args: argparse.Namespace,
    runtime: Runtime,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    last_name: str,
    best_name: str,
    extra_modules: dict[str, nn.Module] | None = None,
) -> tuple[TrainState, dict | None]:
    """A fresh state, or (with --resume) the state of the `last` checkpoint and the best weights so far."""
    path = resume_path(args, last_name)
    if path is None:
        return TrainState(), None
    state = load_last(path, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, runtime=runtime,
                      extra_modules=extra_modules)  # fmt: skip
    best = args.out / "checkpoints" / best_name
    best_state = split_checkpoint(read_checkpoint(best))[0] if best.is_file() else None
    return state, best_state


@dataclass
class FitResult:
    state: TrainState
    best_state: dict[str, torch.Tensor] | None  # CPU copy of the weights at the best val top-1
    finished: bool  # False when --stop-after-epochs ended the run before --epochs
    stopped_early: bool  # early stopping (patience) ended it


def fit(
    args: argparse.Namespace,
    runtime: Runtime,
    *,
    model: nn.Module,
    model_args: dict,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    state: TrainState,
    best_state: dict | None,
    train_epoch: Callable[[int], dict],
    validate: Callable[[], dict],
    save_best: Callable[[TrainState], None],
    last_path: Path,
    validated: nn.Module | None = None,
    extra_modules: dict[str, nn.Module] | None = None,
) -> FitResult:
    """The epoch loop both trainers share: train, validate, step the per-epoch scheduler, keep the
    best weights (`save_best` on rank 0 when val top-1 improves), write the history and the `last`
    checkpoint every epoch, stop early after `args.patience` epochs without improvement or after
    `args.stop_after_epochs` epochs of this invocation.

    `validated`: the module whose weights `validate` scores and the best state copies (default: `model`;
    `--ema`: the weight average); `extra_modules` go into the `last` checkpoint (`save_last`)."""
    validated = unwrap(model) if validated is None else validated
    epochs_this_run = 0
    stopped_early = state.bad_epochs >= args.patience > 0
    while state.epoch < args.epochs and not stopped_early:
        epoch = state.epoch + 1
        lr = optimizer.param_groups[0]["lr"]
        t0 = time.perf_counter()
        train = train_epoch(epoch)
        t1 = time.perf_counter()
        val = validate()
        scheduler.step()
        row = {"epoch": epoch, "train_loss": train["loss"], "train_top1": train["top1"], "val_loss": val["loss"],
               "val_top1": val["top1"], "lr": lr, "train_time_s": round(t1 - t0, 3),
               "time_s": round(time.perf_counter() - t0, 3)}  # fmt: skip
        improved, stopped_early = state.update(row, args.patience)
        log.info("epoch %d/%d: train loss %.4f top-1 %.4f | val loss %.4f top-1 %.4f%s | %.1f s", epoch, args.epochs,
                 train["loss"], train["top1"], val["loss"], val["top1"], " (best)" if improved else "", row["time_s"])  # fmt: skip
        if improved:
            best_state = {k: v.detach().cpu().clone() for k, v in validated.state_dict().items()}
        rng = runtime.all_gather(rng_state())
        if runtime.is_main:
            if improved:
                save_best(state)
            write_history(args.out / "reports", state.history)
            save_last(last_path, model=model, model_args=model_args, optimizer=optimizer, scheduler=scheduler,
                      scaler=scaler, state=state, rng_states=rng, extra_modules=extra_modules)  # fmt: skip
        runtime.barrier()
        epochs_this_run += 1
        if args.stop_after_epochs and epochs_this_run >= args.stop_after_epochs and state.epoch < args.epochs:
            log.info("stopping after %d epochs as asked; continue with --resume", epochs_this_run)
            return FitResult(state, best_state, finished=False, stopped_early=False)
    if stopped_early:
        log.info("early stop: no better val top-1 for %d epochs (best %.4f at epoch %d)",
                 args.patience, state.best_top1, state.best_epoch)  # fmt: skip
    return FitResult(state, best_state, finished=True, stopped_early=stopped_early)


def finish(
    args: argparse.Namespace,
    runtime: Runtime,
    result: FitResult,
    *,
    model: nn.Module,
    evaluate: Callable[[str], dict],
    has_test: bool,
    labels: list[str],
    architecture: str,
    model_args: dict,
    preprocessing: dict,
    provenance: dict,
    checkpoint: str,
) -> dict | None:
    """Score the best weights on the test split (val if there is none), write the reports and the
    final manifest (rank 0); returns the final metrics on rank 0, None elsewhere."""
    load_state_dict_strict(unwrap(model), result.best_state, what="best weights")
    split = "test" if has_test else "val"
    final = evaluate(split)
    if not runtime.is_main:
        return None
    state = result.state
    metrics = write_test_reports(
        args.out / "reports", final["scores"], final["targets"], labels, test_loss=final["loss"],
        best_epoch=state.best_epoch, best_val_top1=state.best_top1,
        extra={"evaluated_split": split, "epochs_run": state.epoch, "early_stopped": result.stopped_early},
    )  # fmt: skip
    write_manifest(args.out, architecture=architecture, model_args=model_args, preprocessing=preprocessing,
                   provenance=provenance, checkpoint=checkpoint, name=args.name,
                   extra={"training": {k: metrics[k] for k in ("best_epoch", "best_val_top1", "test_top1")}})  # fmt: skip
    log.info("%s top-1 of the best epoch (%d): %.4f (%d/%d); bundle in %s", split, state.best_epoch,
             metrics["test_top1"], metrics["test_correct"], metrics["test_total"], args.out)  # fmt: skip
    return metrics


def write_history(folder: str | Path, rows: list[dict]) -> None:
    """Rewrite reports/training_history.csv from all rows (a resumed run keeps its earlier rows)."""
    path = Path(folder) / "training_history.csv"
    path.unlink(missing_ok=True)
    for row in rows:
        append_history(folder, row)


def write_json(path: str | Path, data: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Command line


def add_common_args(parser: argparse.ArgumentParser, *, epochs: int) -> None:
    g = parser.add_argument_group("run")
    g.add_argument("--out", type=Path, required=True, help="output bundle folder (drop it into weights/)")
    g.add_argument("--epochs", type=int, default=epochs, help="maximum epochs (also the cosine period)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    g.add_argument("--amp", default="auto", choices=("auto", "fp16", "bf16", "off"),
                   help="mixed precision (auto: float16 on CUDA, off on CPU)")  # fmt: skip
    g.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    g.add_argument("--resume", nargs="?", const="auto", default=None,
                   help="continue from OUT/checkpoints/last_*.pt (or the given checkpoint)")  # fmt: skip
    g.add_argument("--stop-after-epochs", type=int, default=0,
                   help="end this invocation after N more epochs without final reports (resume later)")  # fmt: skip
    g.add_argument("--threads", type=int, default=0, help="torch CPU threads per process (0 = torch's default)")
    g.add_argument("--name", help="bundle name in the manifest (default: the folder name)")
    g.add_argument("--provenance-kind", choices=("demo", "project", "user"), default="user",
                   help="'demo' marks weights that are not a real ASL recognizer (the app says so); 'project' "
                   "the project's own real-data weights (used after the published ones)")  # fmt: skip
    g.add_argument("--description", default="", help="one line on what these weights are (shown in the app)")
    g.add_argument("-v", "--verbose", action="store_true")


def configure_logging(verbose: bool = False) -> None:
    """Entry points only: INFO on rank 0 (torchrun's RANK), warnings on the other ranks."""
    rank = int(os.environ.get("RANK", "0"))
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(
        level=level if rank == 0 else logging.WARNING,
        format=f"%(asctime)s [rank {rank}] %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.orig_argv[1:]])


def provenance_from_args(args: argparse.Namespace, *, trainer: str, dataset: str) -> dict:
    return {
        "kind": args.provenance_kind,
        "description": args.description or f"trained with {trainer} on {dataset}",
        "trainer": trainer,
        "dataset": dataset,
        "command": command_line(),
    }


def resolved_config(args: argparse.Namespace, runtime: Runtime, **extra: Any) -> dict:
    """The training configuration to save beside the checkpoints (training_config.json)."""
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    config.update(world_size=runtime.world_size, device=str(runtime.device),
                  amp=str(runtime.amp_dtype).replace("torch.", "") if runtime.amp_dtype else "off",
                  torch_version=torch.__version__, command=command_line(), **extra)  # fmt: skip
    return config


def resume_path(args: argparse.Namespace, checkpoint_name: str) -> Path | None:
    if not args.resume:
        return None
    path = args.out / "checkpoints" / checkpoint_name if args.resume == "auto" else Path(args.resume)
    if not path.is_file():
        raise SystemExit(f"--resume: no checkpoint at {path}")
    return path

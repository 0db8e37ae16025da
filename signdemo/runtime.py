"""How the models run on this machine: precision, memory format, threads, parallel landmarks.

Three paths for the I3D, so every speed-up can be checked against a plain one:
- the reference path: PyTorch, float32, eager, contiguous tensors (`RuntimeOptions.reference()`);
- the PyTorch fast path: inference mode, BatchNorm folded, channels-last 3D, bfloat16 autocast
  where the CPU supports it (AVX512-BF16 or AMX), optionally `torch.compile`;
- OpenVINO (`signdemo.openvino_i3d`): the network converted once per set of weights (cached on
  disk), float32, on OpenVINO's CPU runtime. In `python -m signdemo.bench` it is 2-3x the PyTorch
  reference with the same top-1 and logits within 1e-4, so it is what the app runs wherever the
  `openvino` package is installed (`i3d_backend="auto"`); PyTorch is the fallback. Its bfloat16
  precision (`openvino_precision="bfloat16"`) is an opt-in: faster where the CPU has bfloat16, with
  logits that move well beyond float32's.

`RuntimeOptions` decides which path runs; `I3DRunner` runs it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator, Literal, get_args

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

Precision = Literal["auto", "float32", "bfloat16"]
Backend = Literal["auto", "openvino", "torch"]
OpenVINOPrecision = Literal["float32", "bfloat16"]


def cpu_supports_bf16() -> bool:
    """True when the CPU runs bfloat16 matmuls/convolutions natively (oneDNN's check)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - older builds
        return False


def configure_threads(num_threads: int | None = None) -> int:
    """Use all cores for intra-op parallelism (torch defaults to physical cores; on a 2-vCPU
    Space that is often 1). Returns the thread count in effect."""
    n = num_threads or int(os.environ.get("SIGNDEMO_TORCH_THREADS", "0")) or (os.cpu_count() or 1)
    torch.set_num_threads(n)
    return torch.get_num_threads()


@functools.lru_cache(maxsize=1)
def _glibc():
    """The C library when it is glibc (Linux), else None."""
    import ctypes
    import ctypes.util
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for the rest of the process (call it early, before the server's
    threads start). glibc gives busy threads their own arenas, up to 8 per core, and a threaded
    server's RSS then keeps what every thread's arena ever held: with gradio's worker threads
    taking turns on 100+ MB I3D activations, the RSS grows by hundreds of MB and stays there.
    Returns False where this is not glibc (nothing to do)."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(-8, int(arenas)))  # M_ARENA_MAX = -8


def release_memory() -> None:
    """Give freed heap memory back to the OS (glibc `malloc_trim`; nothing elsewhere). Cheap enough
    to call after each heavy request."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


_threads_lock = threading.Lock()
_threads_users = 0  # callers inside torch_threads right now
_threads_before: int | None = None  # the setting to restore when the last of them leaves


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Intra-op threads set to `n` while inside, restored after.

    The BiGRU runs 200 small sequential GRU steps: one thread is faster than two, which spend more
    time synchronising than computing (and much slower when another job holds the other core).

    torch's setting is process-wide (a worker thread's `set_num_threads` is what every thread gets),
    so concurrent requests share one setting: the first to enter saves it and the last to leave
    restores it. Each saving and restoring for itself would, when two overlap (two live sessions,
    or a live session beside a recognition), restore the other's value and leave the whole server
    on one thread. While any caller is inside, other threads' work (an I3D) also runs on `n`.
    """
    global _threads_users, _threads_before
    if not n:
        yield
        return
    with _threads_lock:
        if _threads_users == 0:
            _threads_before = torch.get_num_threads()
            torch.set_num_threads(n)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_before)


@dataclass(frozen=True)
class RuntimeOptions:
    """Speed settings of a `Recognizer`. `fast=False` is the float32 eager reference."""

    fast: bool = True
    precision: Precision = "auto"
    channels_last: bool = True
    compile: bool = False
    landmark_workers: int = 2
    bigru_threads: int = 1
    #: run MediaPipe's face mesh too (the graph as shipped); the schema does not use it
    face_mesh: bool = False
    #: keep the MediaPipe graphs between clips (`landmarks.GraphPool`: same landmarks, no set-up per clip)
    warm_graphs: bool = True
    #: I3D: a private inference copy with BatchNorm folded into the convolutions (`fuse_for_inference`)
    fuse: bool = True
    #: I3D engine: "openvino", "torch", or "auto" (OpenVINO when installed, else PyTorch). The
    #: SIGNDEMO_I3D_BACKEND environment variable overrides "auto".
    i3d_backend: Backend = "auto"
    #: OpenVINO's inference precision for the I3D: "float32", or "bfloat16" (faster on AVX-512 bf16
    #: CPUs, but logits move well beyond the float32 paths' 1e-3; refused where the CPU has none).
    #: None: $SIGNDEMO_OPENVINO_PRECISION, else "float32".
    openvino_precision: OpenVINOPrecision | None = None
    #: a Hands model's clip on two graphs, spliced where they track the same hands
    #: (`landmarks.extract_landmarks_spliced`), when `landmark_workers` > 1; off: one graph per clip.
    #: None: $SIGNDEMO_SPLICE_HANDS ("1" or "0"), else on (`python -m signdemo.bench --schedule-check`
    #: shows which is faster on a host with both models: BENCHMARKS.md, "Both models on one clip")
    splice_hands: bool | None = None
    #: when a clip's landmarks run on one graph (Hands with `splice_hands` off or one landmark
    #: worker), start the I3D beside them on the cores the graph leaves (instead of after the
    #: keypoint answer); a spliced clip's two graphs use every core, so its I3D runs after
    i3d_beside_landmarks: bool = True
    #: when a clip's landmarks run on one graph and every decoded frame is extracted, feed the graph
    #: each frame as it is decoded (`landmarks.LandmarkStream`) instead of after the whole clip
    stream_landmarks: bool = True

    def __post_init__(self) -> None:
        if self.i3d_backend not in ("auto", "openvino", "torch"):
            raise ValueError(f"i3d_backend must be 'auto', 'openvino' or 'torch', got {self.i3d_backend!r}")
        if self.openvino_precision not in (None, *get_args(OpenVINOPrecision)):
            raise ValueError(f"openvino_precision must be 'float32' or 'bfloat16', got {self.openvino_precision!r}")

    @property
    def ov_precision(self) -> str:
        """The OpenVINO I3D's precision in effect: the option, else $SIGNDEMO_OPENVINO_PRECISION, else float32."""
        wanted = self.openvino_precision or os.environ.get("SIGNDEMO_OPENVINO_PRECISION") or "float32"
        if wanted not in get_args(OpenVINOPrecision):
            raise ValueError(f"SIGNDEMO_OPENVINO_PRECISION must be 'float32' or 'bfloat16', got {wanted!r}")
        return wanted

    @property
    def splices_hands(self) -> bool:
        """Whether a Hands clip may be spliced from two graphs: the option, else $SIGNDEMO_SPLICE_HANDS, else on."""
        if self.splice_hands is not None:
            return self.splice_hands
        wanted = os.environ.get("SIGNDEMO_SPLICE_HANDS", "1")
        if wanted not in ("0", "1"):
            raise ValueError(f"SIGNDEMO_SPLICE_HANDS must be '1' (splice) or '0' (one graph per clip), got {wanted!r}")
        return wanted == "1"

    @property
    def use_bf16(self) -> bool:
        if not self.fast:
            return False
        if self.precision == "bfloat16":
            return True
        return self.precision == "auto" and torch.device("cpu").type == "cpu" and cpu_supports_bf16()

    @property
    def backend(self) -> str:
        """The I3D engine these options run: "openvino" or "torch" (the reference is always torch)."""
        if not self.fast:
            return "torch"
        wanted = self.i3d_backend
        if wanted == "auto":
            wanted = os.environ.get("SIGNDEMO_I3D_BACKEND") or "auto"
            if wanted not in ("auto", "openvino", "torch"):
                raise ValueError(f"SIGNDEMO_I3D_BACKEND must be 'auto', 'openvino' or 'torch', got {wanted!r}")
        if wanted == "auto":
            from signdemo.openvino_i3d import openvino_available

            # torch.compile and bfloat16 asked for by name are PyTorch speed-ups: keep PyTorch then.
            wanted = "openvino" if openvino_available() and not self.compile and self.precision != "bfloat16" else "torch"
        return wanted

    @classmethod
    def reference(cls) -> "RuntimeOptions":
        return cls(fast=False, precision="float32", channels_last=False, compile=False, landmark_workers=1,
                   bigru_threads=0, face_mesh=True, fuse=False, i3d_backend="torch", warm_graphs=False,
                   i3d_beside_landmarks=False, stream_landmarks=False, splice_hands=False)


def _is_channels_last_3d(model: nn.Module) -> bool:
    """True when every 5-D weight of the model is already in channels-last 3D memory format."""
    return all(
        t.is_contiguous(memory_format=torch.channels_last_3d)
        for t in (*model.parameters(), *model.buffers())
        if t.dim() == 5
    )


class I3DRunner:
    """Runs a (shared, read-only) I3D on preprocessed clips with the chosen options.

    OpenVINO (`options.backend == "openvino"`, InceptionI3d models): the model converted for clips
    of `input_size` (height, width), or read from the conversion cache. A conversion that fails
    under `i3d_backend="auto"` is logged and PyTorch runs instead; named explicitly, it raises.
    PyTorch: the fast path runs a private copy with BatchNorm folded into the convolutions (`fuse`);
    else the model is converted to channels-last once (a model already converted, e.g. by another
    runner over the same shared model, is left untouched). `__call__` is thread-safe for inference.
    """

    def __init__(self, model: nn.Module, options: RuntimeOptions = RuntimeOptions(), *,
                 input_size: tuple[int, int] = (224, 224)) -> None:  # fmt: skip
        from signdemo.models.i3d import InceptionI3d, fuse_for_inference

        self.options = options
        self.model = model.eval()
        self.openvino = None
        if options.backend == "openvino" and isinstance(model, InceptionI3d):
            from signdemo.openvino_i3d import OpenVINOI3D, check_precision

            precision = options.ov_precision
            check_precision(precision)  # bfloat16 asked for by name: refused, never a silent float32
            try:
                self.openvino = OpenVINOI3D(self.model, input_size=input_size, precision=precision)
                return
            except Exception as exc:  # noqa: BLE001 - any conversion failure: PyTorch still answers
                if options.i3d_backend == "openvino" or os.environ.get("SIGNDEMO_I3D_BACKEND") == "openvino":
                    raise
                log.warning("OpenVINO I3D unavailable (%s: %s); running the I3D with PyTorch", type(exc).__name__, exc)
        if options.fast and options.fuse and isinstance(model, InceptionI3d):
            self.model = fuse_for_inference(self.model)
            if options.use_bf16:  # autocast would cast the weights on every call
                self.model = self.model.to(torch.bfloat16)
        if options.fast and options.channels_last and not _is_channels_last_3d(self.model):
            self.model = self.model.to(memory_format=torch.channels_last_3d)
        self._forward = self.model
        if options.fast and options.compile:
            self._forward = torch.compile(self.model, dynamic=True)

    @property
    def backend(self) -> str:
        """"openvino" or "torch": what this runner actually runs."""
        return "openvino" if self.openvino is not None else "torch"

    @property
    def description(self) -> str:
        o = self.options
        if self.openvino is not None:
            return f"OpenVINO {self.openvino.precision}"
        if not o.fast:
            return "float32 eager (reference)"
        parts = ["bfloat16 autocast" if o.use_bf16 else "float32"]
        parts += ["BatchNorm folded"] if o.fuse else []
        parts += ["channels-last 3D"] if o.channels_last else []
        parts += ["torch.compile"] if o.compile else []
        return ", ".join(parts)

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor, *, threads: int | None = None) -> torch.Tensor:
        """(B, 3, T, H, W) float32 -> per-time logits (B, C, T') float32.

        threads: CPU threads for this call on OpenVINO (e.g. 1 for the live tab, so the webcam
        overlay keeps a core); PyTorch's thread setting is process-wide, so it ignores it."""
        if self.openvino is not None:
            return self.openvino(x, threads=threads)
        if self.options.fast and self.options.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        if self.options.use_bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self._forward(x).float()
        return self._forward(x).float()


def extract_landmarks_parallel(
    frames: np.ndarray, frame_indices: np.ndarray, fps: float, workers: int = 2, min_chunk: int = 12,
    *, pool=None, **options,
):
    """MediaPipe landmarks of one clip on `workers` contiguous chunks at once, one graph each.

    Each chunk keeps its own tracking (its first frame runs detection); the MediaPipe graphs
    release the GIL while they compute, so threads use all cores. Chunks shorter than
    `min_chunk` frames are not worth a second graph. The graphs come from `pool` (a
    `landmarks.GraphPool`, kept warm between clips) or are made afresh with `options` (`model` and
    the keyword arguments of `landmarks.extract_landmarks`). Returns one `Landmarks`.
    """
    from signdemo.landmarks import Landmarks, extract_landmarks

    n = len(frames)
    workers = max(1, min(workers, n // max(min_chunk, 1)))
    if workers == 1:
        return extract_landmarks(frames, frame_indices=frame_indices, fps=fps, pool=pool, **options)
    bounds = np.linspace(0, n, workers + 1).round().astype(int)
    chunks = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    with ThreadPoolExecutor(workers, thread_name_prefix="landmarks") as threads:
        parts = list(threads.map(lambda s: extract_landmarks(
            frames[s], frame_indices=frame_indices[s], fps=fps, pool=pool, **options), chunks))
    return Landmarks(
        np.concatenate([p.points for p in parts]),
        np.concatenate([p.present for p in parts]),
        np.asarray(frame_indices, dtype=np.int64),
        fps,
        parts[0].image_size,
    )


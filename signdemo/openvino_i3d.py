"""The I3D on OpenVINO's CPU runtime: converted once per set of weights, cached on disk, shared by threads.

    runner = OpenVINOI3D(model)          # converts (about 10-25 s) or reads the cached IR (about 1 s)
    logits_t = runner(x)                 # (B, 3, T, H, W) float32 -> per-time logits (B, C, T'), any T >= 9

Conversion: `openvino.convert_model` traces a copy of the model whose "SAME" padding over time is
written with tensor operations, so the converted graph pads correctly for every clip length (the
network's own padding is computed in Python from the input shape, which a trace would freeze for
the example's length: the even/odd split of the padding at each stride-2 layer changes with T).
Batch and time are dynamic; height and width are fixed per converted model (the bundle's crop).

Cache: `<cache>/openvino/<key>/model.xml|.bin` (+ `meta.json`), where `<cache>` is $SIGNDEMO_CACHE,
else $XDG_CACHE_HOME/signdemo, else ~/.cache/signdemo. The key is the sha256 of the weights (every
tensor of the state_dict, names, dtypes and shapes included), the input shape policy, the OpenVINO
version and this module's conversion format; new weights, another crop or another OpenVINO give a
new key, so a stale IR is never read. Entries are written to a temporary folder and renamed, so
processes converting the same weights at once never see half an entry.

Precision: float32 (`INFERENCE_PRECISION_HINT=f32`) unless `precision="bfloat16"` is asked for
(`RuntimeOptions(openvino_precision=...)` or `SIGNDEMO_OPENVINO_PRECISION`), refused on a CPU whose
OpenVINO plugin has no bfloat16 (it would run float32 under that name). bfloat16 is an opt-in, not
the default: where it is faster (an AVX-512 bf16 CPU) its logits move by far more than the 1e-3 the
float32 paths keep (see BENCHMARKS.md); `python -m signdemo.bench` measures both on your clips.

Threads: one compiled model per runner; each call takes an idle infer request from a small pool (a
new one when all are busy), so concurrent calls never share a request's buffers. OpenVINO runs the
requests of one compiled model one after another on its latency stream.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from signdemo.errors import MissingDependencyError
from signdemo.models.i3d import InceptionI3d, MaxPool3dSamePadding, Unit3D, _same_padding

log = logging.getLogger(__name__)

#: Bumped whenever the traced graph changes, so IRs of an older conversion are not reused.
CONVERSION_FORMAT = 1
#: Frames of the example clip the conversion traces with (any valid length gives the same graph).
_TRACE_FRAMES = 16
#: Idle infer requests kept for reuse (more are created while more calls overlap).
_IDLE_REQUESTS = 2
_first_data_lock = threading.Lock()
_first_data_read = False


def _read_tensor_data_once(ov) -> None:
    """Read an `ov.Tensor`'s `.data` once per process before any request can. The binding builds a
    static table on the first read, and its initialiser takes the GIL back: two threads making that
    first read at once deadlock (one holds the GIL waiting on the static's guard). Seen in a test run:
    the app's background warm-up and the first visitor's request, both past `infer`, hung for good."""
    global _first_data_read
    with _first_data_lock:
        if not _first_data_read:
            _ = ov.Tensor(np.zeros(1, np.float32)).data
            _first_data_read = True


def openvino_available() -> bool:
    """True when the `openvino` package can be imported."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


#: Precisions of the OpenVINO I3D and OpenVINO's names for them (`INFERENCE_PRECISION_HINT`).
PRECISIONS = {"float32": "f32", "bfloat16": "bf16"}


@functools.cache
def cpu_has_bf16() -> bool:
    """True when OpenVINO's CPU plugin runs bfloat16 on this CPU (its `OPTIMIZATION_CAPABILITIES`; asked
    once per process: every precision check would otherwise start an `ov.Core`)."""
    if not openvino_available():
        return False
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def check_precision(precision: str) -> None:
    """Raise ValueError unless `precision` is one of `PRECISIONS` and runs on this CPU as named."""
    if precision not in PRECISIONS:
        raise ValueError(f"OpenVINO I3D precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    if precision == "bfloat16" and not cpu_has_bf16():
        raise ValueError("OpenVINO I3D precision bfloat16 asked for, but this CPU has no bfloat16 (OpenVINO "
                         "would run float32 under that name): use float32")  # fmt: skip


def _import_openvino():
    try:
        import openvino as ov
    except ImportError as exc:
        raise MissingDependencyError(
            "the OpenVINO I3D backend needs the openvino package: pip install openvino==2026.4.1 "
            "(or run the I3D with PyTorch: RuntimeOptions(i3d_backend='torch'))"
        ) from exc
    return ov


def cache_root() -> Path:
    """Where signdemo keeps derived files: $SIGNDEMO_CACHE, $XDG_CACHE_HOME/signdemo or ~/.cache/signdemo."""
    if os.environ.get("SIGNDEMO_CACHE"):
        return Path(os.environ["SIGNDEMO_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "signdemo"


def weights_digest(model: nn.Module) -> str:
    """sha256 over the model's state_dict: every tensor's name, dtype, shape and bytes, in key order."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# A copy of the network that traces to a graph valid for every clip length


def _pad_same_traceable(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    """TensorFlow "SAME" zero padding of (B, C, T, H, W) with the time padding as graph operations.

    Height and width are padded by constants (fixed per converted model). Over time, a stride-2
    layer pads one frame more on an odd length than on an even one (at the start for odd kernels,
    at the end for even ones): pad for whichever case needs more, then gather the frames of the
    case at hand with indices computed from the traced length.
    """
    n = x.shape[2]  # a traced value under torch.jit.trace
    st = stride[0]
    hw = tuple(int(v) for v in x.shape[3:])  # constants of the converted model
    space = _same_padding((1, *hw), (1, *kernel[1:]), (1, *stride[1:]))[:4]  # (W, H) start, end each
    if st == 1:
        k = kernel[0] - 1
        return F.pad(x, (*space, k // 2, k - k // 2))
    if st != 2:
        raise ValueError(f"time stride {st} is not supported by the conversion (I3D uses 1 and 2)")
    _, _, even_front, even_back = _same_padding((2, 1), (kernel[0], 1), (2, 1))
    _, _, odd_front, odd_back = _same_padding((1, 1), (kernel[0], 1), (2, 1))
    front, back = max(even_front, odd_front), max(even_back, odd_back)
    odd = n % 2
    start = front - (even_front + (odd_front - even_front) * odd)
    stop = front + n + even_back + (odd_back - even_back) * odd
    padded = F.pad(x, (*space, front, back))  # (B, C, n + front + back, H', W')
    return padded.index_select(2, torch.arange(start, stop))  # (B, C, n + this case's padding, H', W')


class _TraceableUnit3D(Unit3D):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_pad_same_traceable(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class _TraceableMaxPool3d(MaxPool3dSamePadding):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(_pad_same_traceable(x, self.kernel, self.stride))


def traceable_copy(model: InceptionI3d) -> InceptionI3d:
    """An eval-mode copy of `model` computing the same function, whose trace is valid for every T."""
    out = copy.deepcopy(model).eval()
    for module in out.modules():
        if isinstance(module, Unit3D):
            module.__class__ = _TraceableUnit3D
        elif isinstance(module, MaxPool3dSamePadding):
            module.__class__ = _TraceableMaxPool3d
    return out


class _Traced(nn.Module):
    """forward = the backbone and head without the input checks (the runner checks every input)."""

    def __init__(self, model: InceptionI3d) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        return m.forward_head(m.avg_pool(m.forward_stages(x)))  # (B, C, T')


# ---------------------------------------------------------------------------------------------
# The runner


class _Compiled:
    """One converted size: the compiled model and its pool of idle infer requests."""

    def __init__(self, compiled, ir_path: Path, converted: bool, load_s: float) -> None:
        self.compiled, self.ir_path, self.converted, self.load_s = compiled, ir_path, converted, load_s
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._idle_count = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def request(self) -> Iterator[object]:
        """An infer request of this caller's own: an idle one, or a new one when all are busy."""
        try:
            request = self._idle.get_nowait()
        except queue.Empty:
            request = self.compiled.create_infer_request()
        else:
            with self._lock:
                self._idle_count -= 1
        try:
            yield request
        finally:
            with self._lock:
                keep = self._idle_count < _IDLE_REQUESTS
                self._idle_count += keep
            if keep:
                self._idle.put(request)


class OpenVINOI3D:
    """An `InceptionI3d` compiled for OpenVINO's CPU plugin; `__call__` is thread-safe.

    model: the (eval-mode, float32) network; only its weights and layout are read.
    input_size: (height, width) of the clips it is prepared for at once (the bundle's crop); a clip
        of another size is converted (or read from the cache) on its first call.
    cache_dir: root of the IR cache (default `cache_root()`); each IR goes under `openvino/<key>/`.
    precision: "float32" (default) or "bfloat16" (OpenVINO's inference precision; the IR and its cache
        entry are the same, only the compiled model differs); bfloat16 is refused where the CPU has none.
    Attributes of the size prepared at once: `converted` (whether it was converted rather than read
    from the cache), `ir_path`, `load_s` (seconds to convert or read, and compile).
    """

    def __init__(self, model: InceptionI3d, *, input_size: tuple[int, int] = (224, 224),
                 cache_dir: str | os.PathLike | None = None, precision: str = "float32") -> None:  # fmt: skip
        if not isinstance(model, InceptionI3d):
            raise TypeError(f"the OpenVINO backend converts InceptionI3d models, got {type(model).__name__}")
        check_precision(precision)
        self._ov = _import_openvino()
        self.precision = precision
        self._model = model
        self.num_classes = model.num_classes
        self.cache_dir = Path(cache_dir or cache_root()) / "openvino"
        self.weights_sha256 = weights_digest(model)
        self._sizes: dict[tuple[int, int, int | None], _Compiled] = {}
        self._sizes_lock = threading.Lock()
        first = self._prepare((int(input_size[0]), int(input_size[1])), None)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.converted, self.ir_path, self.load_s = first.converted, first.ir_path, first.load_s

    @property
    def inference_precision(self) -> str:
        """The precision OpenVINO's compiled model reports it runs ("f32" or "bf16"), read back from it."""
        return self._sizes[(*self.input_size, None)].compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()

    def cache_key(self, size: tuple[int, int]) -> tuple[str, dict]:
        """(key, what it is made of) of the IR for clips of `size` (height, width)."""
        meta = {"weights_sha256": self.weights_sha256, "openvino": self._ov.get_version(),
                "input": {"batch": "dynamic", "time": "dynamic", "height": size[0], "width": size[1], "dtype": "float32"},
                "conversion_format": CONVERSION_FORMAT}  # fmt: skip
        return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:32], meta

    def _prepare(self, size: tuple[int, int], threads: int | None) -> _Compiled:
        with self._sizes_lock:  # one conversion at a time; calls at sizes already prepared do not wait
            if (*size, threads) in self._sizes:
                return self._sizes[(*size, threads)]
            t0 = time.perf_counter()
            key, meta = self.cache_key(size)
            ir_path = self.cache_dir / key / "model.xml"
            converted = not ir_path.is_file()
            if converted:
                self._convert(size, ir_path, meta)
            core = self._ov.Core()
            config = {"INFERENCE_PRECISION_HINT": PRECISIONS[self.precision], "PERFORMANCE_HINT": "LATENCY"}
            if threads:
                config["INFERENCE_NUM_THREADS"] = int(threads)
            compiled = core.compile_model(core.read_model(ir_path), "CPU", config)
            _read_tensor_data_once(self._ov)  # before any caller can read an output (see there)
            entry = self._sizes[(*size, threads)] = _Compiled(compiled, ir_path, converted, time.perf_counter() - t0)
            log.info("OpenVINO I3D for %dx%d clips %s in %.1f s (%s)", *size,
                     "converted" if converted else "read from the cache", entry.load_s, ir_path.parent)  # fmt: skip
            return entry

    def _convert(self, size: tuple[int, int], ir_path: Path, meta: dict) -> None:
        """Trace and convert the model, then move the IR into the cache in one rename."""
        ov = self._ov
        h, w = size
        example = torch.zeros(1, 3, _TRACE_FRAMES, h, w)
        with torch.no_grad(), _quiet_tracer():
            ov_model = ov.convert_model(_Traced(traceable_copy(self._model)), example_input=example,
                                        input=[ov.PartialShape([-1, 3, -1, h, w])])  # fmt: skip
        entry = ir_path.parent
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
        try:
            ov.save_model(ov_model, tmp / ir_path.name, compress_to_fp16=False)  # keep the weights float32
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
            try:
                tmp.rename(entry)
            except OSError:  # another process stored the same entry first: use theirs
                if not ir_path.is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def __call__(self, x: torch.Tensor, *, threads: int | None = None) -> torch.Tensor:
        """(B, 3, T, H, W) float32 clip tensor (T >= 9) -> per-time logits (B, num_classes, T') float32.

        threads: CPU threads for this call (None: OpenVINO's choice, every core). A call with a
        thread count of its own runs on a second compiled copy of the same IR (made once)."""
        self._model._check_input(x)
        compiled = self._prepare((int(x.shape[3]), int(x.shape[4])), threads)
        array = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        with compiled.request() as request:
            request.infer({0: array})
            out = request.get_output_tensor(0).data.copy()  # the request's buffer serves the next call
        return torch.from_numpy(out)  # (B, C, T')


@contextlib.contextmanager
def _quiet_tracer() -> Iterator[None]:
    """The trace warns about the Python-side shape checks it freezes (known and harmless: the
    height and width are fixed per IR) and that torch.jit.trace, which OpenVINO calls, is deprecated."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
        yield

"""The OpenVINO I3D: the reference fixture's logits, every clip length, the on-disk cache, threads,
and the choice of backend in `RuntimeOptions`."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn.functional as F

from _paths import need_shared
from signdemo.models.i3d import InceptionI3d, _same_padding
from signdemo.runtime import I3DRunner, RuntimeOptions

ov_i3d = pytest.importorskip("signdemo.openvino_i3d")
pytest.importorskip("openvino", reason="the OpenVINO backend needs the openvino package (requirements.txt)")


@pytest.fixture(scope="module")
def fixture_model():
    """The shared reference I3D (100 classes, calibrated random weights) and its recorded input/output."""
    sd = torch.load(need_shared("fixtures", "i3d_reference", "i3d_wlasl100_random_fp16.pt"), weights_only=True)
    io = torch.load(need_shared("fixtures", "i3d_reference", "i3d_reference_io.pt"), weights_only=True)
    model = InceptionI3d(num_classes=100)
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    return model.eval(), io


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("ov-cache")


@pytest.fixture(scope="module")
def runner(fixture_model, cache):
    return ov_i3d.OpenVINOI3D(fixture_model[0], cache_dir=cache)


@pytest.mark.parametrize("kernel,stride", [((7, 7, 7), (2, 2, 2)), ((3, 3, 3), (1, 1, 1)), ((3, 3, 3), (2, 2, 2)),
                                           ((2, 2, 2), (2, 2, 2)), ((1, 3, 3), (1, 2, 2))])  # fmt: skip
def test_traceable_padding_is_the_networks_padding_at_every_length(kernel, stride):
    for t in range(1, 20):
        x = torch.randn(1, 2, t, 9, 10)
        expected = F.pad(x, _same_padding(x.shape[2:], kernel, stride))
        assert torch.equal(ov_i3d._pad_same_traceable(x, kernel, stride), expected), t


@pytest.mark.slow
def test_logits_match_the_reference_fixture(runner, fixture_model):
    model, io = fixture_model
    x = io["input"].float()  # (1, 3, 32, 224, 224)
    logits = runner(x)
    assert logits.shape == io["logits"].shape == (1, 100, 3)  # per-time logits, not pooled
    assert (logits - io["logits"]).abs().max() < 1e-4
    with pytest.raises(ValueError, match="at least 9 frames"):
        runner(x[:, :, :8])


@pytest.mark.slow
def test_one_conversion_serves_every_clip_length(runner, fixture_model):
    """Odd and even lengths pad differently at each stride-2 layer; the converted graph follows."""
    model, io = fixture_model
    with torch.inference_mode():
        for t in (9, 15, 22):
            x = io["input"].float()[:, :, :t]
            ref = model(x)
            out = runner(x)
            assert out.shape == ref.shape, t
            assert (out - ref).abs().max() < 1e-4, t


@pytest.mark.slow
def test_second_load_reads_the_cache_and_new_weights_convert_again(runner, fixture_model, cache, monkeypatch):
    model, io = fixture_model
    x = io["input"].float()[:, :, :9]
    assert runner.converted and runner.ir_path.is_file()

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again although the cache holds these weights")

    with monkeypatch.context() as m:
        m.setattr(ov_i3d.OpenVINOI3D, "_convert", no_conversion)
        again = ov_i3d.OpenVINOI3D(model, cache_dir=cache)
    assert not again.converted and again.ir_path == runner.ir_path
    assert torch.equal(again(x), runner(x))

    changed = InceptionI3d(num_classes=100)
    changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        changed.logits.conv3d.bias += 1.0  # another checkpoint: every logit moves by 1
    other = ov_i3d.OpenVINOI3D(changed.eval(), cache_dir=cache)
    assert other.converted and other.ir_path != runner.ir_path
    assert torch.allclose(other(x), runner(x) + 1.0, atol=1e-4)


@pytest.mark.slow
def test_concurrent_requests_give_the_serial_answers(runner, fixture_model):
    _, io = fixture_model
    clips = [io["input"].float()[:, :, i : i + 9 + 2 * i] for i in range(4)]  # 9, 11, 13, 15 frames
    serial = [runner(x) for x in clips]
    results: dict[int, torch.Tensor] = {}
    start = threading.Barrier(len(clips))

    def work(i):
        start.wait()
        for _ in range(2):
            results[i] = runner(clips[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(clips))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, expected in enumerate(serial):
        assert torch.equal(results[i], expected), i


def test_backend_is_decided_by_the_runtime_options(monkeypatch):
    monkeypatch.delenv("SIGNDEMO_I3D_BACKEND", raising=False)
    assert RuntimeOptions().backend == "openvino"  # installed here
    assert RuntimeOptions(i3d_backend="torch").backend == "torch"
    assert RuntimeOptions.reference().backend == "torch"
    assert RuntimeOptions(compile=True).backend == "torch"  # a PyTorch speed-up asked for by name
    monkeypatch.setenv("SIGNDEMO_I3D_BACKEND", "torch")
    assert RuntimeOptions().backend == "torch"
    assert RuntimeOptions(i3d_backend="openvino").backend == "openvino"  # named in code: wins
    monkeypatch.setenv("SIGNDEMO_I3D_BACKEND", "tensorrt")
    with pytest.raises(ValueError, match="SIGNDEMO_I3D_BACKEND"):
        RuntimeOptions().backend
    with pytest.raises(ValueError, match="i3d_backend"):
        RuntimeOptions(i3d_backend="onnx")


def test_bfloat16_is_an_opt_in_and_refused_where_the_cpu_has_none(monkeypatch, fixture_model, cache):
    monkeypatch.delenv("SIGNDEMO_OPENVINO_PRECISION", raising=False)
    monkeypatch.delenv("SIGNDEMO_I3D_BACKEND", raising=False)
    assert RuntimeOptions().ov_precision == "float32"  # the default
    assert RuntimeOptions(openvino_precision="bfloat16").ov_precision == "bfloat16"
    monkeypatch.setenv("SIGNDEMO_OPENVINO_PRECISION", "bfloat16")
    assert RuntimeOptions().ov_precision == "bfloat16"
    assert RuntimeOptions(openvino_precision="float32").ov_precision == "float32"  # named in code: wins
    monkeypatch.setenv("SIGNDEMO_OPENVINO_PRECISION", "fp16")
    with pytest.raises(ValueError, match="SIGNDEMO_OPENVINO_PRECISION"):
        RuntimeOptions().ov_precision
    with pytest.raises(ValueError, match="openvino_precision"):
        RuntimeOptions(openvino_precision="int8")
    with pytest.raises(ValueError, match="precision must be one of"):
        ov_i3d.OpenVINOI3D(fixture_model[0], cache_dir=cache, precision="int8")
    # A CPU without bfloat16: asking for it by name is refused, under "auto" too (never a silent
    # float32 or PyTorch answer under the bfloat16 name).
    monkeypatch.setattr(ov_i3d, "cpu_has_bf16", lambda: False)
    with pytest.raises(ValueError, match="no bfloat16"):
        ov_i3d.OpenVINOI3D(fixture_model[0], cache_dir=cache, precision="bfloat16")
    with pytest.raises(ValueError, match="no bfloat16"):
        I3DRunner(InceptionI3d(num_classes=3), RuntimeOptions(openvino_precision="bfloat16"))


@pytest.mark.slow
def test_bfloat16_runs_the_cached_ir_in_bfloat16(runner, fixture_model, cache):
    if not ov_i3d.cpu_has_bf16():
        pytest.skip("this CPU has no bfloat16 for OpenVINO")
    model, io = fixture_model
    x = io["input"].float()
    assert runner.inference_precision == "f32"
    bf16 = I3DRunner(model, RuntimeOptions(openvino_precision="bfloat16"))
    assert bf16.description == "OpenVINO bfloat16"
    bf = ov_i3d.OpenVINOI3D(model, cache_dir=cache, precision="bfloat16")
    assert not bf.converted and bf.ir_path == runner.ir_path  # the same IR; only the compiled model differs
    assert bf.inference_precision == "bf16"
    diff = (bf(x) - io["logits"]).abs().max()
    assert 1e-4 < diff < 2.0  # really bfloat16 (float32 stays within 1e-4), the same network


def test_failed_conversion_falls_back_to_pytorch_under_auto(monkeypatch):
    monkeypatch.delenv("SIGNDEMO_I3D_BACKEND", raising=False)

    def broken(*args, **kwargs):
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(ov_i3d, "OpenVINOI3D", broken)
    model = InceptionI3d(num_classes=3)
    runner = I3DRunner(model, RuntimeOptions(precision="float32"))
    assert runner.backend == "torch" and "float32" in runner.description
    with pytest.raises(RuntimeError, match="conversion failed"):
        I3DRunner(model, RuntimeOptions(i3d_backend="openvino"))


FIRST_CALLS = """
import sys, threading, torch
from signdemo.models.i3d import InceptionI3d
from signdemo.openvino_i3d import OpenVINOI3D
torch.manual_seed(0)
runner = OpenVINOI3D(InceptionI3d(num_classes=5).eval(), cache_dir=sys.argv[1])
start = threading.Barrier(4)
def work(i):
    start.wait()
    runner(torch.rand(1, 3, 9 + 2 * i, 64, 64))
threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join(240)
sys.exit(sum(t.is_alive() for t in threads))
"""


def test_concurrent_first_calls_in_a_fresh_process_all_return(tmp_path):
    """The first calls of a process, made at once (the app's warm-up and the first request): none hangs
    on the binding's first read of an output tensor (`_read_tensor_data_once`)."""
    import subprocess
    import sys

    from _paths import REPO

    for _ in range(3):  # a fresh process each time: the race is on the process's first reads
        done = subprocess.run([sys.executable, "-c", FIRST_CALLS, str(tmp_path / "cache")], cwd=REPO, timeout=300,
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, f"{done.returncode} call(s) still running:\n{done.stderr[-2000:]}"

"""InceptionI3d (signdemo.models.i3d) and its input contract (signdemo.i3d_input).

Truth comes from ../shared/fixtures/i3d_reference (a reference model's state_dict, input and outputs)
and a real WLASL clip; those tests skip when ../shared is absent. The rest use synthetic inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from signdemo.errors import NoFramesError
from signdemo.i3d_input import (
    I3DInputConfig,
    center_crop_offsets,
    preprocess_clip,
    resize_short_side,
    sample_frame_indices,
)
from signdemo.models.i3d import (
    MIN_FRAMES,
    InceptionI3d,
    clip_scores,
    fuse_for_inference,
    inception_i3d,
    num_time_steps,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REFERENCE = SHARED / "fixtures" / "i3d_reference"
CLIP = SHARED / "data" / "wlasl_clips" / "01422.mp4"
NUM_PARAMETERS_100 = 12_389_764


def _shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not found: the shared fixtures (../shared beside the repository) are absent")
    return path


@pytest.fixture(scope="module")
def reference_state_dict() -> dict[str, torch.Tensor]:
    sd = torch.load(_shared(REFERENCE / "i3d_wlasl100_random_fp16.pt"), weights_only=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}


@pytest.fixture(scope="module")
def reference_io() -> dict:
    return torch.load(_shared(REFERENCE / "i3d_reference_io.pt"), weights_only=True)


@pytest.fixture(scope="module")
def reference_model(reference_state_dict) -> InceptionI3d:
    model = inception_i3d(num_classes=100)
    model.load_state_dict(reference_state_dict, strict=True)
    return model.eval()


@pytest.fixture(scope="module")
def reference_run(reference_model, reference_io) -> dict[str, torch.Tensor]:
    """One eval-mode pass over the reference input: endpoints, features and per-time logits."""
    with torch.no_grad():
        endpoints = reference_model.forward_intermediates(reference_io["input"].float())
        features = reference_model.avg_pool(endpoints["Mixed_5c"])
        logits = reference_model.forward_head(features)
    return {"endpoints": endpoints, "features": features, "logits": logits}


# --- architecture -------------------------------------------------------------------------------


def test_state_dict_keys_and_shapes_match_tsv():
    rows = _shared(REFERENCE / "i3d_state_dict.tsv").read_text().splitlines()[1:]
    expected = [(k, s, d) for k, s, d in (row.split("\t") for row in rows if row)]
    sd = inception_i3d(num_classes=100).state_dict()
    got = [(k, str(tuple(v.shape)), str(v.dtype).removeprefix("torch.")) for k, v in sd.items()]
    assert len(got) == len(expected) == 344
    # Same keys in the same order, with the same shapes and dtypes.
    assert got == expected


def test_parameter_count():
    model = inception_i3d(num_classes=100)
    assert sum(p.numel() for p in model.parameters()) == NUM_PARAMETERS_100


def test_config_is_keyword_only_and_batchnorm_matches_tensorflow():
    with pytest.raises(TypeError):
        InceptionI3d(100)  # type: ignore[misc]
    bn = inception_i3d().Mixed_4c.b1b.bn
    assert (bn.eps, bn.momentum) == (1e-3, 0.01)


def test_fixture_loads_strictly(reference_state_dict):
    model = inception_i3d(num_classes=100)
    result = model.load_state_dict(reference_state_dict, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(model.Mixed_5c.b3b.bn.running_var, reference_state_dict["Mixed_5c.b3b.bn.running_var"])


def test_module_prefix_must_be_stripped_before_loading(reference_state_dict):
    # Checkpoints saved from nn.DataParallel carry a "module." prefix; the loader strips it, the
    # model itself accepts only the plain names.
    prefixed = {f"module.{k}": v for k, v in reference_state_dict.items()}
    with pytest.raises(RuntimeError, match="Missing key"):
        inception_i3d(num_classes=100).load_state_dict(prefixed, strict=True)
    stripped = {k.removeprefix("module."): v for k, v in prefixed.items()}
    inception_i3d(num_classes=100).load_state_dict(stripped, strict=True)


def test_wrong_head_size_fails_strict_load(reference_state_dict):
    with pytest.raises(RuntimeError, match="size mismatch for logits.conv3d.weight"):
        inception_i3d(num_classes=400).load_state_dict(reference_state_dict, strict=True)


# --- numerical reference ------------------------------------------------------------------------


def test_reference_endpoints(reference_run, reference_io):
    # Per-channel means of intermediate outputs: the first mismatching stage locates a bug.
    for name, expected in reference_io["endpoint_channel_means"].items():
        got = reference_run["endpoints"][name].mean(dim=(0, 2, 3, 4))
        assert torch.allclose(got, expected.float(), atol=1e-4, rtol=0), f"first mismatch at {name}"


def test_reference_features_and_logits(reference_model, reference_run, reference_io):
    features, logits = reference_run["features"], reference_run["logits"]
    assert features.shape == (1, 1024, 3, 1, 1)
    assert logits.shape == (1, 100, 3) == (1, 100, num_time_steps(32))
    assert (features - reference_io["features"].float()).abs().max() < 1e-4
    assert (logits - reference_io["logits"].float()).abs().max() < 1e-4


def test_reference_clip_scores(reference_run, reference_io):
    expected = reference_io["logits"].float()
    scores = clip_scores(reference_run["logits"], "max")
    assert scores.shape == (1, 100)
    assert torch.allclose(scores, expected.amax(dim=2), atol=1e-4, rtol=0)
    mean = clip_scores(reference_run["logits"], "mean")
    assert torch.allclose(mean, expected.mean(dim=2), atol=1e-4, rtol=0)


# --- head, reduction, input size ----------------------------------------------------------------


def test_reset_classifier_changes_head_and_keeps_backbone(reference_state_dict):
    model = inception_i3d(num_classes=100)
    model.load_state_dict(reference_state_dict, strict=True)
    model.reset_classifier(7)
    assert model.num_classes == 7
    sd = model.state_dict()
    assert sd["logits.conv3d.weight"].shape == (7, 1024, 1, 1, 1)
    assert sd["logits.conv3d.bias"].shape == (7,)
    backbone = [k for k in reference_state_dict if not k.startswith("logits.")]
    assert all(torch.equal(sd[k], reference_state_dict[k]) for k in backbone)
    assert list(sd) == list(reference_state_dict)  # the head keeps its place in the key order
    features = torch.randn(2, 1024, 4, 1, 1)
    assert model.eval().forward_head(features).shape == (2, 7, 4)


def test_clip_scores_max_and_mean():
    logits_t = torch.tensor([[[1.0, 5.0, 3.0], [-2.0, -1.0, 0.0]]])  # (1, 2, 3)
    assert torch.equal(clip_scores(logits_t), torch.tensor([[5.0, 0.0]]))
    assert torch.equal(clip_scores(logits_t, "mean"), torch.tensor([[3.0, -1.0]]))
    with pytest.raises(ValueError, match="'max' or 'mean'"):
        clip_scores(logits_t, "median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="per-time logits"):
        clip_scores(logits_t[0])


def test_too_few_frames_is_a_clear_error():
    model = inception_i3d(num_classes=5).eval()
    with pytest.raises(ValueError, match=f"at least {MIN_FRAMES} frames"):
        model(torch.zeros(1, 3, MIN_FRAMES - 1, 224, 224))
    with pytest.raises(ValueError, match="at least 193x193"):
        model(torch.zeros(1, 3, 16, 160, 224))


def test_minimum_clip_and_channels_last_3d():
    torch.manual_seed(0)
    model = inception_i3d(num_classes=5).eval()
    x = torch.randn(1, 3, MIN_FRAMES, 193, 193)  # the smallest input the network accepts
    with torch.no_grad():
        logits = model(x)
        assert logits.shape == (1, 5, 1) == (1, 5, num_time_steps(MIN_FRAMES))
        model_cl = model.to(memory_format=torch.channels_last_3d)
        logits_cl = model_cl(x.to(memory_format=torch.channels_last_3d))
    assert torch.allclose(logits, logits_cl, atol=1e-4, rtol=0)


# --- input contract -----------------------------------------------------------------------------


def test_sample_frame_indices():
    np.testing.assert_array_equal(sample_frame_indices(114, 32), np.linspace(0, 113, 32).round())
    long = sample_frame_indices(300, 64)
    assert long.dtype == np.int64 and len(long) == 64 and long[0] == 0 and long[-1] == 299
    np.testing.assert_array_equal(sample_frame_indices(20, 64), np.arange(20))  # short clips keep all
    short = sample_frame_indices(4, 64)  # fewer than the model needs: frames repeat up to 9
    assert len(short) == 9 and short[0] == 0 and short[-1] == 3 and np.all(np.diff(short) >= 0)
    assert set(short) == {0, 1, 2, 3}
    with pytest.raises(NoFramesError):
        sample_frame_indices(0, 64)


def test_resize_and_crop_geometry():
    portrait = np.zeros((1080, 720, 3), np.uint8)
    assert resize_short_side(portrait, 256).shape == (384, 256, 3)
    landscape = np.zeros((480, 640, 3), np.uint8)
    assert resize_short_side(landscape, 256).shape == (256, 341, 3)  # 341.33 rounds to 341
    assert center_crop_offsets(256, 341, 224) == (16, 58)


def test_preprocess_clip_shapes_range_and_channel_order():
    frames = np.zeros((5, 120, 160, 3), np.uint8)
    frames[..., 0] = 255  # blue in OpenCV's BGR order
    x = preprocess_clip(frames)
    assert x.shape == (1, 3, MIN_FRAMES, 224, 224) and x.dtype == torch.float32
    assert torch.all(x[0, 0] == 1.0) and torch.all(x[0, 1:] == -1.0)  # BGR kept, scaled to [-1, 1]
    with pytest.raises(ValueError, match="uint8"):
        preprocess_clip(frames.astype(np.float32))


def test_preprocess_reproduces_reference_input(reference_io):
    cv2 = pytest.importorskip("cv2")
    capture = cv2.VideoCapture(str(_shared(CLIP)))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    x = preprocess_clip(np.stack(frames), I3DInputConfig(num_frames=32))
    expected = reference_io["input"]
    assert x.shape == expected.shape == (1, 3, 32, 224, 224)
    # The reference is stored in float16: equal after the same rounding.
    assert torch.equal(x.half(), expected)


def test_forward_stages_split_equals_the_whole():
    torch.manual_seed(0)
    model = InceptionI3d(num_classes=5).eval()
    x = torch.randn(1, 3, 9, 193, 193)
    with torch.no_grad():
        trunk = model.forward_stages(x, through="MaxPool3d_4a_3x3")  # (1, 480, T, H, W)
        rest = model.forward_head(model.avg_pool(model.forward_stages(trunk, after="MaxPool3d_4a_3x3")))
        assert trunk.shape[1] == 480
        assert torch.allclose(rest, model(x), atol=1e-5)


# --- inference copy -----------------------------------------------------------------------------


def test_fused_inference_copy_reproduces_the_reference(reference_model, reference_io):
    fused = fuse_for_inference(reference_model)
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in fused.modules())
    assert reference_model.Mixed_5c.b3b.bn is not None  # the original is untouched
    with torch.no_grad():
        logits = fused(reference_io["input"].float())
    assert (logits - reference_io["logits"].float()).abs().max() < 1e-4


@pytest.mark.parametrize("shape", [(9, 224, 224), (13, 201, 230)])
def test_fused_inference_copy_matches_on_odd_sizes_and_trained_statistics(shape):
    """Odd sizes give asymmetric "SAME" paddings (kept as explicit pads) next to symmetric ones (done
    by the convolutions and pools); BatchNorm statistics far from identity make the folding count."""
    torch.manual_seed(0)
    model = InceptionI3d(num_classes=7).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    x = torch.rand(1, 3, *shape) * 2 - 1
    with torch.no_grad():
        expected, got = model(x), fuse_for_inference(model)(x)
    assert expected.shape == got.shape
    assert (got - expected).abs().max() < 1e-4 * max(1.0, float(expected.abs().max()))

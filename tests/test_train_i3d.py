"""I3D trainer: WLASL training crops, the WLASL loss, and a tiny run whose bundle the engine loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from signdemo.i3d_input import I3DInputConfig
from signdemo.inference import Recognizer
from signdemo.train import i3d
from signdemo.train.common import sample_rng
from signdemo.weights import I3D, load_bundle, read_checkpoint

REPO = Path(__file__).resolve().parents[1]


def test_train_clip_takes_consecutive_frames_random_crop_and_pads_short_clips() -> None:
    frames = np.zeros((20, 256, 300, 3), np.uint8)
    frames[:] = np.arange(20, dtype=np.uint8)[:, None, None, None]  # frame t has value t everywhere
    x = i3d.train_clip(frames, sample_rng(0, 1, 0), num_frames=8, size=224, hflip=False)
    assert x.shape == (3, 8, 224, 224)
    values = np.rint((x[0, :, 0, 0].numpy() + 1) / 2 * 255).astype(int)
    assert np.all(np.diff(values) == 1)  # consecutive frames
    short = i3d.train_clip(frames[:5], sample_rng(0, 1, 0), num_frames=8, size=224, hflip=False)
    v = np.rint((short[0, :, 0, 0].numpy() + 1) / 2 * 255).astype(int).tolist()
    assert v in ([0, 0, 0, 0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 4, 4, 4])  # WLASL pads with the first or last frame
    again = i3d.train_clip(frames, sample_rng(0, 1, 0), num_frames=8, size=224, hflip=True)
    assert torch.equal(again, i3d.train_clip(frames, sample_rng(0, 1, 0), num_frames=8, size=224, hflip=True))


def test_spread_sampling_covers_the_whole_clip_in_order() -> None:
    frames = np.zeros((40, 256, 256, 3), np.uint8)
    frames[:] = np.arange(40, dtype=np.uint8)[:, None, None, None]
    seen = []
    for seed in range(5):
        x = i3d.train_clip(frames, sample_rng(seed, 1, 0), num_frames=8, size=224, hflip=False, sampling="spread")
        v = np.rint((x[0, :, 0, 0].numpy() + 1) / 2 * 255).astype(int)
        assert x.shape == (3, 8, 224, 224) and np.all(np.diff(v) > 0)  # in order, no repeats
        assert np.all(v // 5 == np.arange(8))  # one frame from each fifth-of-a-second segment
        seen.append(tuple(v))
    assert len(set(seen)) > 1  # jittered from epoch to epoch
    short = i3d.train_clip(frames[:5], sample_rng(0, 1, 0), num_frames=9, size=224, hflip=False, sampling="spread")
    assert short.shape[1] == 9


def test_horizontal_flip_mirrors_the_crop() -> None:
    frames = np.zeros((9, 224, 224, 3), np.uint8)
    frames[:, :, :50] = 255  # bright left edge
    flips = []
    for seed in range(8):
        x = i3d.train_clip(frames, sample_rng(seed, 1, 0), num_frames=9, size=224, hflip=True)
        flips.append(bool(x[0, 0, 0, -1] > 0))  # bright edge now on the right
    assert any(flips) and not all(flips)
    x = i3d.train_clip(frames, sample_rng(0, 1, 0), num_frames=9, size=224, hflip=False)
    assert x[0, 0, 0, 0] > 0 and x[0, 0, 0, -1] < 0


def test_appearance_jitter_draws_one_crop_and_colour_change_per_clip() -> None:
    frames = np.zeros((6, 256, 320, 3), np.uint8)
    frames[..., 0], frames[..., 1], frames[..., 2] = 30, 120, 210  # three distinct channel levels
    frames[:, 100:140, 150:190] = 255  # a bright square: its size in the output follows the crop scale
    orders, sizes = set(), set()
    for seed in range(12):
        out = i3d.appearance_jitter(frames, sample_rng(seed, 1, 0), size=224)
        assert out.shape == (6, 224, 224, 3) and out.dtype == np.uint8
        assert all(np.array_equal(out[0], f) for f in out[1:])  # the same draw on every frame
        corner = out[0, 0, 0].astype(int)
        orders.add(tuple(np.argsort(corner)))  # brightness and contrast keep the order: only a permutation moves it
        sizes.add(int((out[0] == out[0].max()).all(axis=-1).sum()))
        assert np.array_equal(out, i3d.appearance_jitter(frames, sample_rng(seed, 1, 0), size=224))  # seeded
    assert len(orders) > 2 and len(sizes) > 2
    x = i3d.train_clip(frames, sample_rng(0, 1, 0), num_frames=4, size=224, hflip=True, appearance=True)
    assert x.shape == (3, 4, 224, 224) and x.min() >= -1 and x.max() <= 1


def test_wlasl_loss_is_half_per_frame_bce_half_max_bce() -> None:
    logits_t = torch.tensor([[[2.0, -1.0], [0.5, 1.5], [-3.0, 0.0]]])  # (1, 3 classes, 2 steps)
    y = torch.tensor([1])
    per_frame = F.interpolate(logits_t, size=16, mode="linear", align_corners=False)
    onehot = torch.tensor([[0.0, 1.0, 0.0]])
    expected = 0.5 * F.binary_cross_entropy_with_logits(per_frame, onehot[:, :, None].expand(1, 3, 16)) + \
        0.5 * F.binary_cross_entropy_with_logits(per_frame.amax(2), onehot)  # fmt: skip
    assert torch.allclose(i3d.wlasl_loss(logits_t, y, 16), expected)
    assert torch.allclose(i3d.compute_loss("ce", logits_t, y, 16), F.cross_entropy(logits_t.amax(2), y))


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Three tiny mp4 clips (64x48, 12 frames; upscaled to the 256 short side like any input) and a
    labels.csv: two training clips of different classes, one validation clip."""
    root = tmp_path_factory.mktemp("i3d_clips")
    rows = ["file,label,signer,split"]
    for k, (name, label, signer, split) in enumerate((("a", "wave", "s1", "train"), ("b", "point", "s1", "train"),
                                                      ("c", "wave", "s2", "val"))):  # fmt: skip
        frames = np.zeros((12, 48, 64, 3), np.uint8)
        for t in range(12):
            frames[t, 10:30, 4 * t + 8 * k : 4 * t + 8 * k + 12] = (255, 128, 40 * k)
        writer = cv2.VideoWriter(str(root / f"{name}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48))
        for f in frames:
            writer.write(f)
        writer.release()
        rows.append(f"{name}.mp4,{label},{signer},{split}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


TINY = ["--epochs", "1", "--num-frames", "9", "--eval-frames", "9", "--batch-size", "1", "--threads", "1"]


@pytest.mark.slow
def test_tiny_run_writes_a_float16_bundle_the_engine_loads_and_scores(clips: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    out = tmp_path / "bundle"
    args = i3d.get_args_parser().parse_args([str(clips / "labels.csv"), "--out", str(out), *TINY,
                                             "--effective-batch", "2", "--save-dtype", "float16",
                                             "--provenance-kind", "demo"])  # fmt: skip
    result = i3d.main(args)
    assert result["finished"]
    cache = tmp_path / "bundle.frames" / "short256-side640-trim_auto"
    assert len(list(cache.glob("*.npy"))) == 3  # decoded once, cached

    ckpt = read_checkpoint(out / "checkpoints" / "best_i3d_model.pt")
    assert ckpt["model_state_dict"]["logits.conv3d.weight"].dtype == torch.float16
    last = read_checkpoint(out / "checkpoints" / "last_i3d_model.pt")
    assert last["epoch"] == 1 and last["optimizer_state_dict"]["param_groups"][0]["momentum"] == 0.9
    config = json.loads((out / "training_config.json").read_text())
    assert config["accumulation_steps"] == 2 and config["effective_batch"] == 2 and config["hflip"] is True

    bundle = load_bundle(out)
    assert bundle.architecture == I3D and bundle.labels == ["wave", "point"]
    assert I3DInputConfig(**bundle.preprocessing) == I3DInputConfig(num_frames=9)
    frames = np.load(sorted(cache.glob("*.npy"))[0])
    pred = Recognizer(None, bundle).predict_frames(frames)
    assert pred.scores.shape == (2,) and abs(pred.scores.sum() - 1) < 1e-5
    assert (out / "reports" / "final_metrics.json").is_file()


@pytest.mark.slow
def test_frozen_trunk_trains_only_the_later_stages(clips: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    out = tmp_path / "frozen"
    args_list = [clips / "labels.csv", "--out", out, *TINY, "--effective-batch", "1", "--freeze-through",
                 "MaxPool3d_4a_3x3", "--trunk-views", "2", "--loss", "ce", "--appearance-jitter"]  # fmt: skip
    args = i3d.get_args_parser().parse_args([*map(str, args_list), "--optimizer", "adamw", "--lr", "1e-3"])
    torch.manual_seed(0)
    before = i3d.InceptionI3d(num_classes=2).state_dict()  # what --seed 0 builds (same init order)
    result = i3d.main(args)
    assert result["finished"]
    bundle = load_bundle(out)
    after = bundle.model.state_dict()
    conv = "Conv3d_1a_7x7.conv3d.weight"
    assert torch.equal(after[conv], before[conv])  # frozen trunk weights unchanged ...
    bn = "Conv3d_1a_7x7.bn.running_var"
    assert not torch.equal(after[bn], before[bn])  # ... but its BatchNorm statistics calibrated
    assert not torch.equal(after["Mixed_5c.b0.conv3d.weight"], before["Mixed_5c.b0.conv3d.weight"])  # trained
    frames = np.load(sorted((tmp_path / "frozen.frames").rglob("*.npy"))[0])
    pred = Recognizer(None, bundle).predict_frames(frames)
    assert pred.scores.shape == (2,)
    assert (out / "reports" / "final_metrics.json").is_file()
    # The trunk outputs are kept: another recipe for the later stages reuses them (and the trunk's
    # calibrated statistics), a different trunk setting does not.
    saved = sorted((tmp_path / "frozen.frames").rglob("trunk-MaxPool3d_4a_3x3-*.pt"))
    assert len(saved) == 1
    again = i3d.get_args_parser().parse_args([*map(str, args_list), "--optimizer", "sgd", "--bn-momentum", "0.1"])
    assert i3d.main(again)["finished"]
    assert sorted((tmp_path / "frozen.frames").rglob("trunk-*.pt")) == saved
    assert torch.equal(load_bundle(out).model.state_dict()[bn], after[bn])  # the same calibrated trunk


@pytest.mark.slow
def test_warm_start_takes_the_later_stages_of_an_earlier_model_of_the_same_trunk(clips: Path, tmp_path: Path):
    torch.set_num_threads(1)
    common_args = [str(clips / "labels.csv"), *TINY, "--effective-batch", "1", "--trunk-views", "1",
                   "--loss", "ce", "--freeze-through", "MaxPool3d_4a_3x3",
                   "--cache", str(tmp_path / "frames")]  # fmt: skip

    def run(*extra: str) -> dict:
        return i3d.main(i3d.get_args_parser().parse_args([*common_args, *extra]))

    first = tmp_path / "first"
    assert run("--out", str(first), "--save-dtype", "float16")["finished"]
    earlier = load_bundle(first).model.state_dict()
    # Learning rate 0: the warm-started stages must come out as the earlier model stored them.
    second = tmp_path / "second"
    assert run("--out", str(second), "--lr", "0", "--warm-start", str(first))["finished"]
    later = load_bundle(second).model.state_dict()
    for key in ("Mixed_4b.b0.conv3d.weight", "Mixed_5c.b2b.conv3d.weight", "logits.conv3d.weight",
                "logits.conv3d.bias"):
        assert torch.equal(later[key], earlier[key].float()), key
    torch.manual_seed(0)
    fresh = i3d.InceptionI3d(num_classes=2).state_dict()
    assert not torch.equal(later["Mixed_5c.b2b.conv3d.weight"], fresh["Mixed_5c.b2b.conv3d.weight"])
    # Another trunk (another seed draws other random weights) is refused, and so are other classes.
    with pytest.raises(SystemExit, match="trunk differs .* at Conv3d_1a_7x7"):
        run("--out", str(tmp_path / "x"), "--seed", "1", "--warm-start", str(first))
    text = (clips / "labels.csv").read_text().replace("wave", "hello")
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        text = text.replace(name, str(clips / name))
    relabelled = tmp_path / "relabelled.csv"
    relabelled.write_text(text)
    common_args[0] = str(relabelled)
    with pytest.raises(SystemExit, match="classes"):
        run("--out", str(tmp_path / "y"), "--warm-start", str(first))
    with pytest.raises(SystemExit, match="goes with --freeze-through"):
        plain = [str(clips / "labels.csv"), *TINY, "--out", str(tmp_path / "z"), "--warm-start", str(first)]
        i3d.main(i3d.get_args_parser().parse_args(plain))


@pytest.mark.slow
def test_torchrun_two_cpu_processes(clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
           "signdemo.train.i3d", str(clips / "labels.csv"), "--out", str(out), *TINY, "--no-hflip"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((out / "training_config.json").read_text())
    assert config["world_size"] == 2 and config["hflip"] is False
    assert config["effective_batch"] == 16 and config["accumulation_steps"] == 8  # 1 clip x 8 steps x 2 ranks
    bundle = load_bundle(out)
    assert bundle.labels == ["wave", "point"]
    assert json.loads((out / "reports" / "final_metrics.json").read_text())["test_total"] == 1


def test_init_loads_a_public_layout_checkpoint_strictly_and_resets_the_head() -> None:
    from _paths import need_shared

    reference = need_shared("fixtures", "i3d_reference", "i3d_wlasl100_random_fp16.pt")
    args = i3d.get_args_parser().parse_args(["labels.csv", "--out", "x", "--init", str(reference)])
    model, model_args = i3d.build_model(args, num_classes=5)
    state = read_checkpoint(reference)
    own = model.state_dict()
    assert own["logits.conv3d.weight"].shape[0] == 5 and model_args == {"num_classes": 5, "in_channels": 3,
                                                                         "dropout": 0.5}  # fmt: skip
    assert all(torch.equal(own[k], state[k].float()) for k in state if not k.startswith("logits."))

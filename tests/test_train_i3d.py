"""I3D trainer: WLASL training crops, the WLASL loss, and a tiny run whose bundle the engine loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from signdemo.i3d_input import I3DInputConfig
from signdemo.inference import Recognizer
from signdemo.train import i3d
from signdemo.train.common import sample_rng
from signdemo.weights import I3D, load_bundle, read_checkpoint


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


def test_wlasl_loss_is_half_per_frame_bce_half_max_bce() -> None:
    logits_t = torch.tensor([[[2.0, -1.0], [0.5, 1.5], [-3.0, 0.0]]])  # (1, 3 classes, 2 steps)
    y = torch.tensor([1])
    per_frame = F.interpolate(logits_t, size=16, mode="linear", align_corners=False)
    onehot = torch.tensor([[0.0, 1.0, 0.0]])
    expected = 0.5 * F.binary_cross_entropy_with_logits(per_frame, onehot[:, :, None].expand(1, 3, 16)) + \
        0.5 * F.binary_cross_entropy_with_logits(per_frame.amax(2), onehot)  # fmt: skip
    assert torch.allclose(i3d.wlasl_loss(logits_t, y, 16), expected)
    assert torch.allclose(i3d.compute_loss("ce", logits_t, y, 16), F.cross_entropy(logits_t.amax(2), y))


@pytest.mark.slow
def test_tiny_run_writes_a_float16_bundle_the_engine_loads_and_scores(make_video, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    rows = ["file,label,signer,split"]
    for name, label, signer, split in (("a", "wave", "s1", "train"), ("b", "point", "s1", "train"),
                                       ("c", "wave", "s2", "val")):  # fmt: skip
        make_video(f"{name}.mp4", codec="mp4v", n=12, width=64, height=48)
        rows.append(f"{name}.mp4,{label},{signer},{split}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "bundle"
    args = i3d.get_args_parser().parse_args([
        str(tmp_path / "labels.csv"), "--out", str(out), "--epochs", "1", "--num-frames", "9", "--eval-frames", "9",
        "--batch-size", "1", "--effective-batch", "2", "--threads", "1", "--save-dtype", "float16",
        "--provenance-kind", "demo",
    ])  # fmt: skip
    result = i3d.main(args)
    assert result["finished"]
    assert len(list((tmp_path / "bundle.frames").glob("*.npy"))) == 3  # decoded once, cached

    ckpt = read_checkpoint(out / "checkpoints" / "best_i3d_model.pt")
    assert ckpt["model_state_dict"]["logits.conv3d.weight"].dtype == torch.float16
    last = read_checkpoint(out / "checkpoints" / "last_i3d_model.pt")
    assert last["epoch"] == 1 and last["optimizer_state_dict"]["param_groups"][0]["momentum"] == 0.9
    config = json.loads((out / "training_config.json").read_text())
    assert config["accumulation_steps"] == 2 and config["effective_batch"] == 2 and config["hflip"] is True

    bundle = load_bundle(out)
    assert bundle.architecture == I3D and bundle.labels == ["wave", "point"]
    assert I3DInputConfig(**bundle.preprocessing) == I3DInputConfig(num_frames=9)
    frames = np.load(tmp_path / "bundle.frames" / sorted(p.name for p in (tmp_path / "bundle.frames").iterdir())[0])
    pred = Recognizer(None, bundle).predict_frames(frames)
    assert pred.scores.shape == (2,) and abs(pred.scores.sum() - 1) < 1e-5
    assert (out / "reports" / "final_metrics.json").is_file()

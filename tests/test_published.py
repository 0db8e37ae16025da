"""The published models' contracts: the readings of the BiGRU recipe's unknowns (FeatureConfig
options, the activation argument), the records of manifest-less bundles, the WLASL I3D frame
contract on real clips of three sizes."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from _paths import REPO, need_shared
from signdemo import published, schema
from signdemo.features import UNKNOWN_CHOICES, FeatureConfig, landmarks_to_features, position_features
from signdemo.i3d_input import WLASL_INPUT, I3DInputConfig, wlasl_frame_indices
from signdemo.inference import Recognizer, i3d_frame_notes
from signdemo.models.bigru_attention import BiGRUAttention, BiGRUAttentionConfig
from signdemo.models.i3d import num_time_steps
from signdemo.ui.cards import card_markdown, preprocessing_rows
from signdemo.reports import Reports
from signdemo.weights import BIGRU, I3D, load_bundle, load_bundle_dir

DEMO_BIGRU = REPO / "weights" / "demo-bigru-attention"
LS, RS = schema.index("pose", "left_shoulder"), schema.index("pose", "right_shoulder")
LEFT = schema.part_slice("left_hand")


def _moving_body(t: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A clip whose shoulders drift right and come closer; the left hand is missing on frames 5-9."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0.3, 0.7, (t, schema.NUM_POINTS, 3)).astype(np.float32)
    drift = np.linspace(0, 0.2, t, dtype=np.float32)
    points[:, LS] = np.stack([0.6 + drift, np.full(t, 0.4), np.full(t, -0.2)], 1)
    points[:, RS] = np.stack([0.4 + drift * 1.5, np.full(t, 0.4), np.full(t, -0.1)], 1)
    present = np.ones((t, 3), bool)
    present[5:10, 1] = False
    points[5:10, LEFT] = 0.0
    return points, present


def _shoulder_mid(config: FeatureConfig, t: int = 30) -> np.ndarray:
    points, present = _moving_body(t)
    pos = position_features(landmarks_to_features(points, present, dataclasses.replace(config, resample="pad")))
    return (pos[:t, LS] + pos[:t, RS]) / 2  # (t, 3)


def test_each_unknown_reading_does_what_it_says():
    shoulder = FeatureConfig(normalize="shoulder")
    assert {k: getattr(shoulder, k) for k in UNKNOWN_CHOICES} == {k: v[0] for k, v in UNKNOWN_CHOICES.items()}
    # per frame: the shoulder midpoint is the origin of every frame; per clip: only on average
    assert np.allclose(_shoulder_mid(shoulder)[:, :2], 0, atol=1e-6)
    clip = _shoulder_mid(dataclasses.replace(shoulder, shoulder_reference="clip"))
    assert np.allclose(clip[:, :2].mean(axis=0), 0, atol=1e-5) and np.ptp(clip[:, 0]) > 0.1
    # 2-D: z is only scaled; 3-D: z is centred too, and the width includes the depth difference
    assert np.all(np.abs(_shoulder_mid(shoulder)[:, 2]) > 0.1)
    assert np.allclose(_shoulder_mid(dataclasses.replace(shoulder, shoulder_dims="xyz")), 0, atol=1e-6)
    # missing points: kept at zero, or normalised with the body (0 -> -centre / width)
    points, present = _moving_body()
    pad = dataclasses.replace(shoulder, resample="pad")
    kept = position_features(landmarks_to_features(points, present, pad))
    assert np.all(kept[5:10, LEFT] == 0)
    moved = position_features(landmarks_to_features(points, present, dataclasses.replace(pad, missing="normalized")))
    width = np.linalg.norm(points[5, LS, :2] - points[5, RS, :2])
    assert np.allclose(moved[5, LEFT, 0], -(points[5, LS, 0] + points[5, RS, 0]) / 2 / width, atol=1e-5)
    assert np.array_equal(moved[10:30], kept[10:30])  # present points are the same either way
    # first velocity: zero, that of the second step, or the first positions
    f = {m: landmarks_to_features(points, present, dataclasses.replace(pad, first_velocity=m))
         for m in UNKNOWN_CHOICES["first_velocity"]}  # fmt: skip
    assert np.all(f["zero"][0, 225:] == 0)
    assert np.array_equal(f["repeat"][0, 225:], f["repeat"][1, 225:])
    assert np.array_equal(f["position"][0, 225:], f["position"][0, :225])
    assert np.array_equal(f["zero"][1:], f["repeat"][1:])
    with pytest.raises(ValueError, match="shoulder_dims"):
        FeatureConfig(shoulder_dims="xz")


def test_old_records_load_unchanged():
    manifest = json.loads((DEMO_BIGRU / "signdemo_bundle.json").read_text())
    config = FeatureConfig.from_dict(manifest["preprocessing"])
    resolved = config.to_dict()
    assert {k: resolved[k] for k in manifest["preprocessing"]} == manifest["preprocessing"]
    assert {k: resolved[k] for k in UNKNOWN_CHOICES} == {k: v[0] for k, v in UNKNOWN_CHOICES.items()}
    assert BiGRUAttentionConfig.from_dict(manifest["model_args"]).activation == "gelu"


def test_activation_is_a_model_argument_with_the_same_weights():
    torch.manual_seed(0)
    gelu = BiGRUAttention(BiGRUAttentionConfig(num_classes=5, projection_dim=16, hidden_dim=8)).eval()
    x = torch.randn(2, 200, 450)
    outs = {}
    for name in ("gelu", "relu", "none"):
        model = BiGRUAttention(BiGRUAttentionConfig(num_classes=5, projection_dim=16, hidden_dim=8, activation=name))
        model.load_state_dict(gelu.state_dict(), strict=True)
        outs[name] = model.eval()(x)
    assert torch.equal(outs["gelu"], gelu(x))
    assert not torch.allclose(outs["gelu"], outs["relu"]) and not torch.allclose(outs["gelu"], outs["none"])
    with pytest.raises(ValueError, match="activation"):
        BiGRUAttentionConfig(activation="tanh")


def _published_copy(root: Path) -> Path:
    """The demo BiGRU's checkpoint and labels in the published repository's layout (no manifest)."""
    for rel in ("checkpoints/best_bigru_attention_model.pt", "metadata/label_to_id.json", "metadata/id_to_label.json"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEMO_BIGRU / rel, root / rel)
    return root


def test_a_manifest_less_bigru_gets_the_published_record_marked_assumed(tmp_path):
    bundle = load_bundle_dir(_published_copy(tmp_path / "pub"))
    assert bundle.preprocessing == published.BIGRU_FEATURES.to_dict()
    assert bundle.model_args["activation"] == "gelu" and bundle.model.config.activation == "gelu"
    assert set(bundle.assumed) == set(published.ASSUMED)
    assert Recognizer(bundle, None).extraction_fps is None  # one landmark row per video frame
    rows = {k: src for k, _, src in preprocessing_rows(bundle)}
    assert rows["resample"] == rows["missing"] == "assumed" and rows["num_frames"] == "bundle"
    text = card_markdown(BIGRU, bundle, None, Reports())
    assert "`missing=normalized` (assumed)" in text and "`activation` = `gelu` (assumed)" in text
    # the project's own bundle records everything: nothing is assumed
    demo = load_bundle(DEMO_BIGRU)
    assert demo.assumed == {} and "assumed" not in card_markdown(BIGRU, demo, None, Reports())


@pytest.fixture(scope="module")
def bare_wlasl(tmp_path_factory):
    """A bare WLASL-style checkpoint (the reference state_dict) with WLASL's class list beside it."""
    folder = tmp_path_factory.mktemp("wlasl")
    state = shutil.copy(need_shared("fixtures", "i3d_reference", "i3d_wlasl100_random_fp16.pt"), folder)
    (folder / "wlasl_class_list.txt").write_text("".join(f"{i}\tgloss{i}\n" for i in range(2000)))
    return load_bundle(state)  # the class list is found beside the checkpoint; its first 100 glosses


def test_bare_wlasl_checkpoint_gets_the_wlasl_contract_and_own_bundles_keep_theirs(bare_wlasl):
    assert bare_wlasl.architecture == I3D and I3DInputConfig(**bare_wlasl.preprocessing) == WLASL_INPUT
    assert bare_wlasl.labels == [f"gloss{i}" for i in range(100)]
    assert "at most 160: a longer clip gives its middle 160" in card_markdown(I3D, bare_wlasl, None, Reports())
    assert bare_wlasl.assumed == {}
    demo = Recognizer(None, load_bundle(REPO / "weights" / "demo-i3d"))
    assert demo.i3d_config == I3DInputConfig(num_frames=16)  # short side 256, 16 frames spread over the clip


def test_long_clips_are_capped_to_a_centred_window_and_said():
    idx = wlasl_frame_indices(400, WLASL_INPUT.num_frames, WLASL_INPUT.min_frames)
    assert np.array_equal(idx, np.arange(120, 280))
    assert "frames 120-279 of the clip's 400" in i3d_frame_notes(WLASL_INPUT, 400)[0]
    assert i3d_frame_notes(WLASL_INPUT, 100) == [] and i3d_frame_notes(I3DInputConfig(), 400) == []


def _wlasl_reference_input(path: Path) -> torch.Tensor:
    """WLASL's test input written out independently: every frame read with cv2.VideoCapture;
    side < 226 scaled up by 226 / short side; a side > 256 in the decoded frame -> 256 x 256;
    x / 255 * 2 - 1; centre crop 224; clips under 64 frames repeat their last frame."""
    capture, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, img = capture.read()
        if not ok:
            break
        rows, cols = img.shape[:2]
        if rows < 226 or cols < 226:
            img = cv2.resize(img, dsize=(0, 0), fx=226 / min(rows, cols), fy=226 / min(rows, cols))
        if rows > 256 or cols > 256:
            img = cv2.resize(img, (256, 256))
        frames.append(img / 255.0 * 2 - 1)
    capture.release()
    frames += [frames[-1]] * (64 - len(frames))
    clip = np.stack(frames)[:, 16:240, 16:240]  # (T, 224, 224, 3) BGR
    return torch.from_numpy(clip.transpose(3, 0, 1, 2)[None].astype(np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("name, size", [("01422.mp4", (640, 480)), ("10646.mp4", (320, 240)), ("08592.mp4", (288, 192))])
def test_wlasl_frame_contract_on_real_clips(bare_wlasl, name, size):
    from signdemo.video import read_clip

    path = need_shared("data", "wlasl_clips", name)
    clip = read_clip(path)
    assert (clip.info.width, clip.info.height) == size
    rec = Recognizer(None, bare_wlasl)
    x, idx = rec.i3d_input(clip.frames)
    expected = _wlasl_reference_input(path)
    assert x.shape == expected.shape and x.shape[2] == max(len(clip), 64)
    assert torch.allclose(x, expected, atol=1e-6, rtol=0)
    if name == "08592.mp4":  # 45 frames, padded to 64: the scores over time are the per-time logits of x
        pred = rec.predict_frames(clip.frames, clip.source_indices)
        with torch.no_grad():
            logits = bare_wlasl.model(expected)[0].T  # (T', C)
        assert pred.time_scores.shape == (num_time_steps(64), 100)
        assert np.allclose(pred.time_scores, torch.softmax(logits, dim=1).numpy(), atol=1e-4)
        assert np.array_equal(pred.frame_indices[-20:], np.full(20, clip.source_indices[-1]))  # padding: last frame


def test_a_hub_repository_with_a_bare_wlasl_checkpoint_gets_the_wlasl_contract(tmp_path, monkeypatch):
    """No manifest of ours and not the published BiGRU's layout: its checkpoint and class list."""
    import huggingface_hub.constants as c

    from test_weights import _populate_hf_cache

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    files = tmp_path / "repo"
    files.mkdir()
    shutil.copy(need_shared("fixtures", "i3d_reference", "i3d_wlasl100_random_fp16.pt"), files / "FINAL_nslt_100.pt")
    (files / "wlasl_class_list.txt").write_text("".join(f"{i}\tgloss{i}\n" for i in range(2000)))
    _populate_hf_cache(tmp_path / "cache", "someone/wlasl-i3d", files)
    bundle = load_bundle("hf://someone/wlasl-i3d", cache_dir=tmp_path / "cache")
    assert bundle.architecture == I3D and bundle.num_classes == 100
    assert I3DInputConfig(**bundle.preprocessing) == WLASL_INPUT and bundle.display_source.startswith("hf://someone/")


def test_the_published_hub_bundle_carries_the_record(tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    from test_weights import _populate_hf_cache

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    repo = "SharoonArshad/asl-citizen-bigru-attention-encoder-200"
    _populate_hf_cache(tmp_path / "cache", repo, _published_copy(tmp_path / "pub"))
    bundle = load_bundle(f"hf://{repo}", cache_dir=tmp_path / "cache")
    assert bundle.provenance["kind"] == "published" and bundle.provenance["landmark_extraction_fps"] == 0
    assert bundle.preprocessing == published.BIGRU_FEATURES.to_dict() and set(bundle.assumed) == set(published.ASSUMED)
    assert "`landmark_extraction_fps` = `every frame` (assumed)" in card_markdown(BIGRU, bundle, None, Reports())

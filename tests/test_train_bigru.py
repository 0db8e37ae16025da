"""BiGRU trainer: bundle layout the engine loads, seeded reproducibility, resume, torchrun on CPU."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F
from _keypoint_data import make_prepared, synthetic_landmarks

from signdemo.features import FeatureConfig, landmarks_to_features, retime_features
from signdemo.inference import Recognizer
from signdemo.reports import read_reports
from signdemo.train import bigru
from signdemo.train.datasets import PreparedDataset
from signdemo.weights import BIGRU, load_bundle, read_checkpoint

REPO = Path(__file__).resolve().parents[1]
TINY = ["--hidden-dim", "16", "--projection-dim", "16", "--batch-size", "8", "--lr", "3e-3", "--threads", "1"]
METRIC_COLUMNS = ("epoch", "train_loss", "train_top1", "val_loss", "val_top1", "lr")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_prepared(tmp_path_factory.mktemp("kp") / "data")


def _train(data: Path, out: Path, *extra: str) -> dict:
    torch.set_num_threads(1)
    args = bigru.get_args_parser().parse_args([str(data), "--out", str(out), *TINY, *extra])
    return bigru.main(args)


def _history(out: Path) -> list[dict]:
    with open(out / "reports" / "training_history.csv", newline="") as f:
        return [{k: row[k] for k in METRIC_COLUMNS} for row in csv.DictReader(f)]


def test_two_epochs_write_a_bundle_the_engine_loads_and_scores(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = _train(data, out, "--epochs", "2", "--provenance-kind", "demo", "--description", "tiny test model")
    assert result["finished"]
    for rel in ("checkpoints/best_bigru_attention_model.pt", "checkpoints/best_bigru_attention_encoder.pt",
                "checkpoints/last_bigru_attention_model.pt", "metadata/label_to_id.json", "metadata/id_to_label.json",
                "training_config.json", "signdemo_bundle.json", "reports/final_metrics.json",
                "reports/training_history.csv", "reports/test_classification_report.json",
                "reports/test_classification_report.csv", "reports/test_confusion_matrix.npy"):  # fmt: skip
        assert (out / rel).is_file(), rel

    bundle = load_bundle(out)  # strict, checksums verified
    assert bundle.architecture == BIGRU
    assert bundle.labels == ["alpha", "bravo", "charlie"]
    assert bundle.preprocessing == FeatureConfig().to_dict()
    assert bundle.provenance["kind"] == "demo" and bundle.provenance["description"] == "tiny test model"
    assert bundle.model_args["hidden_dim"] == 16
    manifest = json.loads((out / "signdemo_bundle.json").read_text())
    assert "reports/final_metrics.json" in manifest["files"]
    assert "checkpoints/best_bigru_attention_encoder.pt" in manifest["files"]

    features = PreparedDataset.load(data).features
    pred = Recognizer(bundle, None).predict_features(np.asarray(features[0], dtype=np.float32))
    assert pred.scores.shape == (3,) and abs(pred.scores.sum() - 1) < 1e-5
    assert pred.attention.shape == (200,)

    encoder = read_checkpoint(out / "checkpoints" / "best_bigru_attention_encoder.pt")
    assert set(encoder["model_state_dict"]) == set(bundle.model.encoder_state_dict())
    reports = read_reports(bundle.reports_dir)
    assert [row["epoch"] for row in reports.history] == [1, 2]
    assert reports.metrics["test_total"] == 9 and reports.confusion.shape == (3, 3)
    config = json.loads((out / "training_config.json").read_text())
    assert config["lr"] == 3e-3 and config["feature_config"] == FeatureConfig().to_dict()


def test_same_seed_same_history_and_resume_continues_identically(data: Path, tmp_path: Path) -> None:
    full = tmp_path / "full"
    _train(data, full, "--epochs", "3", "--augment", "affine")
    part = tmp_path / "part"
    first = _train(data, part, "--epochs", "3", "--augment", "affine", "--stop-after-epochs", "2")
    assert not first["finished"] and _history(part) == _history(full)[:2]

    last = read_checkpoint(part / "checkpoints" / "last_bigru_attention_model.pt")
    assert last["epoch"] == 2 and last["scheduler_state_dict"]["last_epoch"] == 2
    assert last["optimizer_state_dict"]["state"], "optimizer moments are saved"

    resumed = _train(data, part, "--epochs", "3", "--augment", "affine", "--resume")
    assert resumed["finished"]
    assert _history(part) == _history(full)
    a = read_checkpoint(full / "checkpoints" / "last_bigru_attention_model.pt")["model_state_dict"]
    b = read_checkpoint(part / "checkpoints" / "last_bigru_attention_model.pt")["model_state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((part / "reports/final_metrics.json").read_text()) == json.loads(
        (full / "reports/final_metrics.json").read_text()
    )


def test_affine_augmentation_equals_transforming_the_landmarks() -> None:
    rng = np.random.default_rng(3)
    lm = synthetic_landmarks(1, rng)
    lm.present[5:9, 1] = False  # a missing left hand stays missing
    lm.points[5:9, 33:54] = 0
    x = landmarks_to_features(lm.points, lm.present)
    aug = bigru.augment_affine(x, np.random.default_rng(7))
    r = np.random.default_rng(7)
    s = 1.0 + r.uniform(-0.1, 0.1)
    t = np.array([r.uniform(-0.05, 0.05), r.uniform(-0.05, 0.05), 0.0], np.float32)
    expected = landmarks_to_features(s * lm.points + t, lm.present)
    np.testing.assert_allclose(aug, expected, atol=1e-5)


@pytest.mark.parametrize("normalize", ["none", "hands", "shoulder"])
def test_mirror_augmentation_equals_mirroring_the_landmarks(normalize: str) -> None:
    rng = np.random.default_rng(4)
    lm = synthetic_landmarks(2, rng)
    lm.present[3:6, 2] = False  # a missing right hand becomes a missing left hand
    lm.points[3:6, 54:75] = 0
    cfg = FeatureConfig(normalize=normalize, pose="drop" if normalize == "hands" else "keep")
    x = landmarks_to_features(lm.points, lm.present, cfg)
    mirrored = lm.mirrored()
    expected = landmarks_to_features(mirrored.points, mirrored.present, cfg)
    np.testing.assert_allclose(bigru.augment_mirror(x, normalize), expected, atol=1e-5)
    assert not np.allclose(x, expected)


def test_rotation_augmentation_equals_rotating_the_landmarks() -> None:
    """Rotating the landmarks about any point and then normalising on the hands turns the features
    about 0 (the hand size is a length, the centre moves with them); image coordinates turn about 0.5."""
    lm = synthetic_landmarks(1, np.random.default_rng(5))
    lm.present[4:8, 1] = False
    for cfg, centre in ((FeatureConfig(), 0.5), (FeatureConfig(normalize="hands", pose="drop"), 0.3)):
        x = landmarks_to_features(lm.points, lm.present, cfg)
        aug = bigru.augment_rotate(x, np.random.default_rng(11), cfg.normalize)
        a = np.deg2rad(np.random.default_rng(11).uniform(-15, 15))
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        turned = lm.points.astype(np.float64).copy()
        turned[..., :2] = (turned[..., :2] - centre) @ rot.T + centre
        np.testing.assert_allclose(aug, landmarks_to_features(turned, lm.present, cfg), atol=1e-5)
        assert not np.allclose(aug, x, atol=1e-3)


def test_augmentations_of_wrist_relative_hands_equal_transforming_the_landmarks() -> None:
    """With hand_points="wrist" the offsets from a wrist scale, flip and turn about 0 while the
    wrists move with the clip: each augmentation still equals the same change made to the landmarks."""
    lm = synthetic_landmarks(3, np.random.default_rng(9))
    lm.present[4:8, 1] = False
    image = FeatureConfig(hand_points="wrist")
    hands = FeatureConfig(normalize="hands", pose="drop", hand_points="wrist")
    relative = image.relative_points()
    assert relative.sum() == 40 and not relative[:33].any()

    x = landmarks_to_features(lm.points, lm.present, image)
    r = np.random.default_rng(7)
    s = 1.0 + r.uniform(-0.1, 0.1)
    t = np.array([r.uniform(-0.05, 0.05), r.uniform(-0.05, 0.05), 0.0], np.float32)
    expected = landmarks_to_features(s * lm.points + t, lm.present, image)
    aug = bigru.augment_affine(x, np.random.default_rng(7), relative=relative)
    np.testing.assert_allclose(aug, expected, atol=1e-5)
    assert not np.allclose(bigru.augment_affine(x, np.random.default_rng(7)), expected, atol=1e-3)

    x = landmarks_to_features(lm.points, lm.present, hands)
    mirrored = lm.mirrored()
    expected = landmarks_to_features(mirrored.points, mirrored.present, hands)
    np.testing.assert_allclose(bigru.augment_mirror(x, "hands", relative), expected, atol=1e-5)

    a = np.deg2rad(np.random.default_rng(11).uniform(-15, 15))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    turned = lm.points.astype(np.float64).copy()
    turned[..., :2] = (turned[..., :2] - 0.3) @ rot.T + 0.3
    aug = bigru.augment_rotate(x, np.random.default_rng(11), "hands", relative=relative)
    np.testing.assert_allclose(aug, landmarks_to_features(turned, lm.present, hands), atol=1e-5)


def test_time_augmentation_is_the_features_of_the_trimmed_clip() -> None:
    """On a 200-frame clip (resampling is then the identity), features sampled again at the steps
    50..149 are the features of frames 50..149 resampled to 200 by `landmarks_to_features`."""
    lm = synthetic_landmarks(2, np.random.default_rng(6), frames=200)
    lm.present[60:90, 2] = False
    x = landmarks_to_features(lm.points, lm.present)
    np.testing.assert_array_equal(retime_features(x, np.arange(200.0)), x)
    expected = landmarks_to_features(lm.points[50:150], lm.present[50:150])
    np.testing.assert_allclose(retime_features(x, np.linspace(50, 149, 200)), expected, atol=1e-6)
    aug = bigru.augment_time(x, np.random.default_rng(1), FeatureConfig())
    assert aug.shape == x.shape and not np.allclose(aug, x, atol=1e-3)


def test_hand_drop_augmentation_is_the_features_of_a_lost_hand() -> None:
    lm = synthetic_landmarks(0, np.random.default_rng(8), frames=200)
    x = landmarks_to_features(lm.points, lm.present)
    aug = bigru.augment_handdrop(x, np.random.default_rng(2), FeatureConfig(), p=1.0)
    r = np.random.default_rng(2)
    present = lm.present.copy()
    for part in (1, 2):  # left hand, right hand: the order of the draws
        r.random()
        length = max(1, int(r.uniform(0.1, 0.5) * 200))
        start = int(r.integers(0, 200 - length + 1))
        present[start : start + length, part] = False
    assert (~present[:, 1:]).any()
    np.testing.assert_allclose(aug, landmarks_to_features(lm.points, present), atol=1e-6)
    assert bigru.augment_handdrop(x, np.random.default_rng(2), FeatureConfig(), p=0.0) is x


def test_augment_names_combine_in_a_fixed_order_and_unknown_ones_are_refused() -> None:
    assert bigru.parse_augment("mirror+time+affine") == ("time", "affine", "mirror")
    assert bigru.parse_augment("none") == ()
    with pytest.raises(ValueError, match="shear"):
        bigru.parse_augment("affine+shear")
    with pytest.raises(SystemExit):
        bigru.get_args_parser().parse_args(["data", "--out", "o", "--augment", "affine+affine"])
    lm = synthetic_landmarks(1, np.random.default_rng(9))
    x = landmarks_to_features(lm.points, lm.present)
    ds = bigru.KeypointDataset(x[None], np.array([0]), np.array([0]), "time+handdrop+affine+rotate+mirror", seed=3)
    a, b = ds[0][0], ds[0][0]
    assert torch.equal(a, b) and a.shape == (200, 450) and not np.allclose(a.numpy(), x, atol=1e-3)


def test_torchrun_two_cpu_processes_write_the_same_bundle_layout(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "signdemo.train.bigru", str(data), "--out", str(out), "--epochs", "2", *TINY]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((out / "training_config.json").read_text())
    assert config["world_size"] == 2
    bundle = load_bundle(out)
    assert bundle.labels == ["alpha", "bravo", "charlie"]
    metrics = read_reports(bundle.reports_dir).metrics
    assert metrics["test_total"] == 9  # every test sample scored exactly once across the two ranks
    assert (out / "checkpoints" / "last_bigru_attention_model.pt").is_file()
    assert len(read_checkpoint(out / "checkpoints" / "last_bigru_attention_model.pt")["rng_states"]) == 2


def test_init_from_the_published_layout_keeps_the_encoder_and_replaces_the_head() -> None:
    from _paths import need_shared

    stand_in = need_shared("fixtures", "bigru_seed_layout", "bigru_seed_layout_random.pt")
    args = bigru.get_args_parser().parse_args(["data", "--out", "x", "--init", str(stand_in)])
    model, model_args = bigru.build_model(args, num_classes=3, input_dim=450)
    published = read_checkpoint(stand_in)["model_state_dict"]
    encoder = model.encoder_state_dict()
    assert set(encoder) == {k for k in published if not k.startswith("classifier.")}
    assert all(torch.equal(encoder[k], published[k].to(encoder[k].dtype)) for k in encoder)
    assert model.classifier.weight.shape == (3, 512) and model_args["num_classes"] == 3


def test_keep_classes_ships_the_first_classes_judged_on_their_clips_only(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "kept"
    result = _train(data, out, "--epochs", "1", "--keep-classes", "2")
    assert result["finished"]
    bundle = load_bundle(out)  # strict: a 2-row head for 2 labels
    assert bundle.labels == ["alpha", "bravo"] and bundle.model_args["num_classes"] == 2
    assert bundle.model.classifier.weight.shape == (2, 16 * 2)
    assert bundle.provenance["trained_classes"] == 3
    prepared = PreparedDataset.load(data)
    test_idx = prepared.indices("test")
    kept_test = test_idx[prepared.targets[test_idx] < 2]
    assert 0 < len(kept_test) < len(test_idx)
    assert read_reports(bundle.reports_dir).metrics["test_total"] == len(kept_test)

    # one epoch: the best weights are the last ones, whose 3-row head gives the same first two logits
    last = read_checkpoint(out / "checkpoints" / "last_bigru_attention_model.pt")
    assert last["model_state_dict"]["classifier.weight"].shape[0] == 3
    full = bigru.BiGRUAttention(bigru.BiGRUAttentionConfig.from_dict({**last["config"]}))
    full.load_state_dict(last["model_state_dict"])
    full.eval()
    bundle.model.eval()
    x = torch.from_numpy(np.asarray(prepared.features[kept_test], dtype=np.float32))
    with torch.no_grad():
        torch.testing.assert_close(bundle.model(x), full(x)[:, :2])

    part = tmp_path / "kept-resumed"  # resuming reads the 2-row best weights back
    _train(data, part, "--epochs", "2", "--keep-classes", "2", "--stop-after-epochs", "1")
    assert _train(data, part, "--epochs", "2", "--keep-classes", "2", "--resume")["finished"]
    whole = tmp_path / "kept-whole"
    _train(data, whole, "--epochs", "2", "--keep-classes", "2")
    assert json.loads((part / "reports/final_metrics.json").read_text()) == json.loads(
        (whole / "reports/final_metrics.json").read_text()
    )
    with pytest.raises(SystemExit, match="--keep-classes 4"):
        _train(data, tmp_path / "too-many", "--epochs", "1", "--keep-classes", "4")


def test_train_on_dropped_splits_adds_the_dropped_classes_val_and_test_clips_to_training(
    data: Path, tmp_path: Path
) -> None:
    prepared = PreparedDataset.load(data)
    targets = prepared.targets
    val_idx, test_idx = prepared.indices("val"), prepared.indices("test")
    dropped = [i for i in (*val_idx, *test_idx) if targets[i] >= 2]
    assert dropped
    plain, more = tmp_path / "plain", tmp_path / "more"
    _train(data, plain, "--epochs", "1", "--keep-classes", "2")
    _train(data, more, "--epochs", "1", "--keep-classes", "2", "--train-on-dropped-splits")
    counts = {p: json.loads((p / "training_config.json").read_text())["counts"] for p in (plain, more)}
    assert counts[more]["train"] == counts[plain]["train"] + len(dropped) == len(prepared.indices("train")) + len(dropped)
    # judged on the same kept classes' clips: the same val and test counts
    assert counts[more]["val"] == counts[plain]["val"] and counts[more]["test"] == counts[plain]["test"]
    assert read_reports(load_bundle(more).reports_dir).metrics["test_total"] == int((targets[test_idx] < 2).sum())
    assert "other classes' val and test clips" in load_bundle(more).provenance["dataset"]
    assert _history(more)[0]["train_loss"] != _history(plain)[0]["train_loss"]  # it trained on more clips
    with pytest.raises(SystemExit, match="--train-on-dropped-splits needs --keep-classes"):
        _train(data, tmp_path / "no-keep", "--epochs", "1", "--train-on-dropped-splits")


def _val_scores(data: Path, state_dict: dict, config: dict) -> dict:
    """Validation loss and top-1 of these weights, as the trainer computes them."""
    model = bigru.BiGRUAttention(bigru.BiGRUAttentionConfig.from_dict(config))
    model.load_state_dict(state_dict)
    prepared = PreparedDataset.load(data)
    runtime = bigru.common.setup_runtime("cpu", "off")
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    return bigru.evaluate(model, prepared, prepared.indices("val"), criterion, runtime)


def test_ema_validates_keeps_and_ships_the_weight_average_and_resumes_it(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "ema"
    assert _train(data, out, "--epochs", "3", "--patience", "0", "--ema", "0.9")["finished"]
    history = _history(out)
    last = read_checkpoint(out / "checkpoints" / "last_bigru_attention_model.pt")
    average = {k[len("module."):]: v for k, v in last[bigru.EMA_KEY].items() if k.startswith("module.")}
    assert set(average) == set(last["model_state_dict"])
    assert int(last[bigru.EMA_KEY]["n_averaged"]) > 1
    assert any(not torch.equal(average[k], last["model_state_dict"][k]) for k in average)
    # the last epoch's validation scored the average, not the raw weights
    val = _val_scores(data, average, last["config"])
    assert val["loss"] == pytest.approx(float(history[-1]["val_loss"]), abs=1e-5)
    raw = _val_scores(data, last["model_state_dict"], last["config"])
    assert raw["loss"] != pytest.approx(val["loss"], abs=1e-5)
    # the shipped weights are the average of the best epoch (the scores of its validation)
    bundle = load_bundle(out)
    best = read_reports(bundle.reports_dir).metrics["best_epoch"]
    shipped = _val_scores(data, bundle.model.state_dict(), bundle.model_args)
    assert shipped["loss"] == pytest.approx(float(history[best - 1]["val_loss"]), abs=1e-5)
    assert json.loads((out / "training_config.json").read_text())["ema"] == 0.9

    part = tmp_path / "ema-part"  # the average resumes with the rest of the state
    _train(data, part, "--epochs", "3", "--patience", "0", "--ema", "0.9", "--stop-after-epochs", "2")
    assert _train(data, part, "--epochs", "3", "--patience", "0", "--ema", "0.9", "--resume")["finished"]
    assert _history(part) == history
    resumed = read_checkpoint(part / "checkpoints" / "last_bigru_attention_model.pt")[bigru.EMA_KEY]
    assert all(torch.equal(resumed[k], last[bigru.EMA_KEY][k]) for k in resumed)

    plain = tmp_path / "plain"  # a run without an average cannot be resumed as one
    _train(data, plain, "--epochs", "2", "--stop-after-epochs", "1")
    with pytest.raises(SystemExit, match="ema_state_dict"):
        _train(data, plain, "--epochs", "2", "--ema", "0.9", "--resume")
    with pytest.raises(SystemExit):
        bigru.get_args_parser().parse_args([str(data), "--out", str(tmp_path / "x"), "--ema", "1"])


def test_mixup_blends_pairs_of_clips_with_the_own_class_dominant() -> None:
    x = torch.arange(4 * 3 * 2, dtype=torch.float32).reshape(4, 3, 2)
    y = torch.tensor([0, 1, 2, 3])
    mixed, own, partner_y, lam = bigru.mix_batch(x, y, 0.4, np.random.default_rng(0))
    assert 0.5 <= lam <= 1.0 and torch.equal(own, y)
    # each mixed clip is lam of its own and 1 - lam of the clip whose class is its partner class
    partner = partner_y.numpy()  # classes are the row numbers here
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[partner])
    # the same generator state gives the same mix
    again = bigru.mix_batch(x, y, 0.4, np.random.default_rng(0))
    assert torch.equal(again[0], mixed) and again[3] == lam


def test_mixup_changes_training_reproducibly_and_is_refused_below_zero(data: Path, tmp_path: Path) -> None:
    _train(data, tmp_path / "plain", "--epochs", "1")
    _train(data, tmp_path / "mix", "--epochs", "1", "--mixup", "0.4")
    _train(data, tmp_path / "mix2", "--epochs", "1", "--mixup", "0.4")
    plain, mix, mix2 = (_history(tmp_path / n)[0] for n in ("plain", "mix", "mix2"))
    assert mix["train_loss"] != plain["train_loss"]
    assert mix["train_loss"] == mix2["train_loss"] and mix["val_loss"] == mix2["val_loss"]
    assert json.loads((tmp_path / "mix" / "training_config.json").read_text())["mixup"] == 0.4
    with pytest.raises(SystemExit):
        bigru.get_args_parser().parse_args([str(data), "--out", str(tmp_path / "x"), "--mixup", "-1"])


def test_distill_loss_weighs_the_label_loss_and_the_soft_targets_per_clip() -> None:
    torch.manual_seed(0)
    logits, y = torch.randn(4, 5), torch.tensor([0, 1, 2, 4])
    probs = torch.softmax(torch.randn(6, 3), dim=1)  # soft targets over the first 3 of 5 classes
    has = torch.tensor([True, True, False, True, False, True])
    probs[~has] = 0.0  # rows 2 and 4 have no soft target
    rows = torch.tensor([0, 2, 3, 4])
    got = bigru.distill_loss(logits, y, rows, 0.1, bigru.Distillation(probs, 0.7, 2.0, []))
    ce = F.cross_entropy(logits, y, label_smoothing=0.1, reduction="none")
    kl = F.kl_div(F.log_softmax(logits[:, :3] / 2.0, dim=1), probs[rows], reduction="none").sum(1) * 4.0
    w = torch.tensor([0.7, 0.0, 0.7, 0.0])
    torch.testing.assert_close(got, ((1 - w) * ce + w * kl).mean())
    plain = bigru.distill_loss(logits, y, rows, 0.1, bigru.Distillation(probs, 0.0, 2.0, []))
    torch.testing.assert_close(plain, F.cross_entropy(logits, y, label_smoothing=0.1))
    # a student that gives the teacher's answer at T pays the label loss share only
    student = torch.cat([torch.log(probs[rows].clamp_min(1e-6)) * 2.0, torch.zeros(4, 2)], dim=1)
    matched = bigru.distill_loss(student, y, rows, 0.0, bigru.Distillation(probs, 1.0, 2.0, []))
    only_ce = F.cross_entropy(student, y, reduction="none") * torch.tensor([0.0, 1.0, 0.0, 1.0])
    torch.testing.assert_close(matched, only_ce.mean())


def test_distill_matches_the_teachers_mean_answer_on_their_classes_clips(data: Path, tmp_path: Path) -> None:
    teacher, other = tmp_path / "teacher", tmp_path / "other"
    _train(data, teacher, "--epochs", "2", "--keep-classes", "2")
    _train(data, other, "--epochs", "1", "--keep-classes", "2", "--seed", "1")
    prepared = PreparedDataset.load(data)
    train_idx = prepared.indices("train")
    targets = bigru.teacher_targets([teacher, other], prepared, train_idx, temperature=2.0, weight=0.5)
    kept = train_idx[prepared.targets[train_idx] < 2]
    assert 0 < len(kept) < len(train_idx)
    assert int(targets.has.sum()) == len(kept) and bool(targets.has[kept].all())
    assert bool((targets.probs[~targets.has] == 0).all())
    x = torch.from_numpy(np.asarray(prepared.features[kept], dtype=np.float32))
    answers = []
    for path in (teacher, other):
        model = load_bundle(path).model.eval()
        with torch.no_grad():
            answers.append(torch.softmax(model(x) / 2.0, dim=1))
    torch.testing.assert_close(targets.probs[kept], (answers[0] + answers[1]) / 2)

    plain, kd, kd_again, kd_zero = (tmp_path / n for n in ("plain", "kd", "kd-again", "kd-zero"))
    _train(data, plain, "--epochs", "1")
    for out in (kd, kd_again):
        _train(data, out, "--epochs", "1", "--distill", str(teacher), "--distill", str(other))
    _train(data, kd_zero, "--epochs", "1", "--distill", str(teacher), "--distill-weight", "0")
    assert _history(kd)[0]["train_loss"] != _history(plain)[0]["train_loss"]
    assert _history(kd) == _history(kd_again)
    # weight 0: the label loss alone (the same up to float rounding: a weighted mean against a mean,
    # whose last bits differ between CPUs' kernels)
    zero, alone = _history(kd_zero), _history(plain)
    assert [r.keys() for r in zero] == [r.keys() for r in alone]
    for got, want in zip(zero, alone):
        assert {k: float(v) for k, v in got.items()} == pytest.approx({k: float(v) for k, v in want.items()}, rel=1e-6)
    recorded = load_bundle(kd).provenance["distilled_from"]
    manifest = json.loads((teacher / "signdemo_bundle.json").read_text())
    assert [t["bundle"] for t in recorded] == ["teacher", "other"]
    assert recorded[0]["sha256"] == manifest["sha256"][manifest["checkpoint"]]
    assert json.loads((kd / "training_config.json").read_text())["distill"] == [str(teacher), str(other)]

    # teachers that read other features, speak other labels or are not a BiGRU are refused
    hands = make_prepared(tmp_path / "hands-data", feature_config=FeatureConfig(pose="drop", normalize="hands"))
    _train(hands, tmp_path / "hands-teacher", "--epochs", "1")
    with pytest.raises(SystemExit, match="its preprocessing"):
        _train(data, tmp_path / "x1", "--epochs", "1", "--distill", str(tmp_path / "hands-teacher"))
    greek = make_prepared(tmp_path / "greek-data", classes=("delta", "echo", "foxtrot"))
    _train(greek, tmp_path / "greek-teacher", "--epochs", "1")
    with pytest.raises(SystemExit, match="labels are not the data set's first"):
        _train(data, tmp_path / "x2", "--epochs", "1", "--distill", str(tmp_path / "greek-teacher"))
    with pytest.raises(SystemExit, match="teachers are BiGRU bundles"):
        _train(data, tmp_path / "x3", "--epochs", "1", "--distill", str(REPO / "weights" / "demo-i3d"))
    with pytest.raises(SystemExit, match="cannot be combined"):
        _train(data, tmp_path / "x4", "--epochs", "1", "--distill", str(teacher), "--mixup", "0.4")

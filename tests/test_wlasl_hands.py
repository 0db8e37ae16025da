"""The WLASL hand-landmark reader: shapes and splits on the shared data, the left/right rule held
against Holistic on the shared clips, and the prepared data set it writes."""

import json

import numpy as np
import pytest

from _paths import need_shared
from signdemo import schema
from signdemo.features import FeatureConfig, position_features
from signdemo.train import wlasl_hands
from signdemo.train.datasets import PreparedDataset


@pytest.fixture(scope="module")
def hands_dir():
    return need_shared("data", "wlasl_hands")


def test_reader_gives_the_wlasl100_clips_with_the_official_split(hands_dir):
    clips = list(wlasl_hands.read_clips(hands_dir, 100))
    assert len(clips) == 996
    assert {s: sum(c.split == s for c in clips) for s in ("train", "val", "test")} == {"train": 734, "val": 163, "test": 99}
    assert {c.class_index for c in clips} == set(range(100))
    assert len({c.signer for c in clips if c.signer}) == 63
    for c in clips[:50]:
        assert c.slots.ndim == 4 and c.slots.shape[1:] == (2, 21, 3) and c.slots.dtype == np.float32
    # a missing hand is a whole slot of -1; the second slot is only used when the first is
    present = np.concatenate([wlasl_hands.slot_present(c.slots) for c in clips])
    assert present[:, 0].mean() > 0.5 and not (present[:, 1] & ~present[:, 0]).any()


def test_hands_to_schema_puts_each_slot_on_one_side_and_no_pose():
    slots = -np.ones((4, 2, 21, 3), np.float32)
    slots[0, 0, :, 0], slots[0, 1, :, 0] = 0.3, 0.7  # two hands: larger x is the signer's left
    slots[1, 0, :, 0] = 0.8  # one hand right of the image centre: the left hand
    slots[2, 0, :, 0] = 0.2  # one hand left of the centre: the right hand
    slots[..., 1:] = np.where(slots[..., :1] >= 0, 0.5, -1)
    points, present = wlasl_hands.hands_to_schema(slots)
    assert points.shape == (4, 75, 3) and present.shape == (4, 3)
    assert not present[:, 0].any() and np.all(points[:, schema.part_slice("pose")] == 0)
    assert present.tolist() == [[False, True, True], [False, True, False], [False, False, True], [False, False, False]]
    assert np.all(points[0, schema.part_slice("left_hand"), 0] == np.float32(0.7))
    assert np.all(points[0, schema.part_slice("right_hand"), 0] == np.float32(0.3))
    swapped, _ = wlasl_hands.hands_to_schema(slots, "slot0_left")
    assert np.all(swapped[0, schema.part_slice("left_hand"), 0] == np.float32(0.3))


@pytest.mark.slow
def test_the_chosen_hand_rule_agrees_best_with_holistic_on_the_shared_clips(hands_dir):
    report = wlasl_hands.check_handedness(hands_dir, need_shared("data", "wlasl_clips"))
    rules = report["rules"]
    assert len(report["clips"]) >= 5  # the shared clips that the hand data holds
    best = max(rules, key=lambda r: rules[r]["agreement"])
    assert best == wlasl_hands.DEFAULT_HAND_RULE
    assert rules[best]["hands"] >= 300 and rules[best]["agreement"] >= 0.95
    # detection order is not left/right: either fixed slot order is far off
    assert max(rules["slot0_left"]["agreement"], rules["slot0_right"]["agreement"]) < 0.8


def test_convert_writes_a_hands_only_prepared_set(hands_dir, tmp_path):
    out = wlasl_hands.convert(hands_dir, tmp_path / "kp", num_classes=100, limit=40,
                              feature_config=FeatureConfig(pose="drop", normalize="hands"))  # fmt: skip
    data = PreparedDataset.load(out)
    assert data.features.shape == (40, 200, 450) and len(data.labels) == 100
    assert data.labels[:3] == ["book", "drink", "computer"]  # wlasl_class_list.txt order
    assert FeatureConfig.from_dict(data.feature_config) == FeatureConfig(pose="drop", normalize="hands")
    pos = position_features(np.asarray(data.features, np.float32))
    assert np.all(pos[:, :, schema.part_slice("pose")] == 0)
    assert np.abs(pos[:, :, schema.part_slice("right_hand")]).max() > 0
    config = json.loads((out / "prepare_config.json").read_text())
    assert config["hand_rule"] == "wrist_x" and "C-UDA" in config["licence"]


def test_every_second_frame_keeps_those_rows_and_records_the_rate(hands_dir, tmp_path):
    cfg = FeatureConfig(pose="drop", normalize="hands")
    full = wlasl_hands.convert(hands_dir, tmp_path / "all", num_classes=100, limit=3, feature_config=cfg)
    half = wlasl_hands.convert(hands_dir, tmp_path / "half", num_classes=100, limit=3, feature_config=cfg, every=2)
    assert json.loads((half / "prepare_config.json").read_text())["extraction_fps"] == 15.0
    assert json.loads((full / "prepare_config.json").read_text())["extraction_fps"] == 30.0
    from signdemo.landmarks import Landmarks

    name = sorted((full / "landmarks").glob("*.npz"))[0].name
    a, b = Landmarks.load(full / "landmarks" / name), Landmarks.load(half / "landmarks" / name)
    np.testing.assert_array_equal(b.points, a.points[::2])
    np.testing.assert_array_equal(b.frame_indices, a.frame_indices[::2])
    assert b.fps == 15.0
    # a bundle's recorded rate -> the rows of the hand data it was trained on (0: every frame)
    assert [wlasl_hands.rows_every(f) for f in (30.0, 15.0, 0, None)] == [1, 2, 1, 1]
    with pytest.raises(ValueError, match="every"):
        wlasl_hands.convert(hands_dir, tmp_path / "bad", limit=1, every=0)


def test_sign_range_keeps_the_annotated_frames_of_each_clip(hands_dir, tmp_path):
    cfg = FeatureConfig(pose="drop", normalize="hands")
    full = wlasl_hands.convert(hands_dir, tmp_path / "all", num_classes=100, limit=6, feature_config=cfg)
    cut = wlasl_hands.convert(hands_dir, tmp_path / "cut", num_classes=100, limit=6, feature_config=cfg,
                              sign_range=True)  # fmt: skip
    from signdemo.landmarks import Landmarks

    index = wlasl_hands.read_index(hands_dir)
    shorter = 0
    for path in sorted((full / "landmarks").glob("*.npz")):
        a, b = Landmarks.load(path), Landmarks.load(cut / "landmarks" / path.name)
        row = index[path.stem.removeprefix("wlasl_")]
        start = int(row["frame_start"]) - 1
        end = len(a.points) if int(row["frame_end"]) < 0 else min(int(row["frame_end"]), len(a.points))
        np.testing.assert_array_equal(b.frame_indices, np.arange(start, end))  # 1-based, inclusive annotation
        np.testing.assert_array_equal(b.points, a.points[start:end])
        shorter += len(b.points) < len(a.points)
    assert shorter >= 3  # most WLASL100 clips end before their video does
    assert json.loads((cut / "prepare_config.json").read_text())["frames"] == "WLASL's annotated sign boundaries"
    clip = wlasl_hands.HandClip("x", "g", 0, "train", "", np.zeros((10, 2, 21, 3), np.float32), 3, 40)
    assert clip.sign_range() == slice(2, 10)  # an end past the last frame is clipped to it


def test_all_classes_are_the_300_the_data_holds_not_the_class_lists_2000(hands_dir, tmp_path):
    out = wlasl_hands.convert(hands_dir, tmp_path / "kp", num_classes=None, limit=2)
    assert len(PreparedDataset.load(out).labels) == 300
    assert len(wlasl_hands.read_class_list(hands_dir / "wlasl_class_list.txt")) == 2000


@pytest.mark.slow
def test_a_reduced_training_run_clearly_beats_chance_on_wlasl100(hands_dir, tmp_path):
    """The real recipe's data path and trainer on a small budget: 48 steps instead of 200, a
    one-layer GRU of 64, 10 epochs (about a minute of CPU). Chance on WLASL100 is 1% top-1."""
    import torch

    from signdemo.train import bigru

    data = wlasl_hands.convert(hands_dir, tmp_path / "kp", num_classes=100,
                               feature_config=FeatureConfig(num_frames=48, pose="drop", normalize="hands"))  # fmt: skip
    torch.set_num_threads(2)
    args = bigru.get_args_parser().parse_args([
        str(data), "--out", str(tmp_path / "bundle"), "--epochs", "10", "--batch-size", "32", "--lr", "2e-3",
        "--hidden-dim", "64", "--projection-dim", "64", "--num-gru-layers", "1", "--patience", "0",
        "--augment", "affine", "--threads", "2",
    ])  # fmt: skip
    metrics = bigru.main(args)["metrics"]
    assert metrics["test_total"] == 99
    assert metrics["test_top1"] >= 0.10 and metrics["test_top5"] >= 0.30, metrics  # 10x and 6x chance

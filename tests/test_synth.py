"""signdemo.synth: the synthetic signer (renderer, vocabulary, data set) and MediaPipe on its clips.

Clips are rendered at a low frame rate (5-8 fps) to keep the tests fast; the motion and the
drawing are the same as at 25-30 fps. The MediaPipe test runs real Holistic on one clip per class
(about 350 frames, ~20 s on two CPU cores).
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from signdemo import schema
from signdemo.synth import LABELS, VOCABULARY, get_class, render_sample, try_these_table
from signdemo.synth.appearance import make_signer
from signdemo.synth.dataset import DatasetConfig, make_dataset, plan, read_labels, signer_splits
from signdemo.synth.evaluate import ExtractionStats
from signdemo.synth.kinematics import Timing, perform

POSE, LEFT, RIGHT = (schema.PART_NAMES.index(p) for p in ("pose", "left_hand", "right_hand"))
# Points the figure has (everything but the legs), and the subset that must stay in the frame.
DEFINED = [i for i in range(schema.NUM_POINTS) if not any(
    k in schema.POINT_NAMES[i] for k in ("knee", "ankle", "heel", "foot"))]  # fmt: skip
# Always in the frame: face, shoulders, elbows. Hands and wrists: while signing (a resting hand
# hanging at the side may leave the frame's bottom edge, as a webcam user's hands do).
_HANDISH = ("hand.", "wrist", "pinky", "index", "thumb")
ALWAYS_IN_FRAME = [i for i in DEFINED if not any(k in schema.POINT_NAMES[i] for k in _HANDISH + ("hip",))]


def _hand_rows(side: str) -> list[int]:
    """Rows of one side's wrist, pose hand points and hand landmarks."""
    return [i for i in DEFINED if any(k in schema.POINT_NAMES[i] for k in _HANDISH)
            and (schema.POINT_NAMES[i].startswith(f"{side}_hand.") or f".{side}_" in schema.POINT_NAMES[i])]  # fmt: skip


def _inside(xy: np.ndarray, width: int = 640, height: int = 480) -> bool:
    return bool((xy[..., 0] >= 0).all() and (xy[..., 0] <= width).all()
                and (xy[..., 1] >= 0).all() and (xy[..., 1] <= height).all())  # fmt: skip


def test_vocabulary_is_a_small_table_of_distinct_named_classes():
    assert 10 <= len(VOCABULARY) <= 16
    assert len(set(LABELS)) == len(LABELS) and all(name.isidentifier() for name in LABELS)
    rows = try_these_table()
    assert [r["label"] for r in rows] == list(LABELS)
    for c in VOCABULARY:
        assert c.title and c.description and c.how_to and c.hands in (1, 2)
        assert len(c.keys) >= 2


def test_render_is_deterministic_and_has_the_documented_shapes():
    a = render_sample("wave", 3, 1, seed=5, fps=8)
    b = render_sample("wave", 3, 1, seed=5, fps=8)
    t = len(a.frames)
    assert a.frames.shape == (t, 480, 640, 3) and a.frames.dtype == np.uint8
    assert a.keypoints.shape == (t, schema.NUM_POINTS, 2) and a.keypoints.dtype == np.float32
    assert a.depth.shape == (t, schema.NUM_POINTS) and a.active.shape == (t,)
    assert 2.0 <= t / a.fps <= 4.0 + 1 / a.fps
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    assert a.metadata() == b.metadata()


def test_default_clips_are_2_to_4_seconds_at_25_or_30_fps():
    for label in ("please", "wave", "what"):
        clip = render_sample(label, 0, 0, seed=1)
        assert clip.fps in (25.0, 30.0)
        assert 2.0 <= len(clip.frames) / clip.fps <= 4.0 + 1 / clip.fps


@pytest.mark.parametrize("label", LABELS)
def test_every_class_renders_with_ground_truth_inside_the_frame(label):
    clip = render_sample(label, 7, 2, seed=3, fps=5)
    kp = clip.keypoints
    assert np.isfinite(kp[:, DEFINED]).all()
    assert np.isnan(kp[:, [i for i in range(schema.NUM_POINTS) if i not in DEFINED]]).all()
    assert _inside(kp[:, ALWAYS_IN_FRAME])
    active = np.flatnonzero(clip.active)
    assert len(active) and not clip.active.all()  # rest before the sign
    core = active[len(active) // 3 : 2 * len(active) // 3 + 1]  # the middle of the sign
    sides = ["left", "right"] if get_class(label).hands == 2 else [clip.handedness]
    for side in sides:  # the moving hands
        assert _inside(kp[core][:, _hand_rows(side)]), side
    # The figure is drawn: frames differ from one another while the hands move.
    assert np.abs(clip.frames[0].astype(int) - clip.frames[len(clip.frames) // 2]).mean() > 0.5


def test_variation_changes_the_output():
    base = render_sample("hello", 1, 0, seed=0, fps=5)
    other_index = render_sample("hello", 1, 1, seed=0, fps=5)
    other_signer = render_sample("hello", 2, 0, seed=0, fps=5)
    other_seed = render_sample("hello", 1, 0, seed=1, fps=5)
    for other in (other_index, other_signer, other_seed):
        n = min(len(base.frames), len(other.frames))
        assert not np.array_equal(base.frames[:n], other.frames[:n])
        assert other.scene != base.scene or other.timing != base.timing
    assert make_signer(0, 1) == make_signer(0, 1) != make_signer(0, 2)
    assert other_signer.signer != base.signer and other_index.signer == base.signer


def _travel(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(points, axis=0), axis=-1).sum())


@pytest.mark.parametrize("label", ["hello", "eat", "swipe"])
def test_the_dominant_hand_moves_and_handedness_mirrors_the_same_class(label):
    right = render_sample(label, 4, 0, seed=0, fps=8, left_handed=False)
    left = render_sample(label, 4, 0, seed=0, fps=8, left_handed=True)
    lw, rw = schema.index("pose", "left_wrist"), schema.index("pose", "right_wrist")
    assert _travel(right.keypoints[:, rw]) > 2 * _travel(right.keypoints[:, lw])
    assert _travel(left.keypoints[:, lw]) > 2 * _travel(left.keypoints[:, rw])
    # Unmirrored convention: a right-handed signer's moving hand is on the image's left half
    # of the body (x below the neck), a left-handed one's on the right.
    neck_x = right.scene.center[0]
    assert np.median(right.keypoints[right.active, rw, 0]) < neck_x
    assert np.median(left.keypoints[left.active, lw, 0]) > left.scene.center[0]


def test_left_handed_performance_is_the_mirror_image():
    sign = VOCABULARY[LABELS.index("time")]
    body = make_signer(0, 0).body
    r = perform(sign.keys, body, Timing(), 40, False, np.random.default_rng(1))
    lft = perform(sign.keys, body, Timing(), 40, True, np.random.default_rng(1))
    flip = np.array([-1.0, 1.0, 1.0])
    for a, b in (("right", "left"), ("left", "right")):
        np.testing.assert_allclose((r.wrists[a] - r.sway) * flip, lft.wrists[b] - lft.sway, atol=1e-9)
        np.testing.assert_allclose(
            (r.hands[a] - r.sway[:, None]) * flip, lft.hands[b] - lft.sway[:, None], atol=1e-9
        )


def test_plan_holds_signers_out_by_split():
    config = DatasetConfig(per_class=12, seed=3, signers=12, val_signers=2, test_signers=2)
    splits = signer_splits(config)
    clips = plan(config)
    assert len(clips) == 12 * len(LABELS) and len({c.stem for c in clips}) == len(clips)
    by_split = {s: {c.signer for c in clips if c.split == s} for s in ("train", "val", "test")}
    assert not (by_split["train"] & by_split["val"]) and not (by_split["train"] & by_split["test"])
    assert not (by_split["val"] & by_split["test"])
    assert all(splits[c.signer] == c.split for c in clips)
    for label in LABELS:
        assert {c.split for c in clips if c.label == label} == {"train", "val", "test"}
    with pytest.raises(ValueError, match="signers"):
        DatasetConfig(signers=3, val_signers=2, test_signers=2)


def test_a_second_set_past_the_first_signer_ids_has_new_training_signers():
    first = plan(DatasetConfig(per_class=12, seed=3, signers=12, val_signers=2, test_signers=2))
    more = plan(DatasetConfig(per_class=6, seed=3, signers=6, val_signers=0, test_signers=0, first_signer=12))
    assert {c.split for c in more} == {"train"} and len(more) == 6 * len(LABELS)
    assert {c.signer for c in more} == set(range(12, 18))
    assert not {c.stem for c in first} & {c.stem for c in more}
    # new identities: the renderer draws a signer from (seed, id)
    assert make_signer(3, 12) != make_signer(3, 0)


@pytest.mark.slow
def test_make_dataset_writes_clips_labels_and_ground_truth_and_resumes(tmp_path):
    from signdemo.video import read_clip

    config = DatasetConfig(per_class=3, seed=0, signers=3, val_signers=1, test_signers=1, fps=8.0,
                           width=320, height=240, labels=("wave", "clap"))  # fmt: skip
    labels_csv = make_dataset(tmp_path, config, workers=1)
    rows = read_labels(labels_csv)
    assert len(rows) == 6 and {r["split"] for r in rows} == {"train", "val", "test"}
    assert [r["label_id"] for r in rows] == ["0"] * 3 + ["1"] * 3  # contiguous within the subset
    clip = read_clip(rows[0]["path"])
    assert clip.frames.shape[1:] == (240, 320, 3) and len(clip.frames) == int(rows[0]["frames"])
    with np.load(rows[0]["groundtruth_path"]) as gt:
        assert gt["keypoints"].shape == (len(clip.frames), schema.NUM_POINTS, 2)
    # The trainers read the same labels.csv.
    datasets = pytest.importorskip("signdemo.train.datasets")
    index = datasets.read_labels_csv(labels_csv)
    assert len(index.samples) == 6
    # A second run renders nothing again.
    mtimes = {r["file"]: (tmp_path / r["file"]).stat().st_mtime_ns for r in rows}
    make_dataset(tmp_path, config, workers=1)
    assert mtimes == {r["file"]: (tmp_path / r["file"]).stat().st_mtime_ns for r in rows}
    with open(labels_csv, newline="") as f:
        assert [r["file"] for r in csv.DictReader(f)] == [r["file"] for r in rows]


def test_extraction_stats_measure_rates_and_errors():
    t = 4
    truth = np.full((t, schema.NUM_POINTS, 2), np.nan)
    truth[:, : 25] = 100.0
    truth[:, schema.part_slice("right_hand")] = 200.0
    points = np.zeros((t, schema.NUM_POINTS, 3), np.float32)
    points[:, :25, :2] = (103.0 / 640, 104.0 / 480)  # 5 px off
    points[:, schema.part_slice("right_hand"), :2] = (200.0 / 640, 200.0 / 480)
    present = np.array([[1, 0, 1], [1, 0, 1], [1, 0, 0], [0, 0, 0]], bool)
    stats = ExtractionStats()
    stats.add(truth, points, present, (640, 480), np.array([0, 1, 1, 0], bool), "right", "x")
    s = stats.summary()
    assert s["pose_rate"] == 0.75 and s["right_hand_rate"] == 0.5 and s["left_hand_rate"] == 0.0
    assert s["dominant_hand_rate_active"] == 0.5 and s["nondominant_hand_rate_active"] == 0.0
    assert s["mean_error_px"]["face"] == pytest.approx(5.0, abs=1e-4)
    assert s["mean_error_px"]["right_hand"] == pytest.approx(0.0, abs=1e-4)
    assert s["mean_error_px"]["left_hand"] is None
    assert s["right_hand_rate_in_frame"] == 0.5 and s["left_hand_rate_in_frame"] == 0.0
    truth[:2, schema.part_slice("right_hand")] = -5.0  # outside the frame on the detected frames
    stats = ExtractionStats()
    stats.add(truth, points, present, (640, 480), np.ones(t, bool), "right")
    assert stats.summary()["right_hand_rate_in_frame"] == 0.0


def test_pose_detection_rate_on_rendered_clips_is_at_least_95_percent():
    """The issue's bar: MediaPipe Holistic finds the figure's pose on >= 95% of frames."""
    pytest.importorskip("mediapipe")
    from signdemo.landmarks import extract_landmarks

    stats = ExtractionStats()
    for k, label in enumerate(LABELS):
        clip = render_sample(label, 500 + k, 0, seed=11, fps=8)
        lm = extract_landmarks(clip.frames, fps=clip.fps)
        stats.add(clip.keypoints, lm.points, lm.present, lm.image_size, clip.active, clip.handedness, label)
    s = stats.summary()
    assert s["pose_rate"] >= 0.95, s
    # Hands are harder; guard against the drawing regressing (measured ~0.85 at 8 fps).
    assert s["dominant_hand_rate_active"] >= 0.6, s
    # Where the pose is found it is where the figure is (measured: wrists ~10 px, face ~5 px).
    assert s["mean_error_px"]["wrists"] < 25 and s["mean_error_px"]["face"] < 15, s

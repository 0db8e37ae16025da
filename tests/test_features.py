import numpy as np
import pytest

from _paths import need_shared
from signdemo import schema
from signdemo.features import (
    FeatureConfig,
    feature_frame_positions,
    landmarks_to_features,
    position_features,
    present_from_points,
    stack_exchange,
)


def _clip(t=37, seed=0, missing_left=()):
    rng = np.random.default_rng(seed)
    points = rng.uniform(0.2, 0.8, size=(t, schema.NUM_POINTS, 3)).astype(np.float32)
    present = np.ones((t, 3), dtype=bool)
    for i in missing_left:
        present[i, 1] = False
        points[i, schema.part_slice("left_hand")] = np.nan
    return points, present


def test_shape_dtype_and_layout():
    points, present = _clip()
    f = landmarks_to_features(points, present)
    assert f.shape == (200, 450) and f.dtype == np.float32
    # positions first (point-major x, y, z), velocities after; first velocity row is zero
    assert np.allclose(position_features(f)[0], points[0], atol=1e-6)
    assert np.allclose(position_features(f)[-1], points[-1], atol=1e-6)
    assert np.all(f[0, 225:] == 0)
    assert np.allclose(f[1:, 225:], f[1:, :225] - f[:-1, :225], atol=1e-6)


def test_interpolation_keeps_linear_motion_linear():
    t = 11
    points = np.zeros((t, 75, 3), np.float32)
    points[:, :, 0] = np.linspace(0.1, 0.9, t)[:, None]  # every point moves right at constant speed
    f = landmarks_to_features(points, np.ones((t, 3), bool))
    x = position_features(f)[:, 0, 0]
    assert np.allclose(x, np.linspace(0.1, 0.9, 200), atol=1e-6)
    assert np.allclose(f[1:, 225], 0.8 / 199, atol=1e-6)  # constant velocity of point 0's x


def test_pad_mode_truncates_and_pads():
    points, present = _clip(t=50)
    cfg = FeatureConfig(resample="pad")
    f = landmarks_to_features(points, present, cfg)
    assert np.allclose(position_features(f)[:50], points, atol=1e-6)
    assert np.all(f[50:] == 0)
    long_points, long_present = _clip(t=260)
    g = landmarks_to_features(long_points, long_present, cfg)
    assert np.allclose(position_features(g), long_points[:200], atol=1e-6)
    assert list(feature_frame_positions(50, cfg)[48:52]) == [48, 49, -1, -1]


def test_missing_parts_are_zero_and_masked_velocity():
    points, present = _clip(t=200, missing_left=range(0, 100))
    f = landmarks_to_features(points, present)
    left = position_features(f)[:, schema.part_slice("left_hand")]
    assert np.all(left[:100] == 0) and np.all(left[100:] != 0)
    assert np.isfinite(f).all()
    vel = f[:, 225:].reshape(200, 75, 3)[:, schema.part_slice("left_hand")]
    assert np.all(vel[100] == 0)  # the hand appearing is not a jump from zero
    raw = landmarks_to_features(points, present, FeatureConfig(velocity="raw"))
    assert np.any(raw[:, 225:].reshape(200, 75, 3)[100, schema.part_slice("left_hand")] != 0)


def test_shoulder_normalisation_removes_position_and_scale():
    points, present = _clip()
    cfg = FeatureConfig(normalize="shoulder", resample="pad")  # pad: frames are not blended
    moved = points.copy()
    moved[..., :2] = moved[..., :2] * 0.5 + 0.2
    moved[..., 2] = moved[..., 2] * 0.5
    a = landmarks_to_features(points, present, cfg)
    b = landmarks_to_features(moved, present, cfg)
    assert np.allclose(a, b, atol=1e-5)
    p = position_features(a)
    ls, rs = schema.index("pose", "left_shoulder"), schema.index("pose", "right_shoulder")
    assert np.allclose((p[:, ls, :2] + p[:, rs, :2]) / 2, 0, atol=1e-6)
    assert np.allclose(np.linalg.norm(p[:37, ls, :2] - p[:37, rs, :2], axis=1), 1, atol=1e-5)


def test_dropped_pose_is_zero_and_changes_nothing_else():
    points, present = _clip(missing_left=(3, 4))
    keep = landmarks_to_features(points, present)
    drop = landmarks_to_features(points, present, FeatureConfig(pose="drop"))
    pose = schema.part_slice("pose")
    assert np.all(position_features(drop)[:, pose] == 0)
    assert np.all(position_features(drop[:, 225:])[:, pose] == 0)  # velocities of the pose too
    hands = np.r_[np.arange(75)[schema.part_slice("left_hand")], np.arange(75)[schema.part_slice("right_hand")]]
    assert np.array_equal(position_features(drop)[:, hands], position_features(keep)[:, hands])
    assert not FeatureConfig(pose="drop").uses_pose and FeatureConfig().uses_pose


def test_hand_normalisation_removes_position_and_scale_per_clip():
    points, present = _clip(missing_left=(5,))
    present[:, 0] = False  # no pose at all: the hands alone anchor it
    cfg = FeatureConfig(normalize="hands", pose="drop", resample="pad")
    moved = points.copy()
    moved[..., :2] = moved[..., :2] * 0.4 + 0.3
    moved[..., 2] = moved[..., 2] * 0.4
    a = landmarks_to_features(points, present, cfg)
    assert np.allclose(a, landmarks_to_features(moved, present, cfg), atol=1e-4)
    p = position_features(a)[:37]
    hands = np.concatenate([p[:, schema.part_slice("left_hand")], p[:, schema.part_slice("right_hand")]], axis=1)
    known = np.concatenate([np.repeat(present[:, 1:2], 21, 1), np.repeat(present[:, 2:3], 21, 1)], axis=1)
    assert np.allclose(hands[known][:, :2].mean(axis=0), 0, atol=1e-5)  # centred on the mean hand point
    wrist, mcp = schema.HAND_NAMES.index("wrist"), schema.HAND_NAMES.index("middle_finger_mcp")
    right = p[:, schema.part_slice("right_hand")]
    sizes = np.linalg.norm(right[:, mcp, :2] - right[:, wrist, :2], axis=1)
    assert 0.3 < np.median(sizes) < 3  # in units of the clip's median hand size
    # one transform for the whole clip: the hands' movement between frames is kept
    raw = points[:, schema.part_slice("right_hand"), :2]
    ratio = np.linalg.norm(right[1:, wrist, :2] - right[:-1, wrist, :2], axis=1) / np.linalg.norm(
        raw[1:, wrist] - raw[:-1, wrist], axis=1)  # fmt: skip
    assert np.allclose(ratio, ratio[0], rtol=1e-4)


def test_frame_centred_hand_normalisation_keeps_where_in_the_picture_the_hands_are():
    points, present = _clip(missing_left=(5,))
    present[:, 0] = False
    clip_cfg = FeatureConfig(normalize="hands", pose="drop", resample="pad")
    frame_cfg = FeatureConfig(normalize="hands", pose="drop", resample="pad", hands_centre="frame")
    assert FeatureConfig.from_dict(clip_cfg.to_dict() | {"hands_centre": "frame"}) == frame_cfg
    assert FeatureConfig.from_dict({"normalize": "hands", "pose": "drop", "resample": "pad"}) == clip_cfg
    known = np.concatenate([np.repeat(present[:, 1:2], 21, 1), np.repeat(present[:, 2:3], 21, 1)], axis=1)

    def hands(cfg, pts):
        p = position_features(landmarks_to_features(pts, present, cfg))[: len(pts)]
        return np.concatenate([p[:, schema.part_slice("left_hand")], p[:, schema.part_slice("right_hand")]], axis=1)

    wrist, mcp = schema.HAND_NAMES.index("wrist"), schema.HAND_NAMES.index("middle_finger_mcp")
    raw = np.concatenate([points[:, schema.part_slice("left_hand")], points[:, schema.part_slice("right_hand")]], axis=1)
    sizes = [np.linalg.norm(raw[:, h + mcp, :2] - raw[:, h + wrist, :2], axis=1)[known[:, h]] for h in (0, 21)]
    size = np.median(np.concatenate(sizes))  # over every present hand, as the normalisation measures it
    # the same picture as clip-centred, shifted by the clip's hand centre from the image centre, in hand sizes
    shift = (raw[known][:, :2].mean(axis=0) - 0.5) / size
    a, b = hands(clip_cfg, points), hands(frame_cfg, points)
    assert np.allclose(b[known][:, :2], a[known][:, :2] + shift, atol=1e-4)
    assert np.allclose(b[known][:, 2], a[known][:, 2]) and not b[~known].any()
    # moving the hands up in the picture moves the frame-centred features, not the clip-centred ones
    up = points.copy()
    up[..., 1] -= 0.1
    assert np.allclose(hands(clip_cfg, up), a, atol=1e-4)
    assert np.allclose(hands(frame_cfg, up)[known][:, 1], b[known][:, 1] - 0.1 / size, atol=1e-4)
    with pytest.raises(ValueError, match="hands_centre"):
        FeatureConfig(hands_centre="body")


def test_wrist_relative_hand_points_are_offsets_from_the_wrist_of_the_same_frame():
    points, present = _clip(missing_left=(5, 6))
    absolute = FeatureConfig(normalize="hands", pose="drop", resample="pad")
    relative = FeatureConfig(normalize="hands", pose="drop", resample="pad", hand_points="wrist")
    a = position_features(landmarks_to_features(points, present, absolute))[:37]
    b = position_features(landmarks_to_features(points, present, relative))[:37]
    wrist = schema.HAND_NAMES.index("wrist")
    for part in ("left_hand", "right_hand"):
        ha, hb = a[:, schema.part_slice(part)], b[:, schema.part_slice(part)]
        assert np.allclose(hb[:, wrist], ha[:, wrist])  # the wrist keeps the hand's place
        assert np.allclose(hb, np.where(ha.any(axis=2, keepdims=True), ha - ha[:, wrist : wrist + 1], 0) + (
            np.arange(21) == wrist)[None, :, None] * ha[:, wrist : wrist + 1], atol=1e-6)  # fmt: skip
    assert not b[5:7, schema.part_slice("left_hand")].any()  # a missing hand stays zero
    assert np.allclose(b[:, schema.part_slice("pose")], 0)
    # the shape part no longer moves with the hand: shifting one hand changes only its wrist
    moved = points.copy()
    moved[10, schema.part_slice("right_hand"), :2] += 0.05
    c = position_features(landmarks_to_features(moved, present, relative))[:37]
    diff = np.abs(c - b).max(axis=2)
    assert diff[10, schema.part_slice("right_hand")][wrist] > 0.01
    others = np.delete(np.arange(21), wrist)
    assert diff[10, schema.part_slice("right_hand")][others].max() < 0.05  # only the clip scale moved
    assert FeatureConfig.from_dict(relative.to_dict()) == relative
    with pytest.raises(ValueError, match="hand_points"):
        FeatureConfig(hand_points="palm")


def test_fill_gaps_interpolates_short_gaps_of_a_part_only():
    t = 40
    points, present = _clip(t=t, missing_left=[0, 1, 10, 11, 20, 21, 22, 23, 38, 39])  # gaps of 2 and 4 inside
    cfg = FeatureConfig(resample="pad", fill_gaps=3)
    f = landmarks_to_features(points, present, cfg)
    left = position_features(f)[:t, schema.part_slice("left_hand")]
    hand = points[:, schema.part_slice("left_hand")]
    # the 2-frame gap: one third and two thirds of the way from frame 9 to frame 12
    assert np.allclose(left[10], hand[9] + (hand[12] - hand[9]) / 3, atol=1e-6)
    assert np.allclose(left[11], hand[9] + 2 * (hand[12] - hand[9]) / 3, atol=1e-6)
    vel = f[:t, 225:].reshape(t, 75, 3)[:, schema.part_slice("left_hand")]
    assert np.allclose(vel[10], left[10] - left[9], atol=1e-6) and np.any(vel[10] != 0)  # motion, not a dropout
    assert not left[20:24].any()  # 4 frames > fill_gaps: still missing
    assert not left[:2].any() and not left[38:].any()  # before the first and after the last sighting
    assert np.allclose(left[2:10], hand[2:10], atol=1e-6)  # frames that had the hand are untouched
    # the other parts are not touched at all
    plain = landmarks_to_features(points, present, FeatureConfig(resample="pad"))
    others = np.r_[np.arange(33), np.arange(54, 75)]
    assert np.array_equal(position_features(f)[:, others], position_features(plain)[:, others])
    assert np.array_equal(plain, landmarks_to_features(points, present, FeatureConfig(resample="pad", fill_gaps=0)))
    # a longer limit fills the 4-frame gap too
    wide = position_features(landmarks_to_features(points, present, FeatureConfig(resample="pad", fill_gaps=4)))
    assert np.allclose(wide[:t, schema.part_slice("left_hand")][21], hand[19] + 2 * (hand[24] - hand[19]) / 5, atol=1e-6)
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="fill_gaps"):
            FeatureConfig(fill_gaps=bad)


def test_hand_order_swaps_hand_blocks():
    points, present = _clip()
    a = position_features(landmarks_to_features(points, present))
    b = position_features(landmarks_to_features(points, present, FeatureConfig(hand_order="right_left")))
    assert np.allclose(b[:, schema.part_slice("left_hand")], a[:, schema.part_slice("right_hand")])
    assert np.allclose(b[:, schema.part_slice("pose")], a[:, schema.part_slice("pose")])


def test_config_round_trip_and_validation():
    cfg = FeatureConfig(normalize="shoulder", resample="pad")
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="normalize"):
        FeatureConfig(normalize="zscore")
    with pytest.raises(ValueError, match="unknown feature options"):
        FeatureConfig.from_dict({"fps": 30})
    with pytest.raises(ValueError, match="zero frames"):
        landmarks_to_features(np.zeros((0, 75, 3)), np.zeros((0, 3), bool))


def test_exchange_format_is_float16_stack():
    feats = [landmarks_to_features(*_clip(seed=s)) for s in range(3)]
    x = stack_exchange(feats)
    assert x.shape == (3, 200, 450) and x.dtype == np.float16
    assert np.allclose(x[1], feats[1], atol=2e-3)


def test_real_gislr_landmarks_make_finite_features():
    data = np.load(need_shared("data", "gislr_hello_thankyou", "gislr_hello_thankyou.npz"))
    frames, offsets = data["frames"], data["offsets"]
    for i in range(0, len(offsets) - 1, 50):
        seq = frames[offsets[i] : offsets[i + 1]].astype(np.float32)  # NaN = missing
        present = present_from_points(seq)
        f = landmarks_to_features(seq, present, FeatureConfig(normalize="shoulder"))
        assert f.shape == (200, 450) and np.isfinite(f).all()
        assert present[:, 0].mean() > 0.5  # the pose is there on most frames

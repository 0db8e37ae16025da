"""signdemo.video: decoding every common container, caps, orientation, mirroring, typed errors,
and the H.264 writer. Synthetic clips are written per test into tmp_path; the real WLASL clips
(../shared) check the metadata against labels.csv."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from _paths import need_shared
from _video_fixtures import synthetic_frames, write_streamed_webm

from signdemo.errors import (
    NoFramesError,
    UnreadableVideoError,
    VideoError,
    VideoTooLargeError,
    VideoTooLongError,
)
from signdemo.video import Clip, VideoInfo, VideoLimits, probe, read_clip, write_mp4

# (file name, writer codec, FourCC OpenCV reports). H.264 and HEVC are written with PyAV because
# this OpenCV wheel has no H.264/HEVC encoder; everything else with cv2.VideoWriter.
CONTAINERS = [
    ("h264.mp4", "libx264", "h264"),
    ("mp4v.mp4", "mp4v", "FMP4"),
    ("vp8.webm", "VP80", "VP80"),
    ("vp9.webm", "VP90", "VP90"),
    ("mjpg.avi", "MJPG", "MJPG"),
    ("h264.mov", "libx264", "h264"),
    ("hevc.mov", "libx265", "hevc"),
    ("mp4v.mov", "mp4v", "FMP4"),
]


@pytest.mark.parametrize(("name", "codec", "fourcc"), CONTAINERS, ids=[c[0] for c in CONTAINERS])
def test_every_container_decodes(make_video, name, codec, fourcc):
    path = make_video(name, codec=codec, n=12, fps=25)
    info = probe(path)
    assert (info.width, info.height, info.fps, info.frame_count) == (128, 96, 25.0, 12)
    assert info.duration_s == pytest.approx(12 / 25)
    assert info.codec == fourcc

    clip = read_clip(path)
    assert clip.frames.shape == (12, 96, 128, 3) and clip.frames.dtype == np.uint8
    assert clip.source_indices.tolist() == list(range(12))
    assert clip.fps == 25.0 and clip.scale == 1.0 and not clip.mirrored_input
    # Lossy codecs: close to what was written, frame order kept (the bottom bar brightens).
    original = synthetic_frames(12)
    assert np.abs(clip.frames.astype(int) - original).mean() < 8
    bar = clip.frames[:, -5:, 64:].mean(axis=(1, 2, 3))
    assert np.all(np.diff(bar) > 0)


def test_downscale_keeps_aspect(make_video):
    path = make_video("big.avi", codec="MJPG", n=4, width=300, height=200)
    clip = read_clip(path, VideoLimits(max_side=100))
    assert clip.frames.shape == (4, 67, 100, 3)
    assert clip.scale == pytest.approx(1 / 3)
    full = read_clip(path).frames
    expected = np.stack([cv2.resize(f, (100, 67), interpolation=cv2.INTER_AREA) for f in full])
    np.testing.assert_array_equal(clip.frames, expected)


def test_small_frames_are_not_upscaled(make_video):
    clip = read_clip(make_video("small.avi", codec="MJPG", n=3), VideoLimits(max_side=640))
    assert clip.frames.shape[1:3] == (96, 128) and clip.scale == 1.0


def test_rotation_metadata_is_applied(make_video):
    # Landscape pixels plus "display rotated 90 degrees counter-clockwise", as a phone stores a
    # portrait clip. OpenCV 4.11 does not apply this by default; read_clip must.
    path = make_video("portrait.mp4", codec="libx264", n=6, width=128, height=96, rotation=90)
    info = probe(path)
    assert (info.width, info.height) == (96, 128)
    clip = read_clip(path)
    assert clip.frames.shape == (6, 128, 96, 3)
    # The red left quarter of the stored pixels ends up along the bottom.
    red = (clip.frames[..., 2] > 200) & (clip.frames[..., 0] < 60)
    assert red[:, -20:, :].mean() > 0.9 and red[:, :60, :].mean() < 0.05


def test_mirror_flips_right_after_decoding(make_video):
    path = make_video("selfie.webm", codec="VP80", n=5)
    plain = read_clip(path)
    mirrored = read_clip(path, mirror=True)
    assert mirrored.mirrored_input and not plain.mirrored_input
    np.testing.assert_array_equal(mirrored.frames, plain.frames[:, :, ::-1])
    # Also with downscaling in between (flip before resize == resize before flip up to rounding).
    small = read_clip(path, VideoLimits(max_side=64), mirror=True)
    assert (
        np.abs(small.frames.astype(int) - read_clip(path, VideoLimits(max_side=64)).frames[:, :, ::-1]).max()
        <= 1
    )


def test_high_fps_is_decimated(make_video):
    path = make_video("fast.avi", codec="MJPG", n=48, fps=240)
    clip = read_clip(path, VideoLimits(max_fps=120))
    assert clip.source_indices.tolist() == list(range(0, 48, 2))
    assert clip.fps == pytest.approx(120, rel=0.02)
    assert len(read_clip(path, VideoLimits(max_fps=240))) == 48


def test_each_kept_frame_is_handed_over_as_decoded(make_video):
    """`on_frame` sees exactly the clip's frames (decimated, flipped, downscaled) with their source
    indices, in order, each its own array (a consumer may keep it)."""
    path = make_video("fast.avi", codec="MJPG", n=24, fps=240, width=160, height=120)
    seen = []
    clip = read_clip(path, VideoLimits(max_fps=120, max_side=64), mirror=True, on_frame=lambda f, i: seen.append((f, i)))
    assert [i for _, i in seen] == clip.source_indices.tolist() == list(range(0, 24, 2))
    assert all(np.array_equal(f, clip.frames[k]) for k, (f, _) in enumerate(seen))
    assert len({id(f) for f, _ in seen}) == len(seen) and not any(np.shares_memory(f, clip.frames) for f, _ in seen)


def _clip(n: int, fps: float) -> Clip:
    info = VideoInfo(path=None, fps=fps, frame_count=n, width=4, height=4, duration_s=n / fps, codec="")
    return Clip(np.zeros((n, 4, 4, 3), np.uint8), np.arange(n), fps, info, 1.0, False)


def test_subsample():
    assert _clip(30, 30.0).subsample(10).tolist() == list(range(0, 30, 3))
    assert _clip(12, 24.0).subsample(10).tolist() == [0, 2, 4, 7, 9]
    assert _clip(7, 30.0).subsample(None).tolist() == list(range(7))
    assert _clip(7, 30.0).subsample(60).tolist() == list(range(7))
    assert _clip(1, 30.0).subsample(1).tolist() == [0]
    positions = _clip(170, 24.0).subsample(10)
    assert positions.dtype == np.int64 and len(positions) == 71
    assert np.diff(positions).min() >= 2 and np.diff(positions).max() <= 3
    with pytest.raises(ValueError):
        _clip(5, 30.0).subsample(0)


class _FakeCapture:
    """Stands in for cv2.VideoCapture in `_decode`: fixed frames with given timestamps (ms)."""

    def __init__(self, times_ms):
        self.times_ms, self.position = list(times_ms), -1

    def grab(self):
        self.position += 1
        return self.position < len(self.times_ms)

    def retrieve(self):
        return True, np.full((8, 8, 3), self.position, np.uint8)

    def get(self, prop):
        assert prop == cv2.CAP_PROP_POS_MSEC
        return self.times_ms[self.position]


def test_decimation_falls_back_to_frame_count_when_timestamps_stall():
    from signdemo.video import _decode

    info = VideoInfo(Path("fake.webm"), fps=10.0, frame_count=None, width=8, height=8, duration_s=None, codec="")
    # Healthy timestamps at 10 fps, decimated to 5 fps: every other frame.
    frames, indices, _, _ = _decode(
        _FakeCapture([100 * i for i in range(8)]), info, VideoLimits(max_fps=5), False
    )
    assert indices == [0, 2, 4, 6]
    # Timestamps stuck at 0 after the first frames: frame counting takes over, nothing is lost.
    stuck = [0, 100, 200, 200, 200, 200, 200, 200]
    frames, indices, _, _ = _decode(_FakeCapture(stuck), info, VideoLimits(), False)
    assert indices == list(range(8)) and [int(f[0, 0, 0]) for f in frames] == list(range(8))


# ---------------------------------------------------------------- caps


def test_too_long_is_refused_from_metadata(make_video):
    path = make_video("long.avi", codec="MJPG", n=30, fps=10)
    with pytest.raises(VideoTooLongError) as err:
        read_clip(path, VideoLimits(max_duration_s=2.0))
    # The metadata check names the numbers from the header (it runs before decoding).
    assert "lasts 3.0 s (30 frames at 10 fps)" in str(err.value) and "limit is 2 s" in str(err.value)
    assert err.value.code == "too_long"
    assert len(read_clip(path, VideoLimits(max_duration_s=3.0))) == 30  # exactly at the limit


def test_too_many_frames_is_refused_from_metadata(make_video):
    path = make_video("many.avi", codec="MJPG", n=30, fps=10)
    with pytest.raises(VideoTooLongError, match="would give 30 frames"):
        read_clip(path, VideoLimits(max_frames=20))


def test_caps_are_enforced_while_decoding_when_metadata_is_missing(tmp_path):
    path = tmp_path / "recorded.webm"
    write_streamed_webm(path, synthetic_frames(45), fps=30)
    info = probe(path)
    assert info.duration_s is None and info.frame_count is None and info.fps == 30.0
    assert len(read_clip(path)) == 45
    with pytest.raises(VideoTooLongError, match=r"runs past 1\.0 s \(frame 31\)"):
        read_clip(path, VideoLimits(max_duration_s=1.0))
    with pytest.raises(VideoTooLongError, match="more than 20 frames"):
        read_clip(path, VideoLimits(max_frames=20))


def test_too_large_is_refused(make_video):
    path = make_video("huge.avi", codec="MJPG", n=2)
    with pytest.raises(VideoTooLargeError, match=r"128x96 frames \(0\.0 megapixels\)") as err:
        read_clip(path, VideoLimits(max_pixels=100 * 90))
    assert err.value.code == "too_large"


def test_limits_are_validated():
    with pytest.raises(ValueError, match="max_side"):
        VideoLimits(max_side=0)


# ---------------------------------------------------------------- unreadable input


def _png(path):
    cv2.imwrite(str(path.with_suffix(".png")), synthetic_frames(1)[0])
    os.replace(path.with_suffix(".png"), path)


def _jpeg(path):
    cv2.imwrite(str(path.with_suffix(".jpg")), synthetic_frames(1)[0])
    os.replace(path.with_suffix(".jpg"), path)


UNREADABLE = {
    "empty": (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    "random_bytes": (
        lambda p: p.write_bytes(np.random.default_rng(0).bytes(20000)),
        "cannot be opened as a video",
    ),
    "text": (lambda p: p.write_text("not a video\n" * 100), "cannot be opened as a video"),
    "png_renamed": (_png, "is a PNG still image"),
    "jpeg_renamed": (_jpeg, "is a JPEG still image"),
    "missing": (lambda p: None, "not found"),
    "folder": (lambda p: p.mkdir(), "is a folder"),
}


@pytest.mark.parametrize("kind", UNREADABLE)
def test_unreadable_input(tmp_path, kind):
    make, message = UNREADABLE[kind]
    path = tmp_path / "upload.mp4"
    make(path)
    for read in (probe, read_clip):
        with pytest.raises(UnreadableVideoError, match=re.escape(message)) as err:
            read(path)
        assert isinstance(err.value, VideoError) and err.value.code == "unreadable_video"


def test_no_frames(tmp_path, make_video):
    # An AVI with a header and no frame, and an mp4 cut right after its header (faststart: the
    # index announces frames that are not there).
    empty_avi = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(empty_avi), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    writer.release()
    full = write_mp4(tmp_path / "full.mp4", synthetic_frames(10), 25)
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: data.index(b"mdat") + 4])
    for path, message in ((empty_avi, "no frame could be decoded"), (cut, "header announces 10 frames")):
        for read in (probe, read_clip):
            with pytest.raises(NoFramesError, match=message):
                read(path)


# ---------------------------------------------------------------- writing


def test_write_mp4_is_browser_h264_and_reads_back(tmp_path):
    import av

    frames = synthetic_frames(20, width=131, height=97)  # odd sizes: padded to even
    path = write_mp4(tmp_path / "out.mp4", frames, 29.97)
    assert path == tmp_path / "out.mp4" and sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (132, 98)
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat"), "faststart: index before the media data"

    info = probe(path)
    assert (info.frame_count, info.width, info.height) == (20, 132, 98)
    assert info.fps == pytest.approx(29.97, abs=0.01)
    back = read_clip(path).frames
    assert np.abs(back[:, :97, :131].astype(int) - frames).mean() < 4
    np.testing.assert_allclose(back[:, 97, :131], back[:, 96, :131], atol=12)  # replicated edge


def test_write_mp4_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="at least one frame"):
        write_mp4(tmp_path / "none.mp4", [], 25)
    with pytest.raises(ValueError, match="first frame's size"):
        write_mp4(tmp_path / "mixed.mp4", [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8)], 25)
    with pytest.raises(ValueError, match="uint8"):
        write_mp4(tmp_path / "float.mp4", np.zeros((2, 8, 8, 3), np.float32), 25)
    assert list(tmp_path.iterdir()) == []  # no partial files left behind


# ---------------------------------------------------------------- real clips


def test_probe_matches_wlasl_labels():
    clips = need_shared("data", "wlasl_clips")
    rows = list(csv.DictReader((clips / "labels.csv").open()))
    assert len(rows) == 34
    for row in rows:
        info = probe(clips / row["file"])
        assert (info.width, info.height) == (int(row["width"]), int(row["height"])), row["file"]
        assert info.frame_count == int(row["frames"]), row["file"]
        assert info.fps == pytest.approx(float(row["fps"]), abs=0.01), row["file"]


def test_clip_fps_trusts_timestamps_over_a_timebase_posing_as_fps(tmp_path):
    """Browser webm recordings can announce 1000 fps (their timebase) for a 30 fps recording."""
    from signdemo.video import VideoInfo, _clip_fps

    times = [i / 30 for i in range(60)]
    liar = VideoInfo(tmp_path / "rec.webm", 1000.0, None, 640, 480, None, "VP80")
    assert abs(_clip_fps(liar, times, 60, 60) - 30) < 1e-6
    honest = VideoInfo(tmp_path / "clip.mp4", 29.97, 60, 640, 480, 2.0, "avc1")
    assert _clip_fps(honest, [i / 29.97 for i in range(60)], 60, 60) == 29.97
    assert _clip_fps(honest, [0.0], 1, 1) == 29.97

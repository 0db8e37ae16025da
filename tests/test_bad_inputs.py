"""Bad clips, each through the three doors a user has: the engine (`Recognizer.recognize`), the
page's handler (what the browser shows: `gr.Error` / `gr.Warning`), and the launched app's named
API endpoint (gradio_client). Every refused clip must give its specific message (what is wrong and
what to do) at all three; every accepted one a normal answer, with a warning where the user should
know something. Caps must hold before decoding everything: frames decoded are counted by wrapping
cv2.VideoCapture, never timed.

All clips are generated here (tiny sizes, low rates: a "10-minute" clip is 1200 frames of 32x24).
Clips that need a real signer take their frames from a WLASL clip in ../shared when it is there
(else synthetic frames, and only what does not need a person is checked).
"""

from __future__ import annotations

import tracemalloc
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import av
import cv2
import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file

from _app_helpers import WLASL_CLIP, launched_app, make_weights_dir, write_clip
from _paths import DATA
from _video_fixtures import synthetic_frames, write_streamed_webm, write_synthetic_video
from signdemo.errors import (
    NoFramesError,
    SigndemoError,
    UnreadableVideoError,
    VideoTooLargeError,
    VideoTooLongError,
)
from signdemo.inference import Recognizer
from signdemo.ui.handlers import Handlers
from signdemo.ui.results import result_details
from signdemo.ui.store import ModelStore
from signdemo.video import read_clip, write_mp4
from signdemo.weights import load_bundle

#: WLASL "no" (38530): one-handed; MediaPipe finds the right hand on most frames, never the left.
ONE_HAND_CLIP = DATA / "wlasl_clips" / "38530.mp4"
HAVE_SIGNER = WLASL_CLIP.is_file()


# ------------------------------------------------------------------------------------ expectations


@dataclass(frozen=True)
class Refused:
    """The clip is refused with this error; its message names the problem and the remedy."""

    error: type[SigndemoError]
    problem: str
    remedy: str


@dataclass(frozen=True)
class Answered:
    """The clip gets a normal answer (the RGB model always answers)."""

    warning: str | None = None  # a fragment one warning must contain; None: no warning at all
    check: Callable[[dict], None] | None = None  # on the JSON answer (the API's `details`)
    person: bool = True  # the keypoint model answers too (needs the real signer's frames)


def _input(**expected) -> Callable[[dict], None]:
    def check(details: dict) -> None:
        got = {k: details["input"][k] for k in expected}
        assert got == pytest.approx(expected), details["input"]

    return check


def _rotated(details: dict) -> None:
    assert (details["input"]["width"], details["input"]["height"]) == (128, 192)  # display orientation
    assert details["input"]["rotation"] in (90, 270, -90)


def _truncated(details: dict) -> None:
    assert 0 < details["input"]["frames_decoded"] < 20


EXPECT: dict[str, Refused | Answered] = {
    "empty": Refused(UnreadableVideoError, "is empty (0 bytes)", "Record or upload the clip again"),
    "random_bytes": Refused(UnreadableVideoError, "cannot be opened as a video", "Re-export it as an mp4"),
    "truncated_after_header": Refused(NoFramesError, "header announces 20 frames", "Re-export it as an mp4"),
    "truncated_without_index": Refused(UnreadableVideoError, "it is truncated", "Re-export it as an mp4"),
    "truncated_halfway": Answered("probably truncated", _truncated, person=False),
    # A webm whose header says 175 px wide for 64 px frames (found by the fuzz test: OpenCV raised
    # cv2.error converting such frames).
    "wrong_size_in_header": Refused(NoFramesError, "no frame could be decoded", "Re-export it as an mp4"),
    "png_renamed": Refused(UnreadableVideoError, "is a PNG still image", "Upload a video clip of the sign"),
    "wav_renamed": Refused(UnreadableVideoError, "holds only audio (pcm_s16le) and no video track",
                           "Upload a video clip of the sign"),  # fmt: skip
    "audio_only_mp4": Refused(UnreadableVideoError, "holds only audio (aac)", "Upload a video clip of the sign"),
    "zero_frames_mp4": Refused(NoFramesError, "no video track and no frames", "Record or upload the clip again"),
    "zero_frames_avi": Refused(NoFramesError, "no frame could be decoded", "Re-export it as an mp4"),
    "one_frame": Refused(NoFramesError, "holds only 1 frame", "Record the whole sign"),
    "ten_minutes": Refused(VideoTooLongError, "lasts 600.0 s (1200 frames at 2 fps)", "Trim the clip"),
    "ten_minutes_no_duration": Refused(VideoTooLongError, "runs past 10.0 s", "Trim the clip"),
    "8k": Refused(VideoTooLargeError, "7680x4320 frames", "Export it at 1080p or lower"),
    "4k_two_frames": Answered("lasts only 0.08 s", _input(width=3840, height=2160, scale=0.1667, frames_decoded=2)),
    "240_fps": Answered(None, _input(fps=240.0, frames_decoded=120)),
    "portrait": Answered(None, _input(width=128, height=192, rotation=0)),
    "rotated": Answered(None, _rotated),
    "nobody": Answered("no person was detected", person=False),
    "one_hand": Answered(None),
}
REFUSED = [k for k, v in EXPECT.items() if isinstance(v, Refused)]
ANSWERED = [k for k, v in EXPECT.items() if isinstance(v, Answered)]


# ------------------------------------------------------------------------------------ the clips


def _signer_frames() -> np.ndarray:
    """(T, 192, 288, 3) frames of a real signer, or synthetic frames of that size without ../shared."""
    if HAVE_SIGNER:
        return read_clip(WLASL_CLIP).frames
    return synthetic_frames(30, 288, 192)


def _wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((3000 * np.sin(np.arange(8000) / 5)).astype("<i2").tobytes())
    return path


def _aac_mp4(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        stream.layout = "mono"
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _opencv_video(path: Path, frames, fps: float, fourcc: str, size: tuple[int, int]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def _wrong_width(path: Path) -> Path:
    """A 64x48 VP8 webm whose Matroska PixelWidth element (id 0xB0, one byte: 64) says 175."""
    data = _opencv_video(path, synthetic_frames(8, 64, 48), 25, "VP80", (64, 48)).read_bytes()
    at = data.index(b"\xb0\x81\x40")
    path.write_bytes(data[: at + 2] + b"\xaf" + data[at + 3 :])
    return path


def _cut(src: Path, dst: Path, end: int) -> Path:
    dst.write_bytes(src.read_bytes()[:end])
    return dst


def make_clips(d: Path) -> dict[str, Path | None]:
    """Every bad clip of `EXPECT`, written into `d` (None: its source is not available)."""
    signer = _signer_frames()
    portrait = np.ascontiguousarray(signer[:, :, 80:208])  # (T, 192, 128, 3): a portrait crop
    # An mp4 with its index first (faststart) and one with the index at the end (OpenCV's writer).
    # Noise frames, so that every frame takes about as many bytes and half the file is half the frames.
    noise = np.random.default_rng(1).integers(0, 256, (20, 48, 64, 3), dtype=np.uint8)
    full = write_mp4(d / "full.mp4", noise, 25)
    index_last = _opencv_video(d / "index_last.mp4", synthetic_frames(20, 64, 48), 25, "mp4v", (64, 48))
    data = full.read_bytes()
    cv2.imwrite(str(d / "png.png"), synthetic_frames(1)[0])
    clips: dict[str, Path | None] = {
        "empty": _cut(full, d / "empty.mp4", 0),
        "random_bytes": d / "random_bytes.mp4",
        "truncated_after_header": _cut(full, d / "truncated_after_header.mp4", data.index(b"mdat") + 4),
        "truncated_without_index": _cut(index_last, d / "truncated_without_index.mp4", index_last.stat().st_size // 2),
        "truncated_halfway": _cut(full, d / "truncated_halfway.mp4", len(data) // 2),
        "wrong_size_in_header": _wrong_width(d / "wrong_size.webm"),
        "png_renamed": (d / "png.png").rename(d / "png_renamed.mp4"),
        "wav_renamed": _wav(d / "wav_renamed.mp4"),
        "audio_only_mp4": _aac_mp4(d / "audio_only.mp4"),
        "zero_frames_mp4": _opencv_video(d / "zero_frames.mp4", [], 25, "mp4v", (64, 48)),
        "zero_frames_avi": _opencv_video(d / "zero_frames.avi", [], 25, "MJPG", (64, 48)),
        "one_frame": write_mp4(d / "one_frame.mp4", synthetic_frames(1, 64, 48), 25),
        # 10 minutes at 2 fps, 32x24: 1200 tiny frames. Once with a header, once as a browser
        # recording without duration or frame count (the cap must then hold while decoding).
        "ten_minutes": _opencv_video(d / "ten_minutes.avi", synthetic_frames(1200, 32, 24), 2, "MJPG", (32, 24)),
        "ten_minutes_no_duration": write_streamed_webm(d / "ten_minutes.webm", synthetic_frames(1200, 32, 24), 2),
        "8k": _opencv_video(d / "8k.avi", np.zeros((2, 4320, 7680, 3), np.uint8), 25, "MJPG", (7680, 4320)),
        "4k_two_frames": write_synthetic_video(
            d / "4k.mp4", np.stack([cv2.resize(f, (3840, 2160)) for f in signer[10:12]]), 25, "libx264"),
        # 1 s at 240 fps (each signer frame 8 times), decimated to 120 fps while decoding.
        "240_fps": _opencv_video(d / "240fps.avi", [cv2.resize(f, (192, 128)) for f in np.repeat(signer[:30], 8, axis=0)],
                                 240, "MJPG", (192, 128)),  # fmt: skip
        "portrait": write_synthetic_video(d / "portrait.mp4", portrait, 30, "libx264"),
        # What a phone stores for a portrait clip: landscape pixels plus a display rotation.
        "rotated": write_synthetic_video(d / "rotated.mp4", np.ascontiguousarray(np.rot90(portrait, k=-1, axes=(1, 2))),
                                         30, "libx264", rotation=90),  # fmt: skip
        "nobody": write_clip(d / "nobody.mp4"),
        "one_hand": ONE_HAND_CLIP if ONE_HAND_CLIP.is_file() else None,
    }
    clips["random_bytes"].write_bytes(np.random.default_rng(0).bytes(50_000))
    assert set(clips) == set(EXPECT)
    return clips


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path | None]:
    return make_clips(tmp_path_factory.mktemp("bad_clips"))


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return make_weights_dir(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="module")
def recognizer(weights) -> Recognizer:
    return Recognizer(load_bundle(weights / "test-bigru"), load_bundle(weights / "test-i3d"))


@pytest.fixture(scope="module")
def store(weights) -> ModelStore:
    return ModelStore(weights_dir=weights, use_hub=False)


@pytest.fixture(scope="module")
def client(weights, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    with launched_app(weights, tmp) as (url, _, _):
        yield Client(url, verbose=False)


@pytest.fixture(autouse=True)
def _outputs_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNDEMO_OUTPUT_DIR", str(tmp_path / "outputs"))


@pytest.fixture
def warnings_shown(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(gr, "Warning", lambda message="", *a, **k: shown.append(str(message)))
    return shown


def _clip(clips: dict, case: str) -> Path:
    if clips[case] is None:
        pytest.skip(f"{case}: its source clip is not available (needs ../shared)")
    return clips[case]


def _says(message: str, expect: Refused) -> None:
    assert expect.problem in message and expect.remedy in message, message


def _answered(details: dict, warnings: list[str], expect: Answered) -> None:
    assert details["i3d"] is not None and len(details["i3d"]["top"]) == 5
    if expect.person and HAVE_SIGNER:
        assert details["bigru"] is not None, details["errors"]
    if expect.warning is not None:
        assert any(expect.warning in w for w in warnings), warnings
    elif HAVE_SIGNER or not expect.person:
        assert warnings == [], warnings
    if expect.check is not None:
        expect.check(details)


# ------------------------------------------------------------------------------------ the three doors


@pytest.mark.parametrize("case", EXPECT)
def test_engine(case, clips, recognizer):
    path, expect = _clip(clips, case), EXPECT[case]
    if isinstance(expect, Refused):
        with pytest.raises(expect.error) as err:
            recognizer.recognize(path)
        assert type(err.value) is expect.error and err.value.code == expect.error.code
        _says(str(err.value), expect)
        return
    clip = read_clip(path, recognizer.limits)
    result = recognizer.recognize(path, clip=clip)
    _answered(result_details(result, clip), result.warnings, expect)
    if case == "rotated":  # frames come out upright: portrait, as the display matrix says
        assert clip.frames.shape[1:3] == (192, 128) and result.landmarks.image_size == (128, 192)
    if case == "one_hand":
        assert result.landmarks.detection_rate("left_hand") == 0
        assert result.landmarks.detection_rate("right_hand") > 0.5


@pytest.mark.slow
@pytest.mark.parametrize("case", EXPECT)
def test_page_handler(case, clips, store, warnings_shown, tmp_path):
    path, expect = _clip(clips, case), EXPECT[case]
    run = Handlers(store).recognize(str(path), False, None, progress=None)
    if isinstance(expect, Refused):
        with pytest.raises(gr.Error) as err:
            list(run)
        _says(err.value.message, expect)
        assert not any((tmp_path / "outputs").glob("*")), "a refused clip leaves no output folder"
        return
    *_, details = list(run)[-1]
    _answered(details, warnings_shown, expect)


@pytest.mark.slow
@pytest.mark.parametrize("case", EXPECT)
def test_api(case, clips, client):
    path, expect = _clip(clips, case), EXPECT[case]
    if isinstance(expect, Refused):
        with pytest.raises(Exception) as err:
            client.predict(handle_file(str(path)), False, api_name="/recognize")
        _says(str(err.value), expect)
        return
    details = client.predict(handle_file(str(path)), False, api_name="/recognize")
    _answered(details, details["warnings"], expect)


@pytest.mark.slow
def test_server_survives_every_bad_clip(client, recognizer, clips):
    """After all of the above the server still answers, and answers like the library."""
    path = clips["nobody"]
    got = client.predict(handle_file(str(path)), False, api_name="/recognize")
    want = recognizer.recognize(path)
    assert [t["label"] for t in got["i3d"]["top"]] == want.i3d.labels


# ------------------------------------------------------------------------------------ caps before decoding


class _Counts:
    grabs = 0
    retrieves = 0


@pytest.fixture
def decoded(monkeypatch) -> _Counts:
    """Counts the frames cv2.VideoCapture grabs (demuxes and decodes) and retrieves (converts to BGR)."""
    counts = _Counts()
    real = cv2.VideoCapture

    class Counting:
        def __init__(self, *args):
            self._cap = real(*args)

        def grab(self):
            counts.grabs += 1
            return self._cap.grab()

        def retrieve(self, *args):
            counts.retrieves += 1
            return self._cap.retrieve(*args)

        def read(self, *args):
            counts.grabs += 1
            counts.retrieves += 1
            return self._cap.read(*args)

        def __getattr__(self, name):
            return getattr(self._cap, name)

    monkeypatch.setattr(cv2, "VideoCapture", Counting)
    return counts


def test_ten_minute_clip_is_refused_before_any_frame_is_decoded(clips, recognizer, store, decoded):
    path = clips["ten_minutes"]
    with pytest.raises(VideoTooLongError):
        read_clip(path)
    with pytest.raises(VideoTooLongError):
        recognizer.recognize(path)
    with pytest.raises(gr.Error, match="lasts 600.0 s"):
        list(Handlers(store).recognize(str(path), False, None, progress=None))
    assert (decoded.grabs, decoded.retrieves) == (0, 0)


def test_recording_without_duration_stops_at_the_duration_cap(clips, decoded):
    """1200 frames at 2 fps and no duration in the header: decoding stops at the frame at 10 s."""
    with pytest.raises(VideoTooLongError, match=r"runs past 10\.0 s \(frame 21\)"):
        read_clip(clips["ten_minutes_no_duration"])
    assert decoded.grabs == 21 and decoded.retrieves == 20


def test_oversized_frames_are_refused_before_decoding(clips, decoded):
    with pytest.raises(VideoTooLargeError):
        read_clip(clips["8k"])
    assert (decoded.grabs, decoded.retrieves) == (0, 0)


def test_high_frame_rate_is_decimated_while_decoding(clips, decoded):
    clip = read_clip(clips["240_fps"])
    assert len(clip) == 120 and clip.fps == pytest.approx(120, rel=0.02)
    assert decoded.grabs == 241 and decoded.retrieves == 120  # dropped frames are never converted


def test_4k_frames_are_downscaled_one_by_one(clips):
    clip = read_clip(clips["4k_two_frames"])
    assert clip.frames.shape == (2, 360, 640, 3)


def test_decoded_frames_are_held_once(tmp_path):
    """Frames go straight into one array: the peak of traced allocations stays near the clip's own
    size (a list of frames stacked at the end peaks at twice that)."""
    path = write_synthetic_video(tmp_path / "m.avi", synthetic_frames(60, 320, 240), 25, "MJPG")
    tracemalloc.start()
    try:
        clip = read_clip(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert clip.frames.shape == (60, 240, 320, 3)
    assert peak < 1.2 * clip.frames.nbytes, (peak, clip.frames.nbytes)


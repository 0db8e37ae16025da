"""Video input and output: decode a clip with OpenCV under configurable caps, write browser mp4s.

Reading (`probe`, `read_clip`) uses OpenCV's bundled FFmpeg (`cv2.CAP_FFMPEG` only, so a still
image or an image-sequence pattern is never opened by OpenCV's image backends). Containers and
codecs checked by the tests: mp4 (H.264, MPEG-4 part 2 "mp4v"), webm (VP8, VP9), avi (MJPG),
mov (H.264, HEVC).

Orientation: phone clips often store landscape pixels plus a display matrix ("rotate 90").
OpenCV 4.11's FFmpeg backend does NOT apply it by default (`CAP_PROP_ORIENTATION_AUTO` reads 0
after opening; checked with a clip written with a 90 degree display rotation), so we switch it on
explicitly for every capture: frames, width and height are always in display orientation.

Mirroring: a browser webcam shows a selfie (mirrored) view; `read_clip(..., mirror=True)` flips
every frame horizontally right after decoding, so everything downstream sees the signer
unmirrored, as dataset videos do.

Caps (`VideoLimits`) are checked against the container's metadata before decoding, and again while
decoding, because metadata can be missing or wrong (a webm recorded by a browser has no duration;
a damaged file can claim anything). Kept frames are written into one preallocated array (sized from
the header's frame count when there is one), never collected in a list and stacked, so a clip
costs its frames' memory once, not twice.

What is not a video gets a message that says what it is: a still image (by its signature), an
audio-only file or a container with no track at all (by asking FFmpeg through PyAV, only after
OpenCV failed to open it). A file that decodes but looks wrong (far fewer frames than its header
announces, or very short) still gives a `Clip`, with user-facing notes in `Clip.warnings`.

Frames are numpy uint8 BGR arrays (H, W, 3), as OpenCV decodes them.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from .errors import (
    MissingDependencyError,
    NoFramesError,
    UnreadableVideoError,
    VideoTooLargeError,
    VideoTooLongError,
)

logger = logging.getLogger(__name__)

__all__ = ["VideoLimits", "VideoInfo", "Clip", "probe", "read_clip", "write_mp4"]

#: Frame rates outside (0, _MAX_PLAUSIBLE_FPS] in the metadata are treated as unknown.
_MAX_PLAUSIBLE_FPS = 1000.0
#: Frame rate assumed when the container gives none (and timestamps cannot tell either).
_FALLBACK_FPS = 30.0

# Still-image signatures: FFmpeg happily opens a PNG or JPEG renamed to .mp4 as a one-frame
# "video", so we recognise them ourselves and say what the file really is.
_IMAGE_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"BM", 0, "BMP"),
    (b"WEBP", 8, "WebP"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
)

#: Clips shorter than this (seconds) are decoded but flagged: an isolated sign takes about 1-3 s.
_SHORT_CLIP_S = 0.3

_REENCODE_HINT = "Re-export it as an mp4 (H.264), e.g. `ffmpeg -i INPUT -c:v libx264 OUTPUT.mp4`."


@dataclass(frozen=True)
class VideoLimits:
    """Caps applied by `read_clip`. The defaults keep a 2-core CPU Space responsive."""

    max_duration_s: float = 10.0  # refuse longer clips (VideoTooLongError) before decoding
    max_side: int = 640  # frames larger than this (longest side, px) are downscaled, aspect kept
    max_pixels: int = 4096 * 2160  # refuse larger frames (VideoTooLargeError) before decoding
    max_fps: float = 120.0  # higher-rate clips are decimated while decoding
    max_frames: int = 1200  # hard cap on decoded (kept) frames
    min_frames: int = 2  # refuse clips with fewer decoded frames (NoFramesError): one frame is a still

    def __post_init__(self) -> None:
        for name in ("max_duration_s", "max_side", "max_pixels", "max_fps", "max_frames", "min_frames"):
            if not getattr(self, name) > 0:
                raise ValueError(f"VideoLimits.{name} must be positive, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a clip (before any decoding).

    `fps`, `frame_count` and `duration_s` are None when the container does not give them (e.g. a
    browser-recorded webm has no duration). `width` x `height` is the display size in pixels
    (after rotation metadata is applied). `codec` is the FourCC as OpenCV reports it ("avc1",
    "FMP4", "VP80", "VP90", "MJPG", "hevc", ...), "" if unknown. `rotation` is the display
    rotation in degrees stored in the file (OpenCV's convention), which `read_clip` applies.
    """

    path: Path
    fps: float | None
    frame_count: int | None
    width: int
    height: int
    duration_s: float | None
    codec: str
    rotation: int = 0


@dataclass
class Clip:
    """Decoded frames of one clip, ready for landmark extraction and the RGB model."""

    frames: np.ndarray  # (T, H, W, 3) uint8 BGR, downscaled and unmirrored
    source_indices: np.ndarray  # (T,) int64 index of each frame in the source video
    fps: float  # rate of `frames` (after any decimation), frames per second
    info: VideoInfo
    scale: float  # downscale factor applied (1.0 = none): frame size = source size * scale
    mirrored_input: bool  # True if the input was mirrored and has been flipped back
    #: What the user should know about the input although it decoded (truncated, very short, ...).
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def duration_s(self) -> float:
        """Duration covered by `frames` in seconds (T / fps)."""
        return len(self) / self.fps

    def subsample(self, target_fps: float | None) -> np.ndarray:
        """Positions into `frames` (int64, increasing) that sample the clip at about `target_fps`.

        None, or a target at or above the clip's rate, returns every position. Otherwise position
        k*fps/target_fps (rounded down) for k = 0, 1, ...; the first frame is always included.
        """
        n = len(self)
        if target_fps is None or target_fps >= self.fps:
            return np.arange(n, dtype=np.int64)
        if not target_fps > 0:
            raise ValueError(f"target_fps must be positive or None, got {target_fps!r}")
        step = self.fps / target_fps  # > 1
        # A tiny epsilon so that e.g. 3.0 * k is not floored to 3k - 1 by rounding.
        positions = np.floor(np.arange(0.0, n, step) + 1e-6).astype(np.int64)
        return np.unique(positions[positions < n])


# --------------------------------------------------------------------------------------------
# Reading


def _fourcc(value: float) -> str:
    code = int(value) & 0xFFFFFFFF
    if code == 0:
        return ""
    text = code.to_bytes(4, "little").decode("latin-1")
    return text.strip("\x00 ") if text.isprintable() else f"0x{code:08x}"


def _check_file(path: Path) -> None:
    """Refuse what is certainly not a video before FFmpeg sees it, with a specific message."""
    if not path.exists():
        raise UnreadableVideoError(f"Video file not found: {path}. Check the path or upload it again.")
    if path.is_dir():
        raise UnreadableVideoError(f"{path} is a folder, not a video file.")
    size = path.stat().st_size
    if size == 0:
        raise UnreadableVideoError(
            f"{path.name} is empty (0 bytes): the upload or recording did not complete. "
            "Record or upload the clip again."
        )
    with path.open("rb") as f:
        head = f.read(16)
    for signature, offset, kind in _IMAGE_SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            raise UnreadableVideoError(
                f"{path.name} is a {kind} still image, not a video. Upload a video clip of the "
                "sign (mp4, webm, mov or avi)."
            )


def _streams(path: Path) -> tuple[list[str], list[str]] | None:
    """(video codecs, audio codecs) of the file as FFmpeg parses it (through PyAV); None when
    PyAV is missing or the file is no container FFmpeg knows."""
    try:
        import av
    except ImportError:  # pragma: no cover - av is in requirements.txt
        return None
    try:
        with av.open(str(path)) as container:
            video = [getattr(s.codec_context, "name", None) or "unknown" for s in container.streams.video]
            audio = [getattr(s.codec_context, "name", None) or "unknown" for s in container.streams.audio]
    except Exception:  # noqa: BLE001 - any failure means the same: FFmpeg cannot parse it either
        return None
    return video, audio


def _not_a_video(path: Path) -> UnreadableVideoError | NoFramesError:
    """The error for a file OpenCV cannot open, as specific as FFmpeg lets us be."""
    streams = _streams(path)
    if streams is not None:
        video, audio = streams
        if not video and audio:
            return UnreadableVideoError(
                f"{path.name} holds only audio ({', '.join(audio)}) and no video track. Upload a video "
                "clip of the sign (mp4, webm, mov or avi)."
            )
        if not video:
            return NoFramesError(
                f"{path.name} is a container with no video track and no frames: the recording is "
                "empty. Record or upload the clip again."
            )
    return UnreadableVideoError(
        f"{path.name} ({path.stat().st_size} bytes) cannot be opened as a video: it is not a "
        f"video file, it is truncated, or its container is not supported. {_REENCODE_HINT}"
    )


def _open(path: Path) -> cv2.VideoCapture:
    _check_file(path)
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise _not_a_video(path)
    # Apply the display matrix (portrait phone clips); OpenCV 4.11 leaves it off by default.
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return cap


def _info(cap: cv2.VideoCapture, path: Path) -> VideoInfo:
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = float(fps) if math.isfinite(fps) and 0 < fps <= _MAX_PLAUSIBLE_FPS else None
    count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
    # Without a frame count FFmpeg/OpenCV report 0 or a huge negative number.
    frame_count = int(round(count)) if math.isfinite(count) and 0 < count < 2**31 else None
    duration = frame_count / fps if frame_count is not None and fps is not None else None
    rotation = cap.get(cv2.CAP_PROP_ORIENTATION_META)
    return VideoInfo(
        path=path,
        fps=fps,
        frame_count=frame_count,
        width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        duration_s=duration,
        codec=_fourcc(cap.get(cv2.CAP_PROP_FOURCC)),
        rotation=int(rotation) if math.isfinite(rotation) else 0,
    )


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a clip's metadata and check that at least one frame decodes.

    Raises UnreadableVideoError (missing, empty, not a video) or NoFramesError (opens but no
    frame decodes). Decodes at most one frame.
    """
    path = Path(path)
    cap = _open(path)
    try:
        info = _info(cap, path)
        if not _grab(cap, info, 0):
            raise _no_frames(info)
        return info
    finally:
        cap.release()


def _no_frames(info: VideoInfo) -> NoFramesError:
    said = f" although its header announces {info.frame_count} frames" if info.frame_count else ""
    return NoFramesError(
        f"{info.path.name} opened as a video (codec {info.codec or 'unknown'}) but no frame could "
        f"be decoded{said}. The file may be truncated or use a codec this build cannot decode. "
        f"{_REENCODE_HINT}"
    )


def _too_long(path: Path, what: str, limits: VideoLimits) -> VideoTooLongError:
    return VideoTooLongError(
        f"{path.name} {what}; the limit is {limits.max_duration_s:g} s "
        f"(and {limits.max_frames} frames). Trim the clip to the sign itself (an isolated sign "
        "takes 1-3 s) and try again."
    )


def _too_large(path: Path, width: int, height: int, limits: VideoLimits) -> VideoTooLargeError:
    return VideoTooLargeError(
        f"{path.name} has {width}x{height} frames ({width * height / 1e6:.1f} megapixels); the "
        f"limit is {limits.max_pixels / 1e6:.1f} megapixels (4096x2160). Export it at 1080p or "
        "lower and try again."
    )


def _check_metadata(info: VideoInfo, limits: VideoLimits) -> None:
    """The caps that can be checked before decoding anything."""
    if info.width * info.height > limits.max_pixels:
        raise _too_large(info.path, info.width, info.height, limits)
    if info.duration_s is not None and info.fps is not None:
        # Half a frame of tolerance: a clip of exactly max_duration_s is accepted.
        if info.duration_s > limits.max_duration_s + 0.5 / info.fps:
            raise _too_long(
                info.path,
                f"lasts {info.duration_s:.1f} s ({info.frame_count} frames at {info.fps:.4g} fps)",
                limits,
            )
        kept = math.ceil(info.frame_count * min(1.0, limits.max_fps / info.fps))
        if kept > limits.max_frames:
            raise _too_long(info.path, f"would give {kept} frames after decimation", limits)


def _frame_time(cap: cv2.VideoCapture, index: int, fps: float) -> float:
    """Presentation time of the frame just grabbed, in seconds (index / fps if FFmpeg has none)."""
    ms = cap.get(cv2.CAP_PROP_POS_MSEC)
    return ms / 1000.0 if math.isfinite(ms) and ms >= 0 else index / fps


def read_clip(path: str | os.PathLike, limits: VideoLimits = VideoLimits(), mirror: bool = False,
              on_frame: Callable[[np.ndarray, int], None] | None = None,
              on_start: Callable[[int | None], None] | None = None) -> Clip:
    """Decode a clip into a `Clip` of (T, H, W, 3) uint8 BGR frames, enforcing `limits`.

    Metadata caps (duration, frame count, pixel count) are checked before decoding; while
    decoding, the clip is refused as soon as a frame's time reaches `max_duration_s` or more than
    `max_frames` frames would be kept, whatever the metadata said. Frames are flipped
    horizontally right after decoding when `mirror` is True (selfie-view webcam input), then
    downscaled with INTER_AREA so the longest side is at most `max_side` (aspect kept). Clips
    above `max_fps` are decimated by presentation time. `on_frame(frame, source_index)` is called
    with each kept frame ((H, W, 3), as it will be in the clip) as soon as it is decoded, e.g. to
    extract landmarks while the rest is still decoding (`landmarks.LandmarkStream.put`); the frame
    is the caller's to keep (the clip holds a copy). `on_start(n)` is called once the header is
    read and checked, before the first frame, with the number of frames decoding will probably
    keep (from the header's frame count and rate; None when the header has no frame count), e.g. to
    plan work on the second half of the clip while it decodes (`landmarks.SplicedLandmarkStream`).

    Raises UnreadableVideoError, NoFramesError, VideoTooLongError, VideoTooLargeError.
    """
    path = Path(path)
    cap = _open(path)
    try:
        info = _info(cap, path)
        _check_metadata(info, limits)
        if on_start is not None:
            on_start(_expected_frames(info, limits) if info.frame_count is not None else None)
        decoded = _decode(cap, info, limits, mirror, on_frame)
    finally:
        cap.release()
    frames, indices, times, scale = decoded
    if not len(frames):
        raise _no_frames(info)
    if len(frames) < limits.min_frames:
        raise NoFramesError(
            f"{path.name} holds only {len(frames)} frame{'' if len(frames) == 1 else 's'}: that is a still "
            "picture, not a sign. Record the whole sign (an isolated sign takes 1-3 s) and try again."
        )
    n_read = int(indices[-1]) + 1
    warnings = []
    if info.frame_count is not None and n_read < 0.9 * info.frame_count:
        logger.warning(
            "%s: decoded %d of the %d frames the header announces (truncated or damaged file?)",
            path.name, n_read, info.frame_count,
        )  # fmt: skip
        warnings.append(
            f"only {n_read} of the {info.frame_count} frames the file announces could be decoded: it is "
            "probably truncated (an interrupted upload or recording), so the end of the sign may be missing"
        )
    clip = Clip(
        frames=frames,  # (T, H, W, 3)
        source_indices=np.asarray(indices, dtype=np.int64),
        fps=_clip_fps(info, times, len(frames), n_read),
        info=info,
        scale=scale,
        mirrored_input=mirror,
        warnings=warnings,
    )
    if clip.duration_s < _SHORT_CLIP_S:
        clip.warnings.append(
            f"the clip lasts only {clip.duration_s:.2f} s ({len(clip)} frames); an isolated sign takes "
            "about 1-3 s, so the answers will be unreliable"
        )
    logger.debug(
        "%s: %d frames %dx%d at %.4g fps (scale %.3g, codec %s)",
        path.name, len(clip), clip.frames.shape[2], clip.frames.shape[1], clip.fps, scale, info.codec,
    )  # fmt: skip
    return clip


class _FrameBuffer:
    """Frames written in place into one (capacity, H, W, 3) uint8 array.

    Collecting frames in a list and stacking them holds every frame twice at the end; here the
    array is allocated once (the capacity comes from the header's frame count when known) and, if
    the header was wrong or silent, grown and finally trimmed with `ndarray.resize`, a `realloc`
    that the C library does by remapping pages for large blocks rather than copying them.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.array: np.ndarray | None = None
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def append(self, frame: np.ndarray) -> None:
        if self.array is None:
            self.array = np.empty((self.capacity, *frame.shape), dtype=np.uint8)  # (capacity, H, W, 3)
        elif self.count == len(self.array):
            # No views of the array exist (only this object holds it), so an unchecked resize is safe.
            self.array.resize((2 * len(self.array), *self.array.shape[1:]), refcheck=False)
        self.array[self.count] = frame
        self.count += 1

    def frames(self) -> np.ndarray:
        """The (T, H, W, 3) frames written so far ((0, 0, 0, 3) if none)."""
        if self.array is None:
            return np.zeros((0, 0, 0, 3), dtype=np.uint8)
        if self.count < len(self.array):
            self.array.resize((self.count, *self.array.shape[1:]), refcheck=False)
        frames, self.array = self.array, None
        return frames


def _expected_frames(info: VideoInfo, limits: VideoLimits) -> int:
    """How many frames `_decode` will probably keep: from the header when it has a frame count,
    else a modest start (the buffer grows)."""
    if info.frame_count is None:
        return min(64, limits.max_frames)
    kept = info.frame_count
    if info.fps is not None and info.fps > limits.max_fps:
        kept = math.ceil(info.frame_count * limits.max_fps / info.fps) + 1  # +1: decimation rounding
    return min(kept, limits.max_frames)


def _grab(cap: cv2.VideoCapture, info: VideoInfo, index: int) -> bool:
    """The next frame, demuxed and decoded; False at the end of the stream or where it breaks."""
    try:
        return bool(cap.grab())
    except cv2.error as exc:
        logger.warning("%s: frame %d cannot be read (%s); stopping there", info.path.name, index, exc.err)
        return False


def _retrieve(cap: cv2.VideoCapture, info: VideoInfo, index: int) -> np.ndarray | None:
    """The grabbed frame as BGR, or None where it cannot be converted. A damaged header can make
    OpenCV lay out the decoded picture with the header's (wrong) size, which raises cv2.error."""
    try:
        ok, frame = cap.retrieve()
    except cv2.error as exc:
        ok, frame = False, None
        logger.warning("%s: frame %d cannot be converted (%s)", info.path.name, index, exc.err)
    if not ok or frame is None:
        logger.warning("%s: frame %d could not be decoded; stopping there", info.path.name, index)
        return None
    return frame


def _decode(
    cap: cv2.VideoCapture, info: VideoInfo, limits: VideoLimits, mirror: bool,
    on_frame: Callable[[np.ndarray, int], None] | None = None,
) -> tuple[np.ndarray, list[int], list[float], float]:
    """Decode, flip, decimate and downscale; returns (frames (T, H, W, 3), source indices,
    times s, scale)."""
    fps = info.fps or _FALLBACK_FPS
    frames = _FrameBuffer(_expected_frames(info, limits))
    indices: list[int] = []
    times: list[float] = []
    out_size: tuple[int, int] | None = None  # (W, H) of the kept frames
    scale = 1.0
    t0 = previous = None
    use_index_time = False
    last_bucket = -1
    index = -1
    while _grab(cap, info, index + 1):
        index += 1
        t = index / fps if use_index_time else _frame_time(cap, index, fps)
        if previous is not None and t <= previous and not use_index_time:
            # Timestamps that stall or go backwards cannot drive decimation: count frames instead.
            logger.warning(
                "%s: timestamps not increasing at frame %d; using index / fps", info.path.name, index
            )
            use_index_time, t0, t = True, 0.0, index / fps
        previous = t
        t0 = t if t0 is None else t0
        t -= t0
        # Metadata can be missing or lie: enforce the duration while decoding too.
        if t >= limits.max_duration_s:
            raise _too_long(info.path, f"runs past {t:.1f} s (frame {index + 1})", limits)
        # Decimate by presentation time onto a max_fps grid; +0.25 absorbs millisecond rounding.
        bucket = math.floor(t * limits.max_fps + 0.25)
        if bucket <= last_bucket:
            continue
        last_bucket = bucket
        if len(frames) >= limits.max_frames:
            raise _too_long(info.path, f"has more than {limits.max_frames} frames", limits)
        frame = _retrieve(cap, info, index)
        if frame is None:
            break
        if mirror:
            frame = cv2.flip(frame, 1)  # selfie view -> unmirrored, before anything else
        if out_size is None:
            height, width = frame.shape[:2]
            if width * height > limits.max_pixels:  # the metadata may not have said
                raise _too_large(info.path, width, height, limits)
            scale = min(1.0, limits.max_side / max(width, height))
            out_size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if (frame.shape[1], frame.shape[0]) != out_size:
            # Downscale, or the size changed mid-stream (browser recordings can do that).
            frame = cv2.resize(frame, out_size, interpolation=cv2.INTER_AREA)
        frames.append(frame)
        indices.append(index)
        times.append(t)
        if on_frame is not None:
            on_frame(frame, index)
    return frames.frames(), indices, times, scale


def _clip_fps(info: VideoInfo, times: list[float], n_kept: int, n_read: int) -> float:
    """Rate of the kept frames, in frames per second.

    The container's rate when every frame was kept and the frame timestamps agree with it (within
    10%); otherwise the rate the timestamps show. Browser recordings (webm from MediaRecorder) often
    announce their timebase (e.g. 1000) as the frame rate, which would make every later step think
    the clip is 30x shorter than it is.
    """
    span = times[-1] - times[0] if times else 0.0
    measured = (n_kept - 1) / span if n_kept > 1 and span > 0 else None
    if info.fps is not None and n_kept == n_read:
        if measured is None or abs(measured - info.fps) <= 0.1 * info.fps:
            return info.fps
    return measured or info.fps or _FALLBACK_FPS


# --------------------------------------------------------------------------------------------
# Writing


def _even_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pad (replicating the edge) to the even (W, H) that yuv420p needs."""
    height, width = frame.shape[:2]
    if (width, height) == size:
        return frame
    return cv2.copyMakeBorder(frame, 0, size[1] - height, 0, size[0] - width, cv2.BORDER_REPLICATE)


#: libx264's speed preset for every mp4 the app writes (overlays, trimmed clips). Measured on 2 cores,
#: 90 frames 640x480 (BENCHMARKS.md): veryfast 0.52-0.54 s and 241 KiB, superfast 0.35 s and 376 KiB,
#: ultrafast 0.21-0.30 s and 699 KiB. The overlay is encoded beside the I3D, after the keypoint
#: answer: the fastest preset gives both answers sooner, at about 230 KiB a second of video.
X264_PRESET = "ultrafast"


def write_mp4(path: str | os.PathLike, frames_bgr: np.ndarray | Iterable[np.ndarray], fps: float) -> Path:
    """Write uint8 BGR frames (T, H, W, 3) as a browser-playable H.264 mp4 and return its path.

    libx264, yuv420p, odd sizes padded by one replicated row/column to even ones, the moov atom
    at the front (faststart) so browsers can start playing before the download ends. Written to
    a temporary file next to `path` and renamed, so a reader never sees a half-written video.
    """
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is in requirements.txt
        raise MissingDependencyError(
            "Writing mp4 needs PyAV: pip install av (see requirements.txt)."
        ) from exc
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps!r}")
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix or '.mp4'}")
    rate = Fraction(fps).limit_denominator(1001)  # 29.97 -> 2997/100, 30 -> 30
    count = 0
    try:
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = None
            for frame in frames_bgr:
                if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                    raise ValueError(f"frames must be uint8 (H, W, 3) BGR, got {frame.dtype} {frame.shape}")
                if stream is None:
                    height, width = frame.shape[:2]
                    size = (width + width % 2, height + height % 2)
                    stream = container.add_stream("libx264", rate=rate)
                    stream.width, stream.height = size
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": "23", "preset": X264_PRESET}
                elif frame.shape[:2] != (height, width):
                    raise ValueError(
                        f"all frames must have the first frame's size {width}x{height}, "
                        f"frame {count} is {frame.shape[1]}x{frame.shape[0]}"
                    )
                picture = av.VideoFrame.from_ndarray(_even_frame(frame, size), format="bgr24")
                container.mux(stream.encode(picture))
                count += 1
            if stream is None:
                raise ValueError("write_mp4 needs at least one frame")
            container.mux(stream.encode())  # flush the encoder
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    logger.debug("wrote %s: %d frames at %.4g fps", path, count, fps)
    return path

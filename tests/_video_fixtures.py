"""Synthetic video clips for tests: frames that survive lossy codecs, written in any container."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# Codecs `write_synthetic_video` can write: OpenCV VideoWriter FourCCs, and PyAV encoders for
# what this OpenCV build cannot write (H.264 / HEVC need an encoder OpenCV's wheel lacks).
OPENCV_FOURCCS = ("mp4v", "MJPG", "VP80", "VP90")
PYAV_ENCODERS = ("libx264", "libx265")


def synthetic_frames(n: int = 12, width: int = 128, height: int = 96) -> np.ndarray:
    """(n, height, width, 3) uint8 BGR frames that are easy to check after a lossy codec.

    Left quarter red (so flips and rotations show), a white square moving right one step per
    frame (so order shows), and a grey bar along the bottom whose level grows with the frame
    index.
    """
    frames = np.zeros((n, height, width, 3), dtype=np.uint8)
    frames[:, :, : width // 4] = (0, 0, 255)
    side = max(4, height // 6)
    for t in range(n):
        x = width // 4 + (t * 4) % max(1, width - width // 4 - side)
        frames[t, height // 3 : height // 3 + side, x : x + side] = 255
        frames[t, -height // 8 :, width // 4 :] = min(255, 40 + 8 * t)
    return frames


def write_synthetic_video(path: Path, frames: np.ndarray, fps: float, codec: str, rotation: int = 0) -> Path:
    """Write frames with an OpenCV FourCC (`OPENCV_FOURCCS`) or a PyAV encoder (`PYAV_ENCODERS`).

    `rotation` (PyAV only) stores a display rotation in degrees counter-clockwise, as phones do.
    """
    height, width = frames.shape[1:3]
    if codec in OPENCV_FOURCCS:
        assert rotation == 0, "rotation metadata needs a PyAV encoder"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
        assert writer.isOpened(), f"OpenCV cannot write {codec} to {path.suffix} here"
        for frame in frames:
            writer.write(frame)
        writer.release()
        return path
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx265":
            stream.options = {"x265-params": "log-level=error"}
        if rotation:
            stream.set_display_rotation(rotation)
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        container.mux(stream.encode())
    return path


def write_streamed_webm(path: Path, frames: np.ndarray, fps: int) -> Path:
    """VP8 webm written to a non-seekable stream: no duration or frame count in the header, like a
    browser MediaRecorder recording."""
    import io

    import av

    class Pipe(io.RawIOBase):
        def __init__(self):
            self.data = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.data += b
            return len(b)

    pipe = Pipe()
    height, width = frames.shape[1:3]
    with av.open(pipe, "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        container.mux(stream.encode())
    path.write_bytes(bytes(pipe.data))
    return path

"""Typed errors of the recognition engine.

Library code raises these; the UI turns them into `gr.Error` / `gr.Warning` and the CLI into a
message and a non-zero exit code. Every message says what is wrong and what to do about it.
"""

from __future__ import annotations


class SigndemoError(Exception):
    """Base class of every error the engine raises on purpose."""

    #: A short machine-readable code, stable across releases (used by the API and the tests).
    code = "error"


class VideoError(SigndemoError):
    """Something is wrong with an input clip."""

    code = "video_error"


class UnreadableVideoError(VideoError):
    """The file cannot be opened or decoded as a video."""

    code = "unreadable_video"


class NoFramesError(VideoError):
    """The video opened but holds no decodable frame (or too few)."""

    code = "no_frames"


class VideoTooLongError(VideoError):
    """The video is longer than the configured maximum duration."""

    code = "too_long"


class VideoTooLargeError(VideoError):
    """The video's frames are larger than the configured maximum pixel count."""

    code = "too_large"


class NoPersonDetectedError(SigndemoError):
    """MediaPipe found no body pose on any frame; keypoint models cannot score the clip."""

    code = "no_person"


class WeightsError(SigndemoError):
    """A weight bundle cannot be found, read or trusted."""

    code = "weights_error"


class WeightsNotFoundError(WeightsError):
    code = "weights_not_found"


class UnsafeCheckpointError(WeightsError):
    """The checkpoint holds objects that `torch.load(weights_only=True)` refuses to unpickle."""

    code = "unsafe_checkpoint"


class WeightsMismatchError(WeightsError):
    """Checkpoint keys or shapes, or the label list, do not match the architecture.

    `missing`, `unexpected` and `wrong_shape` list the offending keys so the message can show all of
    them at once.
    """

    code = "weights_mismatch"

    def __init__(
        self,
        message: str,
        missing: list[str] | None = None,
        unexpected: list[str] | None = None,
        wrong_shape: list[str] | None = None,
    ) -> None:
        self.missing = list(missing or [])
        self.unexpected = list(unexpected or [])
        self.wrong_shape = list(wrong_shape or [])
        super().__init__(message)


class ChecksumMismatchError(WeightsError):
    code = "checksum_mismatch"


class MissingDependencyError(SigndemoError):
    """An optional heavy dependency is not installed."""

    code = "missing_dependency"


class ClusterError(SigndemoError):
    """A compute cluster (Ray) cannot be reached, or has nothing to run the work on."""

    code = "cluster_error"


class DatasetError(SigndemoError):
    """A labelled data set (e.g. a processed-200 keypoint set) is missing, malformed or inconsistent."""

    code = "dataset"

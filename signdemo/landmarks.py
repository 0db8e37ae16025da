"""MediaPipe Holistic (or Hands) landmarks in the project's (75, 3) schema.

One `HolisticExtractor` wraps one MediaPipe Holistic graph (legacy solution, mediapipe 0.10.21) in
tracking mode; a `HandsExtractor` one MediaPipe Hands graph (the hands only, for a keypoint model
trained on Hands landmarks: `LANDMARK_MODELS`). In tracking mode the landmarks of a frame depend on
the frames before it, so use a fresh (or cleared, `GraphPool`) extractor per clip and feed frames in
order. Graphs are created only when an extractor is constructed, never
at import; `import signdemo.landmarks` does not even import mediapipe.

Only `model_complexity=1` is supported: its pose model ships inside the mediapipe wheel, while
complexities 0 and 2 download a model at run time and fail offline.

Layout of a frame (see `signdemo.schema`): rows 0-32 pose, 33-53 left hand, 54-74 right hand, each
(x, y, z) as MediaPipe gives them: x, y normalised to the width/height of the image given to
MediaPipe (pose points off-image fall outside [0, 1]), z relative depth. "left"/"right" are the
signer's own hands. A part MediaPipe did not find is all zeros with its `present` flag False.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import cv2
import numpy as np

from . import hand_slots, schema
from .errors import MissingDependencyError, NoPersonDetectedError

if TYPE_CHECKING:
    from .video import Clip

logger = logging.getLogger(__name__)

__all__ = [
    "Landmarks", "HolisticExtractor", "HandsExtractor", "LANDMARK_MODELS", "new_extractor", "GraphPool",
    "extract_landmarks", "extract_landmarks_spliced", "SplicedLandmarkStream", "LandmarkStream", "extract_clip_landmarks",
]  # fmt: skip

#: The MediaPipe graphs a keypoint model's landmarks can come from (a bundle records its own as
#: provenance `landmark_model`; absent means "holistic").
LANDMARK_MODELS: dict[str, str] = {
    "holistic": "MediaPipe Holistic (model_complexity 1, no face mesh): body pose and both hands, "
                "left and right as Holistic assigns them from the body",
    "hands": "MediaPipe Hands (video mode, max_num_hands 2, model_complexity 1, min_detection_confidence "
             "0.5): hands only, no pose; the two detection-order hands made left/right by the wrist_x rule "
             "(signdemo.hand_slots), as in the WLASL hand data",
}  # fmt: skip
DEFAULT_LANDMARK_MODEL = "holistic"
#: How a clip's frames may be split between graphs when `RuntimeOptions.landmark_workers` > 1.
#: Holistic: "chunks" (`runtime.extract_landmarks_parallel`: contiguous parts, each starting its
#: tracking afresh; close to one graph, `tests/test_inference.py`). Hands: "splice"
#: (`extract_landmarks_spliced`: two graphs, spliced only where they track the same hands, else one
#: graph's rows), since plain chunks do not give the WLASL hand data's rows (one graph per video): on
#: the 7 shared clips the data holds, the shipped hands-only model's input from one graph is 0.019
#: from the data's (relative distance, median over the clips), from two chunks 0.172, and even with
#: the second chunk started 12 frames early 01422.mp4's two graphs find different hands on 23% of
#: the rows (tracking keeps a hand that a fresh detection does not find).
SPLIT_BETWEEN_GRAPHS: dict[str, str] = {"holistic": "chunks", "hands": "splice"}
#: `extract_landmarks_spliced`'s rule in the app: agreement within 1e-3 (normalised image units) on
#: 3 frames in a row. On the 34 shared WLASL clips (`python -m signdemo.bench --splice-check`) it
#: gave the shipped hands-only model the same top-5 as one graph on all 34 (probabilities within
#: 0.0022, rows within 0.0084, no hand found by one and not the other) in 0.68 of one graph's frame
#: time; a splice on the first agreeing frame (1 in a row) gave another top-5 on 14188.mp4 (the two
#: graphs tracked bit-identical hands on one frame and lost different ones on the next), and
#: tolerance 0 (exactly one graph's rows on all 34) 0.82 of the time.
SPLICE_TOLERANCE = 1e-3
SPLICE_AGREE_FRAMES = 3

#: MediaPipe result attribute of each schema part.
_RESULT_FIELDS: dict[str, str] = {
    "pose": "pose_landmarks",
    "left_hand": "left_hand_landmarks",
    "right_hand": "right_hand_landmarks",
}
_MIRROR_PARTS = {"pose": "pose", "left_hand": "right_hand", "right_hand": "left_hand"}

# (75,) index of the part (0 pose, 1 left hand, 2 right hand) of every row.
_ROW_PART = np.concatenate([np.full(len(names), i) for i, (_, names) in enumerate(schema.PARTS)]).astype(
    np.int64
)
_MIRROR_ROWS = np.asarray(schema.MIRROR_PERMUTATION, dtype=np.int64)
_MIRROR_PART_COLUMNS = np.asarray(
    [schema.PART_NAMES.index(_MIRROR_PARTS[p]) for p in schema.PART_NAMES], dtype=np.int64
)


@dataclass
class Landmarks:
    """Per-frame landmarks of one clip.

    points: (T, 75, 3) float32, rows of a missing part are 0.
    present: (T, 3) bool, whether pose, left hand, right hand were detected.
    frame_indices: (T,) int64 index in the source video of the frame behind each row.
    fps: rate of the rows in rows per second.
    image_size: (width, height) in pixels of the frames given to MediaPipe.
    """

    points: np.ndarray
    present: np.ndarray
    frame_indices: np.ndarray
    fps: float
    image_size: tuple[int, int]

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=np.float32)
        self.present = np.asarray(self.present, dtype=bool)
        self.frame_indices = np.asarray(self.frame_indices, dtype=np.int64)
        self.fps = float(self.fps)
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        t = self.points.shape[0]
        expected = {
            "points": (t, schema.NUM_POINTS, schema.NUM_COORDS),
            "present": (t, len(schema.PART_NAMES)),
            "frame_indices": (t,),
        }
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"Landmarks.{name} must have shape {shape}, got {getattr(self, name).shape}")

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def detection_rate(self, part: str) -> float:
        """Fraction of rows (0..1) on which `part` ("pose", "left_hand", "right_hand") was found."""
        column = schema.PART_NAMES.index(part) if part in schema.PART_NAMES else None
        if column is None:
            raise KeyError(f"unknown part {part!r}; expected one of {schema.PART_NAMES}")
        return float(self.present[:, column].mean()) if len(self) else 0.0

    def any_hand(self) -> np.ndarray:
        """(T,) bool: at least one hand found on the row."""
        return self.present[:, 1:].any(axis=1)

    def mirrored(self) -> Landmarks:
        """Landmarks of the horizontally flipped video: x -> 1 - x, left and right swapped.

        Rows are permuted with `schema.MIRROR_PERMUTATION` (left_* <-> right_* pose points, left
        hand <-> right hand), and x is flipped only where the part is present, so missing parts
        stay all zero. y and z are unchanged.
        """
        points = self.points[:, _MIRROR_ROWS].copy()  # (T, 75, 3)
        present = self.present[:, _MIRROR_PART_COLUMNS].copy()  # (T, 3)
        row_present = present[:, _ROW_PART]  # (T, 75)
        points[..., 0] = np.where(row_present, 1.0 - points[..., 0], 0.0)
        return Landmarks(points, present, self.frame_indices.copy(), self.fps, self.image_size)

    def check_person(self) -> Landmarks:
        """Return self, or raise NoPersonDetectedError when no frame has a body pose."""
        if not self.present[:, 0].any():
            raise NoPersonDetectedError(
                f"No person was detected on any of the {len(self)} frames analysed "
                f"({self.image_size[0]}x{self.image_size[1]} px), so the keypoint model cannot "
                "score this clip. Make sure the signer's head, shoulders and hands are in view "
                "and well lit, then record again."
            )
        return self

    def save(self, path: str | os.PathLike) -> Path:
        """Save as a compressed .npz (no pickles); returns the path written (".npz" appended if
        missing, as numpy does)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        np.savez_compressed(
            path,
            points=self.points,
            present=self.present,
            frame_indices=self.frame_indices,
            fps=np.float64(self.fps),
            image_size=np.asarray(self.image_size, dtype=np.int64),
            point_names=np.asarray(schema.POINT_NAMES),
        )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Landmarks:
        """Load a file written by `save`; refuses one saved with a different point schema."""
        with np.load(Path(path), allow_pickle=False) as data:
            names = tuple(str(n) for n in data["point_names"])
            if names != schema.POINT_NAMES:
                raise ValueError(
                    f"{path} was saved with a different landmark schema ({len(names)} points); "
                    "extract the landmarks again."
                )
            return cls(
                points=data["points"],
                present=data["present"],
                frame_indices=data["frame_indices"],
                fps=float(data["fps"]),
                image_size=tuple(int(v) for v in data["image_size"]),
            )


def _import_holistic() -> Any:
    """mediapipe's legacy Holistic solution module, imported on first use."""
    try:
        from mediapipe.python.solutions import holistic
    except ImportError as exc:
        raise MissingDependencyError(
            "Landmark extraction needs MediaPipe: pip install mediapipe==0.10.21 "
            "(newer releases no longer ship the legacy Holistic models)."
        ) from exc
    return holistic


#: The nodes of MediaPipe's Holistic graph that compute the 468-point face mesh, which the
#: project's 75-point schema does not use (pose and hands never read them).
_FACE_NODES = ("SplitNormalizedLandmarkListCalculator", "FaceLandmarksFromPoseCpu")


def _holistic_without_face(holistic: Any, *, smooth_landmarks: bool, use_prev_landmarks: bool,
                           min_detection_confidence: float, min_tracking_confidence: float) -> Any:  # fmt: skip
    """MediaPipe's own Holistic graph (model_complexity=1) with its face-mesh nodes removed.

    The legacy solution always runs the face mesh; its models cost a few ms a frame and memory.
    Pose and hand outputs are the same as `holistic.Holistic`'s (the tests compare them). Built
    from the graph shipped in the wheel, with the side inputs and calculator options
    `holistic.Holistic` sets."""
    from mediapipe.framework import calculator_pb2
    from mediapipe.python.solution_base import SolutionBase

    path = Path(holistic.__file__).resolve().parents[2] / holistic._BINARYPB_FILE_PATH.removeprefix("mediapipe/")
    config = calculator_pb2.CalculatorGraphConfig()
    config.ParseFromString(path.read_bytes())
    if not any(n.calculator == _FACE_NODES[1] for n in config.node):
        raise RuntimeError(f"unexpected MediaPipe Holistic graph in {path}: no {_FACE_NODES[1]} node")
    nodes = [n for n in config.node if n.calculator not in _FACE_NODES]
    del config.node[:]
    config.node.extend(nodes)
    for field, dropped in ((config.output_stream, "FACE_LANDMARKS:"), (config.input_side_packet, "REFINE_FACE")):
        kept = [v for v in field if not v.startswith(dropped)]
        del field[:]
        field.extend(kept)
    return SolutionBase(
        graph_config=config,
        side_inputs={"model_complexity": 1, "smooth_landmarks": smooth_landmarks, "enable_segmentation": False,
                     "smooth_segmentation": use_prev_landmarks, "use_prev_landmarks": use_prev_landmarks},
        calculator_params={
            "poselandmarkcpu__posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh":
                min_detection_confidence,
            "poselandmarkcpu__poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation__ThresholdingCalculator"
            ".threshold": min_tracking_confidence,
        },
        outputs=["pose_landmarks", "left_hand_landmarks", "right_hand_landmarks"],
    )  # fmt: skip


def _schema_rows(holistic: Any) -> dict[str, np.ndarray]:
    """For each part, MediaPipe's landmark index of every schema point, looked up by name."""
    pose = [holistic.PoseLandmark[name.upper()].value for name in schema.POSE_NAMES]
    hand = [holistic.HandLandmark[name.upper()].value for name in schema.HAND_NAMES]
    return {
        "pose": np.asarray(pose, dtype=np.int64),
        "left_hand": np.asarray(hand, dtype=np.int64),
        "right_hand": np.asarray(hand, dtype=np.int64),
    }


class _Graph:
    """What both extractors share: one MediaPipe graph (`_graph`), used as a context manager."""

    _graph: Any = None
    #: The last frame's landmarks as the graph itself returned them, in its own order (Hands: the
    #: detection-order slots before the left/right rule; Holistic: the schema row). The graph's
    #: tracking carries these into the next frame, so two graphs with equal `tracked` go on alike
    #: (`extract_landmarks_spliced`).
    tracked: np.ndarray | None = None

    def _rgb(self, frame_bgr: np.ndarray) -> np.ndarray:
        """The frame as MediaPipe takes it (read-only RGB), after checking the graph and the frame."""
        if self._graph is None:
            raise RuntimeError(f"{type(self).__name__} is closed; create a new one for the next clip")
        if frame_bgr.dtype != np.uint8 or frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
            raise ValueError(f"expected a uint8 (H, W, 3) BGR frame, got {frame_bgr.dtype} {frame_bgr.shape}")
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)  # MediaPipe expects RGB
        rgb.flags.writeable = False  # lets MediaPipe use the buffer without copying
        return rgb

    def close(self) -> None:
        """Release the graph (idempotent)."""
        if self._graph is not None:
            self._graph.close()
            self._graph = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class HolisticExtractor(_Graph):
    """One MediaPipe Holistic graph in video (tracking) mode. Use one per clip, as a context
    manager, from one thread at a time:

        with HolisticExtractor() as extractor:
            for frame in frames:
                points, present = extractor.process(frame)  # (75, 3) float32, (3,) bool

    By default the graph leaves out MediaPipe's face mesh, which the schema does not use; pose and
    hand landmarks are the same as with it (`face_mesh=True` runs the graph as shipped).
    """

    def __init__(
        self,
        *,
        static_image_mode: bool = False,
        model_complexity: int = 1,
        smooth_landmarks: bool = True,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        face_mesh: bool = False,
    ) -> None:
        if model_complexity != 1:
            raise ValueError(
                f"model_complexity={model_complexity} is not supported: only 1 ships inside the "
                "mediapipe wheel; 0 and 2 download a model at run time and fail offline."
            )
        holistic = _import_holistic()
        self._rows = _schema_rows(holistic)
        if face_mesh:  # MediaPipe's graph as shipped (the reference the tests compare with)
            self._graph = holistic.Holistic(
                static_image_mode=static_image_mode,
                model_complexity=model_complexity,
                smooth_landmarks=smooth_landmarks,
                enable_segmentation=False,
                refine_face_landmarks=False,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence,
            )
            self._process = self._graph.process
        else:
            self._graph = _holistic_without_face(
                holistic,
                smooth_landmarks=smooth_landmarks and not static_image_mode,
                use_prev_landmarks=not static_image_mode,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence,
            )
            graph = self._graph
            self._process = lambda rgb: graph.process({"image": rgb})

    def process(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks of the next frame (uint8 BGR (H, W, 3)) of the clip.

        Returns points (75, 3) float32 (zeros for a missing part) and present (3,) bool.
        """
        result = self._process(self._rgb(frame_bgr))
        points = np.zeros((schema.NUM_POINTS, schema.NUM_COORDS), dtype=np.float32)
        present = np.zeros(len(schema.PART_NAMES), dtype=bool)
        for column, part in enumerate(schema.PART_NAMES):
            found = getattr(result, _RESULT_FIELDS[part])
            if found is None:
                continue
            xyz = np.array([(p.x, p.y, p.z) for p in found.landmark], dtype=np.float32)
            points[schema.part_slice(part)] = xyz[self._rows[part]]
            present[column] = True
        self.tracked = points
        return points, present


class HandsExtractor(_Graph):
    """One MediaPipe Hands graph in video (tracking) mode, with `HolisticExtractor`'s interface: the
    landmarks of the WLASL hand data (`../shared/data/wlasl_hands`: MediaPipe Hands on every frame,
    `max_num_hands=2`, `min_detection_confidence=0.5`) in the project's schema, pose missing.

    Its two detection-order hands become the signer's left and right by `hand_rule` (see
    `signdemo.hand_slots`). On the shared clips that the hand data holds, this graph gives the same
    hands on every frame as the data, at the data's float16 precision (`tests/test_landmarks.py`).
    The frames must be unmirrored, as for Holistic (the rule reads image x).
    """

    def __init__(
        self,
        *,
        static_image_mode: bool = False,
        max_num_hands: int = 2,
        model_complexity: int = 1,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        hand_rule: str = hand_slots.DEFAULT_HAND_RULE,
    ) -> None:
        if hand_rule not in hand_slots.HAND_RULES:
            raise ValueError(f"unknown hand rule {hand_rule!r}; expected one of {sorted(hand_slots.HAND_RULES)}")
        if max_num_hands not in (1, 2):
            raise ValueError(f"max_num_hands must be 1 or 2 (the schema has two hands), got {max_num_hands}")
        try:
            from mediapipe.python.solutions import hands
        except ImportError as exc:
            raise MissingDependencyError("Hand landmarks need MediaPipe: pip install mediapipe==0.10.21") from exc
        self.hand_rule = hand_rule
        self._graph = hands.Hands(
            static_image_mode=static_image_mode,
            max_num_hands=max_num_hands,
            model_complexity=model_complexity,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )

    def process(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Landmarks of the next frame (uint8 BGR (H, W, 3)): points (75, 3) float32 (pose rows and
        a missing hand zero) and present (3,) bool (pose always False)."""
        found = self._graph.process(self._rgb(frame_bgr)).multi_hand_landmarks or []
        slots = np.full((1, 2, len(schema.HAND_NAMES), schema.NUM_COORDS), -1.0, dtype=np.float32)
        for i, hand in enumerate(found[:2]):
            slots[0, i] = [(p.x, p.y, p.z) for p in hand.landmark]
        self.tracked = slots[0]  # (2, 21, 3), detection order, -1 for no hand
        points, present = hand_slots.hands_to_schema(slots, self.hand_rule)
        return points[0], present[0]


def new_extractor(model: str = DEFAULT_LANDMARK_MODEL, **options: Any) -> HolisticExtractor | HandsExtractor:
    """A fresh graph of landmark model `model` (a key of `LANDMARK_MODELS`) with its options."""
    if model == "holistic":
        return HolisticExtractor(**options)
    if model == "hands":
        return HandsExtractor(**options)
    raise ValueError(f"unknown landmark model {model!r}; expected one of {sorted(LANDMARK_MODELS)}")


#: A black frame: fed to a graph after a clip, it loses every tracked landmark (nothing to track),
#: which resets the landmark smoothing, so the next clip starts as on a new graph.
_CLEAR_FRAME = np.zeros((64, 64, 3), dtype=np.uint8)


class GraphPool:
    """Landmark graphs kept warm between clips, shared by threads (each graph by one at a time).

    A new graph's first frame costs a few hundred ms more than a later clip's first frame (MediaPipe
    sets up its TFLite interpreters then); a graph handed back is cleared with a black frame, after
    which the next clip's landmarks are bit-identical to a fresh graph's (`tests/test_landmarks.py`).
    At most `keep` idle graphs are kept; more are created while more clips are in flight.
    The graphs are of landmark model `model` (`LANDMARK_MODELS`); `options` go to each extractor.
    """

    def __init__(self, keep: int = 2, model: str = DEFAULT_LANDMARK_MODEL, **options: Any) -> None:
        if model not in LANDMARK_MODELS:
            raise ValueError(f"unknown landmark model {model!r}; expected one of {sorted(LANDMARK_MODELS)}")
        self.keep = keep
        self.model = model
        self.options = options
        self._idle: list[HolisticExtractor | HandsExtractor] = []
        self._lock = threading.Lock()
        self.created = 0  # graphs made so far (a count for tests and logs)

    @contextlib.contextmanager
    def graph(self) -> Iterator[HolisticExtractor | HandsExtractor]:
        """A cleared graph for one clip, handed back (cleared) on exit."""
        with self._lock:
            extractor = self._idle.pop() if self._idle else None
        if extractor is None:
            extractor = new_extractor(self.model, **self.options)
            with self._lock:
                self.created += 1
        try:
            yield extractor
        finally:
            self._give_back(extractor)

    def _give_back(self, extractor: HolisticExtractor | HandsExtractor) -> None:
        try:
            extractor.process(_CLEAR_FRAME)
        except Exception:  # noqa: BLE001 - a graph that fails to clear is not reused
            logger.exception("a MediaPipe graph failed to clear; closing it")
            extractor.close()
            return
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(extractor)
                return
        extractor.close()

    def warm(self, n: int | None = None) -> None:
        """Create graphs until `n` (default `keep`) are idle, each run once (clears it)."""
        with contextlib.ExitStack() as stack:
            for _ in range(max(0, (n or self.keep) - len(self._idle))):
                stack.enter_context(self.graph())

    def close(self) -> None:
        """Close every idle graph."""
        with self._lock:
            idle, self._idle = self._idle, []
        for extractor in idle:
            extractor.close()


def _open_graph(pool: GraphPool | None, model: str, options: dict[str, Any]):
    """A graph for one clip, as a context manager: a warm one of `pool`, else a new graph of `model`
    with `options` (closed on exit)."""
    return pool.graph() if pool is not None else new_extractor(model, **options)


def extract_landmarks(
    frames: np.ndarray,
    frame_indices: np.ndarray | None = None,
    fps: float = 30.0,
    *,
    pool: GraphPool | None = None,
    model: str = DEFAULT_LANDMARK_MODEL,
    **options: Any,
) -> Landmarks:
    """Run a landmark graph over the frames of one clip, in order: a fresh one, or a warm one of `pool`.

    frames: (T, H, W, 3) uint8 BGR (or a sequence of such frames), unmirrored.
    frame_indices: (T,) source-video index of each frame; default 0..T-1.
    fps: rate of `frames` (recorded in the result).
    pool: where to take the graph from (its own options apply); else a new graph with
        landmark model `model` (`LANDMARK_MODELS`) and its `options` (keyword arguments of
        `HolisticExtractor` or `HandsExtractor`), closed afterwards.
    """
    if len(frames) == 0:
        raise ValueError("extract_landmarks needs at least one frame")
    n = len(frames)
    indices = (
        np.arange(n, dtype=np.int64) if frame_indices is None else np.asarray(frame_indices, dtype=np.int64)
    )
    if indices.shape != (n,):
        raise ValueError(f"frame_indices must have shape ({n},), got {indices.shape}")
    points = np.zeros((n, schema.NUM_POINTS, schema.NUM_COORDS), dtype=np.float32)  # (T, 75, 3)
    present = np.zeros((n, len(schema.PART_NAMES)), dtype=bool)  # (T, 3)
    start = time.perf_counter()
    with _open_graph(pool, model, options) as extractor:
        for t, frame in enumerate(frames):
            points[t], present[t] = extractor.process(frame)
    elapsed = time.perf_counter() - start
    height, width = frames[0].shape[:2]
    logger.debug(
        "%s: %d frames %dx%d in %.2f s (%.1f ms/frame); pose %.0f%%, hands %.0f%%/%.0f%%",
        pool.model if pool is not None else model, n, width, height, elapsed, 1000 * elapsed / n, *(100 * present.mean(axis=0)),
    )  # fmt: skip
    return Landmarks(points, present, indices, fps, (width, height))


def _tracked_agree(a: np.ndarray, b: np.ndarray, tolerance: float) -> bool:
    """Whether two graphs' `tracked` landmarks of one frame match, in the graphs' own order, every
    coordinate within `tolerance` (0: bit-identical). A missing hand (-1 in Hands, 0 in Holistic)
    is farther than any allowed tolerance from a found one."""
    return a.shape == b.shape and float(np.abs(a - b).max()) <= tolerance


def extract_landmarks_spliced(
    frames: np.ndarray,
    frame_indices: np.ndarray | None = None,
    fps: float = 30.0,
    *,
    tolerance: float = SPLICE_TOLERANCE,
    agree_frames: int = SPLICE_AGREE_FRAMES,
    overlap: int = 12,
    min_frames: int = 24,
    report: dict | None = None,
    pool: GraphPool | None = None,
    model: str = DEFAULT_LANDMARK_MODEL,
    **options: Any,
) -> Landmarks:
    """`extract_landmarks` on two graphs at once, spliced where they agree, else one graph's rows.

    A tracking graph's row depends on the frames before it, so a second graph started mid-clip
    (fresh) is not the first graph's continuation until it tracks the same hands. Graph B starts
    `overlap` frames before the middle and runs to the end on its own thread; graph A runs from the
    first frame and, from B's first frame on, compares what it tracks on each frame (`tracked`, in
    the graph's own order) with what B tracks on the same frame. Once the two have agreed within
    `tolerance` on `agree_frames` frames in a row, A stops and B's rows follow (more than one frame:
    two graphs can track bit-identical hands on a frame and still lose different ones on the next,
    so what a graph carries over is not all in its output); if they never agree, A runs to the end
    and the result is one graph's rows (`extract_landmarks`) exactly. With tolerance 0 the splice
    is where both graphs track bit-identical landmarks (in practice after frames where neither finds
    a hand), and the rows were one graph's exactly on the 34 shared clips; a tolerance above 0
    splices sooner, and B's rows then differ from what A would have given by about the tolerance, growing again where a hand is
    at the edge of detection. MediaPipe releases the GIL while it computes, so the two graphs use
    two cores: on 2 cores a clip whose graphs agree soon takes about (T + overlap) / 2 frames' time
    instead of T. Measured on the 34 shared WLASL clips: BENCHMARKS.md, "Landmarks on two graphs".

    Clips shorter than `min_frames` (or 2 * overlap + 2) run on one graph. `report`, when given,
    receives "splice" (the last frame of A's rows; None when the rows are one graph's),
    "frames_a" and "frames_b" (frames each graph processed) and "start_b" (B's first frame, None
    without B). Other arguments as `extract_landmarks`.
    """
    n = len(frames)
    if n < max(min_frames, 2 * overlap + 2):
        _check_splice_rule(tolerance, agree_frames)
        if report is not None:
            report.update(splice=None, frames_a=n, frames_b=0, start_b=None)
        return extract_landmarks(frames, frame_indices, fps, pool=pool, model=model, **options)
    indices = (
        np.arange(n, dtype=np.int64) if frame_indices is None else np.asarray(frame_indices, dtype=np.int64)
    )
    if indices.shape != (n,):
        raise ValueError(f"frame_indices must have shape ({n},), got {indices.shape}")
    stream = SplicedLandmarkStream(tolerance=tolerance, agree_frames=agree_frames, overlap=overlap,
                                   min_frames=min_frames, max_queued=n + 1, expected_frames=n, pool=pool,
                                   model=model, **options)  # fmt: skip
    for frame in frames:
        stream.put(frame)
    return stream.result(indices, fps, frames=frames, report=report)


def _check_splice_rule(tolerance: float, agree_frames: int) -> None:
    if agree_frames < 1:
        raise ValueError(f"agree_frames must be at least 1, got {agree_frames}")
    if not 0 <= tolerance <= 0.1:
        raise ValueError(f"tolerance must be in [0, 0.1] (normalised image units), got {tolerance}")


def _check_expected(frames: int | None) -> None:
    if frames is not None and frames < 0:
        raise ValueError(f"frames must be >= 0 or None, got {frames}")


class SplicedLandmarkStream:
    """`extract_landmarks_spliced` fed frame by frame while the clip decodes (`LandmarkStream`'s
    interface). Graph A works on each frame as it comes. Graph B starts `overlap` frames before the
    middle: while the clip is still decoding when `expected_frames` (the header's frame count, as
    `video.read_clip` will keep them) says where the middle is, else once the last frame is in
    (`result`); in both cases only where A is not past that frame yet (else just after A's
    position), so that B stays ahead of A. The rule and the result are `extract_landmarks_spliced`'s
    whatever B's first frame: an expected count that turns out wrong only moves where the work is
    shared. Clips shorter than `min_frames` (or 2 * overlap + 2 frames), or with fewer than
    `min_frames` // 2 frames left after B's first frame, are A's alone.
    """

    def __init__(self, *, tolerance: float = SPLICE_TOLERANCE, agree_frames: int = SPLICE_AGREE_FRAMES,
                 overlap: int = 12, min_frames: int = 24, max_queued: int = 256,
                 expected_frames: int | None = None, pool: GraphPool | None = None,
                 model: str = DEFAULT_LANDMARK_MODEL, **options: Any) -> None:  # fmt: skip
        _check_splice_rule(tolerance, agree_frames)
        self.tolerance, self.agree_frames, self.overlap, self.min_frames = tolerance, agree_frames, overlap, min_frames
        self._source = (pool, model, options)  # where the graphs come from (`_open_graph`)
        self._queue: queue.Queue = queue.Queue(max(1, max_queued))
        self._queue_b: queue.Queue = queue.Queue()  # B's frames: unbounded, so that `put` never waits on B
        self._put = 0  # frames given so far
        self._planned_b: int | None = None  # B's first frame while decoding (`expect`)
        self._rows_a: list[tuple[np.ndarray, np.ndarray]] = []
        self._rows_b: list[tuple[np.ndarray, np.ndarray]] = []
        self._tracked_b: list[np.ndarray] = []
        self._ready = threading.Condition()
        self._start_b: int | None = None  # B's first frame, once B is started (None: no B yet)
        self._b_thread: threading.Thread | None = None
        self._b_done = False
        self._b_error: BaseException | None = None
        self._stop_b = threading.Event()
        self._error: BaseException | None = None
        self._cancelled = False
        self._splice: int | None = None
        self._image_size: tuple[int, int] | None = None
        self._t0: float | None = None
        self.busy_s = 0.0  # from A's first frame to the last row (s)
        self._thread = threading.Thread(target=self._run_a, name="landmarks-splice-a", daemon=True)
        self._thread.start()
        self.expect(expected_frames)

    def _first_b(self, n: int) -> int | None:
        """B's first frame on a clip of n frames, or None where the clip is A's alone."""
        start_b = (n - self.overlap) // 2
        if n < max(self.min_frames, 2 * self.overlap + 2) or n - start_b < self.min_frames // 2:
            return None
        return start_b

    def expect(self, frames: int | None) -> None:
        """Plan B's first frame for a clip of about this many frames (`video.read_clip`'s
        `on_start`), before the first `put`; None: unknown (B then starts once every frame is in)."""
        if self._put or self._b_thread is not None:
            raise RuntimeError("expect() must come before the first frame")
        _check_expected(frames)
        self._planned_b = None if frames is None else self._first_b(frames)

    @property
    def start_b(self) -> int | None:
        """B's first frame (None: B was not started)."""
        return self._start_b

    def put(self, frame: np.ndarray, *_: object) -> None:
        """Queue the clip's next frame ((H, W, 3) uint8 BGR, unmirrored); extra arguments are ignored."""
        if self._image_size is None:
            self._image_size = (int(frame.shape[1]), int(frame.shape[0]))
            self._t0 = time.perf_counter()
        if self._planned_b is not None and self._put == self._planned_b and self._b_thread is None:
            self._start_b_at(self._put)
        if self._b_thread is not None:
            self._queue_b.put(frame)  # before A's: B holds every frame A can ask it about
        self._queue.put(frame)
        self._put += 1

    def _start_b_at(self, start_b: int) -> None:
        """Start graph B on the frames from `start_b` (the next frame `put` gives), unless A is
        there already (B would then be behind A and of no use)."""
        with self._ready:
            if self._cancelled or len(self._rows_a) >= start_b:
                self._planned_b = None
                return
            self._start_b = start_b
        self._b_thread = threading.Thread(target=self._run_b, name="landmarks-splice-b", daemon=True)
        self._b_thread.start()

    def _agreed_at(self, t: int, tracked: np.ndarray, agreed: int) -> int:
        """A's consecutive agreements with B after A's frame t (0 where B has no row of t)."""
        with self._ready:
            start_b = self._start_b
            if start_b is None or t < start_b:
                return 0
            self._ready.wait_for(lambda: len(self._tracked_b) > t - start_b or self._b_done)
            theirs = self._tracked_b[t - start_b] if len(self._tracked_b) > t - start_b else None
        if theirs is None or not _tracked_agree(tracked, theirs, self.tolerance):
            return 0
        return agreed + 1

    def _run_a(self) -> None:
        agreed = 0
        try:
            with _open_graph(*self._source) as extractor:
                while (frame := self._queue.get()) is not None:
                    if self._cancelled or self._error is not None or self._splice is not None:
                        continue  # drained, so that a blocked `put` returns
                    row = extractor.process(frame)
                    with self._ready:
                        self._rows_a.append(row)
                        t = len(self._rows_a) - 1
                    agreed = self._agreed_at(t, extractor.tracked, agreed)
                    if agreed >= self.agree_frames:
                        self._splice = t
        except BaseException as exc:  # noqa: BLE001 - re-raised by `result` on the caller's thread
            self._error = exc
            while self._queue.get() is not None:  # keep draining until the end marker
                pass

    def _run_b(self) -> None:
        try:
            with _open_graph(*self._source) as extractor:
                while (frame := self._queue_b.get()) is not None:
                    if self._stop_b.is_set():
                        break
                    row = extractor.process(frame)
                    with self._ready:
                        self._rows_b.append(row)
                        self._tracked_b.append(extractor.tracked)
                        self._ready.notify_all()
        except BaseException as exc:  # noqa: BLE001 - A's rows stand without B; see `result`
            self._b_error = exc
        finally:
            with self._ready:
                self._b_done = True
                self._ready.notify_all()

    def result(self, frame_indices: np.ndarray, fps: float, *, frames: np.ndarray,
               report: dict | None = None) -> Landmarks:  # fmt: skip
        """The spliced landmarks once every frame given is processed: one row per frame of `frames`
        (the clip's decoded frames, the ones given to `put`), with these (T,) source-video indices and
        rate. `report`: as `extract_landmarks_spliced`'s, with "start_b" (B's first frame, None
        without B). Raises what graph A raised."""
        n = len(frames)
        if n != self._put:
            raise ValueError(f"{self._put} frames were given to the stream, the clip has {n}")
        if self._b_thread is None:  # not started while decoding: from the clip's real middle
            start_b = self._first_b(n)
            if start_b is not None:
                with self._ready:
                    start_b = max(start_b, len(self._rows_a) + 1)
                if n - start_b >= self.min_frames // 2:
                    self._start_b_at(start_b)
                    if self._b_thread is not None:
                        for frame in frames[start_b:]:
                            self._queue_b.put(frame)
        self._queue_b.put(None)
        self._queue.put(None)
        self._thread.join()
        if self._splice is None:
            self._stop_b.set()  # A has every row (or failed): B's are not needed
        if self._b_thread is not None:
            self._b_thread.join()
        if self._error is not None:
            raise self._error
        splice = self._splice
        if self._b_error is not None:
            if splice is not None:
                raise self._b_error
            logger.warning("the second landmark graph failed (%s: %s); the rows are the first graph's alone",
                           type(self._b_error).__name__, self._b_error)  # fmt: skip
        rows = self._rows_a if splice is None else self._rows_a + self._rows_b[splice + 1 - self._start_b:]
        indices = np.asarray(frame_indices, dtype=np.int64)
        if len(indices) != len(rows) or not rows:
            raise ValueError(f"the stream has {len(rows)} rows, {len(indices)} indices given")
        self.busy_s = time.perf_counter() - (self._t0 or time.perf_counter())
        if report is not None:
            report.update(splice=splice, frames_a=len(self._rows_a), frames_b=len(self._rows_b), start_b=self._start_b)
        logger.debug("spliced landmarks: %d frames in %.2f s, splice after frame %s (A %d frames, B %d from %s)",
                     n, self.busy_s, splice, len(self._rows_a), len(self._rows_b), self._start_b)  # fmt: skip
        points = np.stack([p for p, _ in rows])  # (T, 75, 3)
        present = np.stack([q for _, q in rows])  # (T, 3)
        return Landmarks(points, present, indices, fps, self._image_size)

    def cancel(self) -> None:
        """Stop processing and hand the graphs back (idempotent; waits for the frames in progress)."""
        with self._ready:
            self._cancelled = True
        self._stop_b.set()
        if self._b_thread is not None and self._b_thread.is_alive():
            self._queue_b.put(None)
            self._b_thread.join()
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


class LandmarkStream:
    """Landmarks of one clip computed while it is still being decoded.

    Frames given to `put` (e.g. as `video.read_clip`'s `on_frame`, as each is decoded) go through
    one graph in order on a thread of the stream's own, so the graph works while the decoder is
    still reading; `result` waits for the last row. The rows are those of `extract_landmarks` on the
    same frames with the same graph (`tests/test_landmarks.py`). At most `max_queued` frames wait
    for the graph (then `put` blocks the decoder), which bounds the copies held beside the clip.
    A stream that is not wanted any more is `cancel`led (its graph goes back to `pool`).
    """

    def __init__(self, *, pool: GraphPool | None = None, model: str = DEFAULT_LANDMARK_MODEL,
                 max_queued: int = 256, **options: Any) -> None:  # fmt: skip
        self._queue: queue.Queue = queue.Queue(max(1, max_queued))
        self._rows: list[tuple[np.ndarray, np.ndarray]] = []
        self._error: BaseException | None = None
        self._cancelled = False
        self._image_size: tuple[int, int] | None = None
        self.busy_s = 0.0  # time the graph spent on the frames (s)
        self._source = (pool, model, options)  # where its graph comes from (`_open_graph`)
        self._thread = threading.Thread(target=self._run, name="landmark-stream", daemon=True)
        self._thread.start()

    def expect(self, frames: int | None) -> None:
        """`video.read_clip`'s `on_start`, as `SplicedLandmarkStream.expect`: one graph has nothing
        to plan, so this only checks the value."""
        _check_expected(frames)

    def put(self, frame: np.ndarray, *_: object) -> None:
        """Queue the clip's next frame ((H, W, 3) uint8 BGR, unmirrored); extra arguments are ignored."""
        if self._image_size is None:
            self._image_size = (int(frame.shape[1]), int(frame.shape[0]))
        self._queue.put(frame)

    def _run(self) -> None:
        try:
            with _open_graph(*self._source) as extractor:
                while (frame := self._queue.get()) is not None:
                    if self._cancelled or self._error is not None:
                        continue  # drained, so that a blocked `put` returns
                    t = time.perf_counter()
                    self._rows.append(extractor.process(frame))
                    self.busy_s += time.perf_counter() - t
        except BaseException as exc:  # noqa: BLE001 - re-raised by `result` on the caller's thread
            self._error = exc
            while self._queue.get() is not None:  # keep draining until the end marker
                pass

    def result(self, frame_indices: np.ndarray, fps: float, *, frames: np.ndarray | None = None) -> Landmarks:
        """The landmarks once every frame given is processed: one row per frame, with these (T,)
        source-video indices and rate (rows per second). Raises what the graph raised. `frames` is
        not needed here (the rows are those of the frames given to `put`); it is accepted so that
        either stream can be used alike (`SplicedLandmarkStream.result` needs them)."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        indices = np.asarray(frame_indices, dtype=np.int64)
        if len(indices) != len(self._rows) or not self._rows:
            raise ValueError(f"the stream processed {len(self._rows)} frames, {len(indices)} indices given")
        points = np.stack([p for p, _ in self._rows])  # (T, 75, 3)
        present = np.stack([q for _, q in self._rows])  # (T, 3)
        logger.debug("landmark stream: %d frames, graph busy %.2f s", len(indices), self.busy_s)
        return Landmarks(points, present, indices, fps, self._image_size)

    def cancel(self) -> None:
        """Stop processing and hand the graph back (idempotent; waits for the frame in progress)."""
        self._cancelled = True
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


def extract_clip_landmarks(clip: Clip, target_fps: float | None = None, **options: Any) -> Landmarks:
    """Landmarks of a decoded `Clip`, on frames subsampled to about `target_fps` (None = all).

    The result's `frame_indices` are source-video indices and its `fps` the subsampled rate.
    """
    positions = clip.subsample(target_fps)  # (T',) positions into clip.frames
    fps = clip.fps if target_fps is None else min(clip.fps, target_fps)
    return extract_landmarks(
        clip.frames[positions], clip.source_indices[positions], fps=fps, **options
    )

"""The live webcam tab's per-session state: its own MediaPipe graph and the last few seconds.

One `LiveSession` per browser session, kept in a `gr.State` whose delete callback (tab closed, or
the state's time to live reached) calls `close()`, which releases the graph. Sessions never share
a graph or frames.

Orientation: the browser streams the selfie (mirrored) view when the webcam component mirrors
(`mirrored=True`); every frame is flipped back right after decoding, so landmarks, features and
the I3D see the signer unmirrored, as in the data sets. The image shown back is drawn in the
selfie view the user is looking at (landmark x mirrored onto the received frame), so the overlay
moves with the user; the legend still names the signer's own hands.

Timing: frames are stamped when they arrive. The rolling BiGRU prediction covers the frames of the
last `window_s` seconds and is recomputed every `predict_every_s` off the stream (on a worker shared
by the sessions; the window is taken when it is due, its answer handed over with the first frame after
it is ready), so a frame's reply is its landmarks and drawing only, never a model's run. The I3D
scores the frames of the last `i3d_window_s` seconds on its own every `i3d_every_s` (start to
start; later when a scoring takes longer), off the stream: on one worker thread shared by every
live session, so the overlay keeps its frames coming while the I3D works, and each session has at
most one scoring queued or running. With two visitors live, their scorings take turns on that
thread: each sees its I3D answer refreshed about half as often, while both overlays share the CPU.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from signdemo import schema
from signdemo.errors import NoPersonDetectedError, SigndemoError
from signdemo.inference import Prediction, Recognizer

log = logging.getLogger(__name__)

#: Fewest landmark rows (frames) the rolling prediction needs.
MIN_ROWS = 6
#: A session's graph and frames are released this long after its last frame (seconds), whatever
#: gradio does with the state (it keeps a closed tab's state for an hour).
IDLE_RELEASE_S = 30.0

#: Fewest frames in the I3D's window worth scoring (the I3D repeats frames up to its minimum).
MIN_I3D_FRAMES = 6
#: CPU threads of a live I3D scoring (OpenVINO): on a 2-core machine the overlay keeps the other core.
LIVE_I3D_THREADS = int(os.environ.get("SIGNDEMO_LIVE_I3D_THREADS", "1")) or None
#: Scheduling niceness of the live I3D's worker thread (Linux; 0 = as the rest of the server). With
#: one thread, OpenVINO computes on the calling thread, so the I3D then takes the CPU the overlays
#: leave: the frames keep coming at their rate and the I3D answer refreshes less often instead.
LIVE_I3D_NICE = int(os.environ.get("SIGNDEMO_LIVE_I3D_NICE", "10"))

_sessions: "weakref.WeakSet[LiveSession]" = weakref.WeakSet()
_i3d_worker: ThreadPoolExecutor | None = None
_workers_lock = threading.Lock()
_rolling_workers: ThreadPoolExecutor | None = None
#: Threads the rolling BiGRU predictions of all live sessions run on (each session has at most one
#: queued or running).
ROLLING_WORKERS = 2


def _shared_rolling_workers() -> ThreadPoolExecutor:
    """The threads the rolling BiGRU predictions run on (made on first use; normal priority)."""
    global _rolling_workers
    with _workers_lock:
        if _rolling_workers is None:
            _rolling_workers = ThreadPoolExecutor(ROLLING_WORKERS, thread_name_prefix="signdemo-live-bigru")
        return _rolling_workers


class InlineExecutor(Executor):
    """Runs each submitted call at once on the caller's thread (a finished future): the rolling
    prediction then comes with the frame that made it due (tests, scripts)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever reads the future
            future.set_exception(exc)
        return future


def lower_thread_priority(nice: int) -> bool:
    """Give the calling thread (only it: Linux schedules threads one by one) niceness `nice`.
    Returns whether it was set (False where the system has no per-thread priority)."""
    if nice <= 0 or not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(nice, os.getpriority(os.PRIO_PROCESS, tid)))
    except OSError as exc:
        log.warning("could not lower the priority of thread %s (%s)", threading.current_thread().name, exc)
        return False
    return True


def _shared_i3d_worker() -> ThreadPoolExecutor:
    """The one thread every live session's I3D scoring runs on (made on first use), at niceness
    `LIVE_I3D_NICE`."""
    global _i3d_worker
    with _workers_lock:
        if _i3d_worker is None:
            _i3d_worker = ThreadPoolExecutor(1, thread_name_prefix="signdemo-live-i3d",
                                             initializer=lower_thread_priority, initargs=(LIVE_I3D_NICE,))  # fmt: skip
        return _i3d_worker
_reaper: threading.Thread | None = None
_reaper_lock = threading.Lock()


def _reap_forever(period_s: float) -> None:
    while True:
        time.sleep(period_s)
        for session in list(_sessions):
            session.release_if_idle()


def _register(session: "LiveSession") -> None:
    """Track a session so its graph is released when idle (one daemon thread for all sessions)."""
    global _reaper
    _sessions.add(session)
    with _reaper_lock:
        if _reaper is None:
            _reaper = threading.Thread(target=_reap_forever, args=(5.0,), name="signdemo-live-reaper", daemon=True)
            _reaper.start()


@dataclass
class LiveI3D:
    """One I3D scoring of the last seconds of a live stream."""

    prediction: Prediction | None  # None when it could not score (`message` says why)
    window_s: float  # seconds of stream scored
    frames: int  # webcam frames in that window
    took_s: float  # seconds the scoring took, sampling and preprocessing included
    message: str | None = None


@dataclass
class _Rolling:
    """One rolling BiGRU prediction of the window (or why there is none)."""

    prediction: Prediction | None = None
    seconds_ago: np.ndarray | None = None
    message: str | None = None


@dataclass
class LiveUpdate:
    """What one streamed frame produces for the page."""

    display: np.ndarray  # (H, W, 3) uint8 RGB, selfie view with landmarks
    status: str  # one line: rate, window, what was found
    prediction: Prediction | None = None  # set when a new rolling prediction was made
    seconds_ago: np.ndarray | None = None  # (200,) age of each attention step's frame, with prediction
    message: str | None = None  # why there is no prediction (no person, too few frames, no weights)
    i3d: LiveI3D | None = None  # set when an I3D scoring finished since the previous frame


def _mirror_x(points: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(75, 3) points of an unmirrored frame -> their place on the mirrored frame (x -> 1 - x).

    Rows are NOT permuted: the signer's left hand stays the left hand (and keeps its colour)."""
    rows = np.zeros(schema.NUM_POINTS, dtype=bool)
    for column, part in enumerate(schema.PART_NAMES):
        rows[schema.part_slice(part)] = present[column]
    out = points.copy()
    out[rows, 0] = 1.0 - out[rows, 0]
    return out


class LiveSession:
    """Webcam frames of one session -> landmarks (own graph) -> rolling BiGRU prediction."""

    def __init__(
        self,
        *,
        mirrored: bool = True,
        window_s: float = 3.0,
        predict_every_s: float = 0.4,
        max_side: int = 480,
        idle_release_s: float = IDLE_RELEASE_S,
        clock: Callable[[], float] = time.monotonic,
        extractor_factory: Callable[[], object] | None = None,
        i3d_window_s: float = 2.0,
        i3d_every_s: float = 1.0,
        i3d_executor: Executor | None = None,
        rolling_executor: Executor | None = None,
    ) -> None:
        """i3d_executor: where the I3D scorings run (default: the thread shared by all sessions);
        rolling_executor: where the rolling BiGRU predictions run (default: the threads shared by all
        sessions; an `InlineExecutor` runs them in `step`)."""
        self.mirrored = mirrored
        self._rolling_executor = rolling_executor
        self._rolling_job: Future | None = None
        self._rolling_lock = threading.Lock()
        self.i3d_window_s = i3d_window_s
        self.i3d_every_s = i3d_every_s
        self._i3d_executor = i3d_executor
        self._i3d_job: Future | None = None
        self._i3d_started = -np.inf
        self._i3d_lock = threading.Lock()  # two frames of one session may be handled at once
        self.idle_release_s = idle_release_s
        self.window_s = window_s
        self.predict_every_s = predict_every_s
        self.max_side = max_side
        self.clock = clock
        self._extractor_factory = extractor_factory
        self._extractor = None
        self._extractor_model = None
        self._lock = threading.Lock()
        self._count = 0  # frames received (their index)
        self._last_prediction = -np.inf
        # Each entry: (time s, frame index, unmirrored BGR frame, points (75, 3), present (3,))
        self._buffer: deque[tuple[float, int, np.ndarray, np.ndarray, np.ndarray]] = deque()
        self.closed = False
        _register(self)

    # ------------------------------------------------------------------ graph

    def _graph(self, recognizer: Recognizer | None = None):
        """This session's tracking graph: the factory's, else one of the recognizer's landmark model
        (`Recognizer.landmark_model`; Holistic without a recognizer). When the selected keypoint model
        asks for another landmark model, the window starts afresh with a graph of that one."""
        model = recognizer.landmark_model if recognizer is not None else "holistic"
        if self._extractor is not None and self._extractor_factory is None and model != self._extractor_model:
            self._release()
        if self._extractor is None:
            if self._extractor_factory is not None:
                self._extractor = self._extractor_factory()
            elif recognizer is not None:
                self._extractor = recognizer.new_extractor()
            else:
                from signdemo.landmarks import HolisticExtractor

                self._extractor = HolisticExtractor()
            self._extractor_model = model
        return self._extractor

    def _release(self) -> None:
        if self._extractor is not None:
            self._extractor.close()
            self._extractor = None
        self._buffer.clear()

    @property
    def has_graph(self) -> bool:
        return self._extractor is not None

    def release_if_idle(self) -> bool:
        """Release the graph and frames if no frame came for `idle_release_s` (the next frame
        starts afresh). Returns True if something was released."""
        with self._lock:
            if self._extractor is None and not self._buffer:
                return False
            last = self._buffer[-1][0] if self._buffer else -np.inf
            if self.clock() - last < self.idle_release_s:
                return False
            self._release()
            return True

    def close(self) -> None:
        """Release the MediaPipe graph and the frames for good (idempotent; the gr.State delete callback)."""
        with self._lock:
            self._release()
            self.closed = True
        _sessions.discard(self)

    # ------------------------------------------------------------------ frames

    def _prepare(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Received RGB frame -> (received view BGR, unmirrored BGR), downscaled to max_side."""
        bgr = cv2.cvtColor(np.ascontiguousarray(frame_rgb[..., :3]), cv2.COLOR_RGB2BGR)
        h, w = bgr.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            bgr = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        unmirrored = cv2.flip(bgr, 1) if self.mirrored else bgr  # selfie view -> as a camera sees you
        return bgr, unmirrored

    def add_frame(
        self, frame_rgb: np.ndarray, recognizer: Recognizer | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Process one frame (landmarks of `recognizer`'s landmark model); returns (display RGB,
        points (75, 3), present (3,))."""
        from signdemo.overlay import draw_landmarks

        with self._lock:
            if self.closed:
                raise SigndemoError("this live session was closed; start the webcam again")
            now = self.clock()
            if self._buffer and now - self._buffer[-1][0] > self.window_s:
                self._release()  # the stream was paused: a fresh window and a fresh tracking graph
            received, unmirrored = self._prepare(frame_rgb)
            points, present = self._graph(recognizer).process(unmirrored)
            self._buffer.append((now, self._count, unmirrored, points, present))
            self._count += 1
            while self._buffer and now - self._buffer[0][0] > self.window_s:
                self._buffer.popleft()
        shown = _mirror_x(points, present) if self.mirrored else points
        display = draw_landmarks(received, shown, present)
        return cv2.cvtColor(display, cv2.COLOR_BGR2RGB), points, present

    def snapshot(self):
        """(times (T,), frame indices (T,), frames list, points (T, 75, 3), present (T, 3)) of the window."""
        with self._lock:
            items = list(self._buffer)
        if not items:
            return np.zeros(0), np.zeros(0, np.int64), [], np.zeros((0, schema.NUM_POINTS, 3), np.float32), \
                np.zeros((0, len(schema.PART_NAMES)), bool)  # fmt: skip
        times = np.array([it[0] for it in items])
        indices = np.array([it[1] for it in items], dtype=np.int64)
        return times, indices, [it[2] for it in items], np.stack([it[3] for it in items]), np.stack([it[4] for it in items])

    def rate(self) -> float:
        """Frames per second received over the window."""
        with self._lock:
            if len(self._buffer) < 2:
                return 0.0
            span = self._buffer[-1][0] - self._buffer[0][0]
            return (len(self._buffer) - 1) / span if span > 0 else 0.0

    # ------------------------------------------------------------------ models

    def step(self, frame_rgb: np.ndarray, recognizer: Recognizer) -> LiveUpdate:
        """Add a frame; when due, start the rolling BiGRU prediction and an I3D scoring (both off this
        thread); hand over those that finished."""
        display, _, present = self.add_frame(frame_rgb, recognizer)
        i3d = self.poll_i3d(recognizer)
        found = [n.replace("_", " ") for n, p in zip(schema.PART_NAMES, present) if p]
        times, indices, _, points, pres = self.snapshot()
        status = (f"{self.rate():.1f} frames/s · window {times[-1] - times[0]:.1f} s ({len(times)} frames) · "
                  f"found: {', '.join(found) or 'nobody'}")  # fmt: skip
        rolling = self._poll_rolling(recognizer, times, indices, points, pres, display.shape[1::-1])
        if rolling is None:
            return LiveUpdate(display, status, i3d=i3d)
        return LiveUpdate(display, status, prediction=rolling.prediction, seconds_ago=rolling.seconds_ago,
                          message=rolling.message, i3d=i3d)  # fmt: skip

    @property
    def rolling_pending(self) -> Future | None:
        """The rolling BiGRU prediction queued or running for this session, if any."""
        return self._rolling_job

    def _poll_rolling(self, recognizer: Recognizer, times, indices, points, pres, size) -> _Rolling | None:
        """The rolling prediction that finished since the last frame (else None); starts the next one,
        on the window as it is now, when `predict_every_s` has passed since the last start."""
        with self._rolling_lock:
            done = None
            if self._rolling_job is not None and self._rolling_job.done():
                done, self._rolling_job = self._rolling_job.result(), None
            now = self.clock()
            if self._rolling_job is None and now - self._last_prediction >= self.predict_every_s:
                self._last_prediction = now
                executor = self._rolling_executor or _shared_rolling_workers()
                self._rolling_job = executor.submit(self._rolling, recognizer, now, times, indices, points, pres,
                                                    size, self.rate() or 1.0)  # fmt: skip
                if self._rolling_job.done():  # an inline executor: this frame's own prediction
                    done, self._rolling_job = self._rolling_job.result(), None
            return done

    @staticmethod
    def _rolling(recognizer: Recognizer, now: float, times, indices, points, pres, size, rate: float) -> _Rolling:
        """The BiGRU on the window's landmarks (off the stream's thread)."""
        if recognizer.bigru is None:
            return _Rolling(message="No keypoint (BiGRU) weights are loaded.")
        if len(times) < MIN_ROWS:
            return _Rolling(message="Collecting frames…")
        from signdemo.landmarks import Landmarks

        lm = Landmarks(points.astype(np.float32), pres, indices, rate, size)
        try:
            pred = recognizer.predict_landmarks(lm)
        except NoPersonDetectedError:
            if pres[:, 0].any():  # a body but no hand, for a model that reads the hands alone
                return _Rolling(message="No hands in view: sign with your hands in the picture.")
            return _Rolling(message="Nobody in view: step back so your head, shoulders and hands show.")
        except Exception as exc:  # noqa: BLE001 - off the stream's thread: report it, keep the overlay going
            log.exception("live BiGRU prediction failed")
            return _Rolling(message=f"the keypoint model failed ({type(exc).__name__}); see the server log")
        ages = np.full(len(pred.attention_frames), np.nan)
        ok = pred.attention_frames >= 0
        pos = np.searchsorted(indices, pred.attention_frames[ok])
        ages[ok] = now - times[np.clip(pos, 0, len(times) - 1)]
        return _Rolling(pred, ages)

    # ------------------------------------------------------------------ the I3D, on its own

    @property
    def i3d_pending(self) -> Future | None:
        """The I3D scoring queued or running for this session, if any."""
        return self._i3d_job

    def poll_i3d(self, recognizer: Recognizer) -> LiveI3D | None:
        """The I3D scoring that finished since the last call (else None); starts the next one when
        `i3d_every_s` has passed since the last start and the window holds enough frames."""
        with self._i3d_lock:
            done = None
            if self._i3d_job is not None and self._i3d_job.done():
                done, self._i3d_job = self._i3d_job.result(), None
            now = self.clock()
            if recognizer.i3d is None or self._i3d_job is not None or now - self._i3d_started < self.i3d_every_s:
                return done
            times, indices, frames, _, _ = self.snapshot()
            recent = times >= now - self.i3d_window_s
            if recent.sum() >= MIN_I3D_FRAMES:
                self._i3d_started = now
                picked = [f for f, keep in zip(frames, recent) if keep]
                executor = self._i3d_executor or _shared_i3d_worker()
                self._i3d_job = executor.submit(self._score_window, recognizer, picked, indices[recent])
            return done

    def _score_window(self, recognizer: Recognizer, frames: list[np.ndarray], indices: np.ndarray) -> LiveI3D:
        t0 = time.perf_counter()
        try:
            pred, message = self._i3d_on(recognizer, frames, indices), None
        except (SigndemoError, ValueError) as exc:
            pred, message = None, str(exc)
            log.warning("live I3D: %s", exc)
        except Exception as exc:  # noqa: BLE001 - off the stream's thread: report it, keep the overlay going
            pred, message = None, f"the RGB model failed ({type(exc).__name__}); see the server log"
            log.exception("live I3D scoring failed")
        return LiveI3D(pred, self.i3d_window_s, len(frames), time.perf_counter() - t0, message)

    @staticmethod
    def _i3d_on(recognizer: Recognizer, frames: list[np.ndarray], indices: np.ndarray) -> Prediction:
        h, w = frames[-1].shape[:2]  # the camera may have changed size mid-window
        frames = [f if f.shape[:2] == (h, w) else cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames]
        return recognizer.predict_frames(np.stack(frames), indices, threads=LIVE_I3D_THREADS)

    def score_i3d(self, recognizer: Recognizer) -> Prediction:
        """The I3D on the frames of the whole current window, now, on the caller's thread."""
        if recognizer.i3d is None:
            raise SigndemoError("no I3D weights are loaded, so the last seconds cannot be scored with it")
        _, indices, frames, _, _ = self.snapshot()
        if len(frames) < 2:
            raise SigndemoError("no webcam frames yet: start the webcam on the Live tab and sign")
        return self._i3d_on(recognizer, frames, indices)


def close_session(session: LiveSession | None) -> None:
    """gr.State delete callback: release the session's graph."""
    if isinstance(session, LiveSession):
        session.close()
        log.info("closed a live session")

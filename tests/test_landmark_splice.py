"""signdemo.landmarks.extract_landmarks_spliced: one clip's landmarks on two graphs, spliced where
they agree; the splice rule on scripted graphs, then real MediaPipe Hands on shared WLASL clips."""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import pytest
from _paths import need_shared

from signdemo import schema
from signdemo.landmarks import SplicedLandmarkStream, extract_landmarks, extract_landmarks_spliced
from signdemo.video import read_clip


class _ScriptedGraph:
    """A stand-in for a tracking graph: frame t (its pixels hold t) gives the row of t, shifted by
    `offset` until the graph has seen `converge_after` frames when it did not start at frame 0 (a
    graph started mid-clip that takes a while to track what the first one does)."""

    def __init__(self, offset: float, converge_after: int, fail_at: int | None = None) -> None:
        self.offset, self.converge_after, self.fail_at = offset, converge_after, fail_at
        self.first = None
        self.seen = 0
        self.tracked = None

    def process(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = int(frame[0, 0, 0])
        self.first = t if self.first is None else self.first
        self.seen += 1
        if self.fail_at is not None and t == self.fail_at and self.first > 0:
            raise RuntimeError("graph failed")
        points = np.full((schema.NUM_POINTS, schema.NUM_COORDS), t / 100.0, dtype=np.float32)
        if self.first > 0 and self.seen <= self.converge_after:
            points += self.offset
        present = np.array([False, True, True])
        self.tracked = points.copy()
        return points, present


class _ScriptedPool:
    """A `GraphPool` stand-in handing out scripted graphs (and keeping them for the test to read)."""

    def __init__(self, **graph_args) -> None:
        self.graph_args = graph_args
        self.model = "scripted"
        self.made: list[_ScriptedGraph] = []

    @contextlib.contextmanager
    def graph(self):
        g = _ScriptedGraph(**self.graph_args)
        self.made.append(g)
        yield g


def _frames(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.uint8)[:, None, None, None].repeat(3, axis=3)  # (n, 1, 1, 3), frame t holds t


@pytest.mark.parametrize("offset, agree, expect_splice", [
    (0.0, 1, 19),       # B agrees on its first frame (19 = (50 - 12) // 2)
    (0.0, 3, 21),       # three frames in a row
    (5e-4, 3, 21),      # within the tolerance from the start
    (0.05, 3, 26),      # B converges after 5 frames (19..23), then agrees on 24, 25, 26
])  # fmt: skip
def test_the_splice_is_after_agree_frames_agreeing_frames_and_takes_b_from_there(offset, agree, expect_splice):
    pool = _ScriptedPool(offset=offset, converge_after=5)
    report = {}
    got = extract_landmarks_spliced(_frames(50), fps=30.0, tolerance=1e-3, agree_frames=agree, report=report,
                                    pool=pool)  # fmt: skip
    assert report == {"splice": expect_splice, "frames_a": expect_splice + 1, "frames_b": 50 - 19, "start_b": 19}
    # every row, in order, of the right frame (B's within the tolerance of A's)
    assert np.allclose(got.points[:, 0, 0], np.arange(50) / 100.0, rtol=0, atol=1e-3)
    assert len(got) == 50 and got.present[:, 1:].all() and np.array_equal(got.frame_indices, np.arange(50))


def test_graphs_that_never_agree_give_the_first_graphs_rows():
    pool = _ScriptedPool(offset=0.05, converge_after=1000)
    report = {}
    got = extract_landmarks_spliced(_frames(50), fps=30.0, report=report, pool=pool)
    assert report["splice"] is None and report["frames_a"] == 50
    assert np.allclose(got.points[:, 0, 0], np.arange(50) / 100.0)  # none of B's shifted rows


def test_a_short_clip_runs_on_one_graph_and_bad_settings_are_refused():
    pool = _ScriptedPool(offset=0.0, converge_after=0)
    report = {}
    extract_landmarks_spliced(_frames(20), report=report, pool=pool)
    assert report == {"splice": None, "frames_a": 20, "frames_b": 0, "start_b": None} and len(pool.made) == 1
    with pytest.raises(ValueError, match="tolerance"):
        extract_landmarks_spliced(_frames(50), tolerance=0.5, pool=pool)
    with pytest.raises(ValueError, match="agree_frames"):
        extract_landmarks_spliced(_frames(50), agree_frames=0, pool=pool)


def test_a_failing_second_graph_leaves_the_first_graphs_rows_with_a_warning(caplog):
    pool = _ScriptedPool(offset=0.05, converge_after=1000, fail_at=25)
    with caplog.at_level(logging.WARNING, logger="signdemo.landmarks"):
        got = extract_landmarks_spliced(_frames(50), pool=pool)
    assert np.allclose(got.points[:, 0, 0], np.arange(50) / 100.0)
    assert "second landmark graph failed (RuntimeError: graph failed)" in caplog.text


def _fed(stream: SplicedLandmarkStream, frames: np.ndarray, starts: dict) -> None:
    """Put the frames one by one as a decoder does, noting B's first frame after each put."""
    for i, frame in enumerate(frames):
        stream.put(frame, i)
        starts[i] = stream.start_b


def test_fed_while_decoding_the_second_graph_starts_at_the_middle_of_the_expected_clip():
    pool = _ScriptedPool(offset=0.05, converge_after=5)
    stream = SplicedLandmarkStream(pool=pool, expected_frames=50)
    starts, report = {}, {}
    _fed(stream, _frames(50), starts)
    assert starts[18] is None and starts[19] == 19  # B began with frame 19, 31 frames before the clip's end
    got = stream.result(np.arange(50), 30.0, frames=_frames(50), report=report)
    assert report == {"splice": 26, "frames_a": 27, "frames_b": 31, "start_b": 19}
    assert np.allclose(got.points[:, 0, 0], np.arange(50) / 100.0, rtol=0, atol=1e-3)
    assert [g.first for g in pool.made] == [0, 19]


@pytest.mark.parametrize("expected", [30, 200, None])
def test_a_wrong_or_missing_frame_count_only_moves_where_the_second_graph_starts(expected):
    """A header that lies (30 or 200 frames for 50) or says nothing: the rows are still every frame's,
    within the tolerance of one graph's; B starts where the count put the middle, or once every frame
    is in (then after A's position, or not at all where A is near the end)."""
    pool = _ScriptedPool(offset=0.05, converge_after=5)
    stream = SplicedLandmarkStream(pool=pool, expected_frames=expected)
    starts, report = {}, {}
    _fed(stream, _frames(50), starts)
    got = stream.result(np.arange(50), 30.0, frames=_frames(50), report=report)
    assert np.allclose(got.points[:, 0, 0], np.arange(50) / 100.0, rtol=0, atol=1e-3) and len(got) == 50
    if expected == 30:
        assert starts[9] == 9 and report["start_b"] == 9  # (30 - 12) // 2
    else:
        assert all(v is None for v in starts.values())  # nothing started while the frames came in
        assert report["start_b"] is None or report["start_b"] >= 19
    if report["splice"] is None:
        assert report["frames_a"] == 50


def test_the_stream_refuses_a_late_plan_and_a_clip_of_other_frames():
    pool = _ScriptedPool(offset=0.0, converge_after=0)
    stream = SplicedLandmarkStream(pool=pool)
    stream.put(_frames(1)[0])
    with pytest.raises(RuntimeError, match="before the first frame"):
        stream.expect(50)
    with pytest.raises(ValueError, match="1 frames were given to the stream, the clip has 2"):
        stream.result(np.arange(2), 30.0, frames=_frames(2))
    stream.cancel()
    assert not stream._thread.is_alive()


# ------------------------------------------------------------------ real MediaPipe Hands


@pytest.fixture(scope="module")
def shipped():
    from signdemo.inference import Recognizer

    rec = Recognizer.from_defaults(models=("bigru_attention",))
    assert rec.landmark_model == "hands"
    return rec


@pytest.mark.slow
@pytest.mark.parametrize("name", ["04434.mp4", "14188.mp4", "18734.mp4"])
def test_spliced_hands_rows_give_the_shipped_model_one_graphs_answer(shipped, name):
    """The app's rule on real clips (14188.mp4 is the one where splicing on the first agreeing frame
    changed the top-5, BENCHMARKS.md): close rows, the same hands, the same top-5."""
    clip = read_clip(need_shared("data", "wlasl_clips", name))
    one = extract_landmarks(clip.frames, clip.source_indices, clip.fps, model="hands")
    report = {}
    spliced = extract_landmarks_spliced(clip.frames, clip.source_indices, clip.fps, model="hands", report=report)
    assert report["splice"] is not None and report["frames_a"] < len(clip)  # it did split the work
    assert np.array_equal(spliced.present, one.present)
    assert np.abs(spliced.points - one.points).max() < 0.02  # 0.0084 at most on the 34 shared clips
    a, b = shipped.predict_landmarks(one), shipped.predict_landmarks(spliced)
    assert a.labels == b.labels
    assert np.abs(a.scores - b.scores).max() < 0.01


@pytest.mark.slow
def test_tolerance_zero_gives_exactly_one_graphs_rows():
    clip = read_clip(need_shared("data", "wlasl_clips", "04434.mp4"))
    one = extract_landmarks(clip.frames, clip.source_indices, clip.fps, model="hands")
    report = {}
    spliced = extract_landmarks_spliced(clip.frames, clip.source_indices, clip.fps, model="hands",
                                        tolerance=0.0, report=report)  # fmt: skip
    assert report["splice"] is not None  # bit-identical tracking after a frame without hands
    assert np.array_equal(spliced.points, one.points) and np.array_equal(spliced.present, one.present)


@pytest.mark.slow
def test_hands_fed_while_decoding_give_the_rows_of_the_splice_after_decoding():
    """The app's keypoint-only flow: graph A fed by the decoder, B started from the header's frame
    count while the clip still decodes; the rows are those of the same splice run on the decoded clip."""
    path = need_shared("data", "wlasl_clips", "04434.mp4")
    stream = SplicedLandmarkStream(model="hands")
    clip = read_clip(path, on_frame=stream.put, on_start=stream.expect)
    start = stream.start_b
    report_stream, report_after = {}, {}
    streamed = stream.result(clip.source_indices, clip.fps, frames=clip.frames, report=report_stream)
    after = extract_landmarks_spliced(clip.frames, clip.source_indices, clip.fps, model="hands", report=report_after)
    assert start == (len(clip) - 12) // 2  # begun before `result`, i.e. while decoding
    assert report_stream == report_after and report_stream["splice"] is not None
    assert np.array_equal(streamed.points, after.points) and np.array_equal(streamed.present, after.present)

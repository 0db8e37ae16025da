"""The app without a server: building `demo`, the model store, and each handler's outputs.

Tiny random-init bundles (tests/_app_helpers.py) stand in for trained weights: these tests check
what the page shows and how errors surface, not accuracy.
"""

from __future__ import annotations

import csv
import threading
import time

import gradio as gr
import numpy as np
import pytest

from _app_helpers import LABELS, WLASL_CLIP, make_keypoint_set, make_weights_dir, write_clip
from signdemo.ui import cards, inspection, outputs, plots
from signdemo.ui.handlers import Handlers, prepare_examples_cache
from signdemo.ui.live import MIN_I3D_FRAMES, InlineExecutor, LiveSession
from signdemo.ui.store import DEMO_LABEL, ModelStore
from signdemo.ui.training import discover_scripts
from signdemo.video import probe, read_clip
from signdemo.weights import BIGRU, I3D


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return make_weights_dir(tmp_path_factory.mktemp("weights"), reports={"val": 0.8547, "test": 0.95})


@pytest.fixture(scope="module")
def store(weights):
    return ModelStore(weights_dir=weights, use_hub=False)


@pytest.fixture(autouse=True)
def _outputs_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNDEMO_OUTPUT_DIR", str(tmp_path / "outputs"))


def final(outputs) -> tuple:
    """The page's state after a streaming handler: each output's last value that was not a skip."""
    state = None
    for values in outputs:
        if state is None:
            state = list(values)
        else:
            state = [old if isinstance(new, dict) and new == gr.skip() else new for old, new in zip(state, values)]
    return tuple(state)


@pytest.fixture
def warnings_shown(monkeypatch):
    shown = []
    monkeypatch.setattr(gr, "Warning", lambda message="", *a, **k: shown.append(str(message)))
    return shown


def test_build_demo_loads_nothing_and_names_the_api(weights, tmp_path):
    import app

    lazy = ModelStore(weights_dir=weights, use_hub=False)
    demo = app.build_demo(lazy, examples_dir=tmp_path)
    assert not lazy.is_loaded, "building the page must not load a model"
    public = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert public == {"recognize"}
    assert demo._queue.max_size == 16
    assert app.demo is not None and not app.STORE.is_loaded  # the module-level demo, built at import


def test_build_demo_with_examples(weights, tmp_path, monkeypatch):
    import app

    monkeypatch.setenv("GRADIO_EXAMPLES_CACHE", str(tmp_path / "cache"))
    write_clip(tmp_path / "a.mp4")
    (tmp_path / "labels.csv").write_text("file,label\na.mp4,hello\n")
    demo = app.build_demo(ModelStore(weights_dir=weights, use_hub=False), examples_dir=tmp_path)
    datasets = [b for b in demo.blocks.values() if isinstance(b, gr.Dataset)]
    assert len(datasets) == 1 and len(datasets[0].samples) == 1
    assert (tmp_path / "cache" / "signdemo_weights.txt").is_file()


def test_weights_banner_labels_demo_weights(store):
    banner = Handlers(store).weights_banner()
    assert banner.count(DEMO_LABEL) == 2
    assert "test-bigru" in banner and "test-i3d" in banner and "5 classes" in banner


def test_one_model_missing_the_other_still_works(tmp_path, warnings_shown):
    weights = make_weights_dir(tmp_path / "w", i3d=False)
    store = ModelStore(weights_dir=weights, use_hub=False)
    h = Handlers(store)
    assert "No weights loaded" in h.weights_banner()
    clip = write_clip(tmp_path / "nobody.mp4")
    out = final(h.recognize(str(clip), False, None, progress=None))
    _, bigru_md, bigru_top, i3d_md, i3d_top, agreement, *_ = out
    assert i3d_top is None and "No weights loaded" in i3d_md
    assert bigru_top is None and "No answer" in bigru_md  # nobody in the clip
    assert "Neither model" in agreement


def test_no_person_still_gets_the_rgb_answer_and_a_warning(store, tmp_path, warnings_shown):
    clip = write_clip(tmp_path / "nobody.mp4")
    overlay, bigru_md, bigru_top, i3d_md, i3d_top, agreement, attention, thumbs, i3d_time, details = final(Handlers(
        store).recognize(str(clip), False, None, progress=None))  # fmt: skip
    assert bigru_top is None and set(i3d_top) <= set(LABELS) and len(i3d_top) == 5
    assert any("no person" in w.lower() for w in warnings_shown)
    assert "Only the RGB model answered" in agreement
    assert details["errors"]["bigru_attention"].startswith("NoPersonDetectedError")
    assert thumbs == [] and overlay is not None  # the overlay still shows what MediaPipe found (nothing)


def test_recognize_a_real_clip(store, tmp_path, warnings_shown):
    if not WLASL_CLIP.is_file():
        pytest.skip(f"{WLASL_CLIP} is not available (needs ../shared)")
    streamed = list(Handlers(store).recognize(str(WLASL_CLIP), False, None, progress=None))
    assert len(streamed) == 2  # the keypoint answer first, while the I3D runs
    first, second = streamed
    assert first[2] is not None and first[4] is None and "Running" in first[3] and "waiting" in first[5]
    # The overlay is encoded beside the I3D and sent once, with its answer; the keypoint outputs are
    # not sent again.
    assert first[0] is None and isinstance(second[0], str) and second[4] is not None
    assert second[2] == gr.skip() and second[6] == gr.skip()
    overlay, bigru_md, bigru_top, i3d_md, i3d_top, agreement, attention, thumbs, i3d_time, details = final(streamed)
    assert probe(overlay).codec in ("avc1", "h264")  # browser-playable
    assert len(read_clip(overlay)) == len(read_clip(WLASL_CLIP))  # every decoded frame
    assert DEMO_LABEL in bigru_md and DEMO_LABEL in i3d_md and "Latency" in bigru_md
    assert len(bigru_top) == 5 and len(i3d_top) == 5
    assert "agree" in agreement
    curve = attention.data[0]
    assert len(curve.y) == 200 and abs(float(np.sum(curve.y)) - 100.0) < 1e-3  # percent, sums to 100
    assert 1 <= len(thumbs) <= 4 and all(img.shape[0] == 180 for img, _ in thumbs)
    assert {t.name for t in i3d_time.data} == set(i3d_top)
    assert details["input"]["mirrored_input"] is False and details["bigru"]["top"][0]["label"] in LABELS


def test_mirror_checkbox_flips_the_clip(store, tmp_path, warnings_shown):
    clip = write_clip(tmp_path / "nobody.mp4")
    *_, details = final(Handlers(store).recognize(str(clip), True, None, progress=None))
    assert details["input"]["mirrored_input"] is True


@pytest.mark.parametrize("content, fragment", [(b"", "empty"), (b"\x89PNG\r\n\x1a\n" + b"0" * 64, "still image")])
def test_typed_errors_become_gr_error(store, tmp_path, content, fragment):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(gr.Error) as info:
        final(Handlers(store).recognize(str(bad), False, None, progress=None))
    assert fragment in info.value.message
    assert list((tmp_path / "outputs").glob("*")) == []  # a failed request leaves no output folder


def test_model_card_shows_only_measured_scores_and_the_leak(store):
    bundle, _ = store.bundle(BIGRU)
    card = cards.model_card(BIGRU, bundle)
    assert ["test top-1", "95.00%"] in card.metrics and ["best validation top-1", "85.47%"] in card.metrics
    assert "The split may leak" in card.markdown and DEMO_LABEL in card.markdown
    assert f"{bundle.num_parameters:,} parameters" in card.markdown
    assert len(card.history.data) == 4 and card.confusion.data[0].type == "heatmap"

    i3d, _ = store.bundle(I3D)
    card = cards.model_card(I3D, i3d)
    assert card.metrics == [] and "none shipped with these weights" in card.markdown
    assert "The split may leak" not in card.markdown


def test_load_another_bundle_for_one_session(store, tmp_path):
    from _app_helpers import make_bigru_bundle

    other = make_bigru_bundle(tmp_path / "other-bigru", name="other-bigru")
    h = Handlers(store, allow_local_paths=True)
    selection, status, banner = h.load_bundle(str(other), {}, progress=lambda *a, **k: None)
    assert selection == {BIGRU: str(other)} and "other-bigru" in status and "other-bigru" in banner
    assert "test-bigru" in h.weights_banner({})  # other sessions keep the defaults
    assert store.recognizer(selection).bigru.name == "other-bigru"
    assert "other-bigru" in h.model_cards(selection)[0]
    assert h.reset_bundles()[0] == {}
    with pytest.raises(gr.Error, match="switched off"):
        Handlers(store, allow_local_paths=False).load_bundle(str(other), {}, progress=lambda *a, **k: None)


def test_a_bundle_of_the_weights_folder_is_picked_by_name_even_where_server_paths_are_off(tmp_path):
    from _app_helpers import make_bigru_bundle

    weights = make_weights_dir(tmp_path / "weights", i3d=False)
    make_bigru_bundle(weights / "x-bigru", name="x-bigru")  # after test-bigru: not the default
    store = ModelStore(weights_dir=weights, use_hub=False)
    h = Handlers(store, allow_local_paths=False)
    choices = dict((value, label) for label, value in h.shipped_choices())
    assert sorted(choices) == ["test-bigru", "x-bigru"]
    assert f"{len(LABELS)} classes" in choices["x-bigru"] and "Keypoints" in choices["x-bigru"]
    selection, status, banner = h.use_shipped_bundle("x-bigru", {}, progress=lambda *a, **k: None)
    assert selection == {BIGRU: str(weights / "x-bigru")} and "x-bigru" in status and "x-bigru" in banner
    assert store.recognizer(selection).bigru.name == "x-bigru" and "test-bigru" in h.weights_banner({})
    for name in ("../weights/x-bigru", str(weights / "x-bigru"), "missing", None):  # names of the list only
        with pytest.raises(gr.Error, match="not a bundle in the weights folder"):
            h.use_shipped_bundle(name, {}, progress=lambda *a, **k: None)


def test_try_these_table_describes_demo_signs(store):
    rows = Handlers(store).vocabulary_table()
    assert [r[1] for r in rows if r[0] == "Keypoints"] == LABELS
    if cards.synth_vocabulary():
        hello = next(r for r in rows if r[1] == "hello")
        assert "forehead" in hello[2].lower()  # the synthetic signer's description of its class


def test_model_card_without_weights_says_so():
    card = cards.model_card(I3D, None, "nothing in weights/")
    assert "No weights are loaded" in card.markdown and "nothing in weights/" in card.markdown


def test_inspect_keypoint_set(store, tmp_path):
    npy, manifest = make_keypoint_set(tmp_path / "kp", n=8)
    h = Handlers(store)
    status, metrics, confusion, pairs, errors, dropdown, csv_path, evaluation = h.inspect_run(
        None, [str(npy), str(manifest)], None, BIGRU, None, progress=None)  # fmt: skip
    assert "8 samples (keypoints)" in status
    bigru_row = next(r for r in metrics if r[0] == BIGRU)
    assert bigru_row[1] + bigru_row[6] == 8  # scored + label not in vocabulary
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and {"label", "bigru_attention_top1", "bigru_attention_top5"} <= set(rows[0])
    choices = dropdown["choices"]
    assert len(choices) == 8
    video, md, top_bigru, top_i3d, attention = h.inspect_sample(choices[0][1], evaluation, None)
    assert len(read_clip(video)) == 200 and top_i3d is None and "true label" in md
    assert attention.data[0].customdata[0] == "step 0"  # keypoint data: steps, no video frames


def test_inspect_clip_set_needs_its_clips(tmp_path):
    (tmp_path / "labels.csv").write_text("file,gloss\nmissing.mp4,hello\n")
    with pytest.raises(Exception, match="were not found"):
        inspection.load_uploads([tmp_path / "labels.csv", write_clip(tmp_path / "other.mp4")])


def test_find_sets_in_a_folder(tmp_path):
    write_clip(tmp_path / "a.mp4")
    (tmp_path / "labels.csv").write_text("file,label\na.mp4,hello\n")
    make_keypoint_set(tmp_path, n=3)
    names = [name for name, _ in inspection.find_sets(tmp_path)]
    assert len(names) == 2 and any("keypoints" in n for n in names)
    kinds = sorted(loader().kind for _, loader in inspection.find_sets(tmp_path))
    assert kinds == ["clips", "keypoints"]


class _FakeGraph:
    """Records the frames MediaPipe would get; finds a 'pose' whose nose is the red marker."""

    def __init__(self):
        self.frames, self.closed = [], False

    def process(self, frame_bgr):
        self.frames.append(frame_bgr)
        points = np.zeros((75, 3), np.float32)
        ys, xs = np.nonzero(frame_bgr[..., 2] > 200)
        points[0] = (xs.mean() / frame_bgr.shape[1], ys.mean() / frame_bgr.shape[0], 0)
        return points, np.array([True, False, False])

    def close(self):
        self.closed = True


def test_live_session_takes_the_graph_of_the_keypoint_models_landmark_model():
    """A live session's graph is of the selected keypoint model's landmark model; when the selection
    changes to a model of another, the window starts afresh with a graph of that one."""

    class _Recognizer:
        def __init__(self, model):
            self.landmark_model, self.made = model, []

        def new_extractor(self):
            self.made.append(_FakeGraph())
            return self.made[-1]

    clock = [0.0]
    session = LiveSession(mirrored=False, clock=lambda: clock[0])
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[:20, :20] = (255, 0, 0)
    hands, holistic = _Recognizer("hands"), _Recognizer("holistic")
    for _ in range(3):
        clock[0] += 0.1
        session.add_frame(frame, hands)
    assert len(hands.made) == 1 and len(hands.made[0].frames) == 3 and len(session.snapshot()[0]) == 3
    clock[0] += 0.1
    session.add_frame(frame, holistic)
    assert hands.made[0].closed and len(holistic.made) == 1  # the other model's graph, a fresh window
    assert len(session.snapshot()[0]) == 1
    session.add_frame(frame, holistic)
    assert len(holistic.made) == 1 and len(holistic.made[0].frames) == 2  # kept while the model stays
    session.close()


def test_live_session_unmirrors_for_the_model_and_releases_its_graph():
    graph, clock = _FakeGraph(), [0.0]
    session = LiveSession(mirrored=True, clock=lambda: clock[0], extractor_factory=lambda: graph, idle_release_s=30)
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[:20, :20] = (255, 0, 0)  # RGB red in the top-LEFT of the (mirrored) selfie view
    display, points, present = session.add_frame(frame)
    assert graph.frames[0][:20, -20:, 2].mean() > 200  # the model sees it top-RIGHT: unmirrored
    assert points[0, 0] > 0.8
    assert display.shape == frame.shape  # shown in the selfie view the user sees
    assert not session.release_if_idle() and session.has_graph
    clock[0] = 31.0
    assert session.release_if_idle() and graph.closed and not session.has_graph
    session.close()
    assert session.closed


def test_live_step_predicts_on_the_window_and_the_i3d_scores_on_its_own(store):
    from concurrent.futures import ThreadPoolExecutor

    clock = [0.0]
    with ThreadPoolExecutor(1) as executor:
        session = LiveSession(clock=lambda: clock[0], extractor_factory=_FakeGraph, predict_every_s=0.4,
                              i3d_every_s=0.95, i3d_window_s=2.0, i3d_executor=executor,
                              rolling_executor=InlineExecutor())  # fmt: skip
        recognizer = store.recognizer()
        frame = np.zeros((120, 160, 3), np.uint8)
        frame[50:60, 70:80] = (255, 0, 0)
        updates, started = [], 0
        for _ in range(16):
            clock[0] += 0.2
            updates.append(session.step(frame, recognizer))
            if session.i3d_pending is not None:
                started += 1
                session.i3d_pending.result(timeout=120)  # the scoring runs beside the stream; here, in step
    made = [u for u in updates if u.prediction is not None]
    assert 5 <= len(made) <= 8  # every 0.4 s once 6 frames are in
    assert made[-1].seconds_ago.shape == (200,) and np.nanmax(made[-1].seconds_ago) <= 3.0
    assert "frames/s" in updates[-1].status
    # The I3D: started once 6 frames were in (t = 1.2 s), then about every second, without a request;
    # each result is handed over once, by the next frame's update, and covers the last 2 s only.
    scored = [u.i3d for u in updates if u.i3d is not None]
    assert started == 3 and len(scored) == 2  # the third is handed over by the next frame
    for i3d in scored:
        assert i3d.message is None and i3d.prediction.labels[0] in LABELS
        assert MIN_I3D_FRAMES <= i3d.frames <= 11 and i3d.prediction.time_scores.ndim == 2
    assert session.score_i3d(recognizer).labels[0] in LABELS  # the whole window, on the caller's thread


class _GatedRecognizer:
    """A recognizer whose keypoint model waits for `gate` (a slow model, on demand)."""

    def __init__(self, recognizer):
        self._recognizer, self.gate, self.calls = recognizer, threading.Event(), 0

    def __getattr__(self, name):
        return getattr(self._recognizer, name)

    def predict_landmarks(self, landmarks):
        self.calls += 1
        assert self.gate.wait(60)
        return self._recognizer.predict_landmarks(landmarks)


def test_live_frames_are_answered_while_the_rolling_prediction_runs(store):
    """The rolling BiGRU runs off the stream: frames keep being answered while it works, no second
    one is queued for the session meanwhile, and its answer comes with the first frame after it."""
    from concurrent.futures import ThreadPoolExecutor

    clock = [0.0]
    recognizer = _GatedRecognizer(store.recognizer())
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[50:60, 70:80] = (255, 0, 0)
    with ThreadPoolExecutor(1) as rolling, ThreadPoolExecutor(1) as i3d:
        session = LiveSession(clock=lambda: clock[0], extractor_factory=_FakeGraph, predict_every_s=0.4,
                              i3d_executor=i3d, rolling_executor=rolling)  # fmt: skip
        updates = []
        for _ in range(40):
            clock[0] += 0.2
            updates.append(session.step(frame, recognizer))
            if recognizer.calls:
                break
        assert recognizer.calls == 1 and any(u.message == "Collecting frames…" for u in updates)
        job = session.rolling_pending
        assert job is not None and not job.done()
        for _ in range(5):  # the model is busy: the frames still come back, without a prediction
            clock[0] += 0.2
            update = session.step(frame, recognizer)
            assert update.display.shape == (120, 160, 3) and update.prediction is None
        assert session.rolling_pending is job and recognizer.calls == 1
        recognizer.gate.set()
        job.result(timeout=60)
        clock[0] += 0.2
        update = session.step(frame, recognizer)
        assert update.prediction is not None and update.prediction.labels[0] in LABELS
        assert update.seconds_ago.shape == (200,)
        session.close()


def test_the_live_i3d_worker_runs_at_a_lower_priority_than_the_stream():
    """The shared worker's thread (where a one-thread OpenVINO I3D computes) is nicer than the
    threads that answer the frames, so the overlay keeps its rate while the I3D scores."""
    import os
    import threading

    from signdemo.ui import live

    if not hasattr(os, "setpriority"):
        pytest.skip("no per-thread priorities on this system")
    here = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    worker = live._shared_i3d_worker()
    nice = worker.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result(timeout=10)
    assert nice == max(live.LIVE_I3D_NICE, here)
    assert live.LIVE_I3D_NICE > 0 and (nice > here or here >= live.LIVE_I3D_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == here  # the caller's is untouched
    assert live.lower_thread_priority(0) is False


def test_training_scripts_are_listed():
    scripts = discover_scripts()
    if not scripts:
        pytest.skip("no training scripts in signdemo/train/ yet")
    for s in scripts:
        assert s.relpath.startswith("signdemo/") and s.command.startswith(("python", "torchrun"))


def test_output_folders_are_removed(tmp_path):
    with outputs.output_dir() as out:
        (out / "x.mp4").write_bytes(b"x")
    assert out.is_dir()
    with pytest.raises(RuntimeError):
        with outputs.output_dir() as failed:
            raise RuntimeError("boom")
    assert not failed.exists()
    old = time.time() - outputs.MAX_AGE_S - 10
    import os

    os.utime(out, (old, old))
    assert outputs.prune() == 1 and not out.exists()


def test_examples_cache_is_emptied_when_weights_change(tmp_path, monkeypatch, weights):
    monkeypatch.setenv("GRADIO_EXAMPLES_CACHE", str(tmp_path / "cache"))
    prepare_examples_cache(ModelStore(weights_dir=weights, use_hub=False))
    (tmp_path / "cache" / "123").mkdir()
    prepare_examples_cache(ModelStore(weights_dir=weights, use_hub=False))
    assert (tmp_path / "cache" / "123").is_dir()  # same weights: the cache stays
    prepare_examples_cache(ModelStore(weights_dir=tmp_path, use_hub=False))
    assert not (tmp_path / "cache" / "123").exists()


def test_attention_peaks_are_separated():
    a = np.full(200, 1.0)
    a[[20, 22, 100, 150]] = [5, 4, 3, 2]
    assert plots.attention_peaks(a, k=3, min_separation=12) == [20, 100, 150]

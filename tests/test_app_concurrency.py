"""Many users at once: the models are shared and never changed by a request, every request gets its
own MediaPipe graphs, the queue is bounded and says so (a position for those waiting, "queue full"
for the one past the bound), and the live tab keeps each browser session's frames and graph apart.

The queue test holds the one heavy slot closed with a gate in the model store, so what it checks
does not depend on how fast anything runs.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import chain

import gradio as gr
import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.utils import QueueError, Status

from _app_helpers import WLASL_CLIP, free_port, make_weights_dir, write_clip
from signdemo import landmarks, runtime
from signdemo.inference import Recognizer
from signdemo.ui.handlers import Handlers
from signdemo.ui.live import close_session
from signdemo.ui.store import ModelStore
from signdemo.weights import ARCHITECTURES, load_bundle


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return make_weights_dir(tmp_path_factory.mktemp("weights"))


@pytest.fixture(autouse=True)
def _outputs_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNDEMO_OUTPUT_DIR", str(tmp_path / "outputs"))


def _state(model: torch.nn.Module) -> dict:
    """Every tensor of a model: where it lives, its values, whether it wants gradients."""
    return {name: (t.data_ptr(), t.detach().clone(), t.requires_grad)
            for name, t in chain(model.named_parameters(), model.named_buffers())}  # fmt: skip


def test_requests_share_the_models_and_never_change_them(weights, tmp_path):
    store = ModelStore(weights_dir=weights, use_hub=False)
    recognizer = store.recognizer()  # built once: the I3D is made channels-last here, not per request
    bundles = [store.bundle(arch)[0] for arch in ARCHITECTURES]
    before = [_state(b.model) for b in bundles]
    clip = WLASL_CLIP if WLASL_CLIP.is_file() else write_clip(tmp_path / "nobody.mp4")
    h = Handlers(store)
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: h.recognize_api(str(clip), False), range(2)))
    assert store.recognizer() is recognizer
    assert answers[0]["i3d"]["top"] == answers[1]["i3d"]["top"]
    for bundle, old in zip(bundles, before):
        new = _state(bundle.model)
        assert not bundle.model.training
        for name, (ptr, value, grad) in old.items():
            assert new[name][0] == ptr and torch.equal(new[name][1], value) and not new[name][2], name


def test_mediapipe_graphs_are_never_shared_between_requests(weights, tmp_path, monkeypatch):
    """Two clips of different frame sizes recognised at once, twice: between two clearings (the
    warm-graph pool clears a graph with a black frame when a clip is done) every graph sees frames
    of one clip only, from one thread only; the pool closes them all."""
    from signdemo.landmarks import _CLEAR_FRAME

    graphs, uses, closed = [], {}, []
    cls = landmarks.HolisticExtractor
    real_init, real_process, real_close = cls.__init__, cls.process, cls.close

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        graphs.append(self)
        uses[id(self)] = [[]]  # one list of (frame shape, thread) per stretch between clearings

    def process(self, frame):
        if frame is _CLEAR_FRAME:
            uses[id(self)].append([])
        else:
            uses[id(self)][-1].append((frame.shape, threading.get_ident()))
        return real_process(self, frame)

    def close(self):
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(cls, "__init__", init)
    monkeypatch.setattr(cls, "process", process)
    monkeypatch.setattr(cls, "close", close)
    clips = [write_clip(tmp_path / "a.mp4", n=36, size=(160, 120)), write_clip(tmp_path / "b.mp4", n=36, size=(128, 96))]
    recognizer = Recognizer(load_bundle(weights / "test-bigru"), None)  # landmarks only matter here
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(recognizer.recognize, clips * 2))
    stretches = [stretch for g in graphs for stretch in uses[id(g)] if stretch]
    assert len(stretches) == 8  # four requests, each on two chunks (landmark_workers=2)
    assert sorted(stretch[0][0] for stretch in stretches) == [(96, 128, 3)] * 4 + [(120, 160, 3)] * 4
    assert all(len(set(stretch)) == 1 for stretch in stretches)  # one clip's size, one thread
    assert len(graphs) < len(stretches)  # the pool reuses graphs across clips (how many depends on timing)
    if recognizer.graphs is not None:
        recognizer.graphs.close()
    assert all(g in closed for g in graphs)


def test_live_sessions_keep_their_frames_and_graphs_apart(weights):
    h = Handlers(ModelStore(weights_dir=weights, use_hub=False))
    red = np.zeros((120, 160, 3), np.uint8)
    red[..., 0] = 255  # RGB, as the browser sends it
    blue = np.zeros((120, 160, 3), np.uint8)
    blue[..., 2] = 255
    a = b = None
    for _ in range(3):  # two browsers streaming in turn
        *_, a = h.live_step(red, a, None)
        *_, b = h.live_step(blue, b, None)
    try:
        assert a is not b and a.has_graph and b.has_graph and a._extractor is not b._extractor
        frames_a, frames_b = a.snapshot()[2], b.snapshot()[2]
        assert len(frames_a) == len(frames_b) == 3
        assert all(f[..., 2].mean() > 250 and f[..., 0].mean() < 5 for f in frames_a)  # BGR red only
        assert all(f[..., 0].mean() > 250 and f[..., 2].mean() < 5 for f in frames_b)  # BGR blue only
        h.live_stop(a)  # one browser stops its webcam: the other's session goes on
        assert a.closed and not a.has_graph and not b.closed and b.has_graph
    finally:
        a.close()
        b.close()


def test_live_state_is_per_session_and_released(weights, tmp_path):
    import app

    demo = app.build_demo(ModelStore(weights_dir=weights, use_hub=False), examples_dir=tmp_path)
    states = [b for b in demo.blocks.values() if isinstance(b, gr.State) and b.delete_callback is close_session]
    assert len(states) == 1 and states[0].value is None and states[0].time_to_live == 600


# ------------------------------------------------------------------------------------ the queue


class _GatedStore(ModelStore):
    """Holds every recognition at the door until the test opens the gate."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.entered = threading.Event()
        self.gate = threading.Event()

    def recognizer(self, selection=None):
        self.entered.set()
        if not self.gate.wait(timeout=300):
            raise RuntimeError("the test never opened the gate")
        return super().recognizer(selection)


@pytest.fixture
def gated_app(weights, tmp_path, monkeypatch):
    """The page, launched in this process with a queue of 2 and a gated model store."""
    import app

    monkeypatch.setenv("SIGNDEMO_QUEUE_SIZE", "2")
    store = _GatedStore(weights_dir=weights, use_hub=False)
    demo = app.build_demo(store, examples_dir=tmp_path / "no-examples", allow_local_paths=False)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield url, store
    finally:
        store.gate.set()
        demo.close()


def _until(get, done, timeout_s: float = 60.0):
    """Poll `get()` until `done(value)`; the last value otherwise (a failed wait, not a timing test)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = get()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_full_queue_says_so_and_the_others_see_their_place(gated_app, tmp_path):
    url, store = gated_app
    clip = handle_file(str(write_clip(tmp_path / "nobody.mp4")))
    visitors = [Client(url, verbose=False) for _ in range(4)]
    first = visitors[0].submit(clip, False, api_name="/recognize")
    assert store.entered.wait(60), "the first request never reached the models"
    waiting = [v.submit(clip, False, api_name="/recognize") for v in visitors[1:3]]
    statuses = _until(lambda: [j.status() for j in waiting],
                      lambda ss: all(s.code == Status.IN_QUEUE and s.rank is not None for s in ss))  # fmt: skip
    assert [s.code for s in statuses] == [Status.IN_QUEUE] * 2
    assert sorted(s.rank for s in statuses) == [0, 1]  # the page shows these as positions 1 and 2

    with pytest.raises(QueueError, match="Queue is full"):
        visitors[3].predict(clip, False, api_name="/recognize")
    # The newcomer's page still loads: light events skip the queue...
    banner = httpx.post(f"{url}gradio_api/run/weights_banner", json={"data": [{}]}, timeout=60)
    assert banner.status_code == 200 and "test-bigru" in banner.json()["data"][0]
    # ...and nobody skips it for recognition over plain HTTP.
    direct = httpx.post(f"{url}gradio_api/run/recognize", json={"data": [None, False]}, timeout=60)
    assert direct.status_code == 404 and "join the queue" in direct.text

    store.gate.set()
    answers = [job.result(timeout=300) for job in (first, *waiting)]
    assert all(a["i3d"] is not None and a["clip"] == "nobody.mp4" for a in answers)


# ------------------------------------------------------------------------------------ memory after requests


def _rss_mib() -> float:
    from signdemo.loadtest import rss_mib

    return rss_mib(os.getpid())


@pytest.mark.skipif(not runtime._glibc(), reason="malloc_trim is glibc's")
def test_memory_a_request_freed_goes_back_to_the_os():
    """Fragmented frees (what many requests on many threads leave) stay resident until trimmed."""
    blocks = [np.ones(64 * 1024 // 8) for _ in range(4000)]  # 256 MiB in 64 KiB heap blocks
    kept = blocks[::16]  # every 16th stays alive: the heap cannot shrink from its top
    del blocks
    before = _rss_mib()
    runtime.release_memory()
    after = _rss_mib()
    assert before - after > 150, (before, after)
    del kept


def test_handlers_release_memory_after_every_request(weights, tmp_path, monkeypatch):
    from signdemo.ui import handlers as handlers_module

    calls = []
    monkeypatch.setattr(handlers_module, "release_memory", lambda: calls.append(1))
    h = Handlers(ModelStore(weights_dir=weights, use_hub=False))
    bad = tmp_path / "empty.mp4"
    bad.write_bytes(b"")
    with pytest.raises(gr.Error):
        h.recognize_api(str(bad), False)
    with pytest.raises(gr.Error):
        list(h.recognize(str(bad), False, None, progress=None))
    assert len(calls) == 2  # failed requests too


def test_overlapping_single_thread_sections_leave_the_thread_count_alone():
    """Two requests' BiGRU sections overlap (A enters, B enters, A leaves, B leaves): torch's thread
    count is process-wide, so B must still run on one thread after A left, and the count must be
    back to what it was after both, not stuck at one thread for the whole server."""
    original = torch.get_num_threads()
    torch.set_num_threads(2)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen_by_b = []

    def a():
        with runtime.torch_threads(1):
            a_in.set()
            assert b_in.wait(30)
        a_out.set()

    def b():
        assert a_in.wait(30)
        with runtime.torch_threads(1):
            b_in.set()
            assert a_out.wait(30)
            seen_by_b.append(torch.get_num_threads())

    try:
        threads = [threading.Thread(target=a), threading.Thread(target=b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        fresh = []  # what a thread that never set it (the next request's worker) gets
        t = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
        t.start()
        t.join(60)
        assert seen_by_b == [1] and fresh == [2] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)

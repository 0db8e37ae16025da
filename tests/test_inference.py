"""The inference API end to end: clip -> landmarks -> BiGRU, frames -> I3D, on small bundles made here."""

import json

import numpy as np
import pytest
import torch

from _paths import need_shared
from signdemo.__main__ import main as cli_main
from signdemo.errors import NoPersonDetectedError, UnreadableVideoError
from signdemo.features import stack_exchange
from signdemo.inference import Recognizer
from signdemo.models.bigru_attention import build_bigru_attention
from signdemo.models.i3d import InceptionI3d
from signdemo.runtime import I3DRunner, RuntimeOptions
from signdemo.video import read_clip
from signdemo.weights import BIGRU, I3D, load_bundle, save_bundle

BIGRU_ARGS = dict(input_dim=450, projection_dim=32, hidden_dim=16, num_gru_layers=2, num_classes=6, dropout=0.0)
LABELS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    torch.manual_seed(0)
    save_bundle(
        root / "bigru",
        architecture=BIGRU,
        model=build_bigru_attention(**BIGRU_ARGS),
        model_args=BIGRU_ARGS,
        labels=LABELS,
        preprocessing={"normalize": "shoulder"},
        provenance={"kind": "user", "description": "random weights for tests"},
    )
    save_bundle(
        root / "i3d",
        architecture=I3D,
        model=InceptionI3d(num_classes=6),
        model_args={"num_classes": 6},
        labels=LABELS,
        preprocessing={"num_frames": 16},
        provenance={"kind": "user", "description": "random weights for tests"},
        dtype=torch.float16,
    )
    return root


@pytest.fixture(scope="module")
def recognizer(bundles):
    return Recognizer(load_bundle(bundles / "bigru"), load_bundle(bundles / "i3d"), extraction_fps=10)


def test_real_clip_through_both_models(recognizer):
    clip = need_shared("data", "wlasl_clips", "17356.mp4")  # 31 frames, 288x192
    stages = []
    result = recognizer.recognize(clip, progress=lambda f, m: stages.append(m))
    assert stages[0] == "decoding video" and stages[-1] == "done"
    b, i = result.bigru, result.i3d
    assert b is not None and i is not None and not result.errors
    for pred in (b, i):
        assert len(pred.labels) == 5 and set(pred.labels) <= set(LABELS)
        assert pred.probabilities == sorted(pred.probabilities, reverse=True)
        assert abs(pred.scores.sum() - 1) < 1e-4 and pred.labels[0] == LABELS[int(pred.scores.argmax())]
        assert "6 classes" in pred.weight_source
    assert b.attention.shape == (200,) and abs(b.attention.sum() - 1) < 1e-4
    assert b.attention_frames.shape == (200,) and b.attention_frames.min() >= 0
    last = len(read_clip(clip)) - 1
    assert b.attention_frames.max() <= last and np.all(np.diff(b.attention_frames) >= 0)
    assert i.time_scores.shape[1] == 6 and np.allclose(i.time_scores.sum(axis=1), 1, atol=1e-4)
    assert len(i.time_frames) == i.time_scores.shape[0]
    assert len(i.frame_indices) == 16 and i.frame_indices[0] == 0 and i.frame_indices[-1] == last
    assert result.agree == (b.top1 == i.top1)
    for key in ("decode", "landmarks", "landmarks_per_frame", "bigru_answer", "i3d_answer", "total"):
        assert result.timings_ms[key] > 0
    json.dumps(result.as_dict())  # the API's answer is JSON


def test_stream_yields_bigru_before_i3d(recognizer):
    clip = need_shared("data", "wlasl_clips", "17356.mp4")
    seen = [(r.bigru is not None, r.i3d is not None) for r in recognizer.recognize_stream(clip)]
    assert seen[0] == (True, False) and seen[-1] == (True, True)


def test_with_one_landmark_graph_the_i3d_starts_beside_the_landmarks(bundles):
    """A Hands model's clip runs on one graph, so the I3D starts at once on the cores it leaves; the
    answers are those of the I3D run after the keypoint answer (the Holistic split, the option off or
    the reference options keep it after)."""
    import os
    import threading
    import time

    clip_path = need_shared("data", "wlasl_clips", "17356.mp4")
    bigru, i3d = load_bundle(bundles / "bigru"), load_bundle(bundles / "i3d")
    bigru.provenance = {**bigru.provenance, "landmark_model": "hands"}
    bigru.preprocessing = {"pose": "drop", "normalize": "hands"}
    # (landmarks after decoding here, to time them with `extract`; fed while decoding: the next test)
    one = {"splice_hands": False}  # one graph per clip
    beside = Recognizer(bigru, i3d, extraction_fps=None, runtime=RuntimeOptions(stream_landmarks=False, **one))
    after = Recognizer(bigru, i3d, extraction_fps=None, runtime=RuntimeOptions(i3d_beside_landmarks=False, **one))
    assert beside.i3d_beside_threads == max(1, (os.cpu_count() or 2) - 1) and after.i3d_beside_threads is None
    assert Recognizer(load_bundle(bundles / "bigru"), i3d).i3d_beside_threads is None  # Holistic: every core busy
    assert Recognizer(bigru, i3d, runtime=RuntimeOptions.reference()).i3d_beside_threads is None
    assert Recognizer(bigru, None).i3d_beside_threads is None

    events = []
    extract, predict = beside.extract, beside.predict_frames

    def slow_extract(clip, **kwargs):
        events.append(("landmarks start", threading.current_thread().name))
        time.sleep(0.3)
        out = extract(clip, **kwargs)
        events.append(("landmarks end", threading.current_thread().name))
        return out

    def recorded_predict(*args, **kwargs):
        events.append(("i3d start", threading.current_thread().name))
        return predict(*args, **kwargs)

    beside.extract, beside.predict_frames = slow_extract, recorded_predict
    a = beside.recognize(clip_path)
    names = [e for e, _ in events]
    assert names.index("i3d start") < names.index("landmarks end"), events  # not after the keypoint answer
    assert dict(events)["i3d start"].startswith("i3d-beside")
    b = after.recognize(clip_path)
    assert a.bigru.labels == b.bigru.labels and np.allclose(a.bigru.scores, b.bigru.scores, atol=1e-6)
    assert a.i3d.labels == b.i3d.labels and np.allclose(a.i3d.scores, b.i3d.scores, atol=1e-4)
    assert a.timings_ms["i3d_answer"] >= a.timings_ms["bigru_answer"] > 0


def test_hands_landmarks_are_spliced_for_every_keypoint_request_and_the_i3d_runs_after(bundles, monkeypatch):
    """Two spliced graphs use both cores: every request with the keypoint model splices its Hands
    landmarks, both graphs fed while decoding (the second from the middle the header's frame count
    gives), and a request for both models runs its I3D after the keypoint answer, not beside the
    graphs. The keypoint answers agree (the same top-5, probabilities close), and a clip given
    decoded is spliced after decoding."""
    import signdemo.landmarks
    from signdemo.landmarks import SplicedLandmarkStream

    clip_path = need_shared("data", "wlasl_clips", "04434.mp4")  # spliced at frame ~44 of 73
    bigru, i3d = load_bundle(bundles / "bigru"), load_bundle(bundles / "i3d")
    bigru.provenance = {**bigru.provenance, "landmark_model": "hands"}
    bigru.preprocessing = {"pose": "drop", "normalize": "hands"}
    rec = Recognizer(bigru, i3d, extraction_fps=None)
    assert rec.splices_hands and rec.i3d_beside_threads is None
    for models in ((BIGRU,), (BIGRU, I3D)):
        stream = rec._landmark_stream(models)
        assert type(stream) is SplicedLandmarkStream
        stream.cancel()  # its graphs back to the pool
    assert rec._landmark_stream((I3D,)) is None
    one = Recognizer(bigru, i3d, extraction_fps=None, runtime=RuntimeOptions(splice_hands=False))
    assert not one.splices_hands and one.i3d_beside_threads is not None  # one graph: the I3D beside it
    monkeypatch.setenv("SIGNDEMO_SPLICE_HANDS", "0")  # the deployment's switch, where the option is not set
    assert not Recognizer(bigru, i3d, extraction_fps=None).splices_hands
    assert Recognizer(bigru, i3d, extraction_fps=None, runtime=RuntimeOptions(splice_hands=True)).splices_hands
    monkeypatch.setenv("SIGNDEMO_SPLICE_HANDS", "no")
    with pytest.raises(ValueError, match="SIGNDEMO_SPLICE_HANDS must be '1'"):
        Recognizer(bigru, i3d, extraction_fps=None).splices_hands
    monkeypatch.delenv("SIGNDEMO_SPLICE_HANDS")
    spliced_after = []
    real_spliced = signdemo.landmarks.extract_landmarks_spliced
    monkeypatch.setattr(signdemo.landmarks, "extract_landmarks_spliced",
                        lambda *a, **kw: spliced_after.append(len(a[0])) or real_spliced(*a, **kw))  # fmt: skip
    started = []
    real_predict = rec.predict_frames
    rec.predict_frames = lambda *a, **kw: started.append(kw) or real_predict(*a, **kw)
    keypoint_only = rec.recognize(clip_path, models=(BIGRU,))  # streamed, spliced: nothing after decoding
    assert spliced_after == [] and rec.graphs.created == 2 and keypoint_only.i3d is None and started == []
    assert "landmarks_after_decode" in keypoint_only.timings_ms
    both = rec.recognize(clip_path)  # streamed through the same two graphs, the I3D after them
    assert spliced_after == [] and rec.graphs.created == 2 and "landmarks_after_decode" in both.timings_ms
    assert both.i3d is not None and started == [{}]  # on every core, not a beside-thread count
    assert both.timings_ms["i3d_answer"] > both.timings_ms["bigru_answer"] > 0
    given = rec.recognize(clip_path, models=(BIGRU,), clip=read_clip(clip_path))  # decoded: spliced after
    assert spliced_after == [len(given.clip)]
    for other in (both, given):
        assert keypoint_only.bigru.labels == other.bigru.labels
        assert np.abs(keypoint_only.bigru.scores - other.bigru.scores).max() < 0.01


def test_one_graph_landmarks_run_while_the_clip_decodes(bundles, monkeypatch):
    """A Hands model's landmarks run on one graph, fed each frame as it is decoded: the graph is at
    work before the decoder has read the last frame, and the rows and answers are those of the
    extraction after decoding. A clip above the model's extraction rate, Holistic's split between
    graphs, the option off and a clip given decoded are extracted after decoding."""
    import time

    import signdemo.video
    from signdemo.landmarks import HandsExtractor

    clip_path = need_shared("data", "wlasl_clips", "09960.mp4")  # hands on most frames
    bigru, i3d = load_bundle(bundles / "bigru"), load_bundle(bundles / "i3d")
    bigru.provenance = {**bigru.provenance, "landmark_model": "hands"}
    bigru.preprocessing = {"pose": "drop", "normalize": "hands"}
    streaming = Recognizer(bigru, i3d, extraction_fps=None, runtime=RuntimeOptions(splice_hands=False))
    plain = Recognizer(bigru, i3d, extraction_fps=None, runtime=RuntimeOptions(stream_landmarks=False, splice_hands=False))
    assert streaming._landmark_stream((BIGRU, I3D)) is not None
    for rec, models in ((plain, (BIGRU, I3D)), (streaming, (I3D,)), (Recognizer(load_bundle(bundles / "bigru"), i3d), (BIGRU,)),
                        (Recognizer(bigru, i3d, runtime=RuntimeOptions.reference()), (BIGRU,))):  # fmt: skip
        assert rec._landmark_stream(models) is None

    events = []
    real_read, real_process = signdemo.video.read_clip, HandsExtractor.process

    def slow_read(*args, on_frame=None, **kwargs):
        def fed(frame, index):
            time.sleep(0.01)  # a slower decoder: the graph must not wait for the end of it
            on_frame(frame, index)

        clip = real_read(*args, on_frame=fed if on_frame else None, **kwargs)
        events.append(("decoded", time.perf_counter()))
        return clip

    def recorded_process(self, frame):
        events.append(("frame", time.perf_counter()))
        return real_process(self, frame)

    monkeypatch.setattr(signdemo.video, "read_clip", slow_read)
    monkeypatch.setattr(HandsExtractor, "process", recorded_process)
    a = streaming.recognize(clip_path)
    decoded = next(t for e, t in events if e == "decoded")
    first_frame = min(t for e, t in events if e == "frame")
    assert first_frame < decoded  # the graph began before the decoder ended
    assert "landmarks_after_decode" in a.timings_ms and a.timings_ms["landmarks"] > 0
    b = plain.recognize(clip_path)
    assert "landmarks_after_decode" not in b.timings_ms
    assert a.landmarks.present[:, 1:].any()
    assert np.array_equal(a.landmarks.points, b.landmarks.points) and np.array_equal(a.landmarks.present, b.landmarks.present)
    assert np.array_equal(a.landmarks.frame_indices, b.landmarks.frame_indices) and a.landmarks.fps == pytest.approx(b.landmarks.fps)
    assert a.bigru.labels == b.bigru.labels and np.allclose(a.bigru.scores, b.bigru.scores, atol=1e-6)
    assert a.clip is not None and len(a.clip) == len(a.landmarks)

    # A 30 fps clip for a model that asks for 10 rows/s: the frames fed while decoding are not its
    # rows, so the stream is dropped (its graph handed back) and the subsampled frames extracted.
    monkeypatch.setattr(signdemo.video, "read_clip", real_read)
    sparse = Recognizer(bigru, None, extraction_fps=10, runtime=RuntimeOptions(splice_hands=False))
    c = sparse.recognize(clip_path)
    expected = sparse.extract(read_clip(clip_path))
    assert len(c.landmarks) == len(expected) < len(c.clip)
    assert np.array_equal(c.landmarks.points, expected.points) and "landmarks_after_decode" not in c.timings_ms
    assert sparse.graphs.created == 1  # the dropped stream's graph was the one reused
    given = streaming.recognize(clip_path, clip=read_clip(clip_path))  # already decoded: extracted after
    assert "landmarks_after_decode" not in given.timings_ms and np.array_equal(given.landmarks.points, b.landmarks.points)


def test_no_person_still_gets_i3d_and_a_warning(recognizer, make_video):
    clip = make_video("empty.mp4", n=20, width=256, height=192)  # coloured shapes, nobody in it
    result = recognizer.recognize(clip)
    assert result.bigru is None and isinstance(result.errors[BIGRU], NoPersonDetectedError)
    assert any("no person was detected" in w for w in result.warnings)
    assert result.i3d is not None and len(result.i3d.labels) == 5


def test_keypoint_array_alone(recognizer):
    rng = np.random.default_rng(0)
    x = stack_exchange([rng.normal(size=(200, 450)).astype(np.float32) for _ in range(2)])
    preds = [recognizer.predict_features(row) for row in x]
    assert all(len(p.labels) == 5 and p.attention.shape == (200,) for p in preds)
    assert not np.allclose(preds[0].scores, preds[1].scores)


def test_unreadable_clip_raises_typed_error(recognizer, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x01not a video" * 100)
    with pytest.raises(UnreadableVideoError):
        recognizer.recognize(bad)


def test_fast_i3d_path_matches_reference():
    """Each PyTorch speed-up keeps the answers (OpenVINO: tests/test_openvino_i3d.py): float32 channels-last within 1e-4 of the eager reference;
    bfloat16 autocast (where the CPU has it) within 0.2 on logits of ~2 and the same top-1."""
    sd = torch.load(need_shared("fixtures", "i3d_reference", "i3d_wlasl100_random_fp16.pt"), weights_only=True)
    io = torch.load(need_shared("fixtures", "i3d_reference", "i3d_reference_io.pt"), weights_only=True)
    x = io["input"].float()
    models = []
    for _ in range(2):
        m = InceptionI3d(num_classes=100)
        m.load_state_dict({k: v.float() for k, v in sd.items()})
        models.append(m.eval())
    ref = I3DRunner(models[0], RuntimeOptions.reference())(x)
    assert (ref - io["logits"]).abs().max() < 1e-4
    cl = I3DRunner(models[1], RuntimeOptions(precision="float32", i3d_backend="torch"))(x)
    assert (cl - ref).abs().max() < 1e-4
    if RuntimeOptions().use_bf16:
        bf = I3DRunner(models[1], RuntimeOptions(precision="bfloat16"))(x)
        assert (bf - ref).abs().max() < 0.2
        assert bf.max(dim=2).values.argmax() == ref.max(dim=2).values.argmax()


def test_cli_predict_json(bundles, capsys):
    clip = need_shared("data", "wlasl_clips", "17356.mp4")
    code = cli_main(["predict", str(clip), "--json", "--bigru", str(bundles / "bigru"), "--i3d", str(bundles / "i3d")])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and len(out["bigru"]["top"]) == 5 and len(out["i3d"]["top"]) == 5
    assert out["bigru"]["top"][0]["label"] in LABELS


def test_cli_reports_bad_clip(bundles, tmp_path, capsys):
    bad = tmp_path / "empty.mp4"
    bad.write_bytes(b"")
    code = cli_main(["predict", str(bad), "--bigru", str(bundles / "bigru"), "--i3d", str(bundles / "i3d")])
    assert code == 1 and "empty" in capsys.readouterr().out.lower()


def test_bigru_single_thread_fast_path_gives_the_same_answer(bundles):
    from signdemo.runtime import torch_threads

    bigru = load_bundle(bundles / "bigru")
    fast = Recognizer(bigru, None, runtime=RuntimeOptions())
    ref = Recognizer(bigru, None, runtime=RuntimeOptions.reference())
    x = np.random.default_rng(1).normal(size=(200, 450)).astype(np.float32)
    before = torch.get_num_threads()
    a, b = fast.predict_features(x), ref.predict_features(x)
    assert torch.get_num_threads() == before  # restored
    assert np.allclose(a.scores, b.scores, atol=1e-5) and np.allclose(a.attention, b.attention, atol=1e-6)
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_extraction_rate_comes_from_the_bundle(bundles):
    from signdemo.inference import DEFAULT_EXTRACTION_FPS

    bigru = load_bundle(bundles / "bigru")
    assert Recognizer(bigru, None).extraction_fps == DEFAULT_EXTRACTION_FPS
    bigru.provenance = {**bigru.provenance, "landmark_extraction_fps": 10}
    assert Recognizer(bigru, None).extraction_fps == 10
    assert Recognizer(bigru, None, extraction_fps=None).extraction_fps is None  # explicit: every frame


def test_landmark_model_comes_from_the_bundle(bundles):
    """A keypoint bundle records the MediaPipe graph of its training landmarks (provenance
    `landmark_model`); the recognizer's graphs are of that kind, Holistic where none is recorded."""
    bigru = load_bundle(bundles / "bigru")
    rec = Recognizer(bigru, None)
    assert rec.landmark_model == "holistic" and rec.graphs.model == "holistic"
    bigru.provenance = {**bigru.provenance, "landmark_model": "hands"}
    rec = Recognizer(bigru, None)
    assert rec.landmark_model == "hands" and rec.graphs.model == "hands" and rec.graph_options == {}
    with rec.new_extractor() as graph:
        assert type(graph).__name__ == "HandsExtractor"
    assert Recognizer(bigru, None, landmark_model="holistic").graphs.model == "holistic"  # explicit override
    bigru.provenance = {**bigru.provenance, "landmark_model": "openpose"}
    with pytest.raises(ValueError, match="unknown landmark model 'openpose'"):
        Recognizer(bigru, None)


def test_hands_landmarks_are_spliced_from_two_graphs_or_come_from_one(bundles):
    """Holistic's clip is split into chunks between the landmark workers' graphs; a Hands model's is
    spliced from two graphs where they agree (`landmarks.extract_landmarks_spliced`: plain chunks
    find other hands than the WLASL hand data's one graph per video, `landmarks.SPLIT_BETWEEN_GRAPHS`),
    and with `splice_hands` off it is exactly one graph's."""
    from signdemo.landmarks import extract_landmarks

    clip = read_clip(need_shared("data", "wlasl_clips", "09960.mp4"))
    bigru = load_bundle(bundles / "bigru")
    holistic = Recognizer(bigru, None, extraction_fps=15)
    holistic.extract(clip)
    assert holistic.graphs.created == 2 and holistic.graphs_per_clip == 2 and not holistic.splices_hands
    bigru.provenance = {**bigru.provenance, "landmark_model": "hands"}
    one = extract_landmarks(clip.frames, clip.source_indices, clip.fps, model="hands")
    single = Recognizer(bigru, None, extraction_fps=None, runtime=RuntimeOptions(splice_hands=False))
    got = single.extract(clip)
    assert single.graphs.created == 1 and single.graphs_per_clip == 1 and not single.splices_hands
    assert np.array_equal(got.points, one.points) and np.array_equal(got.present, one.present)
    assert not got.present[:, 0].any() and got.present[:, 1:].any()
    spliced = Recognizer(bigru, None, extraction_fps=None)
    got = spliced.extract(clip)
    assert spliced.graphs.created == 2 and spliced.graphs_per_clip == 2 and spliced.splices_hands
    assert np.array_equal(got.present, one.present) and np.abs(got.points - one.points).max() < 0.02
    assert Recognizer(bigru, None, runtime=RuntimeOptions.reference()).graphs_per_clip == 1


def test_a_hands_only_model_scores_landmarks_without_a_body(bundles):
    """Hands landmarks have no pose: a model that reads the hands only scores them; one that reads
    the pose refuses them with the reason."""
    from signdemo.landmarks import Landmarks

    t = 30
    rng = np.random.default_rng(0)
    points = rng.uniform(0.3, 0.7, (t, 75, 3)).astype(np.float32)
    points[:, :33] = 0
    present = np.zeros((t, 3), bool)
    present[:, 1:] = True
    lm = Landmarks(points, present, np.arange(t), 30.0, (640, 480))
    bigru = load_bundle(bundles / "bigru")
    with pytest.raises(NoPersonDetectedError, match="no body pose"):
        Recognizer(bigru, None).predict_landmarks(lm)
    bigru.preprocessing = {"pose": "drop", "normalize": "hands"}
    pred = Recognizer(bigru, None).predict_landmarks(lm)
    assert len(pred.labels) == 5 and np.isfinite(pred.scores).all()
    from signdemo.inference import _landmark_warnings

    assert _landmark_warnings(lm) == []
    lm.present[3:, 1:] = False  # a hand on 3 of 30 frames: scored, with a warning
    assert Recognizer(bigru, None).predict_landmarks(lm).labels
    assert any("a hand was found on only 10% of the frames" in w for w in _landmark_warnings(lm))
    lm.present[:, 1:] = False
    with pytest.raises(NoPersonDetectedError, match="no hand was detected"):
        Recognizer(bigru, None).predict_landmarks(lm)


def test_parallel_landmark_graphs_stay_close_to_one_graph():
    """The fast path splits a clip between two MediaPipe graphs (each tracks its own half); the
    plain path (data preparation, RuntimeOptions.reference()) runs one. Stated tolerance: parts found
    agree on >= 95% of (row, part) pairs; where both found a part, the median landmark moves less
    than 0.01 and the 95th percentile less than 0.06 (normalised image units)."""
    from signdemo import schema
    from signdemo.landmarks import extract_landmarks
    from signdemo.runtime import extract_landmarks_parallel

    clip = read_clip(need_shared("data", "wlasl_clips", "09960.mp4"))  # 98 frames -> 49 rows at 15 fps
    pos = clip.subsample(15)
    frames, idx = clip.frames[pos], clip.source_indices[pos]
    plain = extract_landmarks(frames, frame_indices=idx, fps=15)
    fast = extract_landmarks_parallel(frames, idx, 15, workers=2)
    assert np.array_equal(fast.frame_indices, plain.frame_indices)
    assert (fast.present == plain.present).mean() >= 0.95
    both = fast.present & plain.present
    dists = []
    for k, part in enumerate(schema.PART_NAMES):
        rows = both[:, k]
        sl = schema.part_slice(part)
        dists.append(np.linalg.norm(fast.points[rows][:, sl, :2] - plain.points[rows][:, sl, :2], axis=-1).ravel())
    d = np.concatenate(dists)
    assert np.median(d) < 0.01 and np.percentile(d, 95) < 0.06

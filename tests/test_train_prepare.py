"""Keypoint preparation: the same features as the inference path, resumable, failures recorded,
features recomputed from stored landmarks without MediaPipe, and the GISLR real-data check."""

from __future__ import annotations

import csv
import functools
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from _paths import REPO, need_shared

from signdemo.features import FeatureConfig, landmarks_to_features
from signdemo.train import bigru, prepare
from signdemo.train.datasets import DatasetIndex, PreparedDataset, read_labels_csv
from signdemo.weights import load_bundle

CLIPS = ("17356.mp4", "02712.mp4")


def _labels_csv(tmp_path: Path, clips_dir: Path, names: tuple[str, ...]) -> Path:
    """labels.csv of clips_dir/NAME for each name (an absolute name is taken as it is)."""
    lines = ["file,label,signer,split"]
    lines += [f"{clips_dir / n},{Path(n).stem},s{i},train" for i, n in enumerate(names)]
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_prepared_features_equal_the_inference_path_on_real_clips(tmp_path: Path) -> None:
    from signdemo.inference import Recognizer
    from signdemo.video import read_clip

    clips = need_shared("data", "wlasl_clips")
    index = read_labels_csv(_labels_csv(tmp_path, clips, CLIPS))
    out = prepare.prepare(index, tmp_path / "kp", workers=2)  # one MediaPipe graph at a time per worker
    data = PreparedDataset.load(out)
    assert data.features.shape == (2, 200, 450) and data.features.dtype == np.float16
    assert [r["sample_id"] for r in data.rows] == ["17356", "02712"]

    recognizer = Recognizer(None, None)  # the app's extraction: same decoding limits and extraction rate
    for row, x in zip(data.rows, data.features, strict=True):
        clip = read_clip(clips / f"{row['sample_id']}.mp4")
        landmarks = recognizer.extract(clip)
        expected = landmarks_to_features(landmarks.points, landmarks.present, recognizer.feature_config)
        np.testing.assert_array_equal(x, expected.astype(np.float16))
        assert int(row["landmark_rows"]) == len(landmarks.points)
        assert int(row["original_frames"]) == len(clip)  # source frames of the sign (all decoded here)


def test_resume_skips_done_clips_records_failures_and_refeatures_without_mediapipe(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    (tmp_path / "labels.csv").write_text("file,label,signer,split\nok.mp4,a,s1,train\nbroken.mp4,b,s2,val\n")
    index = read_labels_csv(tmp_path / "labels.csv")
    (tmp_path / "ok.mp4").write_bytes(b"")  # exists; its extraction is faked below

    calls = []

    def fake_extract(job):
        sample, *_ = job
        calls.append(sample.key)
        if sample.path.name == "broken.mp4":
            failed = {"key": sample.key, "path": str(sample.path), "status": "error", "error": "UnreadableVideoError: x"}
            return failed, None
        from _keypoint_data import synthetic_landmarks

        lm = synthetic_landmarks(0, np.random.default_rng(0))
        return {"key": sample.key, "path": str(sample.path), "status": "ok", "original_frames": 30,
                "landmark_rows": 30, "landmarks": f"{sample.key}.npz"}, lm  # fmt: skip

    monkeypatch.setattr(prepare, "extract_sample", fake_extract)
    out = prepare.prepare(index, tmp_path / "kp", workers=1)
    assert len(calls) == 2
    with open(out / "failures.csv", newline="") as f:
        failures = list(csv.DictReader(f))
    assert [(r["sample_id"], r["status"]) for r in failures] == [("broken", "error")]
    first = np.load(out / "features.npy")
    assert first.shape == (1, 200, 450)

    calls.clear()
    prepare.prepare(index, tmp_path / "kp", workers=1, feature_config=FeatureConfig(normalize="shoulder"))
    assert calls == []  # nothing extracted again: landmarks and the failure are on record
    again = PreparedDataset.load(out)
    assert again.feature_config["normalize"] == "shoulder"
    assert not np.array_equal(first, np.asarray(again.features))
    prepare.prepare(index, tmp_path / "kp", workers=1, retry_failed=True)
    assert calls == [index.samples[1].key]
    with pytest.raises(SystemExit, match="extracted with"):  # other extraction settings: not mixed in
        prepare.prepare(index, tmp_path / "kp", workers=1, extraction_fps=30.0)


@pytest.mark.slow
def test_gislr_signer_disjoint_real_data_run_beats_chance_clearly(tmp_path: Path) -> None:
    """Real MediaPipe landmarks of two signs by 21 signers, whole signers held out for val and test.
    A reduced budget of the full run in the notes (64 feature frames instead of 200, a 64-wide model,
    6 epochs); shoulder-normalised features, which carry across signers (image coordinates do not)."""
    from signdemo.train import gislr

    npz = need_shared("data", "gislr_hello_thankyou", "gislr_hello_thankyou.npz")
    features = FeatureConfig(num_frames=64, normalize="shoulder")
    data = gislr.convert(npz, tmp_path / "gislr_kp", feature_config=features)
    config = json.loads((data / "prepare_config.json").read_text())
    signers = config["signers"]
    assert not set(signers["train"]) & (set(signers["val"]) | set(signers["test"]))
    assert not set(signers["val"]) & set(signers["test"])
    torch.set_num_threads(1)
    args = bigru.get_args_parser().parse_args([
        str(data), "--out", str(tmp_path / "bundle"), "--epochs", "6", "--hidden-dim", "64", "--projection-dim", "64",
        "--lr", "1e-3", "--threads", "1",
    ])  # fmt: skip
    metrics = bigru.main(args)["metrics"]
    assert metrics["best_val_top1"] >= 0.9, metrics  # chance: 0.5
    assert metrics["test_top1"] >= 0.8, metrics
    assert load_bundle(tmp_path / "bundle").preprocessing == features.to_dict()


# ---------------------------------------------------------------------------------------------
# The Ray engine: the same output as the local engine, workers killed, runs interrupted

RAY_CLIPS = ("17356.mp4", "15428.mp4", "54381.mp4")  # the shortest small WLASL clips (31-44 frames)
OUTPUT_FILES = ("features.npy", "manifest.csv", "failures.csv", "labels.json")


def test_ray_engine_without_ray_says_how_to_install_it(tmp_path: Path, monkeypatch) -> None:
    from signdemo.errors import MissingDependencyError

    (tmp_path / "a.mp4").write_bytes(b"")
    (tmp_path / "labels.csv").write_text("file,label,signer,split\na.mp4,a,s1,train\n")
    args = prepare.get_args_parser().parse_args(
        [str(tmp_path / "labels.csv"), "--out", str(tmp_path / "kp"), "--engine", "ray", "--num-workers", "2"]
    )
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install ray==") as info:
        prepare.main(args)
    requirements = (REPO / "requirements-dev.txt").read_text().splitlines()
    pin = [line for line in requirements if line.startswith("ray==")]
    assert pin and pin[0] in str(info.value)  # the hint names the version the project pins
    assert not (tmp_path / "kp" / "landmarks" / prepare.PROGRESS_NAME).exists()  # nothing on record


@pytest.fixture(scope="module")
def ray_instance():
    """One small local Ray instance for the module: 2 CPUs, 100 MB of object store, no dashboard."""
    ray = pytest.importorskip("ray", reason="the Ray engine's tests need ray (requirements-dev.txt)")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_clips(tmp_path_factory) -> tuple[DatasetIndex, Path]:
    """Three real clips and a broken file, and the local engine's output on them (the reference)."""
    clips = need_shared("data", "wlasl_clips")
    tmp = tmp_path_factory.mktemp("ray_clips")
    (tmp / "broken.mp4").write_bytes(b"not a video")
    index = read_labels_csv(_labels_csv(tmp, clips, (*RAY_CLIPS, str(tmp / "broken.mp4"))))
    reference = prepare.prepare(index, tmp / "local", workers=1)
    with open(reference / "failures.csv", newline="") as f:
        failures = [(r["sample_id"], r["status"], r["error"].split(":")[0]) for r in csv.DictReader(f)]
    assert failures == [("broken", "error", "UnreadableVideoError")]  # the typed reason (the same from Ray)
    return index, reference


def _progress_records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "landmarks" / prepare.PROGRESS_NAME).read_text().splitlines()]


def _assert_same_output(out: Path, reference: Path, index: DatasetIndex) -> None:
    for name in OUTPUT_FILES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    keys = [r["key"] for r in _progress_records(out)]
    assert sorted(keys) == sorted(s.key for s in index.samples)  # every clip, each once


def _descendant_titles(prefix: str) -> dict[int, str]:
    """pid -> process title, for the processes below this one whose title starts with `prefix` (Ray
    names a worker process `ray::TASK NAME` while it runs a task). Linux /proc."""
    parents, titles = {}, {}
    for d in Path("/proc").iterdir():
        try:
            parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            titles[int(d.name)] = (d / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except (ValueError, OSError):  # not a process, or gone meanwhile
            continue

    def below_me(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return {pid: t for pid, t in titles.items() if t.startswith(prefix) and below_me(pid)}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds Ray's workers in /proc (Linux)")
def test_ray_engine_equals_the_local_engine_with_a_worker_killed_mid_clip(
    ray_instance, ray_clips, tmp_path: Path
) -> None:
    """Same arrays, manifest and failures as the local engine; the killed clip redone by another
    worker process; every clip on record once."""
    from signdemo.train import ray_engine

    index, reference = ray_clips
    real = {s.key for s in index.samples if s.path.name in RAY_CLIPS}
    killed: dict[int, str] = {}

    def kill_one_worker() -> None:
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for pid, title in _descendant_titles(f"ray::{ray_engine.TASK_NAME} ").items():
                if title.split()[-1] in real:  # a worker inside a real clip (MediaPipe takes seconds)
                    os.kill(pid, signal.SIGKILL)
                    killed[pid] = title.split()[-1]
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    out = prepare.prepare(index, tmp_path / "ray", engine="ray", workers=2, max_retries=2)
    killer.join()
    assert killed, "no Ray worker was seen running a clip"
    _assert_same_output(out, reference, index)
    (pid, key), = killed.items()
    redone = [r for r in _progress_records(out) if r["key"] == key]
    assert redone[0]["status"] == "ok" and redone[0]["pid"] != pid  # finished by another worker process


def _die_on(marker: Path, job: int) -> int:
    """Task of the test below: kills its own worker the first time on job 2, every time on job 3."""
    if job == 2 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    if job == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return job * 10


@pytest.mark.slow
def test_ray_pool_retries_a_dead_worker_reports_a_clip_that_kills_every_worker_and_bounds_tasks_in_flight(
    ray_instance, tmp_path: Path, monkeypatch
) -> None:
    from signdemo.train import ray_engine

    ray_instance.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    in_flight = []
    wait = ray_instance.wait
    def counting_wait(refs, **kw):
        in_flight.append(len(refs))
        return wait(refs, **kw)

    monkeypatch.setattr(ray_instance, "wait", counting_wait)
    task = functools.partial(_die_on, tmp_path / "died-once")
    with ray_engine.connect(workers=2, max_retries=1) as pool:
        results = list(pool.map_unordered(task, range(1, 6), lost=lambda job, exc: (job, type(exc).__name__)))
    assert sorted(results, key=str) == sorted([10, 20, (3, "WorkerCrashedError"), 40, 50], key=str)
    assert max(in_flight) == 2  # never more tasks submitted than workers


@pytest.mark.slow
def test_interrupted_ray_run_resumes_where_it_stopped(
    ray_instance, ray_clips, tmp_path: Path, monkeypatch
) -> None:
    index, reference = ray_clips
    stored = []
    store = prepare.store_result

    def store_then_stop(*args):
        store(*args)
        stored.append(args[2]["key"])
        if len(stored) == 1:
            raise KeyboardInterrupt  # Ctrl-C after the first clip is on record

    monkeypatch.setattr(prepare, "store_result", store_then_stop)
    with pytest.raises(KeyboardInterrupt):
        prepare.prepare(index, tmp_path / "ray", engine="ray", workers=2)
    assert len(_progress_records(tmp_path / "ray")) == 1
    first = stored[0]

    monkeypatch.setattr(prepare, "store_result", lambda *args: (store(*args), stored.append(args[2]["key"])))
    out = prepare.prepare(index, tmp_path / "ray", engine="ray", workers=2)
    assert first not in stored[1:] and len(stored) == 1 + 3  # only the clips not yet on record were redone
    _assert_same_output(out, reference, index)

"""python -m signdemo.train.prepare SOURCE... --out DIR [--videos DIR] [--workers N] [--engine ray [--address A]]

Videos + labels -> the keypoint exchange format, through exactly the engine's inference code path:
`video.read_clip` -> frames of the annotated segment -> `landmarks.extract_clip_landmarks` at the
extraction rate the recognizer uses -> `features.landmarks_to_features`.

    python -m signdemo.train.prepare WLASL_v0.3.json --videos videos/ --num-classes 100 --out data/wlasl100_kp
    python -m signdemo.train.prepare nslt_100.json --videos videos/ --class-list wlasl_class_list.txt --out ...
    python -m signdemo.train.prepare splits/train.csv splits/val.csv splits/test.csv --videos videos/ --out ...
    python -m signdemo.train.prepare my_signs/ --out data/my_signs_kp          # folder per gloss
    python -m signdemo.train.prepare synth_data/labels.csv --out data/synth_kp   # python -m signdemo.synth make
    python -m signdemo.train.prepare ... --engine ray --address HEAD:6379           # on a Ray cluster

Writes into DIR:
    features.npy          (N, 200, 450) float16, the exchange format (clips without any body pose are left out)
    manifest.csv          one row per sample: index, sample_id, label, label_id, split, signer, source_path,
                          frame_start, frame_end, original_frames (source frames of the sign), landmark_rows,
                          landmarks (the clip's raw landmark file)
    labels.json           class names, in class-id order
    prepare_config.json   FeatureConfig, extraction rate, video limits, counts
    failures.csv          clips that could not be used, and why
    landmarks/KEY.npz     raw per-clip landmarks (`Landmarks.save`), plus landmarks/progress.jsonl

Resumable: clips whose landmarks are on record are not processed again. Features are rebuilt from
the landmark files every run, so running again with other feature options (--normalize shoulder,
...) recomputes the features without MediaPipe; `--landmarks-dir OTHER/landmarks` reuses the
landmarks of another output folder. Extraction runs in `--workers` processes, each running one
MediaPipe graph at a time: a fresh graph per clip, as at inference, because the tracking state of
one clip must not leak into the next.

`--engine ray` runs the same per-clip function as Ray tasks (`signdemo.train.ray_engine`), on a
local instance or, with `--address`, on a cluster whose nodes all see the videos at the same paths.
Workers only read videos and return landmarks; this process writes everything in DIR, so the output
is the same, byte for byte, whichever engine and however many workers made it.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import multiprocessing
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from signdemo.errors import SigndemoError
from signdemo.features import NUM_FEATURES, FeatureConfig, landmarks_to_features
from signdemo.inference import DEFAULT_EXTRACTION_FPS  # the recognizer's rate
from signdemo.train import script_parser
from signdemo.train.datasets import (
    MANIFEST_COLUMNS,
    SPLITS,
    DatasetIndex,
    Sample,
    add_reader_args,
    read_from_args,
    segment_positions,
)

if TYPE_CHECKING:
    from signdemo.landmarks import Landmarks

log = logging.getLogger(__name__)

PROGRESS_NAME = "progress.jsonl"
SETTINGS_NAME = "settings.json"
FAILURE_COLUMNS = ["sample_id", "label", "label_id", "split", "signer", "source_path", "frame_start",
                   "frame_end", "status", "error"]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Extraction (one clip per call; runs in worker processes)


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def extract_sample(job: tuple) -> tuple[dict, Landmarks | None]:
    """Landmarks of one sample's sign and its progress record (landmarks None when it failed).
    Writes nothing: the driver stores the result (`store_result`), so an engine may run this on
    machines that cannot write the output folder, and a retried task cannot write a clip twice.

    job: (sample, video limits dict, extraction fps or None, trim mode).
    """
    from signdemo.landmarks import extract_clip_landmarks
    from signdemo.video import VideoLimits, read_clip

    sample, limits, fps, trim = job
    record = {"key": sample.key, "path": str(sample.path)}
    landmarks = None
    t0 = time.perf_counter()
    try:
        clip = read_clip(sample.path, VideoLimits(**limits))
        total = max(int(clip.info.frame_count or 0), int(clip.source_indices[-1]) + 1)
        pos = segment_positions(clip.source_indices, sample, total, trim)  # (T',) positions into frames
        clip = dataclasses.replace(clip, frames=clip.frames[pos], source_indices=clip.source_indices[pos])
        landmarks = extract_clip_landmarks(clip, fps)
        record.update(
            status="ok" if landmarks.present[:, 0].any() else "no_person",
            original_frames=int(clip.source_indices[-1] - clip.source_indices[0] + 1),
            landmark_rows=len(landmarks),
            landmarks=f"{sample.key}.npz",
            pose_rate=round(landmarks.detection_rate("pose"), 4),
            hand_rate=round(float(landmarks.any_hand().mean()), 4),
        )
    except SigndemoError as exc:
        record.update(status="error", error=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a broken file must not end a run over thousands of clips
        record.update(status="error", error=f"{type(exc).__name__}: {exc}")
    # Where it ran: on a cluster, which node to look at when a clip went wrong.
    record.update(seconds=round(time.perf_counter() - t0, 3), host=socket.gethostname(), pid=os.getpid())
    return record, landmarks


def store_result(landmarks_dir: Path, progress: IO[str], record: dict, landmarks: Landmarks | None) -> None:
    """The driver's half of a clip: its landmark file (atomically), then its line in the progress log.
    A run stopped between the two only redoes that clip (`read_progress` needs the file)."""
    if landmarks is not None:
        target = landmarks_dir / record["landmarks"]
        tmp = landmarks.save(target.with_name(target.stem + ".tmp.npz"))
        os.replace(tmp, target)
    progress.write(json.dumps(record) + "\n")
    progress.flush()


def lost_record(job: tuple, exc: Exception) -> tuple[dict, None]:
    """The record of a clip whose worker died on every attempt (killed, out of memory, node lost)."""
    sample = job[0]
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "the worker died"
    return {"key": sample.key, "path": str(sample.path), "status": "error",
            "error": f"{type(exc).__name__}: {reason}"}, None  # fmt: skip


def read_progress(landmarks_dir: str | Path) -> dict[str, dict]:
    """Records of clips already processed (key -> last record); those whose file is gone are dropped."""
    path = Path(landmarks_dir) / PROGRESS_NAME
    done: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by an interrupted run
                continue
            done[rec["key"]] = rec
    return {
        k: r for k, r in done.items()
        if r["status"] == "error" or (Path(landmarks_dir) / r.get("landmarks", "")).is_file()
    }  # fmt: skip


ENGINES = ("local", "ray")


def run_extraction(
    samples: list[Sample],
    landmarks_dir: str | Path,
    *,
    workers: int | None = None,
    limits: dict | None = None,
    extraction_fps: float | None = DEFAULT_EXTRACTION_FPS,
    trim: str = "auto",
    retry_failed: bool = False,
    engine: str = "local",
    address: str | None = None,
    max_retries: int = 3,
) -> dict[str, dict]:
    """Extract landmarks of every sample not yet on record; returns key -> record for all samples.

    engine: "local" (`workers` processes on this machine, default min(4, CPUs)) or "ray" (`workers`
    Ray tasks at a time, default every CPU, on the cluster at `address` or on a new local instance;
    a task whose worker dies is retried up to `max_retries` times). Both give the same records.
    """
    landmarks_dir = Path(landmarks_dir)
    landmarks_dir.mkdir(parents=True, exist_ok=True)
    _check_settings(landmarks_dir, {"extraction_fps": extraction_fps, "video_limits": dict(limits or {}), "trim": trim})
    done = read_progress(landmarks_dir)
    if retry_failed:
        done = {k: r for k, r in done.items() if r["status"] != "error"}
    todo = [s for s in dict.fromkeys(samples) if s.key not in done]
    log.info("%d clips: %d already on record, %d to process",
             len(samples), len(samples) - len(todo), len(todo))  # fmt: skip
    jobs = [(s, dict(limits or {}), extraction_fps, trim) for s in todo]
    if not jobs:
        return done
    with _engine(engine, workers, address, max_retries) as (run, description):
        progress_bar = _Progress(len(jobs), description, on_record=len(samples) - len(todo))
        try:
            with (
                open(landmarks_dir / PROGRESS_NAME, "a", encoding="utf-8") as progress,
                closing(run(jobs)) as results,
            ):
                for rec, landmarks in results:
                    store_result(landmarks_dir, progress, rec, landmarks)
                    done[rec["key"]] = rec
                    progress_bar.update(rec)
                    if rec["status"] == "error":
                        log.warning("%s: %s", rec["path"], rec["error"])
        finally:  # interrupted too: say how far it got (what is done is on record)
            progress_bar.close()
    return done


@contextmanager
def _engine(
    engine: str, workers: int | None, address: str | None, max_retries: int
) -> Iterator[tuple[Callable[[list], Iterator], str]]:
    """(jobs -> extract_sample's results in completion order, a description of where they run)."""
    if engine == "local":
        if address:
            raise SystemExit("--address joins a Ray cluster: use it with --engine ray")
        workers = workers or min(4, os.cpu_count() or 1)
        yield (lambda jobs: _map(extract_sample, jobs, workers)), f"{workers} local process(es)"
    elif engine == "ray":
        from signdemo.train import ray_engine

        with ray_engine.connect(address, workers, max_retries=max_retries) as pool:
            yield (lambda jobs: pool.map_unordered(
                extract_sample, jobs, name=lambda job: job[0].key, lost=lost_record, initializer=_init_worker,
            )), pool.description  # fmt: skip
    else:
        raise ValueError(f"unknown engine {engine!r}: one of {ENGINES}")


def _check_settings(landmarks_dir: Path, settings: dict) -> None:
    """Landmarks on record were extracted with these settings; refuse to mix in other ones."""
    path = landmarks_dir / SETTINGS_NAME
    if path.is_file():
        before = json.loads(path.read_text(encoding="utf-8"))
        if before != json.loads(json.dumps(settings)):
            raise SystemExit(
                f"the landmarks in {landmarks_dir} were extracted with {before}, not {settings}: use another "
                "--landmarks-dir (or --out), or delete that folder to extract again"
            )
    else:
        path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


def _map(fn, jobs: list, workers: int) -> Iterator:
    if workers <= 1:
        _init_worker()
        yield from map(fn, jobs)
        return
    # spawn, not fork: MediaPipe and OpenCV hold threads that a forked child would inherit broken.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        yield from pool.imap_unordered(fn, jobs, chunksize=1)


class _Progress:
    """Clips done and failed, clips per second and the time left (tqdm, or a line per 5% without
    it), then one summary line. Failed counts errors and clips without a person."""

    def __init__(self, total: int, where: str, on_record: int = 0) -> None:
        self.total, self.where, self.on_record = total, where, on_record
        self.counts = {"ok": 0, "no_person": 0, "error": 0}
        self.t0 = time.perf_counter()
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm comes with huggingface_hub; fall back to plain lines
            self.bar = None
        else:
            self.bar = tqdm(total=total, unit="clip", desc="landmarks", file=sys.stderr, mininterval=2.0)

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def update(self, record: dict) -> None:
        self.counts[record["status"]] += 1
        failed = self.done - self.counts["ok"]
        if self.bar is not None:
            self.bar.set_postfix(failed=failed, refresh=False)
            self.bar.update(1)
        elif self.done == self.total or self.done % max(1, self.total // 20) == 0:
            elapsed = time.perf_counter() - self.t0
            rate = self.done / elapsed if elapsed > 0 else 0.0
            left = f"{(self.total - self.done) / rate:.0f} s" if rate > 0 else "?"
            line = f"landmarks: {self.done}/{self.total} clips, {failed} failed, {rate:.2f} clips/s, {left} left"
            print(line, file=sys.stderr, flush=True)

    def close(self) -> str:
        if self.bar is not None:
            self.bar.close()
        elapsed = time.perf_counter() - self.t0
        summary = (
            f"landmarks: {self.done} clips in {elapsed:.1f} s ({self.done / max(elapsed, 1e-9):.2f} clips/s) "
            f"on {self.where}: {self.counts['ok']} ok, {self.counts['no_person']} without a person, "
            f"{self.counts['error']} failed; {self.on_record} on record from earlier runs"
        )
        if self.done < self.total:
            summary += f"; stopped with {self.total - self.done} to go (the same command resumes)"
        log.info("%s", summary)
        return summary


# ---------------------------------------------------------------------------------------------
# Exchange format


def sample_record(sample: Sample) -> dict:
    """Manifest fields that come from the annotation."""
    return {
        "sample_id": sample.sample_id or sample.path.stem, "label": sample.label, "label_id": sample.label_id,
        "split": sample.split, "signer": sample.signer, "source_path": str(sample.path),
        "frame_start": sample.frame_start, "frame_end": "" if sample.frame_end is None else sample.frame_end,
    }  # fmt: skip


def build_exchange(
    out: str | Path,
    rows: list[dict],
    labels: list[str],
    feature_config: FeatureConfig,
    landmarks_dir: str | Path,
    *,
    extra_config: dict | None = None,
) -> np.ndarray:
    """Features of every row (in order) from its landmark file -> features.npy, manifest.csv,
    labels.json and prepare_config.json in `out`. Rows need the manifest fields and `landmarks`.
    Returns the (N, F, 450) float16 array (memory-mapped)."""
    from signdemo.landmarks import Landmarks

    out, landmarks_dir = Path(out), Path(landmarks_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "features.tmp.npy"
    shape = (len(rows), feature_config.num_frames, NUM_FEATURES)
    array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=shape)  # (N, F, 450)
    for i, row in enumerate(rows):
        lm = Landmarks.load(landmarks_dir / row["landmarks"])
        array[i] = landmarks_to_features(lm.points, lm.present, feature_config)  # float32 -> float16
    array.flush()
    del array
    os.replace(tmp, out / "features.npy")

    rel = os.path.relpath(landmarks_dir, out)
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(MANIFEST_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for i, row in enumerate(rows):
            writer.writerow({**row, "index": i, "landmarks": f"{rel}/{row['landmarks']}"})
    (out / "labels.json").write_text(json.dumps(list(labels), indent=1) + "\n", encoding="utf-8")
    counts = {s: sum(r["split"] == s for r in rows) for s in SPLITS}
    config = {
        "format": "signdemo-keypoints",
        "feature_config": feature_config.to_dict(),
        "num_samples": len(rows),
        "num_classes": len(labels),
        "counts": counts,
        "landmarks_dir": rel,
        **(extra_config or {}),
    }
    (out / "prepare_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %s: %d samples (%s), %d classes", out / "features.npy", len(rows), counts, len(labels))
    return np.load(out / "features.npy", mmap_mode="r")


def prepare(
    index: DatasetIndex,
    out: str | Path,
    *,
    feature_config: FeatureConfig = FeatureConfig(),
    landmarks_dir: str | Path | None = None,
    workers: int | None = None,
    limits: dict | None = None,
    extraction_fps: float | None = DEFAULT_EXTRACTION_FPS,
    trim: str = "auto",
    retry_failed: bool = False,
    engine: str = "local",
    address: str | None = None,
    max_retries: int = 3,
    extra_config: dict | None = None,
) -> Path:
    """Extract (resumably, on `engine`: see `run_extraction`) and write the exchange format for
    `index`; returns `out`. The output does not depend on the engine or the number of workers."""
    out = Path(out)
    landmarks_dir = Path(landmarks_dir) if landmarks_dir else out / "landmarks"
    index = index.existing()
    records = run_extraction(index.samples, landmarks_dir, workers=workers, limits=limits,
                             extraction_fps=extraction_fps, trim=trim, retry_failed=retry_failed,
                             engine=engine, address=address, max_retries=max_retries)  # fmt: skip
    rows, failures = [], []
    for s in index.samples:
        rec = records[s.key]
        if rec["status"] == "ok":
            rows.append({**sample_record(s), **rec})
        else:
            failures.append({**sample_record(s), "status": rec["status"],
                             "error": rec.get("error", "no body pose on any frame")})  # fmt: skip
    failures += [{**sample_record(s), "status": "missing", "error": "video file not found"} for s in index.missing]
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "failures.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FAILURE_COLUMNS)
        writer.writeheader()
        writer.writerows(failures)
    if failures:
        log.warning("%d clips left out (see %s)", len(failures), out / "failures.csv")
    config = {
        "source": index.source,
        "extraction_fps": extraction_fps,
        "landmark_model": "holistic",  # the graph of `landmarks.extract_clip_landmarks`; inference uses the same
        "video_limits": dict(limits or {}),
        "trim": trim,
        "left_out": len(failures),
        **(extra_config or {}),
    }
    build_exchange(out, rows, index.labels, feature_config, landmarks_dir, extra_config=config)
    return out


# ---------------------------------------------------------------------------------------------
# Command line


def add_feature_args(parser: argparse.ArgumentParser) -> None:
    d = FeatureConfig()
    g = parser.add_argument_group("features (recorded in the weight bundle; see signdemo.features.FeatureConfig)")
    g.add_argument("--num-frames", type=int, default=d.num_frames)
    g.add_argument("--resample", choices=("interpolate", "pad"), default=d.resample)
    g.add_argument("--normalize", choices=("none", "shoulder", "hands"), default=d.normalize)
    g.add_argument("--hand-order", choices=("left_right", "right_left"), default=d.hand_order)
    g.add_argument("--velocity", choices=("masked", "raw"), default=d.velocity)
    g.add_argument("--pose", choices=("keep", "drop"), default=d.pose,
                   help="drop: the body pose is zeroed (a hands-only model)")  # fmt: skip
    g.add_argument("--hand-points", choices=("absolute", "wrist"), default=d.hand_points,
                   help="wrist: each hand's points other than the wrist as offsets from it")  # fmt: skip
    g.add_argument("--fill-gaps", type=int, default=d.fill_gaps, metavar="FRAMES",
                   help="fill a hand (or the pose) missing for at most FRAMES frames in a row by "
                        "interpolating between the frames either side (0: no filling)")  # fmt: skip
    g.add_argument("--hands-centre", choices=("clip", "frame"), default=d.hands_centre,
                   help="with --normalize hands: centre on the clip's mean hand point (clip) or on the "
                        "image centre (frame: where in the picture the hands are is kept)")  # fmt: skip


def feature_config_from_args(args: argparse.Namespace) -> FeatureConfig:
    return FeatureConfig(num_frames=args.num_frames, resample=args.resample, normalize=args.normalize,
                         hand_order=args.hand_order, velocity=args.velocity, pose=args.pose,
                         hand_points=args.hand_points, fill_gaps=args.fill_gaps,
                         hands_centre=args.hands_centre)  # fmt: skip


def add_video_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("video decoding (signdemo.video.VideoLimits)")
    g.add_argument("--max-duration", type=float, default=60.0,
                   help="longest video to decode, s (raw WLASL videos hold several signs)")  # fmt: skip
    g.add_argument("--max-side", type=int, default=640, help="downscale frames above this side (as inference)")
    g.add_argument("--max-frames", type=int, default=7200)


def limits_from_args(args: argparse.Namespace) -> dict:
    return {"max_duration_s": args.max_duration, "max_side": args.max_side, "max_frames": args.max_frames}


def get_args_parser() -> argparse.ArgumentParser:
    parser = script_parser("python -m signdemo.train.prepare", __doc__)
    add_reader_args(parser)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--landmarks-dir", type=Path, help="where per-clip landmarks live (default OUT/landmarks)")
    g = parser.add_argument_group("engine (the output does not depend on it)")
    g.add_argument("--engine", choices=ENGINES, default="local",
                   help="local: processes on this machine; ray: Ray tasks, on a cluster with --address")  # fmt: skip
    g.add_argument("--workers", "--num-workers", type=int, dest="workers",
                   help="clips extracted at once, one MediaPipe graph each (default: local min(4, CPUs), "
                   "ray every CPU of the cluster; local 1 = in-process)")  # fmt: skip
    g.add_argument("--address", help="ray: the head of the cluster to join, HOST:PORT as `ray start --head` "
                   "printed it, or auto (default: start a local instance)")  # fmt: skip
    g.add_argument("--max-retries", type=int, default=3, help="ray: attempts after a worker died in a clip")
    parser.add_argument("--extraction-fps", type=float, default=DEFAULT_EXTRACTION_FPS,
                        help="landmark rows per second, as the recognizer uses (0 = every frame)")  # fmt: skip
    parser.add_argument("--retry-failed", action="store_true", help="process clips that failed before again")
    add_feature_args(parser)
    add_video_args(parser)
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(args: argparse.Namespace) -> Path:
    index = read_from_args(args)
    log.info("%s: %d samples %s", index.source, len(index.samples), index.counts())
    return prepare(
        index,
        args.out,
        feature_config=feature_config_from_args(args),
        landmarks_dir=args.landmarks_dir,
        workers=args.workers,
        engine=args.engine,
        address=args.address,
        max_retries=args.max_retries,
        limits=limits_from_args(args),
        extraction_fps=args.extraction_fps or None,
        trim=args.trim,
        retry_failed=args.retry_failed,
        extra_config={"command": "python -m signdemo.train.prepare " + " ".join(sys.argv[1:])},
    )


if __name__ == "__main__":
    _args = get_args_parser().parse_args()
    logging.basicConfig(level=logging.DEBUG if _args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        main(_args)
    except SigndemoError as exc:  # Ray missing, a cluster out of reach: the message says what to do
        sys.exit(f"prepare: {exc}")

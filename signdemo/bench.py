"""Benchmark of the real pipeline: per-stage medians and p90s, the fast path against the reference.

    python -m signdemo.bench                                # ../shared/data/wlasl_clips, both models
    python -m signdemo.bench --clips DIR --json             # machine-readable
    python -m signdemo.bench --limit 5 --skip-app           # quicker
    python -m signdemo.bench --baseline                     # every speed-up off: the "before" figures
    python -m signdemo.bench --compare before.json after.json  # Markdown table of two --json outputs
    python -m signdemo.bench --splice-check                 # two spliced graphs against one, per clip
    python -m signdemo.bench --peak                         # the I3D's work against this CPU's GEMM rate

For every clip: decode, landmarks (per extracted frame and per source frame, at the extraction rate, on
the parallel graphs), features, BiGRU, I3D (the fast path), overlay encoding, and the end-to-end times
of each model's answer; `bigru_answer` (the stages one after the other) and `both_answers` are what
the Recognise tab waits for: `both_answers` times the tab's own flow from the file
(`Recognizer.recognize_stream`: decode, with a one-graph keypoint model's landmarks fed frame by
frame as decoded and the I3D started beside them, or, for the shipped Hands model, its landmarks from
two spliced graphs after decoding and the I3D after them; the overlay encoded from the keypoint
answer on); `tab_bigru_answer` is its keypoint answer; `tab_keypoint_only_answer` the keypoint answer
of the same flow asked for the keypoint model alone (a Hands model's landmarks then spliced from two graphs); with `--baseline`: overlay first, then
the BiGRU answer, then the I3D, one after the other). The same
I3D weights also run through the plain float32 eager reference path in the same run; the speed ratio
and the top-1 agreement between the two are printed, so every speed-up comes with its accuracy cost.
Then: peak RSS, live-webcam frame latency (landmarks + overlay per frame), and the app as served:
start-up to the first page, a few clips through its `/recognize` API, its peak RSS. Timings are wall-clock on whatever else this machine is doing: compare runs made
back to back on the same machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from signdemo.runtime import I3DRunner, RuntimeOptions, configure_threads

if TYPE_CHECKING:
    from signdemo.inference import ClipResult

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CLIPS = REPO.parent / "shared" / "data" / "wlasl_clips"
VIDEO_SUFFIXES = {".mp4", ".webm", ".avi", ".mov", ".mkv"}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m signdemo.bench", description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help="a folder of clips, or one clip")
    p.add_argument("--limit", type=int, default=0, help="use at most this many clips (0 = all)")
    p.add_argument("--trim-s", type=float, default=0.0,
                   help="re-encode each clip's first SECONDS (H.264) and time those files (e.g. 3 on a 640x480 "
                        "30 fps clip: the keypoint-answer target's clip)")  # fmt: skip
    p.add_argument("--bigru", help="BiGRU bundle (default: the resolved one)")
    p.add_argument("--i3d", help="I3D bundle (default: the resolved one)")
    p.add_argument("--extraction-fps", type=float, default=None,
                   help="landmark extraction rate (default: the BiGRU bundle's, else 15)")
    p.add_argument("--landmark-model", choices=("holistic", "hands"), default=None,
                   help="MediaPipe graph of the keypoint landmarks (default: the BiGRU bundle's record)")
    p.add_argument("--i3d-frames", type=int, default=64, help="frames sampled per clip for the I3D")
    p.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"])
    p.add_argument("--compile", action="store_true", help="torch.compile the fast I3D path")
    p.add_argument("--workers", type=int, default=2, help="MediaPipe graphs per clip")
    p.add_argument("--i3d-backend", default="auto", choices=["auto", "openvino", "torch"],
                   help="the I3D engine of the pipeline timed (auto: what the app runs)")
    p.add_argument("--no-reference", action="store_true",
                   help="skip the other I3D paths (the float32 eager reference, PyTorch fast, OpenVINO)")
    p.add_argument("--baseline", action="store_true",
                   help="every speed-up off (landmarks on every frame through one graph with MediaPipe's face mesh, "
                        "float32 eager I3D, torch's default threads for the BiGRU): the naive pipeline")  # fmt: skip
    p.add_argument("--skip-app", action="store_true", help="skip the app measurements (start-up, API answers, RSS)")
    p.add_argument("--app-clips", type=int, default=3, help="clips sent to the running app's /recognize API")
    p.add_argument("--live-frames", type=int, default=90, help="frames for the live-webcam latency")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--splice-check", action="store_true",
                   help="compare the keypoint model's answers from one landmark graph and from two spliced "
                        "graphs (the app's rule) on each clip, and exit")  # fmt: skip
    p.add_argument("--stream-check", type=int, default=0, metavar="ROUNDS",
                   help="time the keypoint model asked alone with its landmarks fed while decoding (the app's "
                        "flow) and extracted after decoding, alternating, ROUNDS times per clip, and exit")  # fmt: skip
    p.add_argument("--schedule-check", type=int, default=0, metavar="ROUNDS",
                   help="time both models in the Recognise tab's flow with the app's schedule (a Hands clip's "
                        "landmarks spliced from two graphs, the I3D after the keypoint answer) and with one "
                        "graph and the I3D beside it, alternating, ROUNDS times per clip, and exit")  # fmt: skip
    p.add_argument("--peak", action="store_true",
                   help="the I3D's floating-point work on --i3d-frames frames, this CPU's float32 (and bfloat16) "
                        "GEMM rate and each I3D path's achieved rate: how fast float32 can be here")
    p.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"),
                   help="print a Markdown before/after table of two --json outputs and exit")  # fmt: skip
    return p


def _stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    a = np.asarray(values, dtype=np.float64)
    return {"n": len(a), "median": float(np.median(a)), "p90": float(np.percentile(a, 90)),
            "p95": float(np.percentile(a, 95)), "max": float(a.max())}  # fmt: skip


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_app(clips: list[Path], timeout: float = 180.0) -> dict:
    """`python app.py` as served: seconds to the first 200 on its page, then each clip through the
    `/recognize` API one after another (seconds per answer, the first includes any lazy loading),
    then the server's peak RSS (both models loaded and used)."""
    from gradio_client import Client, handle_file

    from signdemo.loadtest import rss_mib

    port = _free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1",
               GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"app did not serve a page within {timeout} s")
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited with code {proc.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        out: dict = {"startup_s": time.perf_counter() - t0, "idle_rss_mb": rss_mib(proc.pid, "VmHWM")}
        client = Client(url, verbose=False)
        answers = []
        for clip in clips:
            t = time.perf_counter()
            client.predict(handle_file(str(clip)), False, api_name="/recognize")
            answers.append(time.perf_counter() - t)
        out["answer_s"] = answers
        out["peak_rss_mb"] = rss_mib(proc.pid, "VmHWM")
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure_live(frames: np.ndarray, rec) -> dict:
    """Per-frame latency of the live tab's work: one tracking graph (of the keypoint model's landmark
    model), landmarks + overlay drawing."""
    from signdemo.overlay import draw_landmarks

    times = []
    with rec.new_extractor() as ex:
        for frame in frames:
            t = time.perf_counter()
            points, present = ex.process(frame)
            draw_landmarks(frame, points, present)
            times.append((time.perf_counter() - t) * 1000)
    s = _stats(times[3:])  # the first frames run detection from scratch
    s["fps"] = 1000.0 / s["median"] if s.get("median") else 0.0
    return s


def _recognise_tab(rec, path: Path, out: Path, i3d_frames: int) -> tuple[float, float, ClipResult]:
    """The Recognise tab's own flow on a clip file (`Recognizer.recognize_stream`: it decodes the clip,
    feeding the keypoint model's landmark graph(s) each frame as it is decoded; the I3D on
    `i3d_frames` frames, started beside the landmarks where the recognizer does so, else after the
    keypoint answer; the overlay encoded from the keypoint answer on, as the tab does): ms from the
    upload to the keypoint answer and to both answers with the overlay, and the final result."""
    from signdemo.overlay import render_overlay

    saved = rec.i3d.preprocessing
    rec.i3d.preprocessing = {**saved, "num_frames": i3d_frames}
    try:
        with ThreadPoolExecutor(1) as pool:
            t, first, job, result = time.perf_counter(), None, None, None
            for result in rec.recognize_stream(path):
                first = first if first is not None else time.perf_counter() - t
                if job is None and result.landmarks is not None:
                    clip = result.clip
                    job = pool.submit(render_overlay, out, clip.frames, result.landmarks, clip.fps,
                                      frame_indices=clip.source_indices)  # fmt: skip
            if job is not None:
                job.result()
            both = time.perf_counter() - t
    finally:
        rec.i3d.preprocessing = saved
        out.unlink(missing_ok=True)
    return first * 1000, both * 1000, result


def _bench_clips(args, tmp: Path) -> list[Path]:
    """The clips of `--clips` (a folder's videos by name, or one file), at most `--limit`, each cut
    to its first `--trim-s` seconds (into `tmp`) when asked."""
    source = Path(args.clips)
    clips = [source] if source.is_file() else sorted(p for p in source.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    clips = clips[: args.limit] if args.limit else clips
    if not clips:
        raise SystemExit(f"no clips in {args.clips}")
    return [_trimmed(path, args.trim_s, tmp) for path in clips] if args.trim_s else clips


def _trimmed(path: Path, seconds: float, folder: Path) -> Path:
    """The first `seconds` of a clip, re-encoded as H.264 mp4 at its own rate, under its own name."""
    from signdemo.video import read_clip, write_mp4

    clip = read_clip(path)
    n = max(1, round(seconds * clip.fps))
    return write_mp4(folder / f"{path.stem}-{seconds:g}s.mp4", clip.frames[:n], clip.fps)


def measure_live_tab(frames: np.ndarray, rec, *, visitors: int = 1, fps: float = 15.0) -> dict:
    """The live tab's whole per-frame work (`LiveSession.step`: landmarks, overlay; the rolling BiGRU
    every 0.4 s beside the stream) with its I3D scoring the last 2 s about every second on the shared
    worker, for `visitors` webcams at once, each sending `fps` frames a second (or as fast as it is
    answered).
    Per-frame latency over all visitors, frames per second answered per visitor, and the I3D's
    scorings: how many, how long each took, seconds between one visitor's updates."""
    import cv2

    from signdemo.ui.live import LiveSession

    rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames]
    latencies: list[list[float]] = [[] for _ in range(visitors)]
    rates, scorings, gaps = [], [], []

    def visitor(k: int) -> None:
        session = LiveSession(mirrored=False)
        arrived = []
        try:
            start = time.perf_counter()
            for i, frame in enumerate(rgb):
                wait = start + i / fps - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                t = time.perf_counter()
                update = session.step(frame, rec)
                latencies[k].append((time.perf_counter() - t) * 1000)
                if update.i3d is not None and update.i3d.prediction is not None:
                    scorings.append(update.i3d.took_s)
                    arrived.append(time.perf_counter())
            rates.append(len(rgb) / (time.perf_counter() - start))
            gaps.extend(np.diff(arrived).tolist())
        finally:
            for pending in (session.i3d_pending, session.rolling_pending):
                if pending is not None:
                    pending.result()
            session.close()

    with ThreadPoolExecutor(visitors) as pool:
        list(pool.map(visitor, range(visitors)))
    s = _stats([v for lat in latencies for v in lat[3:]])  # the first frames run detection from scratch
    s.update(visitors=visitors, fps=float(np.median(rates)), i3d_scorings=len(scorings),
             i3d_took_s=float(np.median(scorings)) if scorings else None,
             i3d_update_every_s=float(np.median(gaps)) if gaps else None)  # fmt: skip
    return s


def run(args) -> dict:
    import torch

    from signdemo.features import landmarks_to_features
    from signdemo.i3d_input import frame_indices, preprocess_clip
    from signdemo.inference import Recognizer
    from signdemo.overlay import render_overlay
    from signdemo.video import read_clip
    from signdemo.weights import BIGRU

    threads = configure_threads()
    tmp = Path(tempfile.mkdtemp(prefix="signdemo-bench-"))
    clips = _bench_clips(args, tmp)

    t = time.perf_counter()
    if args.baseline:  # the naive pipeline: Holistic (with its face mesh) on every frame
        options = RuntimeOptions.reference()
        rate = {"extraction_fps": None, "landmark_model": args.landmark_model or "holistic"}
    else:
        options = RuntimeOptions(precision=args.precision, compile=args.compile, landmark_workers=args.workers,
                                 i3d_backend=args.i3d_backend)  # fmt: skip
        rate = {} if args.extraction_fps is None else {"extraction_fps": args.extraction_fps}
        rate.update({"landmark_model": args.landmark_model} if args.landmark_model else {})
    rec = Recognizer.from_defaults(bigru=args.bigru, i3d=args.i3d, runtime=options, **rate)
    load_s = time.perf_counter() - t
    warm_s = None
    if not args.baseline:  # as the app does at launch (ModelStore.preload_in_background): first-call costs paid
        t = time.perf_counter()
        rec.warm_up()
        warm_s = time.perf_counter() - t
    i3d_cfg = rec.i3d_config.__class__(**{**rec.i3d.preprocessing, "num_frames": args.i3d_frames}) if rec.i3d else None
    # Every I3D path on the same clips: the float32 eager reference (a second copy of the same
    # weights, run the plain way), the PyTorch fast path, OpenVINO and (where the CPU has it) OpenVINO in
    # bfloat16; the pipeline's own is one of them.
    paths: dict[str, I3DRunner] = {}
    if rec.i3d is not None and not args.no_reference and not args.baseline:
        paths = _i3d_paths(rec.i3d, options, (i3d_cfg.crop, i3d_cfg.crop), own=rec.i3d_runner)
        for runner in paths.values():  # first-call costs (allocation, OpenVINO's first shape) out of the figures
            runner(preprocess_clip(np.zeros((i3d_cfg.num_frames, i3d_cfg.crop, i3d_cfg.crop, 3), np.uint8), i3d_cfg))
    app_path = _path_name(rec.i3d_runner) if rec.i3d_runner else None

    stages: dict[str, list[float]] = {k: [] for k in (
        "decode", "landmarks_per_frame", "landmarks_per_source_frame", "features", "bigru", "i3d_preprocess", "i3d",
        *(f"i3d_{name}" for name in I3D_PATHS), "overlay", "i3d_beside_overlay", "bigru_end_to_end", "i3d_end_to_end", "bigru_answer", "tab_bigru_answer", "tab_keypoint_only_answer",
        "both_answers")}  # fmt: skip
    agree: dict[str, list[bool]] = {name: [] for name in paths}
    max_diff: dict[str, list[float]] = {name: [] for name in paths}
    rows = []
    for n, path in enumerate(clips):
        d: dict[str, float] = {}  # this clip's stage times, ms

        def timed(name, fn, *a, **kw):
            t = time.perf_counter()
            out = fn(*a, **kw)
            d[name] = (time.perf_counter() - t) * 1000
            return out

        clip = timed("decode", read_clip, path, rec.limits)
        row = {"clip": path.name, "frames": len(clip), "size": list(clip.frames.shape[1:3][::-1])}
        if rec.bigru is not None:
            lm = timed("landmarks", rec.extract, clip)
            d["landmarks_per_frame"] = d["landmarks"] / max(len(lm), 1)
            d["landmarks_per_source_frame"] = d["landmarks"] / max(len(clip), 1)
            feats = timed("features", landmarks_to_features, lm.points, lm.present, rec.feature_config)
            if rec.unscorable_reason(lm) is None:  # what the app would score
                row["bigru_top1"] = timed("bigru", rec.predict_features, feats).top1
            d["bigru_end_to_end"] = d["decode"] + d["landmarks"] + d["features"] + d.get("bigru", 0.0)
            out = tmp / f"{n}.mp4"
            timed("overlay", render_overlay, out, clip.frames, lm, clip.fps, frame_indices=clip.source_indices)
            out.unlink(missing_ok=True)
            # The Recognise tab: the keypoint answer at once, the overlay encoded beside the I3D
            # (the baseline: the overlay first, then the answer, as a plain pipeline would).
            d["bigru_answer"] = d["bigru_end_to_end"] + (d["overlay"] if args.baseline else 0.0)
        if rec.i3d is not None:
            idx = frame_indices(len(clip), i3d_cfg)
            x = timed("i3d_preprocess", preprocess_clip, clip.frames, i3d_cfg, idx)
            fast = timed("i3d", rec.i3d_runner, x)
            d["i3d_end_to_end"] = d["decode"] + d["i3d_preprocess"] + d["i3d"]
            row["i3d_top1"] = rec.i3d.labels[int(fast.max(dim=2).values.argmax())]
            if paths:
                logits = {name: fast if name == app_path else timed(f"i3d_{name}", runner, x)
                          for name, runner in paths.items()}  # fmt: skip
                d[f"i3d_{app_path}"] = d["i3d"]
                ref = logits["reference"]
                for name, out in logits.items():
                    agree[name].append(int(ref.max(dim=2).values.argmax()) == int(out.max(dim=2).values.argmax()))
                    max_diff[name].append(float((ref - out).abs().max()))
                row["i3d_reference_agrees"] = agree[app_path][-1]
        if "bigru_answer" in d and "i3d_end_to_end" in d:
            if args.baseline:
                d["both_answers"] = d["bigru_answer"] + d["i3d_preprocess"] + d["i3d"]
            else:
                out = tmp / f"{n}-beside.mp4"
                with ThreadPoolExecutor(1) as pool:
                    t = time.perf_counter()
                    job = pool.submit(render_overlay, out, clip.frames, lm, clip.fps, frame_indices=clip.source_indices)
                    rec.i3d_runner(x)
                    job.result()
                    d["i3d_beside_overlay"] = (time.perf_counter() - t) * 1000
                out.unlink(missing_ok=True)
                if n == 0:  # first-call costs of the tab's own I3D call (its thread count, this input size)
                    _recognise_tab(rec, path, out, args.i3d_frames)
                d["tab_bigru_answer"], d["both_answers"], _ = _recognise_tab(rec, path, out, args.i3d_frames)
        if rec.bigru is not None and not args.baseline:  # the keypoint model asked alone (e.g. no I3D loaded)
            t = time.perf_counter()
            rec.recognize(path, models=(BIGRU,))
            d["tab_keypoint_only_answer"] = (time.perf_counter() - t) * 1000
        for k, v in d.items():
            if k in stages:
                stages[k].append(v)
        rows.append(row)
        if not args.json:
            print(f"  {path.name}: {json.dumps({k: v for k, v in row.items() if k != 'clip'})}", file=sys.stderr)

    live_clip = read_clip(clips[0], rec.limits)
    live_frames = np.concatenate([live_clip.frames] * (1 + args.live_frames // max(len(live_clip), 1)))[: args.live_frames]
    result = {
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "torch_threads": threads, "torch": torch.__version__,
                    "bf16": options.use_bf16},  # fmt: skip
        "settings": {"baseline": args.baseline, "clips": str(args.clips), "n_clips": len(clips), "trim_s": args.trim_s,
                     "extraction_fps": rec.extraction_fps, "landmark_model": rec.landmark_model,
                     "i3d_frames": args.i3d_frames,
                     "landmark_workers": rec.graphs_per_clip, "face_mesh": options.face_mesh,
                     "i3d_fast_path": rec.i3d_runner.description if rec.i3d_runner else None,
                     # whether model_load_s includes converting the I3D for OpenVINO (not cached yet)
                     "i3d_converted": bool(rec.i3d_runner and rec.i3d_runner.openvino and rec.i3d_runner.openvino.converted),
                     "bigru": rec.bigru.describe() if rec.bigru else None,
                     "i3d": rec.i3d.describe() if rec.i3d else None},  # fmt: skip
        "model_load_s": load_s,
        "warm_up_s": warm_s,
        "stages_ms": {k: _stats(v) for k, v in stages.items()},
        "live": measure_live(live_frames, rec),
        "live_tab": [measure_live_tab(live_frames, rec, visitors=v) for v in (1, 2)] if not args.baseline else [],
        "peak_rss_mb": _peak_rss_mb(),
        "clips": rows,
    }
    if paths and stages["i3d_reference"]:
        reference_ms = np.median(stages["i3d_reference"])
        result["i3d_paths"] = {
            name: {"description": runner.description, "median_ms": float(np.median(stages[f"i3d_{name}"])),
                   "speedup": float(reference_ms / np.median(stages[f"i3d_{name}"])),
                   "top1_agreement": float(np.mean(agree[name])), "max_abs_logit_diff": float(np.max(max_diff[name]))}
            for name, runner in paths.items()
        }  # fmt: skip
        result["i3d_app_path"] = app_path
        result["i3d_fastest_agreeing_path"] = fastest_agreeing(result["i3d_paths"])
        result["i3d_fast_vs_reference"] = {k: result["i3d_paths"][app_path][k]
                                           for k in ("speedup", "top1_agreement", "max_abs_logit_diff")}  # fmt: skip
    if not args.skip_app:
        try:
            result["app"] = measure_app(clips[: args.app_clips])
        except Exception as exc:  # noqa: BLE001 - reported in the results, the other figures stand
            result["app"] = {"error": f"{type(exc).__name__}: {exc}"}
    return result


#: The I3D paths every benchmark run compares (stage `i3d_<name>`).
I3D_PATHS = ("reference", "torch", "openvino", "openvino_bf16")
#: Largest logit difference from the float32 reference for a path to count as agreeing (every path alike).
AGREEMENT_TOLERANCE = 1e-3


def _i3d_paths(bundle, options: RuntimeOptions, input_size: tuple[int, int],
               own: I3DRunner | None = None) -> dict[str, I3DRunner]:  # fmt: skip
    """The reference, PyTorch fast and OpenVINO runners over `bundle`'s weights (a copy each), and
    OpenVINO in bfloat16 where the CPU has it; `own` (the pipeline's runner) stands for its path
    (OpenVINO is left out where it is not installed)."""
    from signdemo.openvino_i3d import cpu_has_bf16, openvino_available
    from signdemo.weights import load_bundle

    def copy():
        return load_bundle(bundle.root or bundle.source).model

    paths = {"reference": I3DRunner(copy(), RuntimeOptions.reference())}
    available = {"torch": True, "openvino": openvino_available(), "openvino_bf16": openvino_available() and cpu_has_bf16()}
    own_name = _path_name(own) if own is not None else None
    for name, (backend, precision) in _PATH_OPTIONS.items():
        if name == own_name:
            paths[name] = own
        elif available[name]:
            variant = dataclasses.replace(options, i3d_backend=backend, openvino_precision=precision)
            paths[name] = I3DRunner(copy(), variant, input_size=input_size)
    return paths


#: (i3d_backend, openvino_precision) of each path beside the reference.
_PATH_OPTIONS = {"torch": ("torch", None), "openvino": ("openvino", "float32"), "openvino_bf16": ("openvino", "bfloat16")}


def _path_name(runner: I3DRunner) -> str:
    """The name in `I3D_PATHS` of what `runner` runs."""
    if runner.openvino is not None and runner.openvino.precision == "bfloat16":
        return "openvino_bf16"
    return runner.backend


def fastest_agreeing(paths: dict[str, dict]) -> str | None:
    """The fastest path (by median) whose top-1 matched the reference on every clip and whose logits
    stayed within `AGREEMENT_TOLERANCE` of it. The tolerance is the same for every path: a bfloat16
    path that moves the logits further is reported with its figures but not counted as agreeing."""
    ok = [name for name, p in paths.items()
          if p["top1_agreement"] == 1.0 and p["max_abs_logit_diff"] <= AGREEMENT_TOLERANCE]
    return min(ok, key=lambda name: paths[name]["median_ms"]) if ok else None


def print_table(r: dict) -> None:
    s = r["settings"]
    print(f"signdemo benchmark on {r['machine']['processor']} ({r['machine']['cpus']} CPUs, "
          f"torch {r['machine']['torch']}, {r['machine']['torch_threads']} threads)")  # fmt: skip
    rate = f"{s['extraction_fps']} fps" if s["extraction_fps"] else "every frame"
    print(f"clips: {s['n_clips']} from {s['clips']}; {s.get('landmark_model', 'holistic')} landmarks at {rate}"
          f" on {s['landmark_workers']} graph(s)"
          f"{' with the face mesh' if s['face_mesh'] else ''}; I3D on {s['i3d_frames']} frames, "
          f"path: {s['i3d_fast_path']}{'  [--baseline]' if s['baseline'] else ''}")  # fmt: skip
    print(f"BiGRU: {s['bigru']}\nI3D:   {s['i3d']}\nmodel load: {r['model_load_s']:.2f} s")
    print(f"\n{'stage':<24}{'median ms':>12}{'p90 ms':>12}{'n':>6}")
    for name, st in r["stages_ms"].items():
        if st.get("n"):
            print(f"{name:<24}{st['median']:>12.1f}{st['p90']:>12.1f}{st['n']:>6}")
    live = r["live"]
    print(f"{'live frame (lm+overlay)':<24}{live['median']:>12.1f}{live['p90']:>12.1f}{live['n']:>6}"
          f"   p95 {live['p95']:.1f} ms, {live['fps']:.1f} frames/s")  # fmt: skip
    for lt in r.get("live_tab", []):
        took = f"{lt['i3d_took_s']:.2f} s each" if lt["i3d_took_s"] else "none finished"
        every = f", a visitor's I3D answer every {lt['i3d_update_every_s']:.1f} s" if lt["i3d_update_every_s"] else ""
        print(f"live tab, {lt['visitors']} visitor(s), I3D live: frame median {lt['median']:.1f} ms, p95 {lt['p95']:.1f} ms, "
              f"{lt['fps']:.1f} frames/s per visitor; {lt['i3d_scorings']} I3D scorings ({took}){every}")  # fmt: skip
    if "i3d_paths" in r:
        print(f"\nI3D paths on the same clips ({s['i3d_frames']} frames), against the float32 eager reference:")
        print(f"{'path':<14}{'median ms':>11}{'speed-up':>10}{'top-1 same':>12}{'max |logit diff|':>18}  engine")
        for name, p in r["i3d_paths"].items():
            print(f"{name:<14}{p['median_ms']:>11.1f}{p['speedup']:>9.2f}x{p['top1_agreement']:>12.0%}"
                  f"{p['max_abs_logit_diff']:>18.2e}  {p['description']}")  # fmt: skip
        print(f"fastest path that agrees with the reference: {r['i3d_fastest_agreeing_path']}; "
              f"the pipeline (and the app) ran: {r['i3d_app_path']}")  # fmt: skip
    print(f"peak RSS of this process (both models and the other I3D paths' copies): {r['peak_rss_mb']:.0f} MB")
    app = r.get("app")
    if app and "error" in app:
        print(f"app: {app['error']}")
    elif app:
        answers = ", ".join(f"{v:.2f}" for v in app["answer_s"])
        print(f"app start-up to first page: {app['startup_s']:.2f} s (RSS {app['idle_rss_mb']:.0f} MB); "
              f"/recognize answers: {answers} s; server peak RSS {app['peak_rss_mb']:.0f} MB")  # fmt: skip


#: Rows of the before/after table: (label, how to read the value from a result, unit).
_COMPARE_ROWS = [
    ("decode", ("stages_ms", "decode"), "ms"),
    ("landmarks per extracted frame", ("stages_ms", "landmarks_per_frame"), "ms"),
    ("landmarks per source frame", ("stages_ms", "landmarks_per_source_frame"), "ms"),
    ("features", ("stages_ms", "features"), "ms"),
    ("BiGRU", ("stages_ms", "bigru"), "ms"),
    ("I3D, 64 frames", ("stages_ms", "i3d"), "ms"),
    ("I3D: PyTorch float32 eager reference", ("stages_ms", "i3d_reference"), "ms"),
    ("I3D: PyTorch fast path", ("stages_ms", "i3d_torch"), "ms"),
    ("I3D: OpenVINO", ("stages_ms", "i3d_openvino"), "ms"),
    ("I3D: OpenVINO bfloat16", ("stages_ms", "i3d_openvino_bf16"), "ms"),
    ("overlay encoding", ("stages_ms", "overlay"), "ms"),
    ("BiGRU answer after upload", ("stages_ms", "bigru_answer"), "ms"),
    ("BiGRU answer in the tab's flow (both models)", ("stages_ms", "tab_bigru_answer"), "ms"),
    ("BiGRU answer, keypoint model alone", ("stages_ms", "tab_keypoint_only_answer"), "ms"),
    ("both answers after upload", ("stages_ms", "both_answers"), "ms"),
    ("live frame latency (landmarks + drawing)", ("live",), "ms"),
]


def compare_markdown(before: dict, after: dict) -> str:
    """A Markdown table of two results (`--json` outputs): median and p90 of each stage, before and
    after, and the ratio of the medians; then the single figures."""
    lines = ["| stage | before: median (p90) | after: median (p90) | before / after |", "|---|---|---|---|"]
    for label, path, unit in _COMPARE_ROWS:
        cells = []
        for r in (before, after):
            st = r
            for key in path:
                st = st.get(key, {})
            cells.append(st if st.get("n") else None)
        text = [f"{c['median']:.1f} ({c['p90']:.1f}) {unit}" if c else "–" for c in cells]
        ratio = f"{cells[0]['median'] / cells[1]['median']:.2f}x" if all(cells) and cells[1]["median"] else "–"
        lines.append(f"| {label} | {text[0]} | {text[1]} | {ratio} |")
    for label, get in (
        ("live frames per second (median)", lambda r: f"{r['live']['fps']:.1f}"),
        ("live p95 frame latency", lambda r: f"{r['live']['p95']:.1f} ms"),
        ("live tab with the I3D live: frames/s, p95", lambda r: f"{r['live_tab'][0]['fps']:.1f}, {r['live_tab'][0]['p95']:.1f} ms"),
        ("same, two visitors at once (each)", lambda r: f"{r['live_tab'][1]['fps']:.1f}, {r['live_tab'][1]['p95']:.1f} ms"),
        ("model load", lambda r: f"{r['model_load_s']:.2f} s"),
        ("warm-up at launch (graphs, one call of each model)",
         lambda r: "–" if r.get("warm_up_s") is None else f"{r['warm_up_s']:.2f} s"),
        ("peak RSS, benchmark process", lambda r: f"{r['peak_rss_mb']:.0f} MB"),
        ("app start-up to first page", lambda r: f"{r['app']['startup_s']:.2f} s"),
        ("app /recognize answers", lambda r: ", ".join(f"{v:.2f}" for v in r["app"]["answer_s"]) + " s"),
        ("app server peak RSS", lambda r: f"{r['app']['peak_rss_mb']:.0f} MB"),
    ):  # fmt: skip
        values = []
        for r in (before, after):
            try:
                values.append(get(r))
            except (KeyError, TypeError, IndexError):
                values.append("–")
        lines.append(f"| {label} | {values[0]} | {values[1]} | |")
    for label, key in (("BiGRU top-1 as before, same clips", "bigru_top1"),
                       ("I3D top-1 as before, same clips", "i3d_top1")):  # fmt: skip
        lines.append(f"| {label} | | {_top1_agreement(before, after, key)} | |")
    return "\n".join(lines)


def _top1_agreement(before: dict, after: dict, key: str) -> str:
    """How many clips that both results scored got the same top-1 label ("k/n"), "–" when none."""
    was = {c["clip"]: c.get(key) for c in before.get("clips", [])}
    now = [(c["clip"], c.get(key)) for c in after.get("clips", [])]
    pairs = [(was[clip], label) for clip, label in now if was.get(clip) and label]
    return f"{sum(a == b for a, b in pairs)}/{len(pairs)}" if pairs else "–"


def splice_check(args) -> dict:
    """The keypoint model's landmarks of each clip from one MediaPipe graph and from two graphs
    spliced where they agree (`landmarks.extract_landmarks_spliced` with the app's rule), and its
    answers on both: per clip the frames each graph processed, where the splice fell, the largest
    coordinate difference, rows where one finds a hand the other does not, whether the top-5 is the
    same, the largest probability difference, and both times. Run it on your own clips before
    trusting the splice with a model of yours (`--bigru BUNDLE`)."""
    from signdemo.inference import Recognizer
    from signdemo.landmarks import SPLIT_BETWEEN_GRAPHS, GraphPool, extract_landmarks, extract_landmarks_spliced
    from signdemo.video import read_clip
    from signdemo.weights import BIGRU

    clips = _bench_clips(args, Path(tempfile.mkdtemp(prefix="signdemo-splice-")))
    rec = Recognizer.from_defaults(bigru=args.bigru, models=(BIGRU,),
                                   **({"landmark_model": args.landmark_model} if args.landmark_model else {}))  # fmt: skip
    if SPLIT_BETWEEN_GRAPHS[rec.landmark_model] != "splice":
        raise SystemExit(f"the keypoint model's landmarks ({rec.landmark_model}) are not spliced")
    pool = GraphPool(keep=2, model=rec.landmark_model, **rec.graph_options)
    pool.warm(2)
    rows = []
    for path in clips:
        clip = read_clip(path, rec.limits)
        pos = clip.subsample(rec.extraction_fps)
        frames, indices = clip.frames[pos], clip.source_indices[pos]
        fps = clip.fps * len(pos) / max(len(clip), 1)
        t = time.perf_counter()
        one = extract_landmarks(frames, indices, fps, pool=pool)
        one_s = time.perf_counter() - t
        report: dict = {}
        t = time.perf_counter()
        spliced = extract_landmarks_spliced(frames, indices, fps, report=report, pool=pool)
        spliced_s = time.perf_counter() - t
        a, b = rec.predict_landmarks(one), rec.predict_landmarks(spliced)
        rows.append({"clip": path.name, "frames": len(frames), **report,
                     "max_coordinate_diff": float(np.abs(one.points - spliced.points).max()),
                     "rows_with_other_hands": int((one.present != spliced.present).any(axis=1).sum()),
                     "top5_same": a.labels == b.labels, "max_probability_diff": float(np.abs(a.scores - b.scores).max()),
                     "one_graph_s": one_s, "spliced_s": spliced_s})  # fmt: skip
    pool.close()
    return {"machine": platform.processor() or platform.machine(), "landmark_model": rec.landmark_model,
            "clips": rows, "top5_same": sum(r["top5_same"] for r in rows), "n": len(rows),
            "frame_time_ratio": sum(max(r["frames_a"], r["frames_b"]) for r in rows) / sum(r["frames"] for r in rows),
            "time_ratio": sum(r["spliced_s"] for r in rows) / sum(r["one_graph_s"] for r in rows)}  # fmt: skip


def splice_markdown(result: dict) -> str:
    """`splice_check`'s result as a Markdown table and a summary line."""
    lines = ["| clip | frames | splice after | frames A / B | max coord. diff | other-hand rows | same top-5 "
             "| max prob. diff | one graph | spliced |", "|" + "---|" * 10]  # fmt: skip
    for r in result["clips"]:
        lines.append(f"| {r['clip']} | {r['frames']} | {'–' if r['splice'] is None else r['splice']} "
                     f"| {r['frames_a']} / {r['frames_b']} | {r['max_coordinate_diff']:.4f} | {r['rows_with_other_hands']} "
                     f"| {'yes' if r['top5_same'] else 'NO'} | {r['max_probability_diff']:.4f} "
                     f"| {r['one_graph_s'] * 1000:.0f} ms | {r['spliced_s'] * 1000:.0f} ms |")  # fmt: skip
    lines.append(f"\nSame top-5 on {result['top5_same']}/{result['n']} clips; the busier graph's frames "
                 f"{result['frame_time_ratio']:.2f} of one graph's; time {result['time_ratio']:.2f} of one graph's.")
    return "\n".join(lines)


def _alternating(names: list[str], rounds: int) -> Iterator[str]:
    """The flows of an alternating check, each once a round, the order swapped every round (so that
    neither flow always runs first, on a warmer or cooler host)."""
    for round_ in range(rounds):
        yield from names if round_ % 2 == 0 else names[::-1]


def stream_check(args) -> dict:
    """The keypoint model asked alone (`Recognizer.recognize(path, models=(BIGRU,))`, the bench's
    "keypoint model alone" stage) with its landmarks fed while the clip decodes (what the app runs)
    and extracted after decoding (`RuntimeOptions(stream_landmarks=False)`), the two alternating on
    the same clips in one process, `--stream-check` rounds each (the order swapped every round), so
    that a gain smaller than the host's spread between runs still shows: per flow the median and the
    minimum time, the median decode time, and whether every clip got the same top-5 from both."""
    import statistics

    from signdemo.inference import Recognizer
    from signdemo.weights import BIGRU

    if args.stream_check < 1:
        raise SystemExit("--stream-check needs at least 1 round")
    clips = _bench_clips(args, Path(tempfile.mkdtemp(prefix="signdemo-stream-")))
    extra = {"landmark_model": args.landmark_model} if args.landmark_model else {}
    streamed = Recognizer.from_defaults(bigru=args.bigru, models=(BIGRU,), **extra)
    runtime = dataclasses.replace(streamed.runtime, stream_landmarks=False)
    after = Recognizer.from_defaults(bigru=args.bigru, models=(BIGRU,), runtime=runtime, **extra)
    flows = {"streamed": streamed, "after_decoding": after}
    for rec in flows.values():
        rec.warm_up()
    times: dict[str, list[float]] = {name: [] for name in flows}
    decode: dict[str, list[float]] = {name: [] for name in flows}
    top5: dict[tuple[str, str], list[str]] = {}
    for name in _alternating(list(flows), args.stream_check):
        for path in clips:
            t = time.perf_counter()
            out = flows[name].recognize(path, models=(BIGRU,))
            times[name].append((time.perf_counter() - t) * 1000)
            decode[name].append(out.timings_ms["decode"])
            top5.setdefault((name, path.name), out.bigru.labels)
    same = sum(top5[("streamed", p.name)] == top5[("after_decoding", p.name)] for p in clips)
    return {"machine": platform.processor() or platform.machine(), "landmark_model": streamed.landmark_model,
            "clips": [p.name for p in clips], "rounds": args.stream_check,
            "flows": {name: {"median_ms": statistics.median(v), "min_ms": min(v), "n": len(v),
                             "decode_median_ms": statistics.median(decode[name])} for name, v in times.items()},
            "top5_same": same, "n": len(clips)}  # fmt: skip


def stream_markdown(result: dict) -> str:
    """`stream_check`'s result as a Markdown table and a summary line."""
    f = result["flows"]
    lines = ["| keypoint model alone | landmarks after decoding | fed while decoding (the app's) |", "|---|---|---|",
             f"| median (min), {f['streamed']['n']} runs each | {f['after_decoding']['median_ms']:.0f} "
             f"({f['after_decoding']['min_ms']:.0f}) ms | {f['streamed']['median_ms']:.0f} ({f['streamed']['min_ms']:.0f}) ms |",
             f"| decode, median | {f['after_decoding']['decode_median_ms']:.0f} ms | {f['streamed']['decode_median_ms']:.0f} ms |",
             f"\nSame top-5 on {result['top5_same']}/{result['n']} clips; fed while decoding / after decoding: "
             f"{f['streamed']['median_ms'] / f['after_decoding']['median_ms']:.2f}."]  # fmt: skip
    return "\n".join(lines)


def schedule_check(args) -> dict:
    """Both models in the Recognise tab's flow (`_recognise_tab`: decode, landmarks, BiGRU, I3D on
    `--i3d-frames` frames, the overlay), with the app's schedule (a Hands clip's landmarks spliced
    from two graphs fed while decoding, the I3D after the keypoint answer on every core) and with one
    graph fed while decoding and the I3D beside it on the core it leaves (`RuntimeOptions(splice_hands=
    False)`), alternating on the same clips in one process, `--schedule-check` rounds each (the order
    swapped every round): per schedule the median and minimum time to the keypoint answer and to both
    answers, and on how many clips both schedules gave the same top-5 of each model."""
    import statistics

    from signdemo.inference import Recognizer

    if args.schedule_check < 1:
        raise SystemExit("--schedule-check needs at least 1 round")
    tmp = Path(tempfile.mkdtemp(prefix="signdemo-schedule-"))
    clips = _bench_clips(args, tmp)
    extra = {"landmark_model": args.landmark_model} if args.landmark_model else {}
    spliced = Recognizer.from_defaults(bigru=args.bigru, i3d=args.i3d, runtime=RuntimeOptions(splice_hands=True), **extra)
    if not spliced.splices_hands or spliced.i3d is None:
        raise SystemExit("--schedule-check needs a keypoint model on MediaPipe Hands, two landmark workers "
                         f"and an I3D (got {spliced.landmark_model}, {spliced.graphs_per_clip} graph(s) a clip, "
                         f"I3D {'loaded' if spliced.i3d is not None else 'not loaded'})")  # fmt: skip
    runtime = dataclasses.replace(spliced.runtime, splice_hands=False)
    beside = Recognizer.from_defaults(bigru=args.bigru, i3d=args.i3d, runtime=runtime, **extra)
    flows = {"spliced_i3d_after": spliced, "one_graph_i3d_beside": beside}
    for rec in flows.values():
        rec.warm_up()
        _recognise_tab(rec, clips[0], tmp / "warm.mp4", args.i3d_frames)  # first-call costs at this size
    first: dict[str, list[float]] = {name: [] for name in flows}
    both: dict[str, list[float]] = {name: [] for name in flows}
    top5: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for name in _alternating(list(flows), args.schedule_check):
        for path in clips:
            a, b, out = _recognise_tab(flows[name], path, tmp / "overlay.mp4", args.i3d_frames)
            first[name].append(a)
            both[name].append(b)
            top5.setdefault((name, path.name), (out.bigru.labels, out.i3d.labels))
    same = [top5[("spliced_i3d_after", p.name)] == top5[("one_graph_i3d_beside", p.name)] for p in clips]
    return {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "clips": [p.name for p in clips], "rounds": args.schedule_check, "i3d_frames": args.i3d_frames,
            "flows": {name: {"keypoint_median_ms": statistics.median(first[name]), "keypoint_min_ms": min(first[name]),
                             "both_median_ms": statistics.median(both[name]), "both_min_ms": min(both[name]),
                             "n": len(first[name])} for name in flows},
            "top5_same": sum(same), "n": len(clips)}  # fmt: skip


def schedule_markdown(result: dict) -> str:
    """`schedule_check`'s result as a Markdown table and a summary line."""
    f = result["flows"]
    a, b = f["spliced_i3d_after"], f["one_graph_i3d_beside"]
    lines = ["| both models, Recognise tab flow, median (min) | one graph, I3D beside | spliced, I3D after (the app's) |",
             "|---|---|---|",
             f"| keypoint answer, {a['n']} runs each | {b['keypoint_median_ms']:.0f} ({b['keypoint_min_ms']:.0f}) ms "
             f"| {a['keypoint_median_ms']:.0f} ({a['keypoint_min_ms']:.0f}) ms |",
             f"| both answers with the overlay | {b['both_median_ms']:.0f} ({b['both_min_ms']:.0f}) ms "
             f"| {a['both_median_ms']:.0f} ({a['both_min_ms']:.0f}) ms |",
             f"\nSame top-5 of both models on {result['top5_same']}/{result['n']} clips; the app's / one graph's: "
             f"keypoint answer {a['keypoint_median_ms'] / b['keypoint_median_ms']:.2f}, "
             f"both answers {a['both_median_ms'] / b['both_median_ms']:.2f}."]  # fmt: skip
    return "\n".join(lines)


def _best_ms(fn, repeats: int) -> float:
    """The fastest of `repeats` calls of `fn` after one warm-up call, in ms."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return min(times)


def peak_check(args, *, gemm_size: int = 4096, repeats: int = 3) -> dict:
    """How fast the I3D can be on this CPU: its floating-point work on one clip of `--i3d-frames`
    frames at the bundle's crop (counted by `torch.utils.flop_counter.FlopCounterMode`: convolutions
    and matmuls, 2 FLOPs a multiply-add), the rate of torch's float32 GEMM (`gemm_size`^3, all
    threads) and, where the CPU has bfloat16, its bfloat16 GEMM, and each I3D path's time (fastest of
    `repeats` after a warm-up) as an achieved rate. A dense GEMM is about the best rate a CPU library
    reaches, so `flops / gemm rate` is a floor of roughly what a float32 I3D can take here: a target
    below it is out of reach on this CPU in float32, whatever the runtime."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from signdemo.i3d_input import I3DInputConfig
    from signdemo.runtime import cpu_supports_bf16
    from signdemo.weights import I3D, load_bundle, resolve_bundle

    threads = configure_threads()
    bundle = load_bundle(args.i3d) if args.i3d else resolve_bundle(I3D)
    crop = I3DInputConfig(**bundle.preprocessing).crop
    x = torch.randn(1, 3, args.i3d_frames, crop, crop)
    runners = _i3d_paths(bundle, RuntimeOptions(), (crop, crop))
    with FlopCounterMode(display=False) as counter:
        runners["reference"](x)
    gflop = counter.get_total_flops() / 1e9

    def gemm(dtype) -> float:
        a, b = (torch.randn(gemm_size, gemm_size).to(dtype) for _ in range(2))
        return 2 * gemm_size**3 / 1e9 / (_best_ms(lambda: a @ b, repeats) / 1000)

    rates = {"float32": gemm(torch.float32)}
    if cpu_supports_bf16():
        rates["bfloat16"] = gemm(torch.bfloat16)
    paths = {}
    for name, runner in runners.items():
        ms = _best_ms(lambda: runner(x), repeats)
        paths[name] = {"description": runner.description, "ms": ms, "gflop_per_s": gflop / (ms / 1000)}
    return {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "threads": threads,
            "bundle": bundle.name, "input": list(x.shape), "i3d_gflop": gflop, "gemm_size": gemm_size, "repeats": repeats,
            "gemm_gflop_per_s": rates, "float32_floor_ms": gflop / rates["float32"] * 1000, "paths": paths}  # fmt: skip


def peak_markdown(result: dict, target_ms: float = 700.0) -> str:
    """`peak_check`'s result as a Markdown table and what it means for a float32 time of `target_ms`."""
    rates = result["gemm_gflop_per_s"]
    n = result["gemm_size"]
    lines = [f"I3D on {'x'.join(map(str, result['input']))} ({result['bundle']}): {result['i3d_gflop']:.1f} GFLOP; "
             f"{result['threads']} threads; torch GEMM {n}^3: "
             + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in rates.items()) + ".", "",
             f"| I3D path | fastest of {result['repeats']} | achieved GFLOP/s | of the float32 GEMM rate |", "|---|---|---|---|"]  # fmt: skip
    for p in result["paths"].values():
        lines.append(f"| {p['description']} | {p['ms']:.0f} ms | {p['gflop_per_s']:.0f} | {p['gflop_per_s'] / rates['float32']:.2f} |")
    need = result["i3d_gflop"] / (target_ms / 1000)
    verdict = "within" if need <= rates["float32"] else "above"
    lines.append(f"\n{target_ms:.0f} ms for {result['input'][2]} frames in float32 needs {need:.0f} GFLOP/s, {verdict} this CPU's float32 GEMM rate "
                 f"({rates['float32']:.0f}); the float32 floor at that rate is {result['float32_floor_ms']:.0f} ms.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = get_args_parser().parse_args(argv)
    if args.compare:
        before, after = (json.loads(Path(f).read_text()) for f in args.compare)
        print(compare_markdown(before, after))
        return 0
    if args.peak:
        result = peak_check(args)
        print(json.dumps(result, indent=2) if args.json else peak_markdown(result))
        return 0
    if args.stream_check:
        result = stream_check(args)
        print(json.dumps(result, indent=2) if args.json else stream_markdown(result))
        return 0
    if args.schedule_check:
        result = schedule_check(args)
        print(json.dumps(result, indent=2) if args.json else schedule_markdown(result))
        return 0
    result = splice_check(args) if args.splice_check else run(args)
    if args.splice_check and not args.json:
        print(splice_markdown(result))
        return 0
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

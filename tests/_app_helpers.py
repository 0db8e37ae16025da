"""Fixtures of the app tests: tiny random-init bundles, small clips and keypoint sets, a launched app.

The bundles are real bundles (save_bundle, strict loading) with random weights: they test the app's
plumbing, never accuracy. The BiGRU is tiny; the I3D keeps its real architecture (only the head is
small) and reads 12 frames so a CPU forward takes about a second.
"""

from __future__ import annotations

import contextlib
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from _paths import DATA, REPO
from signdemo.loadtest import free_port, stop_process, wait_for_page
from signdemo.models.bigru_attention import build_bigru_attention
from signdemo.models.i3d import InceptionI3d
from signdemo.reports import append_history, write_test_reports
from signdemo.weights import BIGRU, I3D, save_bundle

LABELS = ["hello", "thankyou", "yes", "no", "please"]
BIGRU_ARGS = dict(input_dim=450, projection_dim=32, hidden_dim=16, num_gru_layers=1, num_classes=len(LABELS), dropout=0.1)
DEMO_PROVENANCE = {"kind": "demo", "description": "demo weights trained on the synthetic signer, not ASL (test: random init)"}
WLASL_CLIP = DATA / "wlasl_clips" / "17356.mp4"  # a real signer, 31 frames, 288x192


def make_bigru_bundle(root: Path, *, reports: dict | None = None, name: str = "test-bigru") -> Path:
    """A random-init BiGRU bundle; `reports`: {"val": v, "test": t} writes a reports/ folder whose
    test scores make top-1 = t (on 20 samples) and best_val_top1 = v."""
    torch.manual_seed(0)
    if reports is not None:
        n = 20
        targets = np.arange(n) % len(LABELS)
        scores = np.eye(len(LABELS))[targets].astype(np.float32)
        wrong = int(round(n * (1 - reports["test"])))
        scores[:wrong] = np.roll(scores[:wrong], 1, axis=1)
        write_test_reports(root / "reports", scores, targets, LABELS, test_loss=0.5, best_epoch=3,
                           best_val_top1=reports["val"])  # fmt: skip
        for epoch in range(1, 5):
            append_history(root / "reports", {"epoch": epoch, "train_loss": 1.0 / epoch, "train_top1": 0.2 * epoch,
                                              "val_loss": 1.2 / epoch, "val_top1": 0.18 * epoch, "lr": 3e-4})  # fmt: skip
    save_bundle(root, architecture=BIGRU, model=build_bigru_attention(**BIGRU_ARGS), model_args=BIGRU_ARGS,
                labels=LABELS, preprocessing={}, provenance=DEMO_PROVENANCE, name=name)  # fmt: skip
    return root


def make_i3d_bundle(root: Path, name: str = "test-i3d") -> Path:
    torch.manual_seed(0)
    save_bundle(root, architecture=I3D, model=InceptionI3d(num_classes=len(LABELS)),
                model_args={"num_classes": len(LABELS)}, labels=LABELS, preprocessing={"num_frames": 12},
                provenance=DEMO_PROVENANCE, name=name, dtype=torch.float16)  # fmt: skip
    return root


def make_weights_dir(root: Path, *, i3d: bool = True, reports: dict | None = None) -> Path:
    make_bigru_bundle(root / "test-bigru", reports=reports)
    if i3d:
        make_i3d_bundle(root / "test-i3d")
    return root


def write_clip(path: Path, n: int = 12, size: tuple[int, int] = (160, 120), fps: float = 12.0) -> Path:
    """A short clip with nobody in it (moving colour bars), mp4v."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for t in range(n):
        frame = np.zeros((h, w, 3), np.uint8)
        frame[:, :, 0] = (np.arange(w)[None, :] * 2 + 9 * t) % 256
        frame[:, :, 1] = (np.arange(h)[:, None] * 2) % 256
        writer.write(frame)
    writer.release()
    return path


def write_y4m(path: Path, frames_bgr: list[np.ndarray], fps: int = 30) -> Path:
    """Frames as a YUV4MPEG2 file for Chromium's fake camera (4:2:0, even sizes)."""
    h, w = frames_bgr[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames_bgr:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def camera_frames(clip: Path, size: tuple[int, int] = (640, 480), marker: bool = True) -> list[np.ndarray]:
    """A clip's frames at webcam size, with a red square in the top-left corner (orientation marker)."""
    cap = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frame = cv2.resize(frame, size)
        if marker:
            frame[10:70, 10:70] = (0, 0, 255)
        frames.append(frame)
    cap.release()
    return frames


def make_keypoint_set(folder: Path, n: int = 12) -> tuple[Path, Path]:
    """An (n, 200, 450) float16 exchange array + manifest: real GISLR landmarks when ../shared has
    them (labels hello / thankyou), else smooth synthetic trajectories."""
    from signdemo.features import landmarks_to_features, present_from_points

    folder.mkdir(parents=True, exist_ok=True)
    src = DATA / "gislr_hello_thankyou" / "gislr_hello_thankyou.npz"
    feats, labels = [], []
    if src.is_file():
        data = np.load(src, allow_pickle=False)
        offsets, names = data["offsets"], data["labels"]
        picks = list(range(0, len(names), max(1, len(names) // n)))[:n]
        for i in picks:
            pts = data["frames"][offsets[i]:offsets[i + 1]].astype(np.float32)
            feats.append(landmarks_to_features(np.nan_to_num(pts), present_from_points(pts)))
            labels.append(str(names[i]))
    else:
        rng = np.random.default_rng(0)
        for i in range(n):
            t = np.linspace(0, 1, 40)[:, None, None]
            pts = 0.5 + 0.1 * np.sin(2 * np.pi * (t + rng.random((1, 75, 3))))
            feats.append(landmarks_to_features(pts, np.ones((40, 3), bool)))
            labels.append(LABELS[i % 2])
    npy, manifest = folder / "keypoints.npy", folder / "keypoints.csv"
    np.save(npy, np.stack(feats).astype(np.float16))
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sample_id", "label"])
        writer.writerows([[f"seq{i}", label] for i, label in enumerate(labels)])
    return npy, manifest


# ------------------------------------------------------------------------------------ a launched app


@contextlib.contextmanager
def launched_app(weights_dir: Path, tmp: Path, *, timeout_s: float = 120.0, env: dict | None = None):
    """`python app.py` in a subprocess on a free loopback port; yields (url, seconds to first page, log path)."""
    port = free_port()
    log_path = tmp / "server.log"
    (tmp / "gradio").mkdir(exist_ok=True)
    full_env = {
        **os.environ,
        "SIGNDEMO_WEIGHTS_DIR": str(weights_dir), "SIGNDEMO_USE_HUB": "0", "HF_HUB_OFFLINE": "1",
        "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(tmp / "gradio"), "GRADIO_EXAMPLES_CACHE": str(tmp / "examples_cache"),
        "SIGNDEMO_OUTPUT_DIR": str(tmp / "outputs"), "PYTHONUNBUFFERED": "1", **(env or {}),
    }  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=tmp, env=full_env, stdout=log,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        try:
            wait_for_page(url, time.monotonic() + timeout_s, proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"app.py: {exc}:\n{log_path.read_text()[-3000:]}") from None
        yield url, time.perf_counter() - start, log_path
    finally:
        stop_process(proc)

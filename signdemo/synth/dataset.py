"""The synthetic data set: plan, render in parallel, write clips + labels + ground truth.

Layout written by `make_dataset(out, config)`:

    OUT/labels.csv          file,label,label_id,signer,split,index,frames,fps,duration_s,
                            handedness,width,height,background,groundtruth (label_id = position in
                            the chosen class list, the vocabulary's order by default)
    OUT/classes.json        the vocabulary (label, title, description, how_to, hands) and config
    OUT/clips/*.mp4         H.264 clips (signdemo.video.write_mp4)
    OUT/groundtruth/*.npz   keypoints (T, 75, 2) float32 pixels (NaN = undefined), depth (T, 75),
                            active (T,) bool, fps, meta (JSON string)

Signers (fixed identities) are split into train / val / test, so the splits are signer-disjoint.
Clips that already exist (mp4 and npz) are not rendered again: an interrupted run resumes.
"""

from __future__ import annotations

import csv
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from signdemo.synth.vocabulary import LABELS, get_class

logger = logging.getLogger(__name__)

CSV_FIELDS = (
    "file", "label", "label_id", "signer", "split", "index", "frames", "fps", "duration_s",
    "handedness", "width", "height", "background", "groundtruth",
)  # fmt: skip


@dataclass(frozen=True)
class DatasetConfig:
    """What to make. Signer ids first_signer..first_signer+signers-1; `val_signers` + `test_signers`
    of them are held out. A second set with the same seed and `first_signer` past the first set's ids
    has new signers (e.g. more training signers: `--first-signer 24 --val-signers 0 --test-signers 0`)."""

    per_class: int = 40
    seed: int = 0
    signers: int = 24
    val_signers: int = 4
    test_signers: int = 4
    width: int = 640
    height: int = 480
    fps: float | None = None  # None: 25 or 30 per clip
    left_fraction: float = 0.4
    labels: tuple[str, ...] = LABELS
    first_signer: int = 0

    def __post_init__(self) -> None:
        if self.signers < self.val_signers + self.test_signers + 1:
            raise ValueError(
                f"{self.signers} signers cannot hold out {self.val_signers} for val and "
                f"{self.test_signers} for test and keep one for training; use --signers "
                f"{self.val_signers + self.test_signers + 1} or more"
            )
        unknown = sorted(set(self.labels) - set(LABELS))
        if unknown:
            raise ValueError(f"unknown classes {unknown}; known: {', '.join(LABELS)}")
        if self.per_class < 1:
            raise ValueError("per_class must be at least 1")
        if self.first_signer < 0:
            raise ValueError("first_signer must be 0 or more")


@dataclass(frozen=True)
class PlannedClip:
    """One clip of the plan: where it goes and who performs what."""

    stem: str
    label: str
    label_id: int
    signer: int
    split: str
    index: int


def signer_splits(config: DatasetConfig) -> dict[int, str]:
    """Signer id -> "train" | "val" | "test" (a seeded shuffle of the signer ids)."""
    order = np.random.default_rng([config.seed, 303]).permutation(config.signers)
    nv, nt = config.val_signers, config.test_signers
    split = {}
    for pos, sid in enumerate(order.tolist()):
        split[config.first_signer + sid] = "val" if pos < nv else "test" if pos < nv + nt else "train"
    return split


def plan(config: DatasetConfig) -> list[PlannedClip]:
    """Every clip of the data set, in a fixed order.

    Each class gets `per_class` clips, divided between the splits in proportion to their number
    of signers (at least one clip per held-out split), cycling through each split's signers.
    """
    splits = signer_splits(config)
    members = {s: sorted(k for k, v in splits.items() if v == s) for s in ("train", "val", "test")}
    n = config.per_class
    quota = {}
    for s in ("val", "test"):
        quota[s] = max(1, round(n * len(members[s]) / config.signers)) if members[s] else 0
    quota["train"] = n - quota["val"] - quota["test"]
    if quota["train"] < 1:
        quota = {"train": n, "val": 0, "test": 0} if n < 3 else {"train": n - 2, "val": 1, "test": 1}
    clips = []
    for label_id, label in enumerate(config.labels):  # ids contiguous within the chosen classes
        index = 0
        for split in ("train", "val", "test"):
            for k in range(quota[split]):
                who = members[split][(k + label_id) % len(members[split])]
                clips.append(PlannedClip(f"{label}_s{who:03d}_{index:03d}", label, label_id, who, split, index))
                index += 1
    return clips


def _paths(out: Path, clip: PlannedClip) -> tuple[Path, Path]:
    return out / "clips" / f"{clip.stem}.mp4", out / "groundtruth" / f"{clip.stem}.npz"


def _row(clip: PlannedClip, meta: dict) -> dict:
    return {
        "file": f"clips/{clip.stem}.mp4", "label": clip.label, "label_id": clip.label_id,
        "signer": f"synth{clip.signer:03d}", "split": clip.split, "index": clip.index,
        "frames": meta["frames"], "fps": meta["fps"],
        "duration_s": round(meta["frames"] / meta["fps"], 3), "handedness": meta["handedness"],
        "width": meta["width"], "height": meta["height"], "background": meta["scene"]["background"],
        "groundtruth": f"groundtruth/{clip.stem}.npz",
    }  # fmt: skip


def render_to_files(out: Path, clip: PlannedClip, config: DatasetConfig) -> dict:
    """Render one planned clip into OUT (skipped if both files exist); returns its labels row."""
    from signdemo.synth.sample import render_sample
    from signdemo.video import write_mp4

    mp4, npz = _paths(out, clip)
    if mp4.is_file() and npz.is_file():
        try:
            with np.load(npz) as data:
                return _row(clip, json.loads(str(data["meta"])))
        except (OSError, ValueError, KeyError):
            logger.warning("rendering %s again: its ground truth file is unreadable", clip.stem)
    rendered = render_sample(
        clip.label, clip.signer, clip.index, config.seed, width=config.width, height=config.height,
        left_fraction=config.left_fraction, fps=config.fps,
    )  # fmt: skip
    meta = rendered.metadata()
    write_mp4(mp4, rendered.frames, rendered.fps)
    tmp = npz.with_name(f".{npz.stem}.partial.npz")
    np.savez_compressed(
        tmp, keypoints=rendered.keypoints, depth=rendered.depth, active=rendered.active,
        fps=np.float64(rendered.fps), meta=np.array(json.dumps(meta)),
    )  # fmt: skip
    os.replace(tmp, npz)
    return _row(clip, meta)


def _worker_init() -> None:
    import cv2

    cv2.setNumThreads(1)  # the pool already uses the cores; OpenCV threads would only contend


def _work(args: tuple[str, PlannedClip, DatasetConfig]) -> dict:
    out, clip, config = args
    return render_to_files(Path(out), clip, config)


def make_dataset(
    out: str | os.PathLike,
    config: DatasetConfig,
    workers: int = 2,
    progress: Callable[[int, int, float], None] | None = None,
) -> Path:
    """Render the whole data set into `out` (resumable) and write labels.csv; returns its path.

    `progress(done, total, elapsed_s)` is called after each clip.
    """
    out = Path(out)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    (out / "groundtruth").mkdir(parents=True, exist_ok=True)
    clips = plan(config)
    (out / "classes.json").write_text(
        json.dumps(
            {
                "classes": [
                    {"label": c.name, "label_id": config.labels.index(c.name), "title": c.title,
                     "description": c.description, "how_to": c.how_to, "hands": c.hands}
                    for c in (get_class(n) for n in config.labels)
                ],
                "config": {**asdict(config), "labels": list(config.labels)},
                "note": "synthetic signer (signdemo.synth), not ASL",
            },
            indent=1,
        )
    )  # fmt: skip
    rows: dict[str, dict] = {}
    start = time.perf_counter()
    jobs = [(str(out), c, config) for c in clips]
    if workers <= 1:
        for i, job in enumerate(jobs):
            rows[job[1].stem] = _work(job)
            if progress:
                progress(i + 1, len(jobs), time.perf_counter() - start)
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers, initializer=_worker_init) as pool:
            for i, row in enumerate(pool.imap_unordered(_work, jobs, chunksize=1)):
                rows[Path(row["file"]).stem] = row
                if progress:
                    progress(i + 1, len(jobs), time.perf_counter() - start)
    labels_csv = out / "labels.csv"
    tmp = labels_csv.with_name(".labels.partial.csv")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for c in clips:
            writer.writerow(rows[c.stem])
    os.replace(tmp, labels_csv)
    logger.info("wrote %d clips to %s in %.1f s", len(clips), out, time.perf_counter() - start)
    return labels_csv


def read_labels(path: str | os.PathLike) -> list[dict]:
    """Rows of a data set's labels.csv (`path` = the CSV or its folder), file paths made absolute."""
    path = Path(path)
    if path.is_dir():
        path = path / "labels.csv"
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["path"] = str(path.parent / r["file"])
        r["groundtruth_path"] = str(path.parent / r["groundtruth"])
    return rows

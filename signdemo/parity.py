"""Parity: which `FeatureConfig` turns a data set's raw videos into the features it ships.

`python -m signdemo parity PROCESSED --videos DIR [--split test] [--limit 50] [--write BUNDLE]`
takes a processed-200 set (`signdemo.processed`) and the raw videos its rows came from (the
manifest's `source_path`, else `filename`, relative to DIR), extracts each clip's MediaPipe
Holistic landmarks once (one graph over every frame, in order), computes the features under every
candidate reading of the unknown options (`published.FEATURE_UNKNOWNS`, on top of the published
record) from those same landmarks, and compares each with the shipped row.

Discrepancy: mean absolute difference per clip, over all 450 features and separately over the
positions and velocities of each part (pose, left hand, right hand); per variant its median over
the clips and its worst clip. The best variant has the lowest median. Variants within a hair of it
give the same features on this data; an option on which they disagree is reported as not
determined by it, the others as settled. Another MediaPipe build or model than the data set's never
gives zero discrepancy: the ranking, not the value, is what tells the readings apart.

With `--write BUNDLE` the best variant becomes the bundle's recorded preprocessing, its settled
options leave the bundle's "assumed" list and are recorded under "settled" with the evidence.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Callable

import numpy as np

from signdemo import schema
from signdemo.errors import DatasetError, SigndemoError
from signdemo.features import FeatureConfig, landmarks_to_features
from signdemo.processed import open_processed
from signdemo.published import BIGRU_FEATURES, FEATURE_UNKNOWNS, feature_variants

log = logging.getLogger(__name__)

PARTS = schema.PART_NAMES
#: Column names of the per-clip discrepancy vector.
MEASURES = ("all", *(f"positions.{p}" for p in PARTS), *(f"velocities.{p}" for p in PARTS))
#: Medians closer to the best than this (relative) are the same features on this data.
TIE_TOLERANCE = 1e-3


VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".avi", ".mkv", ".m4v")


class VideoFinder:
    """The raw video of a manifest row under a folder: `source_path`, then `filename`, relative to it
    (an absolute `source_path` that exists is taken as is); failing that, a video anywhere under the
    folder with the same stem as either (the manifests may name the keypoint file, `x.npy`, of the
    video `x.mp4`). The folder is indexed once, on the first lookup that needs it."""

    def __init__(self, videos: Path) -> None:
        self.videos = videos
        self._by_stem: dict[str, Path] | None = None

    def __call__(self, row: dict) -> Path | None:
        names = [n for n in (row.get("source_path") or "", row.get("filename") or "") if n]
        for name in names:
            path = Path(name) if Path(name).is_absolute() else self.videos / name
            if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
                return path
        if self._by_stem is None:
            self._by_stem = {p.stem: p for p in sorted(self.videos.rglob("*")) if p.suffix.lower() in VIDEO_SUFFIXES}
        for name in names:
            found = self._by_stem.get(Path(name.replace("\\", "/")).stem)
            if found is not None:
                return found
        return None


def _feature_columns() -> dict[str, np.ndarray]:
    """Columns of the 450 features behind each measure."""
    n = schema.NUM_POSITION_FEATURES
    cols = {"all": np.arange(2 * n)}
    for part in PARTS:
        sl = schema.part_slice(part)
        pos = np.arange(sl.start * schema.NUM_COORDS, sl.stop * schema.NUM_COORDS)
        cols[f"positions.{part}"], cols[f"velocities.{part}"] = pos, pos + n
    return cols


def discrepancy(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """(len(MEASURES),) mean absolute differences of two (200, 450) feature matrices."""
    diff = np.abs(np.asarray(ours, np.float64) - np.asarray(theirs, np.float64))
    return np.array([diff[:, c].mean() for c in _feature_columns().values()])


def _unknowns(config: FeatureConfig) -> dict[str, str]:
    return {k: getattr(config, k) for k in FEATURE_UNKNOWNS}


def run_parity(processed: str | Path, videos: str | Path, *, split: str = "test", limit: int | None = 50,
               extraction_fps: float | None = None, max_duration: float = 30.0, write: str | Path | None = None,
               cache_dir: str | Path | None = None, base: FeatureConfig | None = None,
               progress: Callable[[int, int, str], None] | None = None) -> dict:  # fmt: skip
    """Compare every candidate FeatureConfig with the shipped features; see the module docstring.

    Returns a JSON-friendly report: clips compared, missing and failed ones, per variant its
    median/worst discrepancies (sorted, best first), the best variant, settled and undetermined
    options, and how often the landmark rows matched the manifest's `original_frames`.
    """
    from signdemo.landmarks import extract_clip_landmarks
    from signdemo.video import VideoLimits, read_clip

    videos = Path(videos)
    if not videos.is_dir():
        raise DatasetError(f"videos folder not found: {videos}")
    data = open_processed(processed, cache_dir=cache_dir)
    features = data.features(split)
    rows = features.rows[:limit] if limit else features.rows
    target_len = int(rows[0].get("target_len") or 200) if rows else 200
    base = dataclasses.replace(base or BIGRU_FEATURES, num_frames=target_len)
    variants = feature_variants(base)
    limits = VideoLimits(max_duration_s=max_duration, max_frames=100_000)

    find_video = VideoFinder(videos)
    per_clip, names, missing, failed, frames_match = [], [], [], [], 0
    for i, row in enumerate(rows):
        name = row.get("filename") or row.get("source_path") or f"row {i}"
        if progress:
            progress(i + 1, len(rows), name)
        path = find_video(row)
        if path is None:
            missing.append(name)
            continue
        try:
            landmarks = extract_clip_landmarks(read_clip(path, limits), extraction_fps)  # once per clip
        except SigndemoError as exc:
            failed.append({"file": name, "error": str(exc)})
            continue
        if str(len(landmarks)) == str(row.get("original_frames", "")).strip():
            frames_match += 1
        theirs = features[i]
        per_clip.append([discrepancy(landmarks_to_features(landmarks.points, landmarks.present, v), theirs)
                         for v in variants])  # fmt: skip
        names.append(name)

    report = {
        "dataset": data.source, "split": split, "videos": str(videos), "compared": len(names),
        "missing_videos": missing, "failed": failed, "frames_match_original": frames_match,
        "extraction_fps": extraction_fps or "every frame", "variants": [], "best": None,
        "settled": {}, "undetermined": [], "written": None,
    }  # fmt: skip
    if not names:
        return report
    d = np.asarray(per_clip)  # (clips, variants, measures)
    medians, worst = np.median(d, axis=0), d.max(axis=0)  # (variants, measures)
    order = np.lexsort((d[:, :, 0].mean(axis=0), medians[:, 0]))
    for k in order:
        report["variants"].append({
            "config": _unknowns(variants[k]), "median": float(medians[k, 0]), "worst": float(worst[k, 0]),
            "worst_clip": names[int(d[:, k, 0].argmax())],
            "median_by_part": {m: float(medians[k, j]) for j, m in enumerate(MEASURES) if m != "all"},
            "worst_by_part": {m: float(worst[k, j]) for j, m in enumerate(MEASURES) if m != "all"},
        })  # fmt: skip
    best = medians[order[0], 0]
    tied = [variants[k] for k in order if medians[k, 0] <= best + TIE_TOLERANCE * best + 1e-9]
    report["best"] = _unknowns(variants[order[0]])
    # per option and reading: the lowest median of the variants with that reading (how strongly it counts)
    report["by_option"] = {option: {value: float(min(medians[k, 0] for k, v in enumerate(variants)
                                                     if getattr(v, option) == value)) for value in values}
                           for option, values in FEATURE_UNKNOWNS.items()}  # fmt: skip
    report["tied"] = len(tied)
    for option in FEATURE_UNKNOWNS:
        values = {getattr(v, option) for v in tied}
        if len(values) == 1:
            report["settled"][option] = values.pop()
        else:
            report["undetermined"].append(option)
    if write:
        report["written"] = str(write_to_bundle(write, variants[order[0]], report))
    return report


def write_to_bundle(folder: str | Path, best: FeatureConfig, report: dict) -> Path:
    """Record the best variant in a bundle folder's manifest; settled options leave its
    "assumed" list and are listed under "settled" with the evidence."""
    from signdemo.weights import BIGRU, load_bundle_dir, update_manifest

    bundle = load_bundle_dir(folder)
    if bundle.architecture != BIGRU:
        raise DatasetError(f"{bundle.name} is an {bundle.architecture} bundle; parity settles keypoint features")
    preprocessing = {**FeatureConfig.from_dict(bundle.preprocessing).to_dict(), **_unknowns(best)}
    evidence = (f"python -m signdemo parity: {report['compared']} clips of {report['dataset']} ({report['split']}), "
                f"median discrepancy {report['variants'][0]['median']:.4g}")  # fmt: skip
    settled = dict((bundle.manifest or {}).get("settled") or {})
    settled.update({k: f"{v} ({evidence})" for k, v in report["settled"].items()})
    assumed = {k: v for k, v in bundle.assumed.items() if k not in report["settled"]}
    if report["compared"] and report["frames_match_original"] >= 0.9 * report["compared"]:
        settled["landmark_extraction_fps"] = f"{report['extraction_fps']} (landmark rows = original_frames; {evidence})"
        assumed.pop("landmark_extraction_fps", None)
    return update_manifest(bundle, preprocessing=preprocessing, assumed=assumed, settled=settled)


def format_report(report: dict, top: int = 8) -> str:
    """The report as text: compared clips, the best variants, settled and undetermined options."""
    lines = [f"parity of {report['dataset']} ({report['split']}) with the videos in {report['videos']}: "
             f"{report['compared']} clips compared"]  # fmt: skip
    if report["missing_videos"]:
        shown = ", ".join(report["missing_videos"][:5])
        lines.append(f"  {len(report['missing_videos'])} rows without a video (not compared): {shown}")
    for f in report["failed"][:5]:
        lines.append(f"  {f['file']}: {f['error']}")
    if not report["compared"]:
        return "\n".join(lines + ["  nothing to compare"])
    lines.append(f"  landmark rows ({report['extraction_fps']}) equal original_frames on "
                 f"{report['frames_match_original']} of {report['compared']} clips")  # fmt: skip
    lines.append(f"  {'median':>9} {'worst':>9}  pos pose/left/right   vel pose/left/right   variant")
    for v in report["variants"][:top]:
        p = v["median_by_part"]
        pos = "/".join(f"{p[f'positions.{x}']:.3g}" for x in PARTS)
        vel = "/".join(f"{p[f'velocities.{x}']:.3g}" for x in PARTS)
        cfg = " ".join(f"{k}={val}" for k, val in v["config"].items())
        lines.append(f"  {v['median']:9.4g} {v['worst']:9.4g}  {pos:20s} {vel:20s} {cfg}")
    lines.append(f"  best: {' '.join(f'{k}={v}' for k, v in report['best'].items())}"
                 f" ({report['tied']} variant(s) give the same features on this data)")  # fmt: skip
    for option, readings in report["by_option"].items():
        shown = ", ".join(f"{value} {median:.4g}" for value, median in readings.items())
        lines.append(f"  {option}: best median with each reading: {shown}")
    if report["undetermined"]:
        lines.append(f"  not determined by these clips: {', '.join(report['undetermined'])}")
    if report["written"]:
        lines.append(f"  written into {report['written']}")
    return "\n".join(lines)

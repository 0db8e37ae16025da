"""Dataset readers (videos + labels -> samples) and the prepared keypoint data set.

Readers turn a published annotation format into one list of `Sample`s (a video file, its gloss,
class id, split and signer, and the frame range of the sign) plus the ordered class list:

- WLASL: `WLASL_v0.3.json`, a list of `{"gloss", "instances": [{"video_id", "frame_start" (1-based),
  "frame_end" (-1 = last frame), "split", "signer_id", "bbox", "fps", ...}]}`; the class id is the
  gloss's position in that list (the order of `wlasl_class_list.txt`); `num_classes=K` keeps the
  first K glosses (the WLASL-K subsets).
- WLASL `nslt_K.json` split files: `{video_id: {"subset": "train"|"val"|"test", "action": [class,
  start, end]}}`; class names from `wlasl_class_list.txt` or `WLASL_v0.3.json` (which also gives
  signers).
- ASL Citizen split CSVs (`train.csv`, `val.csv`, `test.csv`: "Participant ID", "Video file",
  "Gloss", ...); the class id is the position in the sorted list of glosses over the given CSVs.
- A folder per gloss: `ROOT/GLOSS/*.mp4`, optionally under split folders `ROOT/{train,val,test}/`.
- A `labels.csv` with columns `file,label,signer,split` (file relative to the CSV; the layout of
  `python -m signdemo.synth make`); class ids in order of first appearance unless it has a
  `label_id` column.

`PreparedDataset` reads what `signdemo.train.prepare` writes: the `(N, 200, 450)` float16 exchange
array `features.npy`, `manifest.csv` (one row per sample) and `labels.json`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
VIDEO_SUFFIXES = (".mp4", ".webm", ".avi", ".mov", ".mkv", ".m4v", ".swf")
_SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test",
}  # fmt: skip
FORMATS = ("auto", "wlasl", "nslt", "asl-citizen", "folder", "labels-csv")


def normalize_split(name: str) -> str:
    """'validation' / 'dev' / 'Train' ... -> 'train' | 'val' | 'test'."""
    key = str(name).strip().lower()
    if key not in _SPLIT_ALIASES:
        raise ValueError(f"unknown split name {name!r}; expected one of {sorted(_SPLIT_ALIASES)}")
    return _SPLIT_ALIASES[key]


@dataclass(frozen=True)
class Sample:
    """One labelled sign in a video.

    frame_start: first frame of the sign, 0-based. frame_end: one past its last frame (None = to the
    end). Annotated ranges refer to the source video; see `segment_positions` for pre-trimmed files.
    """

    path: Path
    label: str
    label_id: int
    split: str
    signer: str = ""
    sample_id: str = ""
    frame_start: int = 0
    frame_end: int | None = None

    @property
    def key(self) -> str:
        """File-name-safe unique key of the clip and its range (names cache and landmark files).

        Built from the file name, its folder's name and the frame range, not the full path, so a
        data set moved elsewhere keeps its keys (and its prepared landmarks)."""
        base = self.sample_id or self.path.stem
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in base)
        where = f"{self.path.parent.name}/{self.path.name}|{self.frame_start}|{self.frame_end}"
        return f"{safe}-{hashlib.sha1(where.encode()).hexdigest()[:8]}"


@dataclass
class DatasetIndex:
    """Samples of a data set and its classes (`labels[label_id]`)."""

    samples: list[Sample]
    labels: list[str]
    source: str = ""
    missing: list[Sample] = field(default_factory=list)

    def existing(self) -> DatasetIndex:
        """Only the samples whose video file exists (WLASL lists many dead links)."""
        ok = [s for s in self.samples if s.path.is_file()]
        gone = [s for s in self.samples if not s.path.is_file()]
        if gone:
            log.warning("%d of %d videos are missing (first: %s); they are skipped",
                        len(gone), len(self.samples), gone[0].path)  # fmt: skip
        return DatasetIndex(ok, self.labels, self.source, self.missing + gone)

    def split(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.split == name]

    def counts(self) -> dict[str, int]:
        return {name: len(self.split(name)) for name in SPLITS}


def segment_positions(source_indices: np.ndarray, sample: Sample, total: int, trim: str = "auto") -> np.ndarray:
    """Positions into decoded frames that belong to the sample's sign.

    source_indices: (T,) source-video frame index of each decoded frame; total: frames in the file.
    trim: "always" applies the annotated range; "never" keeps the whole file; "auto" applies it only
    when the file is long enough to contain the range. WLASL's own preprocessing writes each
    instance's segment to `VIDEO_ID.mp4` (so the annotation then refers to the raw video and the file
    is already trimmed), while raw downloads hold the whole video: "auto" handles both.
    """
    all_pos = np.arange(len(source_indices), dtype=np.int64)
    if trim == "never" or (sample.frame_start == 0 and sample.frame_end is None):
        return all_pos
    end = sample.frame_end if sample.frame_end is not None else int(source_indices[-1]) + 1
    if trim == "auto" and (total < end or sample.frame_start >= total):
        return all_pos
    keep = (source_indices >= sample.frame_start) & (source_indices < end)
    if not keep.any():
        return all_pos
    return all_pos[keep]


# ---------------------------------------------------------------------------------------------
# Readers


def read_class_list(path: str | Path) -> list[str]:
    """`wlasl_class_list.txt` ("index<TAB>gloss" per line) -> glosses in index order."""
    entries: dict[int, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2 and parts[0].isdigit():
            entries[int(parts[0])] = parts[1].strip()
    return [entries[i] for i in sorted(entries)]


def _video_path(videos: Path, video_id: str) -> Path:
    for suffix in (".mp4",) + VIDEO_SUFFIXES[1:]:
        path = videos / f"{video_id}{suffix}"
        if path.exists():
            return path
    return videos / f"{video_id}.mp4"


def wlasl_range(start: int | None, end: int | None) -> tuple[int, int | None]:
    """WLASL 1-based inclusive (start, end), end -1 = last -> 0-based (start, exclusive end)."""
    s = max(int(start or 1) - 1, 0)
    e = None if end is None or int(end) < 0 else int(end)
    return s, e


def read_wlasl(json_path: str | Path, videos: str | Path, num_classes: int | None = None) -> DatasetIndex:
    """`WLASL_v0.3.json` + the folder of `VIDEO_ID.mp4` files -> samples of the first K glosses."""
    entries = json.loads(Path(json_path).read_text(encoding="utf-8"))
    if num_classes:
        entries = entries[:num_classes]
    videos = Path(videos)
    labels, samples = [], []
    for class_id, entry in enumerate(entries):
        labels.append(entry["gloss"])
        for inst in entry.get("instances", []):
            start, end = wlasl_range(inst.get("frame_start"), inst.get("frame_end"))
            vid = str(inst["video_id"])
            samples.append(Sample(
                path=_video_path(videos, vid), label=entry["gloss"], label_id=class_id,
                split=normalize_split(inst["split"]), signer=str(inst.get("signer_id", "")),
                sample_id=vid, frame_start=start, frame_end=end,
            ))  # fmt: skip
    return DatasetIndex(samples, labels, f"WLASL {Path(json_path).name} ({len(labels)} glosses)")


def read_nslt(
    nslt_path: str | Path,
    videos: str | Path,
    *,
    class_list: str | Path | None = None,
    wlasl_json: str | Path | None = None,
) -> DatasetIndex:
    """`nslt_K.json` (video_id -> subset, [class, start, end]) -> samples.

    Class names come from `class_list` (wlasl_class_list.txt) or `wlasl_json` (whose instances also
    give the signers); K is the largest class id + 1.
    """
    data = json.loads(Path(nslt_path).read_text(encoding="utf-8"))
    signers: dict[str, str] = {}
    names: list[str] = []
    if wlasl_json is not None:
        entries = json.loads(Path(wlasl_json).read_text(encoding="utf-8"))
        names = [e["gloss"] for e in entries]
        signers = {str(i["video_id"]): str(i.get("signer_id", "")) for e in entries for i in e.get("instances", [])}
    if class_list is not None:
        names = read_class_list(class_list)
    if not names:
        raise ValueError("nslt files hold class ids only: give --class-list wlasl_class_list.txt or --wlasl-json")
    num_classes = 1 + max(int(v["action"][0]) for v in data.values()) if data else 0
    if num_classes > len(names):
        raise ValueError(f"{Path(nslt_path).name} uses class {num_classes - 1} but the class list has {len(names)}")
    labels = names[:num_classes]
    videos = Path(videos)
    samples = []
    for vid, v in data.items():
        class_id, start, end = (list(v["action"]) + [None, None])[:3]
        s, e = wlasl_range(start, end)
        samples.append(Sample(
            path=_video_path(videos, str(vid)), label=labels[int(class_id)], label_id=int(class_id),
            split=normalize_split(v["subset"]), signer=signers.get(str(vid), ""), sample_id=str(vid),
            frame_start=s, frame_end=e,
        ))  # fmt: skip
    return DatasetIndex(samples, labels, f"WLASL {Path(nslt_path).name} ({len(labels)} glosses)")


def _column(row: dict, *names: str) -> str:
    lowered = {k.strip().lower(): v for k, v in row.items() if k is not None}
    for name in names:
        if name in lowered:
            return (lowered[name] or "").strip()
    raise KeyError(f"none of the columns {names} in {sorted(lowered)}")


def _split_from_name(path: Path) -> str:
    stem = path.stem.lower()
    for alias, split in sorted(_SPLIT_ALIASES.items(), key=lambda kv: -len(kv[0])):
        if alias in stem:
            return split
    raise ValueError(f"cannot tell the split of {path.name} from its name (expected train/val/test in it)")


def read_asl_citizen(csvs: Iterable[str | Path], videos: str | Path) -> DatasetIndex:
    """ASL Citizen split CSVs ("Participant ID", "Video file", "Gloss"); split from each file name.

    Class ids are positions in the sorted list of all glosses in the given CSVs.
    """
    videos = Path(videos)
    rows = []
    for path in map(Path, csvs):
        split = _split_from_name(path)
        with open(path, newline="", encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                rows.append((split, _column(row, "participant id", "participant_id", "participant"),
                             _column(row, "video file", "video_file", "video"), _column(row, "gloss")))  # fmt: skip
    labels = sorted({gloss for *_, gloss in rows})
    ids = {g: i for i, g in enumerate(labels)}
    samples = [
        Sample(path=videos / file, label=gloss, label_id=ids[gloss], split=split, signer=signer,
               sample_id=Path(file).stem)
        for split, signer, file, gloss in rows
    ]  # fmt: skip
    return DatasetIndex(samples, labels, f"ASL Citizen ({len(labels)} glosses)")


def _videos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def read_folder(
    root: str | Path, *, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0
) -> DatasetIndex:
    """`ROOT/GLOSS/*.mp4` (or `ROOT/{train,val,test}/GLOSS/*.mp4`) -> samples.

    Without split folders, each gloss's videos are split at random (seeded) into the fractions
    given; signers are unknown, so such a split can share signers: prefer split folders.
    """
    root = Path(root)
    split_dirs = {normalize_split(d.name): d for d in root.iterdir() if d.is_dir() and d.name.lower() in _SPLIT_ALIASES}
    found: list[tuple[str, str, Path]] = []  # (split, gloss, path)
    if split_dirs:
        for split, d in sorted(split_dirs.items()):
            for gloss_dir in sorted(p for p in d.iterdir() if p.is_dir()):
                found += [(split, gloss_dir.name, p) for p in _videos_in(gloss_dir)]
    else:
        rng = np.random.default_rng(seed)
        for gloss_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            files = _videos_in(gloss_dir)
            order = rng.permutation(len(files))
            n_test = int(round(test_fraction * len(files)))
            n_val = int(round(val_fraction * len(files)))
            for rank, i in enumerate(order):
                split = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
                found.append((split, gloss_dir.name, files[i]))
        log.warning("%s has no train/val/test folders: split at random per gloss; signers may be shared "
                    "across splits (run python -m signdemo.audit on the prepared data)", root)  # fmt: skip
    labels = sorted({g for _, g, _ in found})
    ids = {g: i for i, g in enumerate(labels)}
    samples = [Sample(path=p, label=g, label_id=ids[g], split=s, sample_id=f"{g}_{p.stem}") for s, g, p in found]
    return DatasetIndex(samples, labels, f"folder {root.name} ({len(labels)} glosses)")


def read_labels_csv(path: str | Path) -> DatasetIndex:
    """`labels.csv` with columns file,label,signer,split[,label_id,...]; files relative to the CSV."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    has_ids = bool(rows) and "label_id" in rows[0]
    if has_ids:
        by_id = {int(r["label_id"]): r["label"] for r in rows}
        labels = [by_id.get(i, f"class_{i}") for i in range(max(by_id) + 1)] if by_id else []
        if len(by_id) < len(labels):
            log.warning("%s: class ids %s have no samples; named class_<id>", path.name,
                        [i for i in range(len(labels)) if i not in by_id])  # fmt: skip
    else:
        labels = list(dict.fromkeys(r["label"] for r in rows))
    ids = {g: i for i, g in enumerate(labels)}
    samples = []
    for r in rows:
        file = Path(r["file"])
        samples.append(Sample(
            path=file if file.is_absolute() else path.parent / file, label=r["label"],
            label_id=int(r["label_id"]) if has_ids else ids[r["label"]], split=normalize_split(r["split"]),
            signer=str(r.get("signer", "") or ""), sample_id=file.stem,
        ))  # fmt: skip
    return DatasetIndex(samples, labels, f"labels file {path.name} ({len(labels)} classes)")


def read_labels_csvs(paths: list[Path]) -> DatasetIndex:
    """One or more `labels.csv` read as one data set (e.g. a second set of training signers). They
    must name the same classes in the same order, and no clip key may occur twice."""
    parts = [read_labels_csv(p) for p in paths]
    if len(parts) == 1:
        return parts[0]
    for path, part in zip(paths[1:], parts[1:]):
        if part.labels != parts[0].labels:
            raise ValueError(
                f"{path} has classes {part.labels}, {paths[0]} has {parts[0].labels}: they must agree")
    samples = [s for part in parts for s in part.samples]
    seen: dict[str, Path] = {}
    for s in samples:
        if s.key in seen:
            raise ValueError(f"clip {s.key} occurs twice ({seen[s.key]} and {s.path})")
        seen[s.key] = s.path
    names = " + ".join(f"{p.parent.name}/{p.name}" for p in paths)
    return DatasetIndex(samples, parts[0].labels, f"labels files {names} ({len(parts[0].labels)} classes)")


# ---------------------------------------------------------------------------------------------
# Command-line glue shared by the prepare script and the I3D trainer


def add_reader_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data set (videos and labels)")
    g.add_argument("source", nargs="+", type=Path,
                   help="WLASL_v0.3.json | nslt_K.json | ASL Citizen split CSVs | folder per gloss | labels.csv")  # fmt: skip
    g.add_argument("--format", choices=FORMATS, default="auto", help="annotation format (default: guess)")
    g.add_argument("--videos", type=Path, help="folder of the videos (WLASL, nslt, ASL Citizen)")
    g.add_argument("--num-classes", type=int, help="WLASL: keep the first K glosses (WLASL-K)")
    g.add_argument("--class-list", type=Path, help="nslt: wlasl_class_list.txt")
    g.add_argument("--wlasl-json", type=Path, help="nslt: WLASL_v0.3.json (class names and signers)")
    g.add_argument("--trim", choices=("auto", "always", "never"), default="auto",
                   help="apply annotated frame ranges (auto: only when the file contains the range)")  # fmt: skip
    g.add_argument("--val-fraction", type=float, default=0.15, help="folder without split folders")
    g.add_argument("--test-fraction", type=float, default=0.15, help="folder without split folders")
    g.add_argument("--split-seed", type=int, default=0, help="folder without split folders")


def guess_format(sources: list[Path]) -> str:
    first = sources[0]
    if first.is_dir():
        return "labels-csv" if all((s / "labels.csv").is_file() for s in sources) else "folder"
    if first.suffix.lower() == ".json":
        data = json.loads(first.read_text(encoding="utf-8"))
        return "wlasl" if isinstance(data, list) else "nslt"
    if first.suffix.lower() == ".csv":
        with open(first, newline="", encoding="utf-8-sig") as f:
            header = [h.strip().lower() for h in next(csv.reader(f), [])]
        if "file" in header and "label" in header:
            return "labels-csv"
        if "gloss" in header:
            return "asl-citizen"
    raise ValueError(f"cannot tell the format of {first}; pass --format")


def read_from_args(args: argparse.Namespace) -> DatasetIndex:
    """The `DatasetIndex` the command-line arguments of `add_reader_args` describe."""
    sources = list(args.source)
    fmt = guess_format(sources) if args.format == "auto" else args.format
    need_videos = fmt in ("wlasl", "nslt", "asl-citizen")
    if need_videos and args.videos is None:
        raise SystemExit(f"--videos is required for the {fmt} format")
    if fmt == "wlasl":
        return read_wlasl(sources[0], args.videos, args.num_classes)
    if fmt == "nslt":
        return read_nslt(sources[0], args.videos, class_list=args.class_list, wlasl_json=args.wlasl_json)
    if fmt == "asl-citizen":
        return read_asl_citizen(sources, args.videos)
    if fmt == "folder":
        return read_folder(sources[0], val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                           seed=args.split_seed)  # fmt: skip
    return read_labels_csvs([s / "labels.csv" if s.is_dir() else s for s in sources])


# ---------------------------------------------------------------------------------------------
# Prepared keypoint data


MANIFEST_COLUMNS = (
    "index", "sample_id", "label", "label_id", "split", "signer", "source_path", "frame_start",
    "frame_end", "original_frames", "landmark_rows", "landmarks",
)  # fmt: skip


@dataclass
class PreparedDataset:
    """A prepared keypoint data set: `features` (N, 200, 450) float16 (memory-mapped), one manifest
    row per sample, the class list and the preparation config (with the FeatureConfig used)."""

    root: Path
    features: np.ndarray
    rows: list[dict]
    labels: list[str]
    config: dict

    @classmethod
    def load(cls, root: str | Path, *, mmap: bool = True) -> PreparedDataset:
        root = Path(root)
        for name in ("features.npy", "manifest.csv", "labels.json"):
            if not (root / name).is_file():
                raise FileNotFoundError(
                    f"{root} is not a prepared data set (no {name}); run python -m signdemo.train.prepare first"
                )
        features = np.load(root / "features.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        with open(root / "manifest.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        labels = json.loads((root / "labels.json").read_text(encoding="utf-8"))
        config_path = root / "prepare_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        if len(rows) != len(features):
            raise ValueError(f"{root}: manifest has {len(rows)} rows but features.npy has {len(features)}")
        return cls(root, features, rows, labels, config)

    @property
    def targets(self) -> np.ndarray:
        return np.array([int(r["label_id"]) for r in self.rows], dtype=np.int64)

    def indices(self, split: str) -> np.ndarray:
        return np.array([i for i, r in enumerate(self.rows) if r["split"] == split], dtype=np.int64)

    @property
    def feature_config(self) -> dict:
        return dict(self.config.get("feature_config") or {})

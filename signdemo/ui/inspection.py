"""Error inspection: run the models over a labelled set and look at what they got wrong.

Two kinds of labelled set:
- clips: a folder of videos with a labels CSV (a file column: file/path/video/filename/clip, and a
  label column: label/gloss/class/sign), e.g. `examples/` or WLASL-style `labels.csv`;
- keypoints: an (N, 200, 450) `.npy` in the exchange format with a manifest CSV of N rows (a label
  column, optionally an id/file column), or one split of a processed-200 set (the published BiGRU's
  data layout, `signdemo.processed`: a folder, or `hf://datasets/owner/name[@revision]`, with
  `#split` to choose the split, test by default). Only the keypoint model can score these.

`evaluate` runs the models (clips: both, the full video path; keypoints: the BiGRU) and
`summarize` gives per model top-1/top-5/macro F1 (metrics.classification_summary) over the samples
whose label is in that model's vocabulary and that it answered; the rest are counted, not hidden.
Nothing here imports gradio.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from signdemo import schema
from signdemo.errors import SigndemoError
from signdemo.features import NUM_FEATURES, NUM_FRAMES, position_features, present_from_points
from signdemo.inference import Prediction, Recognizer
from signdemo.metrics import classification_summary, most_confused_pairs
from signdemo.weights import BIGRU, I3D

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".avi", ".mkv", ".m4v")
FILE_COLUMNS = ("file", "path", "video", "filename", "clip")
LABEL_COLUMNS = ("label", "gloss", "class", "sign")
ID_COLUMNS = ("sample_id", "id", "video_id", "file", "path", "source", "filename")
#: Largest labelled set the app scores in one go (a CPU Space takes seconds per clip).
MAX_CLIPS = 200
MAX_KEYPOINT_SAMPLES = 20000

Progress = Callable[[float, str], None]


def _no_progress(fraction: float, message: str) -> None:
    pass


def _norm(label: str) -> str:
    return str(label).strip().lower()


@dataclass
class Sample:
    sample_id: str
    label: str
    path: Path | None = None  # clips
    row: int | None = None  # keypoints: row of the feature array


@dataclass
class LabelledSet:
    name: str
    kind: str  # "clips" or "keypoints"
    samples: list[Sample]
    features: np.ndarray | None = None  # (N, 200, 450) for keypoints (or processed.ShardedFeatures)
    notes: list[str] = field(default_factory=list)  # what the user should know about the set


# ------------------------------------------------------------------------------------ reading


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SigndemoError(f"{path.name} has no rows")
    return [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in rows]


def _column(rows: list[dict], names: tuple[str, ...], path: Path, what: str) -> str | None:
    for name in names:
        if name in rows[0]:
            return name
    if what:
        raise SigndemoError(
            f"{path.name} has no {what} column: expected one of {', '.join(names)}; it has {', '.join(rows[0])}"
        )
    return None


def load_clip_set(labels_csv: str | Path, folder: str | Path | None = None, name: str | None = None,
                  files: dict[str, Path] | None = None) -> LabelledSet:  # fmt: skip
    """Clips named by a labels CSV. Files are looked up in `files` (basename -> path, for uploads)
    or relative to `folder` (default: the CSV's folder). Rows whose file is missing are an error."""
    labels_csv = Path(labels_csv)
    folder = Path(folder) if folder else labels_csv.parent
    rows = _read_csv(labels_csv)
    fcol = _column(rows, FILE_COLUMNS, labels_csv, "file")
    lcol = _column(rows, LABEL_COLUMNS, labels_csv, "label")
    samples, missing = [], []
    for row in rows:
        rel = row[fcol]
        path = files.get(Path(rel).name) if files is not None else folder / rel
        if path is None or not Path(path).is_file():
            missing.append(rel)
            continue
        samples.append(Sample(sample_id=Path(rel).name, label=row[lcol], path=Path(path)))
    if missing:
        raise SigndemoError(
            f"{len(missing)} clip(s) listed in {labels_csv.name} were not found: {', '.join(missing[:5])}"
            + ("…" if len(missing) > 5 else "") + ". Upload the clips together with the CSV."
        )
    if len(samples) > MAX_CLIPS:
        raise SigndemoError(f"{len(samples)} clips is more than the app scores at once ({MAX_CLIPS}); "
                            "use `python -m signdemo predict` for large sets")  # fmt: skip
    return LabelledSet(name or labels_csv.parent.name, "clips", samples)


def load_keypoint_set(features_npy: str | Path, manifest_csv: str | Path, name: str | None = None) -> LabelledSet:
    """An (N, 200, 450) exchange-format array and its N-row manifest."""
    features_npy, manifest_csv = Path(features_npy), Path(manifest_csv)
    try:
        x = np.load(features_npy, allow_pickle=False, mmap_mode="r")
    except Exception as exc:
        raise SigndemoError(f"cannot read {features_npy.name} as a numpy array: {exc}") from None
    if x.ndim != 3 or x.shape[1:] != (NUM_FRAMES, NUM_FEATURES):
        raise SigndemoError(f"{features_npy.name} has shape {x.shape}; expected (N, {NUM_FRAMES}, {NUM_FEATURES})")
    if x.shape[0] > MAX_KEYPOINT_SAMPLES:
        raise SigndemoError(f"{features_npy.name} holds {x.shape[0]} samples; the app scores at most {MAX_KEYPOINT_SAMPLES}")
    rows = _read_csv(manifest_csv)
    if len(rows) != x.shape[0]:
        raise SigndemoError(f"{manifest_csv.name} has {len(rows)} rows but {features_npy.name} has {x.shape[0]} samples")
    lcol = _column(rows, LABEL_COLUMNS, manifest_csv, "label")
    icol = _column(rows, ID_COLUMNS, manifest_csv, "")
    samples = [Sample(sample_id=(row[icol] if icol else "") or f"sample {i}", label=row[lcol], row=i)
               for i, row in enumerate(rows)]  # fmt: skip
    return LabelledSet(name or features_npy.stem, "keypoints", samples, np.asarray(x, dtype=np.float32))


def _manifest_for(npy: Path, csvs: list[Path]) -> Path | None:
    stems = (npy.stem, f"{npy.stem}_manifest", f"{npy.stem}.manifest", "manifest")
    for stem in stems:
        for c in csvs:
            if c.stem == stem:
                return c
    return csvs[0] if len(csvs) == 1 else None


def load_uploads(paths: list[str | Path]) -> LabelledSet:
    """Uploaded files: one .npy + its manifest CSV, or clips + one labels CSV."""
    paths = [Path(p) for p in paths or []]
    csvs = [p for p in paths if p.suffix.lower() == ".csv"]
    npys = [p for p in paths if p.suffix.lower() == ".npy"]
    videos = [p for p in paths if p.suffix.lower() in VIDEO_SUFFIXES]
    if npys:
        if len(npys) > 1:
            raise SigndemoError("upload one .npy keypoint file at a time (with its manifest CSV)")
        manifest = _manifest_for(npys[0], csvs)
        if manifest is None:
            raise SigndemoError(f"upload the manifest CSV of {npys[0].name} with it (one row per sample, a label column)")
        return load_keypoint_set(npys[0], manifest, name=npys[0].stem)
    if videos:
        if len(csvs) != 1:
            raise SigndemoError("upload the clips together with one labels CSV (columns: file, label)")
        return load_clip_set(csvs[0], files={p.name: p for p in videos}, name="uploaded clips")
    raise SigndemoError("nothing to inspect: upload video clips with a labels CSV, or an (N, 200, 450) .npy with its manifest CSV")


def load_processed_set(source: str | Path, split: str = "test", model_labels: list[str] | None = None) -> LabelledSet:
    """One split of a processed-200 set (folder or hf://datasets/...); its label map is checked
    against `model_labels` (the loaded BiGRU's) and the result kept in `notes`."""
    from signdemo.processed import check_labels, open_processed

    data = open_processed(source)
    features = data.features(split)
    if len(features) > MAX_KEYPOINT_SAMPLES:
        raise SigndemoError(f"the {split} split of {source} holds {len(features)} samples; the app scores at most "
                            f"{MAX_KEYPOINT_SAMPLES}")  # fmt: skip
    samples = [Sample(sample_id=row.get("filename") or f"row {i}", label=row["label"], row=i)
               for i, row in enumerate(features.rows)]  # fmt: skip
    notes = [check_labels(data.labels, model_labels)["message"]] if model_labels is not None else []
    name = f"{Path(str(source)).name if not str(source).startswith('hf://') else source} ({split})"
    return LabelledSet(name, "keypoints", samples, features, notes)


def load_folder(folder: str | Path, model_labels: list[str] | None = None) -> LabelledSet:
    """A folder on this machine: a labels CSV naming its clips, a .npy with its manifest, or a
    processed-200 set (also `hf://datasets/owner/name[@revision]`; `#split` picks the split)."""
    from signdemo.processed import is_processed_dir

    source, _, split = str(folder).strip().partition("#")
    if source.startswith("hf://datasets/") or is_processed_dir(Path(source).expanduser()):
        return load_processed_set(source if source.startswith("hf://") else Path(source).expanduser(),
                                  split or "test", model_labels)  # fmt: skip
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise SigndemoError(f"{folder} is not a folder")
    sets = find_sets(folder)
    if not sets:
        raise SigndemoError(f"{folder} holds no labelled set (a labels CSV naming clips in the folder, or a .npy with its manifest CSV)")
    return sets[0][1]()


def example_labels(folder: str | Path) -> dict[str, tuple[str, bool]]:
    """File name -> (label, made by the synthetic signer?) of the example clips listed in the
    folder's `labels.csv` ({} if none; synthetic when its `source` column names signdemo.synth)."""
    path = Path(folder) / "labels.csv"
    if not path.is_file():
        return {}
    try:
        rows = _read_csv(path)
        fcol, lcol = _column(rows, FILE_COLUMNS, path, ""), _column(rows, LABEL_COLUMNS, path, "")
    except (SigndemoError, OSError, UnicodeDecodeError) as exc:
        log.warning("example labels unreadable: %s", exc)
        return {}
    return {Path(r[fcol]).name: (r[lcol], (r.get("source") or "").startswith("signdemo.synth"))
            for r in rows if fcol and lcol and r.get(fcol)}  # fmt: skip


def find_sets(folder: str | Path) -> list[tuple[str, Callable[[], LabelledSet]]]:
    """Labelled sets in a folder, as (name, loader): each CSV naming clips that exist there, and
    each .npy with a manifest. Cheap: reads only CSV headers and first rows."""
    from signdemo.processed import is_processed_dir

    folder = Path(folder)
    if not folder.is_dir():
        return []
    if is_processed_dir(folder):
        splits = [p.name[: -len("_manifest.csv")] for p in sorted((folder / "metadata").glob("*_manifest.csv"))]
        return [(f"{folder.name} ({s}, processed-200 keypoints)", lambda s=s: load_processed_set(folder, s))
                for s in splits]  # fmt: skip
    csvs = sorted(folder.glob("*.csv"))
    found = []
    for npy in sorted(folder.glob("*.npy")):
        manifest = _manifest_for(npy, csvs)
        if manifest is not None:
            found.append((f"{folder.name}/{npy.name} (keypoints)",
                          lambda n=npy, m=manifest: load_keypoint_set(n, m, name=f"{folder.name}/{n.name}")))  # fmt: skip
    for c in csvs:
        try:
            rows = _read_csv(c)
            fcol = _column(rows, FILE_COLUMNS, c, "")
            lcol = _column(rows, LABEL_COLUMNS, c, "")
        except (SigndemoError, OSError, UnicodeDecodeError):
            continue
        if fcol and lcol and (folder / rows[0][fcol]).is_file() and Path(rows[0][fcol]).suffix.lower() in VIDEO_SUFFIXES:
            found.append((f"{folder.name}/{c.name} ({len(rows)} clips)",
                          lambda c=c: load_clip_set(c, name=f"{folder.name}/{c.name}")))  # fmt: skip
    return found


# ------------------------------------------------------------------------------------ evaluating


@dataclass
class SampleResult:
    sample: Sample
    bigru: Prediction | None = None
    i3d: Prediction | None = None
    landmarks: object | None = None  # landmarks.Landmarks of a clip
    fps: float | None = None
    error: str | None = None  # why the sample has no answer at all (unreadable clip, ...)
    notes: list[str] = field(default_factory=list)

    def prediction(self, architecture: str) -> Prediction | None:
        return self.bigru if architecture == BIGRU else self.i3d


@dataclass
class ModelSummary:
    architecture: str
    weights: str
    scored: int = 0  # answered and label in the vocabulary
    unanswered: int = 0
    out_of_vocabulary: int = 0
    summary: dict | None = None  # classification_summary over the scored samples
    pairs: list[tuple[str, str, int]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


@dataclass
class Evaluation:
    dataset: LabelledSet
    results: list[SampleResult]
    summaries: dict[str, ModelSummary]


def evaluate(recognizer: Recognizer, dataset: LabelledSet, progress: Progress = _no_progress) -> Evaluation:
    """Score every sample (clips: both models on the full path; keypoints: the BiGRU)."""
    results = []
    n = len(dataset.samples)
    for i, sample in enumerate(dataset.samples):
        progress(i / max(n, 1), f"sample {i + 1} of {n}: {sample.sample_id}")
        res = SampleResult(sample)
        try:
            if dataset.kind == "keypoints":
                if recognizer.bigru is None:
                    res.error = "no keypoint (BiGRU) weights are loaded"
                else:
                    res.bigru = recognizer.predict_features(dataset.features[sample.row])
            else:
                clip_result = recognizer.recognize(sample.path)
                res.bigru, res.i3d, res.landmarks = clip_result.bigru, clip_result.i3d, clip_result.landmarks
                res.fps = getattr(clip_result.info, "fps", None)
                res.notes = list(clip_result.warnings)
        except SigndemoError as exc:
            res.error = str(exc)
        results.append(res)
    progress(1.0, "summarising")
    return Evaluation(dataset, results, summarize(recognizer, results))


def summarize(recognizer: Recognizer, results: list[SampleResult]) -> dict[str, ModelSummary]:
    summaries = {}
    for arch, bundle in ((BIGRU, recognizer.bigru), (I3D, recognizer.i3d)):
        if bundle is None:
            continue
        ms = ModelSummary(arch, bundle.describe(), labels=list(bundle.labels))
        index = {_norm(l): k for k, l in enumerate(bundle.labels)}
        scores, targets = [], []
        for r in results:
            pred = r.prediction(arch)
            if pred is None:
                ms.unanswered += 1
            elif _norm(r.sample.label) not in index:
                ms.out_of_vocabulary += 1
            else:
                scores.append(pred.scores)
                targets.append(index[_norm(r.sample.label)])
        ms.scored = len(targets)
        if targets:
            ms.summary = classification_summary(np.stack(scores), np.asarray(targets), ms.labels)
            ms.pairs = most_confused_pairs(ms.summary["confusion_matrix"], ms.labels)
        summaries[arch] = ms
    return summaries


def is_correct(result: SampleResult, architecture: str) -> bool | None:
    pred = result.prediction(architecture)
    if pred is None:
        return None
    return _norm(pred.top1) == _norm(result.sample.label)


def true_rank(result: SampleResult, architecture: str, labels: list[str]) -> int | None:
    """1-based rank of the true label in the model's scores (None if not in its vocabulary)."""
    pred = result.prediction(architecture)
    index = {_norm(l): k for k, l in enumerate(labels)}
    k = index.get(_norm(result.sample.label))
    if pred is None or k is None:
        return None
    return int((pred.scores > pred.scores[k]).sum()) + 1


def metrics_rows(evaluation: Evaluation) -> list[list]:
    """[model, scored, top-1, top-5, macro F1, unanswered, label not in vocabulary] per model."""
    rows = []
    for arch, ms in evaluation.summaries.items():
        s = ms.summary
        pct = (lambda v: f"{v:.1%}") if s else (lambda v: "–")
        rows.append([arch, ms.scored, pct(s["top1"]) if s else "–", pct(s["top5"]) if s else "–",
                     pct(s["macro_f1"]) if s else "–", ms.unanswered, ms.out_of_vocabulary])  # fmt: skip
    return rows


def misclassified(evaluation: Evaluation, architecture: str) -> list[list]:
    """[#, sample, true, predicted, confidence, true-label rank] of the wrong answers, most confident first."""
    ms = evaluation.summaries.get(architecture)
    if ms is None:
        return []
    vocab = {_norm(l) for l in ms.labels}
    rows = []
    for i, r in enumerate(evaluation.results):
        pred = r.prediction(architecture)
        if pred is None or _norm(r.sample.label) not in vocab or is_correct(r, architecture):
            continue
        rows.append([i, r.sample.sample_id, r.sample.label, pred.top1, round(pred.probabilities[0], 4),
                     true_rank(r, architecture, ms.labels)])  # fmt: skip
    return sorted(rows, key=lambda row: -row[4])


def sample_choices(evaluation: Evaluation) -> list[tuple[str, int]]:
    """(display name, index) of every sample: wrong ones first, for a dropdown."""
    def mark(r: SampleResult) -> str:
        flags = []
        for arch, short in ((BIGRU, "keypoints"), (I3D, "RGB")):
            ok = is_correct(r, arch)
            if ok is not None:
                flags.append(f"{short} {'✔' if ok else '✘'}")
        return " · ".join(flags) or (r.error and "no answer") or ""

    order = sorted(range(len(evaluation.results)),
                   key=lambda i: all(is_correct(evaluation.results[i], a) is not False for a in (BIGRU, I3D)))  # fmt: skip
    return [(f"#{i} {evaluation.results[i].sample.sample_id} [{evaluation.results[i].sample.label}] "
             f"{mark(evaluation.results[i])}", i) for i in order]  # fmt: skip


def write_predictions_csv(evaluation: Evaluation, path: str | Path) -> Path:
    """One row per sample: its label, and per model top-1, probability, top-5, correct, true rank."""
    path = Path(path)
    archs = [a for a in (BIGRU, I3D) if a in evaluation.summaries]
    header = ["index", "sample", "label", "source"]
    for a in archs:
        header += [f"{a}_top1", f"{a}_probability", f"{a}_top5", f"{a}_correct", f"{a}_true_rank"]
    header += ["error", "warnings"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i, r in enumerate(evaluation.results):
            source = r.sample.path.name if r.sample.path else f"row {r.sample.row}"
            row = [i, r.sample.sample_id, r.sample.label, source]
            for a in archs:
                pred = r.prediction(a)
                if pred is None:
                    row += ["", "", "", "", ""]
                    continue
                ok = is_correct(r, a)
                rank = true_rank(r, a, evaluation.summaries[a].labels)
                row += [pred.top1, f"{pred.probabilities[0]:.6f}", "|".join(pred.labels), int(bool(ok)),
                        "" if rank is None else rank]  # fmt: skip
            row += [r.error or "", "; ".join(r.notes)]
            writer.writerow(row)
    return path


# ------------------------------------------------------------------------------------ drawing


def render_skeleton(features: np.ndarray, path: str | Path, size: int = 480, fps: float = 25.0) -> Path:
    """An mp4 of the skeleton in a keypoint-only sample ((200, 450) features), for the detail view.

    The positions are fitted into a square canvas (image-normalised and shoulder-normalised
    features both work); frames without any part (padding) show the legend only.
    """
    from signdemo.overlay import draw_landmarks
    from signdemo.video import write_mp4

    pts = position_features(np.asarray(features, dtype=np.float32)).copy()  # (200, 75, 3)
    present = present_from_points(pts)  # (200, 3)
    rows = np.zeros(pts.shape[:2], dtype=bool)
    for column, part in enumerate(schema.PART_NAMES):
        rows[:, schema.part_slice(part)] = present[:, column : column + 1]
    drawn = np.zeros(schema.NUM_POINTS, dtype=bool)  # fit only what is drawn (legs are often off-screen)
    drawn[[i for edge in schema.POSE_EDGES for i in edge]] = True
    drawn[schema.part_slice("left_hand")] = drawn[schema.part_slice("right_hand")] = True
    xy = pts[..., :2][rows & drawn[None, :]]  # (K, 2) every present, drawn point
    mapped = np.zeros_like(pts)
    if len(xy):
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        centre, span = (lo + hi) / 2, float(max((hi - lo).max(), 1e-6))
        mapped[..., :2] = (pts[..., :2] - centre) * (0.84 / span) + 0.5
    canvas = np.full((size, size, 3), 250, dtype=np.uint8)
    frames = (draw_landmarks(canvas, mapped[t], present[t]) for t in range(len(pts)))
    return write_mp4(path, frames, fps)

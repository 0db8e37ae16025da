"""Processed-200 keypoint data sets: the layout of the published BiGRU's data, read and scored.

`SharoonArshad/asl-citizen-processed-200` (the data the published BiGRU was trained and measured on)
is laid out as:

    metadata/train_manifest.csv, val_manifest.csv, test_manifest.csv   one row per clip, columns
        split, source_path, feature_dim, shard_index, label_shard, row_in_shard, label_id,
        global_index, target_len, label, original_frames, filename, feature_shard
    metadata/label_to_id.json   {"GLOSS": id}       metadata/id_to_label.json   {"<id>": "GLOSS"}
    metadata/preprocessing_config.json               (optional: the recipe, as the data set states it)
    feature shards, float16 (<= 256, 200, 450): row `row_in_shard` of file `feature_shard`

The public record does not say the shard file format. Our documented choice is a numpy `.npy` file
of float16 (256, 200, 450) (the last shard of a split shorter), named by the manifest's
`feature_shard` relative to the root (a name that is not there is looked up by its file name
anywhere under the root). Also read: `.npz` (the array named features, x, X or data, or its only
array) and `.pt` (a tensor, or a dict holding one; `torch.load(weights_only=True)`).

Sources: a folder, or `hf://datasets/owner/name[@revision]` fetched with
`huggingface_hub.snapshot_download(repo_type="dataset")` (the metadata first, then only the shards
of the split asked for; cached, and served from the cache alone under HF_HUB_OFFLINE=1).

`evaluate_processed` scores a BiGRU bundle on one split (label maps cross-checked against the
model's) and, with `variants`, each reading of the model's assumed parameterless layers.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from signdemo.errors import DatasetError
from signdemo.features import NUM_FEATURES, NUM_FRAMES
from signdemo.metrics import classification_summary
from signdemo.weights import BIGRU, Bundle, load_state_dict_strict

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = (
    "split", "source_path", "feature_dim", "shard_index", "label_shard", "row_in_shard", "label_id",
    "global_index", "target_len", "label", "original_frames", "filename", "feature_shard",
)  # fmt: skip
#: Columns the reader needs (the others are carried along).
REQUIRED_COLUMNS = ("row_in_shard", "label_id", "label", "feature_shard")
SHARD_ROWS = 256
SHARD_SUFFIXES = (".npy", ".npz", ".pt")
_SPLIT_ALIASES = {"validation": "val", "valid": "val", "dev": "val"}
_NPZ_KEYS = ("features", "x", "X", "data")


def is_processed_dir(folder: str | Path) -> bool:
    """Whether a folder holds a processed-200 layout (a metadata/*_manifest.csv and a label map)."""
    meta = Path(folder) / "metadata"
    return meta.is_dir() and any(meta.glob("*_manifest.csv")) and (meta / "label_to_id.json").is_file()


def parse_dataset_source(source: str) -> tuple[str, str | None]:
    """`hf://datasets/owner/name[@revision]` -> (repo_id, revision)."""
    spec = source[len("hf://datasets/") :]
    repo_id, _, revision = spec.partition("@")
    if not source.startswith("hf://datasets/") or not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id):
        raise DatasetError(f"not a Hugging Face data set: {source!r}; expected hf://datasets/owner/name[@revision]")
    return repo_id, revision or None


def _snapshot(repo_id: str, revision: str | None, patterns: list[str], cache_dir: str | Path | None) -> Path:
    from huggingface_hub import constants, snapshot_download

    from signdemo.weights import hub_reachable

    where = f"hf://datasets/{repo_id}" + (f"@{revision}" if revision else "")
    local_only = constants.HF_HUB_OFFLINE or not hub_reachable()
    try:
        return Path(snapshot_download(repo_id, repo_type="dataset", revision=revision, cache_dir=cache_dir,
                                      allow_patterns=patterns, local_files_only=local_only))  # fmt: skip
    except Exception as exc:  # not cached offline, unknown repository or revision, HTTP errors
        hint = " (the hub is not reachable and it is not in the Hugging Face cache)" if local_only else ""
        raise DatasetError(f"cannot fetch {where}{hint}: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}") from None  # fmt: skip


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read {path.name}: {exc}") from None


def _labels_from_maps(meta: Path) -> list[str]:
    """Glosses by id from label_to_id.json, checked against id_to_label.json when present."""
    to_id = _read_json(meta / "label_to_id.json")
    if sorted(to_id.values()) != list(range(len(to_id))):
        raise DatasetError(f"{meta.name}/label_to_id.json: ids are not 0..{len(to_id) - 1}")
    labels = [g for g, _ in sorted(to_id.items(), key=lambda kv: kv[1])]
    if (meta / "id_to_label.json").is_file():
        to_label = {int(k): v for k, v in _read_json(meta / "id_to_label.json").items()}
        wrong = [f"{i}: {to_label.get(i)!r} vs {g!r}" for i, g in enumerate(labels) if to_label.get(i) != g]
        if wrong or len(to_label) != len(labels):
            raise DatasetError("metadata/id_to_label.json and label_to_id.json disagree: "
                               + (", ".join(wrong[:5]) or f"{len(to_label)} vs {len(labels)} entries"))  # fmt: skip
    return labels


def _split_name(name: str) -> str:
    name = name.strip().lower()
    return _SPLIT_ALIASES.get(name, name)


class ShardedFeatures:
    """The (N, 200, 450) features of one split, read shard by shard: `x[i]` is row i as float32
    (200, 450); `batches(n)` yields (indices, (b, 200, 450) float32). A few shards stay open."""

    def __init__(self, root: Path, rows: list[dict], resolve: Callable[[str], Path], keep: int = 4) -> None:
        self.root, self.rows, self._resolve, self._keep = root, rows, resolve, keep
        self._open: OrderedDict[str, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.rows), NUM_FRAMES, NUM_FEATURES)

    def shard(self, name: str) -> np.ndarray:
        if name not in self._open:
            self._open[name] = read_shard(self._resolve(name))
            while len(self._open) > self._keep:
                self._open.popitem(last=False)
        self._open.move_to_end(name)
        return self._open[name]

    def __getitem__(self, i: int) -> np.ndarray:
        row = self.rows[int(i)]
        shard = self.shard(row["feature_shard"])
        k = int(row["row_in_shard"])
        if not 0 <= k < len(shard):
            raise DatasetError(f"{row['feature_shard']} has {len(shard)} rows; the manifest asks for row {k}")
        return np.asarray(shard[k], dtype=np.float32)

    def batches(self, size: int = 64):
        for start in range(0, len(self.rows), size):
            idx = list(range(start, min(start + size, len(self.rows))))
            yield idx, np.stack([self[i] for i in idx])


def read_shard(path: Path) -> np.ndarray:
    """One feature shard as an (R, 200, 450) array (memory-mapped for .npy)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            x = np.load(path, mmap_mode="r", allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                keys = [k for k in _NPZ_KEYS if k in z.files] or (z.files if len(z.files) == 1 else [])
                if not keys:
                    raise DatasetError(f"{path.name}: no array named {', '.join(_NPZ_KEYS)} (it has {z.files})")
                x = z[keys[0]]
        elif suffix == ".pt":
            obj = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(obj, dict):
                obj = next((obj[k] for k in _NPZ_KEYS if k in obj), None)
            if not isinstance(obj, torch.Tensor):
                raise DatasetError(f"{path.name}: expected a tensor (or a dict with one under {', '.join(_NPZ_KEYS)})")
            x = obj.numpy()
        else:
            raise DatasetError(f"{path.name}: shards are read from {', '.join(SHARD_SUFFIXES)} files")
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(f"cannot read shard {path.name}: {type(exc).__name__}: {exc}") from None
    if x.ndim != 3 or x.shape[1:] != (NUM_FRAMES, NUM_FEATURES):
        raise DatasetError(f"shard {path.name} has shape {x.shape}; expected (rows, {NUM_FRAMES}, {NUM_FEATURES})")
    return x


@dataclass
class ProcessedSet:
    """A processed-200 data set: label list by id, manifest rows per split, the stated recipe."""

    root: Path
    source: str
    labels: list[str]
    rows: dict[str, list[dict]]
    preprocessing_config: dict = field(default_factory=dict)
    _fetch: Callable[[list[str]], Path] | None = None
    _index: dict[str, Path] | None = None

    @property
    def splits(self) -> list[str]:
        return [s for s in (*SPLITS, *sorted(set(self.rows) - set(SPLITS))) if s in self.rows]

    def split_rows(self, split: str) -> list[dict]:
        split = _split_name(split)
        if split not in self.rows:
            raise DatasetError(f"{self.source} has no {split} split; it has {', '.join(self.splits)}")
        return self.rows[split]

    def _resolve(self, name: str) -> Path:
        path = self.root / name
        if path.is_file():
            return path
        if self._index is None:
            self._index = {p.name: p for p in self.root.rglob("*") if p.suffix.lower() in SHARD_SUFFIXES}
        found = self._index.get(Path(name).name)
        if found is None:
            raise DatasetError(f"feature shard {name} named in the manifest is not in {self.source}")
        return found

    def features(self, split: str) -> ShardedFeatures:
        rows = self.split_rows(split)
        if self._fetch is not None:  # a hub data set: fetch this split's shards only
            self.root = self._fetch(sorted({r["feature_shard"] for r in rows}))
            self._index = None
        return ShardedFeatures(self.root, rows, self._resolve)


def open_processed(source: str | Path, *, cache_dir: str | Path | None = None) -> ProcessedSet:
    """A processed-200 set from a folder or `hf://datasets/owner/name[@revision]`; reads the
    manifests and label maps and checks them against each other (shards are read on demand)."""
    text = str(source)
    fetch = None
    if text.startswith("hf://"):
        repo_id, revision = parse_dataset_source(text)
        root = _snapshot(repo_id, revision, ["metadata/*"], cache_dir)

        def fetch(shards: list[str]) -> Path:
            return _snapshot(repo_id, revision, ["metadata/*", *shards, *(f"**/{Path(s).name}" for s in shards)],
                             cache_dir)  # fmt: skip
    else:
        root = Path(source).expanduser()
        if not root.is_dir():
            raise DatasetError(f"{source} is not a folder")
    meta = root / "metadata"
    if not is_processed_dir(root):
        raise DatasetError(f"{text} is not a processed-200 data set: it needs metadata/<split>_manifest.csv "
                           "and metadata/label_to_id.json")  # fmt: skip
    labels = _labels_from_maps(meta)
    rows: dict[str, list[dict]] = {}
    for path in sorted(meta.glob("*_manifest.csv")):
        rows[_split_name(path.name[: -len("_manifest.csv")])] = _read_manifest(path, labels)
    config = _read_json(meta / "preprocessing_config.json") if (meta / "preprocessing_config.json").is_file() else {}
    return ProcessedSet(root, text, labels, rows, config, fetch)


def _read_manifest(path: Path, labels: list[str]) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise DatasetError(f"{path.name} has no rows")
    missing = [c for c in REQUIRED_COLUMNS if c not in rows[0]]
    if missing:
        raise DatasetError(f"{path.name} lacks the column(s) {', '.join(missing)}; it has {', '.join(rows[0])}")
    bad = []
    for i, row in enumerate(rows):
        k = int(row["label_id"])
        if not 0 <= k < len(labels) or labels[k] != row["label"]:
            bad.append(f"row {i}: label {row['label']!r} with label_id {k}")
    if bad:
        raise DatasetError(f"{path.name} disagrees with metadata/label_to_id.json: " + "; ".join(bad[:5])
                           + (f" ({len(bad)} rows)" if len(bad) > 5 else ""))  # fmt: skip
    return rows


def _norm(label: str) -> str:
    return str(label).strip().lower()


def check_labels(data_labels: list[str], model_labels: list[str]) -> dict:
    """Compare a data set's label map with a model's: {"identical", "same_ids", "not_in_model",
    "other_id", "message"}. Scoring goes by gloss, so differing ids are reported, not fatal."""
    model_index = {_norm(l): k for k, l in enumerate(model_labels)}
    not_in_model = [l for l in data_labels if _norm(l) not in model_index]
    other_id = [f"{l} (data {i}, model {model_index[_norm(l)]})" for i, l in enumerate(data_labels)
                if _norm(l) in model_index and model_index[_norm(l)] != i]  # fmt: skip
    identical = [_norm(l) for l in data_labels] == [_norm(l) for l in model_labels]
    if identical:
        message = f"label maps identical ({len(data_labels)} glosses, same ids)"
    else:
        parts = [f"the data set has {len(data_labels)} glosses, the model {len(model_labels)}"]
        if not_in_model:
            parts.append(f"{len(not_in_model)} not in the model's vocabulary ({', '.join(not_in_model[:5])})")
        if other_id:
            parts.append(f"{len(other_id)} at another id in the model ({', '.join(other_id[:3])}); scored by gloss")
        message = "label maps differ: " + "; ".join(parts)
    return {"identical": identical, "same_ids": not other_id, "not_in_model": not_in_model,
            "other_id": other_id, "message": message}  # fmt: skip


def model_variant(bundle: Bundle, **model_args) -> torch.nn.Module:
    """The bundle's BiGRU rebuilt with other readings of its parameterless layers (e.g.
    activation="relu"), the same weights loaded strictly."""
    from signdemo.weights import _build_model

    model = _build_model(bundle.architecture, {**bundle.model_args, **model_args})
    load_state_dict_strict(model, bundle.model.state_dict(), what=bundle.name)
    return model.eval()


@torch.inference_mode()
def _scores(model: torch.nn.Module, features: ShardedFeatures, batch_size: int,
            progress: Callable[[int, int], None] | None) -> np.ndarray:  # fmt: skip
    from signdemo.runtime import torch_threads

    out = []
    for idx, x in features.batches(batch_size):
        with torch_threads(1):  # the GRU's small sequential steps run fastest on one thread
            out.append(torch.softmax(model(torch.from_numpy(x)).float(), dim=1).numpy())  # (b, C)
        if progress:
            progress(idx[-1] + 1, len(features))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def evaluate_processed(bundle: Bundle, data: ProcessedSet, split: str, *, variants: dict | None = None,
                       batch_size: int = 64, limit: int | None = None, predictions_csv: str | Path | None = None,
                       progress: Callable[[str, int, int], None] | None = None) -> dict:  # fmt: skip
    """Top-1, top-5 and macro F1 of a BiGRU bundle on one split of a processed-200 set.

    variants: {option: readings} of model arguments to try besides the bundle's own (e.g.
        `published.MODEL_UNKNOWNS`); each is scored with the same weights, under "variants".
    limit: score only the first `limit` rows of the split.
    predictions_csv: write one row per sample (its manifest row's filename, label, top-1 and
        probability under the bundle's own reading).
    """
    if bundle.architecture != BIGRU:
        raise DatasetError(f"a processed-200 set holds keypoint features; {bundle.name} is an {bundle.architecture}")
    features = data.features(split)
    if limit:
        features.rows = features.rows[:limit]
    check = check_labels(data.labels, bundle.labels)
    index = {_norm(l): k for k, l in enumerate(bundle.labels)}
    keep = [i for i, r in enumerate(features.rows) if _norm(r["label"]) in index]
    targets = np.asarray([index[_norm(features.rows[i]["label"])] for i in keep], dtype=np.int64)

    def score(model, name: str) -> tuple[dict, np.ndarray]:
        scores = _scores(model, features, batch_size, progress and (lambda i, n: progress(name, i, n)))
        s = classification_summary(scores[keep], targets, bundle.labels)
        return {k: s[k] for k in ("correct", "top1", "top5", "macro_f1")} | {"scored": s["total"]}, scores

    own, own_scores = score(bundle.model, "bundle")
    figures = {
        "dataset": data.source, "split": _split_name(split), "samples": len(features.rows),
        "out_of_vocabulary": len(features.rows) - len(keep), "label_check": check,
        "models": {BIGRU: {"weights": bundle.describe(), **own}},
    }  # fmt: skip
    if variants:
        figures["variants"] = {}
        for option, readings in variants.items():
            current = getattr(getattr(bundle.model, "config", None), option, bundle.model_args.get(option))
            for reading in readings:
                result = own if reading == current else score(model_variant(bundle, **{option: reading}),
                                                              f"{option}={reading}")[0]
                figures["variants"][f"{option}={reading}"] = {**result, "bundle_reading": reading == current}
    if predictions_csv:
        _write_predictions(predictions_csv, features.rows, own_scores, bundle.labels)
    return figures


def _write_predictions(path: str | Path, rows: list[dict], scores: np.ndarray, labels: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["global_index", "filename", "label", "bigru_attention_top1", "bigru_attention_probability"])
        for row, p in zip(rows, scores):
            k = int(p.argmax())
            writer.writerow([row.get("global_index", ""), row.get("filename", ""), row["label"], labels[k], f"{p[k]:.6f}"])

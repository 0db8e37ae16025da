"""python -m signdemo.audit DATASET [--json] [--threshold 0.02] [--strict]

Check a keypoint data set's train/val/test split before quoting a number from it:

- exact duplicates: samples whose float16 feature arrays are identical (hash of the bytes), within
  and across splits, and duplicates that carry different labels;
- near duplicates: samples whose time-pooled, normalised positions lie within `--threshold` of each
  other (the same recording processed twice, re-encoded, or trimmed differently);
- signers that appear in more than one split, and source videos listed in more than one split.

A split that shares samples or signers between training and evaluation reports optimistic scores
(the published 200-class ASL Citizen keypoint set held thousands of duplicate records and mixed
original train and test videos: 85% validation but 98% test top-1).

DATASET is a prepared folder (`python -m signdemo.train.prepare`: features.npy + manifest.csv), or a
folder of per-split arrays (`*train*.npy`, `*val*.npy`, `*test*.npy` of shape (N, F, 450), with
optional label arrays `*train*label*.npy` and per-split manifest CSVs `*train*.csv` giving signers
and source files), or one (N, F, 450) .npy with `--manifest CSV` (columns split, and optionally
label, signer, source_path).

Near-duplicate search: each sample becomes a unit vector (x, y of the 75 points, averaged over
`--time-bins` stretches of the clip, centred, scaled to norm 1); candidate pairs are found in a
PCA projection (an orthogonal projection never increases distances, so no pair within the threshold
is missed) and confirmed on the full vectors. Cost grows as N^2 x 32 operations: seconds for 10k
samples.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from signdemo import schema
from signdemo.train import script_parser

log = logging.getLogger(__name__)

SPLIT_ORDER = ("train", "val", "test")
#: Default near-duplicate distance. Distinct recordings of the same sign by the same signer (GISLR
#: hello/thankyou, 21 signers) have nearest neighbours at 0.027 and above; copies of one recording
#: (re-encoded, re-extracted, float16 noise) fall far below.
NEAR_THRESHOLD = 0.02
_SIGNER_COLUMNS = ("signer", "signer_id", "participant", "participant_id", "participant id", "user", "subject")
_SOURCE_COLUMNS = ("source_path", "source", "video", "video_file", "video file", "filename", "file", "path")
_LABEL_COLUMNS = ("label", "gloss", "label_id", "class")


@dataclass
class AuditData:
    """What the audit looks at: features (N, F, D) (may be memory-mapped) and per-sample metadata
    ("" where unknown)."""

    features: np.ndarray
    splits: np.ndarray
    labels: np.ndarray
    signers: np.ndarray
    sources: np.ndarray
    ids: np.ndarray
    name: str = ""


# ---------------------------------------------------------------------------------------------
# Loading


def _pick(row: dict, names: tuple[str, ...]) -> str:
    lowered = {k.strip().lower(): v for k, v in row.items() if k}
    for n in names:
        if n in lowered and lowered[n] not in (None, ""):
            return str(lowered[n]).strip()
    return ""


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _normalize_split(name: str) -> str:
    from signdemo.train.datasets import normalize_split

    return normalize_split(name)


def _meta(rows: list[dict], n: int, split: str | None = None) -> dict[str, np.ndarray]:
    if rows and len(rows) != n:
        raise ValueError(f"manifest has {len(rows)} rows for {n} samples")
    rows = rows or [{} for _ in range(n)]
    return {
        "splits": np.array([split or _normalize_split(_pick(r, ("split", "subset"))) for r in rows], dtype=object),
        "labels": np.array([_pick(r, _LABEL_COLUMNS) for r in rows], dtype=object),
        "signers": np.array([_pick(r, _SIGNER_COLUMNS) for r in rows], dtype=object),
        "sources": np.array([_pick(r, _SOURCE_COLUMNS) for r in rows], dtype=object),
        "ids": np.array([_pick(r, ("sample_id", "id", "global_index", "index")) or str(i) for i, r in enumerate(rows)],
                        dtype=object),  # fmt: skip
    }


def _split_word(name: str) -> str | None:
    for word, split in (("train", "train"), ("val", "val"), ("dev", "val"), ("test", "test")):
        if re.search(rf"(^|[^a-z]){word}", name.lower()):
            return split
    return None


def load_audit_data(path: str | Path, manifest: str | Path | None = None) -> AuditData:
    """Read DATASET in one of the layouts the module docstring lists."""
    path = Path(path)
    if path.is_file():
        if manifest is None:
            raise ValueError(f"{path.name} is a single array: give --manifest CSV with a split column")
        features = np.load(path, mmap_mode="r", allow_pickle=False)
        return AuditData(features, **_meta(_read_csv(Path(manifest)), len(features)), name=path.name)
    if (path / "features.npy").is_file() and (path / "manifest.csv").is_file():
        features = np.load(path / "features.npy", mmap_mode="r", allow_pickle=False)
        return AuditData(features, **_meta(_read_csv(path / "manifest.csv"), len(features)), name=path.name)
    # A folder of per-split arrays.
    arrays, label_arrays, manifests = {}, {}, {}
    for f in sorted(path.rglob("*.npy")):
        split = _split_word(f.stem)
        if split is None:
            continue
        header = np.load(f, mmap_mode="r", allow_pickle=False)
        if header.ndim == 3 and split not in arrays:
            arrays[split] = header
        elif header.ndim == 1 and re.search("label|target|^y", f.stem.lower()):
            label_arrays.setdefault(split, np.asarray(header))
    for f in sorted(path.rglob("*.csv")):
        split = _split_word(f.stem)
        if split in arrays and split not in manifests:
            rows = _read_csv(f)
            if len(rows) == len(arrays[split]):
                manifests[split] = rows
    if not arrays:
        raise ValueError(f"{path}: no features.npy + manifest.csv and no per-split (N, F, D) arrays found")
    parts, metas = [], []
    for split in SPLIT_ORDER:
        if split in arrays:
            parts.append(arrays[split])
            m = _meta(manifests.get(split, []), len(arrays[split]), split)
            if split in label_arrays and not any(m["labels"]):
                m["labels"] = np.array([str(v) for v in label_arrays[split]], dtype=object)
            m["ids"] = np.array([f"{split}:{i}" for i in m["ids"]], dtype=object)
            metas.append(m)
    features = np.concatenate([np.asarray(p) for p in parts]) if len(parts) > 1 else parts[0]
    merged = {k: np.concatenate([m[k] for m in metas]) for k in metas[0]}
    return AuditData(features, **merged, name=path.name)


# ---------------------------------------------------------------------------------------------
# Checks


def row_hashes(features: np.ndarray, chunk: int = 1024) -> list[str]:
    """blake2b of each sample's float16 bytes (identical arrays <=> identical hashes)."""
    out = []
    for start in range(0, len(features), chunk):
        block = np.ascontiguousarray(np.asarray(features[start : start + chunk]).astype(np.float16))
        out += [hashlib.blake2b(row.tobytes(), digest_size=16).hexdigest() for row in block]
    return out


def descriptors(features: np.ndarray, time_bins: int = 8, chunk: int = 1024) -> np.ndarray:
    """(N, F, 450) features -> (N, time_bins * 150) float32 unit vectors: x, y of the 75 points
    averaged over `time_bins` equal stretches of time, centred and scaled to norm 1."""
    n, f = features.shape[:2]
    bounds = np.linspace(0, f, time_bins + 1).round().astype(int)
    out = np.zeros((n, time_bins * schema.NUM_POINTS * 2), dtype=np.float32)
    for start in range(0, n, chunk):
        block = np.asarray(features[start : start + chunk], dtype=np.float32)[..., : schema.NUM_POSITION_FEATURES]
        xy = block.reshape(len(block), f, schema.NUM_POINTS, 3)[..., :2].reshape(len(block), f, -1)  # (b, F, 150)
        pooled = np.stack([xy[:, a:b].mean(axis=1) for a, b in zip(bounds[:-1], bounds[1:], strict=True)], axis=1)  # (b, K, 150)
        v = pooled.reshape(len(block), -1)
        v = v - v.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(v, axis=1, keepdims=True)
        out[start : start + len(block)] = np.divide(v, norm, out=np.zeros_like(v), where=norm > 1e-12)
    return out


def near_pairs(
    vectors: np.ndarray, threshold: float, *, components: int = 32, block: int = 1024, max_pairs: int = 2_000_000,
    seed: int = 0,
) -> list[tuple[int, int, float]]:  # fmt: skip
    """Pairs (i < j) with ||v_i - v_j|| <= threshold, with their distances.

    Candidates come from an orthonormal PCA projection (distances there are lower bounds), so the
    result is exact; only the candidates are compared in full.
    """
    n = len(vectors)
    if n < 2:
        return []
    rng = np.random.default_rng(seed)
    sample = vectors[rng.choice(n, size=min(n, 4000), replace=False)]
    centred = sample - sample.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    basis = vt[: min(components, vt.shape[0])].T.astype(np.float32)  # (D, k), orthonormal columns
    proj = vectors @ basis  # (N, k)
    sq = (proj**2).sum(axis=1)
    found: list[tuple[int, int, float]] = []
    t2 = threshold**2
    n_candidates = 0
    for start in range(0, n, block):
        a = proj[start : start + block]
        d2 = sq[start : start + block, None] + sq[None, :] - 2.0 * (a @ proj.T)  # (b, N)
        ii, jj = np.nonzero(d2 <= t2 + 1e-6)
        keep = jj > ii + start
        ii, jj = ii[keep] + start, jj[keep]
        n_candidates += len(ii)
        if n_candidates > max_pairs:
            raise RuntimeError(f"more than {max_pairs} candidate pairs within {threshold}: the threshold is too "
                               "loose for this data (most samples look alike); lower --threshold")  # fmt: skip
        if len(ii):
            full = np.linalg.norm(vectors[ii] - vectors[jj], axis=1)
            ok = full <= threshold
            found += [(int(i), int(j), float(d)) for i, j, d in zip(ii[ok], jj[ok], full[ok], strict=True)]
    return found


@dataclass
class AuditReport:
    name: str
    counts: dict
    exact_groups: list[dict] = field(default_factory=list)
    near: list[dict] = field(default_factory=list)
    signer_leaks: list[dict] = field(default_factory=list)
    source_leaks: list[dict] = field(default_factory=list)
    label_conflicts: list[dict] = field(default_factory=list)
    threshold: float = NEAR_THRESHOLD
    signers_known: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def exact_duplicate_records(self) -> int:
        """Samples that are a copy of an earlier one."""
        return sum(len(g["members"]) - 1 for g in self.exact_groups)

    @property
    def exact_cross_split(self) -> list[dict]:
        return [g for g in self.exact_groups if len(g["splits"]) > 1]

    @property
    def near_cross_split(self) -> list[dict]:
        return [p for p in self.near if p["split_a"] != p["split_b"]]

    @property
    def leaks(self) -> bool:
        """Anything shared between splits (samples, near copies, signers or source videos)."""
        return bool(self.exact_cross_split or self.near_cross_split or self.signer_leaks or self.source_leaks)

    def summary(self) -> dict:
        return {
            "dataset": self.name,
            "counts": self.counts,
            "exact_duplicate_groups": len(self.exact_groups),
            "exact_duplicate_records": self.exact_duplicate_records,
            "exact_groups_across_splits": len(self.exact_cross_split),
            "label_conflicts": len(self.label_conflicts),
            "near_duplicate_pairs": len(self.near),
            "near_duplicate_pairs_across_splits": len(self.near_cross_split),
            "near_threshold": self.threshold,
            "signers_in_several_splits": len(self.signer_leaks) if self.signers_known else None,
            "sources_in_several_splits": len(self.source_leaks),
            "leaks": self.leaks,
        }

    def to_json(self) -> dict:
        return {"summary": self.summary(), "exact_groups": self.exact_groups, "near_pairs": self.near,
                "signer_leaks": self.signer_leaks, "source_leaks": self.source_leaks,
                "label_conflicts": self.label_conflicts, "notes": self.notes}  # fmt: skip


def _split_pair(a: str, b: str) -> str:
    order = {s: i for i, s in enumerate(SPLIT_ORDER)}
    a, b = sorted((a, b), key=lambda s: order.get(s, 9))
    return f"{a}-{b}"


def audit(data: AuditData, *, threshold: float = NEAR_THRESHOLD, time_bins: int = 8, near: bool = True) -> AuditReport:
    """Run every check on `data`."""
    n = len(data.features)
    report = AuditReport(data.name, dict(Counter(str(s) for s in data.splits)), threshold=threshold)

    def member(i: int) -> dict:
        return {"index": int(i), "id": str(data.ids[i]), "split": str(data.splits[i]), "label": str(data.labels[i]),
                "signer": str(data.signers[i]), "source": str(data.sources[i])}  # fmt: skip

    # Exact duplicates.
    groups: dict[str, list[int]] = defaultdict(list)
    hashes = row_hashes(data.features)
    for i, h in enumerate(hashes):
        groups[h].append(i)
    exact_pairs = set()
    for members in groups.values():
        if len(members) > 1:
            splits = sorted({str(data.splits[i]) for i in members})
            labels = sorted({str(data.labels[i]) for i in members})
            group = {"size": len(members), "splits": splits, "labels": labels, "members": [member(i) for i in members]}
            report.exact_groups.append(group)
            if len(labels) > 1:
                report.label_conflicts.append(group)
            exact_pairs.update((a, b) for a in members for b in members if a < b)
    report.exact_groups.sort(key=lambda g: (-len(g["splits"]), -g["size"]))

    # Near duplicates (not already exact).
    if near and n > 1:
        pairs = near_pairs(descriptors(data.features, time_bins), threshold)
        for i, j, d in sorted(pairs, key=lambda p: p[2]):
            if (i, j) in exact_pairs or hashes[i] == hashes[j]:
                continue
            report.near.append({"distance": round(d, 5), "split_a": str(data.splits[i]), "split_b": str(data.splits[j]),
                                "a": member(i), "b": member(j)})  # fmt: skip
        report.near.sort(key=lambda p: (p["split_a"] == p["split_b"], p["distance"]))

    # Signers and source files in several splits.
    for key, attr, out in (("signer", data.signers, report.signer_leaks), ("source", data.sources, report.source_leaks)):
        where: dict[str, Counter] = defaultdict(Counter)
        for value, split in zip(attr, data.splits, strict=True):
            if value:
                where[str(value)][str(split)] += 1
        for value, per_split in sorted(where.items()):
            if len(per_split) > 1:
                out.append({key: value, "samples_per_split": dict(per_split)})
    report.signers_known = any(bool(s) for s in data.signers)
    if not report.signers_known:
        report.notes.append("no signer information: signer overlap between splits was not checked")
    return report


# ---------------------------------------------------------------------------------------------
# Printing


def format_report(report: AuditReport, max_examples: int = 10) -> str:
    s = report.summary()
    lines = [f"Split audit of {report.name}: " + ", ".join(f"{k} {v}" for k, v in report.counts.items())]
    cross = Counter(_split_pair(*g["splits"][:2]) if len(g["splits"]) == 2 else "+".join(g["splits"])
                    for g in report.exact_cross_split)  # fmt: skip
    lines.append(f"- exact duplicates: {s['exact_duplicate_records']} duplicate records in {len(report.exact_groups)} groups; "
                 f"{len(report.exact_cross_split)} groups span splits" + (f" ({dict(cross)})" if cross else ""))  # fmt: skip
    if report.label_conflicts:
        lines.append(f"- {len(report.label_conflicts)} duplicate groups carry different labels")
    for g in report.exact_cross_split[:max_examples]:
        lines.append("    " + " = ".join(f"{m['split']}:{m['id']} ({m['label']})" for m in g["members"][:6]))
    near_cross = Counter(_split_pair(p["split_a"], p["split_b"]) for p in report.near_cross_split)
    lines.append(f"- near duplicates (distance <= {report.threshold}): {len(report.near)} pairs, "
                 f"{len(report.near_cross_split)} across splits" + (f" ({dict(near_cross)})" if near_cross else ""))  # fmt: skip
    for p in report.near_cross_split[:max_examples]:
        lines.append(f"    {p['a']['split']}:{p['a']['id']} ~ {p['b']['split']}:{p['b']['id']}  d={p['distance']}")
    if report.signers_known:
        lines.append(f"- signers in more than one split: {len(report.signer_leaks)}")
        for leak in report.signer_leaks[:max_examples]:
            lines.append(f"    signer {leak['signer']}: {leak['samples_per_split']}")
    lines.append(f"- source videos in more than one split: {len(report.source_leaks)}")
    for leak in report.source_leaks[:max_examples]:
        lines.append(f"    {leak['source']}: {leak['samples_per_split']}")
    lines += [f"- note: {n}" for n in report.notes]
    lines.append("Verdict: " + ("the split LEAKS: evaluation scores on it are optimistic; deduplicate and split by "
                                "signer before quoting them." if report.leaks else "no leak found."))  # fmt: skip
    return "\n".join(lines)


def get_args_parser() -> argparse.ArgumentParser:
    parser = script_parser("python -m signdemo.audit", __doc__)
    parser.add_argument("dataset", type=Path, help="prepared folder, folder of per-split arrays, or one .npy")
    parser.add_argument("--manifest", type=Path, help="manifest CSV for a single .npy")
    parser.add_argument("--threshold", type=float, default=NEAR_THRESHOLD,
                        help="near-duplicate distance between unit vectors (0..2)")
    parser.add_argument("--time-bins", type=int, default=8)
    parser.add_argument("--no-near", action="store_true", help="skip the near-duplicate search")
    parser.add_argument("--json", nargs="?", const="-", help="print JSON (or write it to the given file)")
    parser.add_argument("--max-examples", type=int, default=10)
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when the split leaks")
    return parser


def main(args: argparse.Namespace) -> int:
    data = load_audit_data(args.dataset, args.manifest)
    report = audit(data, threshold=args.threshold, time_bins=args.time_bins, near=not args.no_near)
    if args.json == "-":
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_report(report, args.max_examples))
        if args.json:
            Path(args.json).write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    return 1 if args.strict and report.leaks else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main(get_args_parser().parse_args()))

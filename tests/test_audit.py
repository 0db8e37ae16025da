"""Split audit: planted exact and near duplicates and a planted signer leak are found; a clean set is clean."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _keypoint_data import make_prepared

from signdemo.audit import audit, descriptors, load_audit_data, near_pairs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return make_prepared(tmp_path_factory.mktemp("audit") / "clean", per_split={"train": 6, "val": 2, "test": 2})


def _rows(root: Path) -> list[dict]:
    with open(root / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def _write_rows(root: Path, rows: list[dict]) -> None:
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_clean_split_reports_no_leak(clean: Path) -> None:
    report = audit(load_audit_data(clean))
    assert report.counts == {"train": 18, "val": 6, "test": 6}
    assert not report.exact_groups and not report.near and not report.signer_leaks and not report.source_leaks
    assert not report.leaks


def test_planted_duplicates_and_signer_leak_are_found(clean: Path, tmp_path: Path) -> None:
    root = tmp_path / "leaky"
    shutil.copytree(clean, root, ignore=shutil.ignore_patterns("landmarks"))
    features = np.load(root / "features.npy").copy()
    rows = _rows(root)
    test = [i for i, r in enumerate(rows) if r["split"] == "test"]
    val = [i for i, r in enumerate(rows) if r["split"] == "val"]
    # 1. an exact copy of a training sample in the test split (and a second copy within train)
    features[test[0]] = features[0]
    features[1] = features[0]
    # 2. a near copy (the same recording with float16-sized noise) in the validation split
    rng = np.random.default_rng(0)
    noisy = features[2].astype(np.float32) + rng.normal(0, 1e-3, features[2].shape) * (features[2] != 0)
    features[val[0]] = noisy.astype(np.float16)
    # 3. a training signer who also appears in the test split
    rows[test[1]]["signer"] = rows[3]["signer"]
    np.save(root / "features.npy", features)
    _write_rows(root, rows)

    report = audit(load_audit_data(root))
    assert report.leaks
    assert len(report.exact_groups) == 1 and report.exact_groups[0]["size"] == 3
    assert report.exact_groups[0]["splits"] == ["test", "train"] and report.exact_duplicate_records == 2
    near = report.near_cross_split
    assert [(p["a"]["index"], p["b"]["index"]) for p in near] == [(2, val[0])]
    assert [leak["signer"] for leak in report.signer_leaks] == [rows[3]["signer"]]
    summary = report.summary()
    assert summary["exact_groups_across_splits"] == 1 and summary["signers_in_several_splits"] == 1

    proc = subprocess.run([sys.executable, "-m", "signdemo.audit", str(root), "--json", "--strict"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["summary"]["leaks"] is True


def test_per_split_array_layout_and_label_conflicts(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    train = rng.normal(size=(5, 20, 450)).astype(np.float16)
    test = rng.normal(size=(3, 20, 450)).astype(np.float16)
    test[0] = train[4]
    np.save(tmp_path / "train_features.npy", train)
    np.save(tmp_path / "test_features.npy", test)
    np.save(tmp_path / "train_labels.npy", np.array([0, 1, 2, 3, 4]))
    np.save(tmp_path / "test_labels.npy", np.array([9, 1, 2]))
    report = audit(load_audit_data(tmp_path))
    assert report.counts == {"train": 5, "test": 3}
    assert len(report.exact_cross_split) == 1 and len(report.label_conflicts) == 1
    assert report.exact_cross_split[0]["labels"] == ["4", "9"]
    assert report.notes  # no signer information in this layout: said so


def test_near_pair_search_is_exact_against_brute_force() -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(size=(200, 40, 450)).astype(np.float32) * 0.1
    base[50] = base[10] + rng.normal(0, 0.002, base[10].shape)
    base[120] = base[10] + rng.normal(0, 0.01, base[10].shape)
    vectors = descriptors(base)
    d = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    threshold = float(np.sort(d[np.triu_indices(len(d), 1)])[5]) + 1e-6  # the six closest pairs
    brute = {(i, j) for i, j in zip(*np.nonzero(np.triu(d <= threshold, 1)), strict=True)}
    assert {(i, j) for i, j, _ in near_pairs(vectors, threshold)} == brute
    assert (10, 50) in brute

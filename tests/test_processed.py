"""Processed-200 sets (the published BiGRU's data layout): reading shards, manifests and label
maps from a folder or an offline Hugging Face cache, scoring, label-map checks, the evaluate
command and the Inspect tab's loader. The fixture is written by the test in the published layout
from the example keypoints, scored with the shipped demo BiGRU."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch

from _paths import REPO
from _processed_data import write_processed
from signdemo.__main__ import main
from signdemo.errors import DatasetError
from signdemo.inference import Recognizer
from signdemo.processed import check_labels, evaluate_processed, open_processed
from signdemo.published import MODEL_UNKNOWNS
from signdemo.runtime import torch_threads
from signdemo.ui import inspection
from signdemo.weights import load_bundle

DEMO_BIGRU = REPO / "weights" / "demo-bigru-attention"
COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def demo():
    return load_bundle(DEMO_BIGRU)


@pytest.fixture(scope="module")
def examples():
    x = np.load(REPO / "examples" / "keypoints.npy").astype(np.float32)
    with open(REPO / "examples" / "keypoints_manifest.csv", newline="") as f:
        return x, [r["label"] for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def processed(tmp_path_factory, demo, examples):
    """test: 260 noisy copies of the example rows in random order (two shards, 256 + 4 rows);
    val: the 7 example rows as they are."""
    x, labels = examples
    rng = np.random.default_rng(0)
    pick = rng.integers(0, len(x), 260)
    noisy = x[pick] + rng.normal(0, 0.3, (260, *x.shape[1:])).astype(np.float32) * (x[pick] != 0)
    root = tmp_path_factory.mktemp("processed") / "asl-citizen-processed-200"
    write_processed(root, {"test": (noisy, [labels[i] for i in pick]), "val": (x, labels)}, demo.labels)
    return root, noisy.astype(np.float16), [labels[i] for i in pick]


def _direct_top1(bundle, x: np.ndarray, labels: list[str]) -> int:
    """Correct answers computed without the reader: the model on the arrays themselves."""
    with torch.no_grad(), torch_threads(1):
        pred = torch.cat([bundle.model(torch.from_numpy(b.astype(np.float32))).argmax(1) for b in np.split(x, 4)])
    return int(sum(bundle.labels[p] == l for p, l in zip(pred, labels)))


def test_published_layout_is_read_and_scored(processed, demo):
    root, x, labels = processed
    data = open_processed(root)
    assert data.splits == ["val", "test"] and data.labels == demo.labels
    assert sorted(p.name for p in (root / "features").glob("test_shard_*")) == ["test_shard_000.npy", "test_shard_001.npy"]
    features = data.features("test")
    assert len(features) == 260 and np.array_equal(features[259], x[259].astype(np.float32))
    figures = evaluate_processed(demo, data, "test")
    m = figures["models"]["bigru_attention"]
    assert m["scored"] == 260 and figures["out_of_vocabulary"] == 0
    assert m["correct"] == _direct_top1(demo, x, labels) and m["top1"] > 0.9
    assert figures["label_check"]["identical"]


def test_assumed_activation_readings_are_scored_and_the_trained_one_wins(processed, demo):
    figures = evaluate_processed(demo, open_processed(processed[0]), "test", variants=MODEL_UNKNOWNS, limit=64)
    v = figures["variants"]
    assert list(v) == ["activation=gelu", "activation=relu", "activation=none"]
    assert v["activation=gelu"]["bundle_reading"] and v["activation=gelu"]["scored"] == 64
    assert v["activation=gelu"]["top1"] == figures["models"]["bigru_attention"]["top1"]
    assert v["activation=none"]["top1"] < v["activation=gelu"]["top1"]  # the demo BiGRU was trained with GELU


@pytest.mark.parametrize("fmt", [".npz", ".pt"])
def test_other_shard_formats_read_the_same(tmp_path, demo, examples, fmt):
    x, labels = examples
    root = write_processed(tmp_path / "p", {"val": (x, labels)}, demo.labels, fmt=fmt)
    features = open_processed(root).features("val")
    assert np.array_equal(np.stack([features[i] for i in range(len(x))]), x.astype(np.float16).astype(np.float32))


def test_hub_dataset_from_a_prepopulated_cache_offline(processed, demo, tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    repo = tmp_path / "cache" / "datasets--someone--asl-citizen-processed-200"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    shutil.copytree(processed[0], repo / "snapshots" / COMMIT)
    for revision in ("", f"@{COMMIT}"):
        data = open_processed(f"hf://datasets/someone/asl-citizen-processed-200{revision}", cache_dir=tmp_path / "cache")
        assert data.root.name == COMMIT
        figures = evaluate_processed(demo, data, "val")
        assert figures["models"]["bigru_attention"]["correct"] == 7
    with pytest.raises(DatasetError, match="not in the Hugging Face cache"):
        open_processed("hf://datasets/someone/asl-citizen-processed-200@v2", cache_dir=tmp_path / "cache")
    with pytest.raises(DatasetError, match="hf://datasets/owner/name"):
        open_processed("hf://datasets/just-a-name", cache_dir=tmp_path / "cache")


def test_label_maps_are_cross_checked(tmp_path, demo, examples):
    x, labels = examples
    root = write_processed(tmp_path / "p", {"val": (x, labels)}, demo.labels)
    # the model's map against the data's: another order is reported (scored by gloss), missing glosses counted
    check = check_labels(demo.labels, demo.labels[::-1])
    assert not check["identical"] and not check["same_ids"] and "at another id" in check["message"]
    assert check_labels(demo.labels + ["extra"], demo.labels)["not_in_model"] == ["extra"]
    # the data set's own maps and manifest must agree
    to_label = json.loads((root / "metadata" / "id_to_label.json").read_text())
    to_label["0"], to_label["1"] = to_label["1"], to_label["0"]
    (root / "metadata" / "id_to_label.json").write_text(json.dumps(to_label))
    with pytest.raises(DatasetError, match="disagree"):
        open_processed(root)
    root = write_processed(tmp_path / "q", {"val": (x, labels)}, demo.labels)
    manifest = root / "metadata" / "val_manifest.csv"
    manifest.write_text(manifest.read_text().replace(",hello,", ",please,", 1))
    with pytest.raises(DatasetError, match="disagrees with metadata/label_to_id.json"):
        open_processed(root)


def test_evaluate_command_on_a_processed_folder(processed, capsys):
    status = main(["evaluate", str(processed[0]), "--split", "val", "--bigru", str(DEMO_BIGRU), "--try-assumptions",
                   "--json"])  # fmt: skip
    figures = json.loads(capsys.readouterr().out)
    assert status == 0 and figures["split"] == "val" and figures["models"]["bigru_attention"]["correct"] == 7
    assert set(figures["variants"]) == {"activation=gelu", "activation=relu", "activation=none"}


def test_inspect_tab_reads_a_processed_split(processed, demo):
    root = processed[0]
    assert [name for name, _ in inspection.find_sets(root)][0].endswith("(test, processed-200 keypoints)")
    dataset = inspection.load_folder(f"{root}#val", demo.labels)
    assert dataset.kind == "keypoints" and len(dataset.samples) == 7
    assert dataset.notes == ["label maps identical (14 glosses, same ids)"]
    evaluation = inspection.evaluate(Recognizer(demo, None), dataset)
    assert evaluation.summaries["bigru_attention"].summary["correct"] == 7

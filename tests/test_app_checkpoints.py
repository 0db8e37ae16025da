"""Untrusted checkpoints through the app's Models tab (the handler a browser calls), and hub bundles
pinned by revision with the commit loaded recorded.

A crafted checkpoint that would run a shell command when unpickled is refused and runs nothing,
whether it comes as a bundle folder, with a manifest whose checksums match it, or from the hub.
Mismatched keys, shapes and label lists are refused with the full list of what does not match. The
hub is a Hugging Face cache laid out by hand (blobs named by their hash, snapshot links, refs), read
offline.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import gradio as gr
import pytest
import torch

from _app_helpers import BIGRU_ARGS, LABELS, make_bigru_bundle, make_weights_dir
from signdemo.ui.handlers import Handlers
from signdemo.ui.store import ModelStore
from signdemo.weights import BIGRU, MANIFEST_NAME, PUBLISHED_REPOS, write_labels, write_manifest

CHECKPOINT = "checkpoints/best_bigru_attention_model.pt"


def _no_progress(*args, **kwargs) -> None:
    pass


class _RunsShell:
    """Unpickling this runs `touch MARKER` in a shell (what a malicious checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return make_weights_dir(tmp_path_factory.mktemp("weights"), i3d=False)


@pytest.fixture
def handlers(weights) -> Handlers:
    return Handlers(ModelStore(weights_dir=weights, use_hub=False), allow_local_paths=True)


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache that hf_hub_download reads offline."""
    import huggingface_hub.constants as constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def publish(cache: Path, repo_id: str, folder: Path, commit: str, *refs: str) -> None:
    """Lay out `folder` as commit `commit` of `repo_id`, as hf_hub_download leaves a download:
    checkpoints in blobs named by their sha256 (git LFS), other files by a 40-digit hash, the
    snapshot folder of links, and `refs` (branch or tag names) pointing at the commit."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        lfs = path.suffix == ".pt"
        blob = repo / "blobs" / (hashlib.sha256(data) if lfs else hashlib.sha1(data)).hexdigest()
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / path.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    for ref in refs:
        (repo / "refs" / ref).write_text(commit)


def _published_layout(root: Path, labels: list[str]) -> Path:
    """The published BiGRU repository's layout (no manifest of ours) with a tiny random BiGRU."""
    from signdemo.models.bigru_attention import build_bigru_attention

    torch.manual_seed(0)
    args = {**BIGRU_ARGS, "num_classes": len(labels)}
    (root / "checkpoints").mkdir(parents=True)
    torch.save({"model_state_dict": build_bigru_attention(**args).state_dict(), "config": args}, root / CHECKPOINT)
    write_labels(root, labels)
    (root / "training_config.json").write_text(json.dumps({"lr": 3e-4}))
    return root


def _load(h: Handlers, source: str, selection: dict | None = None):
    return h.load_bundle(source, selection or {}, progress=_no_progress)


# ------------------------------------------------------------------------------------ crafted pickles


def _crafted(root: Path, marker: Path, *, manifest: bool) -> Path:
    """A bundle whose checkpoint runs a shell command when unpickled; with `manifest`, our manifest
    records its real sha256 (checksums prove integrity, not safety)."""
    (root / "checkpoints").mkdir(parents=True)
    torch.save({"model_state_dict": {"classifier.weight": _RunsShell(marker)}, "config": {}}, root / CHECKPOINT)
    write_labels(root, LABELS)
    if manifest:
        write_manifest(root, architecture=BIGRU, model_args=BIGRU_ARGS, preprocessing={},
                       provenance={"kind": "user"}, checkpoint=CHECKPOINT)  # fmt: skip
    return root


@pytest.mark.parametrize("where", ["folder", "folder_with_matching_manifest", "hub"])
def test_crafted_checkpoint_is_refused_and_runs_nothing(handlers, tmp_path, hub, where):
    marker = tmp_path / "pwned"
    bundle = _crafted(tmp_path / "evil", marker, manifest=where != "folder")
    source = str(bundle)
    if where == "hub":
        publish(hub, "attacker/nice-model", bundle, "e" * 40, "main")
        source = "hf://attacker/nice-model"
    with pytest.raises(gr.Error) as err:
        _load(handlers, source)
    assert "refused to load best_bigru_attention_model.pt" in err.value.message
    assert "could run code when unpickled" in err.value.message
    assert not marker.exists(), "the pickle's payload ran"
    assert source not in handlers.store._extra  # nothing half-loaded is kept
    assert "test-bigru" in handlers.weights_banner({})  # the defaults are untouched


# ------------------------------------------------------------------------------------ mismatches


def test_wrong_keys_and_shapes_are_listed(handlers, tmp_path):
    root = make_bigru_bundle(tmp_path / "tampered")
    ckpt = torch.load(root / CHECKPOINT, weights_only=True)
    sd = ckpt["model_state_dict"]
    del sd["classifier.bias"], sd["gru.bias_hh_l0"]
    sd["extra.weight"] = torch.zeros(3)
    sd["projection.0.weight"] = torch.zeros(32, 449)
    torch.save(ckpt, root / CHECKPOINT)
    write_manifest(root, architecture=BIGRU, model_args=BIGRU_ARGS, preprocessing={},
                   provenance={"kind": "user"}, checkpoint=CHECKPOINT)  # fmt: skip
    with pytest.raises(gr.Error) as err:
        _load(handlers, str(root))
    message = err.value.message
    assert "does not match the BiGRUAttention architecture" in message
    assert "missing: classifier.bias, gru.bias_hh_l0" in message
    assert "unexpected: extra.weight" in message
    assert "wrong shape: projection.0.weight: checkpoint (32, 449) vs model (32, 450)" in message


def test_label_list_of_the_wrong_length_is_refused(handlers, tmp_path):
    root = make_bigru_bundle(tmp_path / "short-labels")
    write_labels(root, LABELS[:4])
    write_manifest(root, architecture=BIGRU, model_args=BIGRU_ARGS, preprocessing={},
                   provenance={"kind": "user"}, checkpoint=CHECKPOINT)  # fmt: skip
    with pytest.raises(gr.Error, match="the label list has 4 labels but the checkpoint's head has 5 classes"):
        _load(handlers, str(root))


def test_changed_checkpoint_is_refused_by_its_manifest(handlers, tmp_path):
    root = make_bigru_bundle(tmp_path / "changed")
    with open(root / CHECKPOINT, "ab") as f:
        f.write(b"\0")
    with pytest.raises(gr.Error, match="but the manifest records"):
        _load(handlers, str(root))


def test_server_folders_are_refused_where_local_paths_are_off(weights, tmp_path):
    h = Handlers(ModelStore(weights_dir=weights, use_hub=False), allow_local_paths=False)
    with pytest.raises(gr.Error, match="Loading folders on the server is switched off"):
        _load(h, str(weights / "test-bigru"))


# ------------------------------------------------------------------------------------ hub revisions

C1, C2 = "1" * 40, "2" * 40


def test_hub_bundle_records_the_commit_it_loaded(handlers, tmp_path, hub):
    publish(hub, "someone/signs", make_bigru_bundle(tmp_path / "v1", name="signs-v1"), C1, "v1")
    publish(hub, "someone/signs", make_bigru_bundle(tmp_path / "v2", name="signs-v2"), C2, "main")
    for source, commit, name, shown in [
        ("hf://someone/signs", C2, "signs-v2", "hf://someone/signs@222222222222"),  # main: which commit
        ("hf://someone/signs@v1", C1, "signs-v1", "hf://someone/signs@111111111111 (v1)"),  # a tag
        (f"hf://someone/signs@{C1}", C1, "signs-v1", "hf://someone/signs@111111111111"),  # a commit
    ]:
        selection, status, banner = _load(handlers, source)
        bundle = handlers.store.load_extra(source)
        assert bundle.name == name and selection == {BIGRU: source}
        hub_record = bundle.provenance["hub"]
        assert hub_record["repo_id"] == "someone/signs" and hub_record["commit"] == commit
        assert hub_record["checkpoint_sha256"] == hashlib.sha256((bundle.root / CHECKPOINT).read_bytes()).hexdigest()
        assert shown in status and shown in banner


def test_corrupted_hub_checkpoint_is_refused(handlers, tmp_path, hub):
    publish(hub, "someone/signs", make_bigru_bundle(tmp_path / "b"), C1, "main")
    blob = next((hub / "models--someone--signs" / "blobs").glob("?" * 64))
    blob.write_bytes(blob.read_bytes()[:-1] + b"\1")
    with pytest.raises(gr.Error, match="but the hub records"):
        _load(handlers, "hf://someone/signs")


@pytest.mark.parametrize("pin", [None, "env", "constant"])
def test_default_published_bigru_is_pinnable_and_recorded(tmp_path, hub, monkeypatch, pin):
    repo = PUBLISHED_REPOS[BIGRU]
    publish(hub, repo, _published_layout(tmp_path / "old", ["a", "b", "c"]), C1)
    publish(hub, repo, _published_layout(tmp_path / "new", ["x", "y", "z", "w"]), C2, "main")
    monkeypatch.delenv("SIGNDEMO_BIGRU_ATTENTION_REVISION", raising=False)
    if pin == "env":
        monkeypatch.setenv("SIGNDEMO_BIGRU_ATTENTION_REVISION", C1)
    elif pin == "constant":
        import signdemo.weights as w

        monkeypatch.setitem(w.PUBLISHED_REVISIONS, BIGRU, C1)
    store = ModelStore(weights_dir=tmp_path / "no-local-weights", use_hub=True)
    bundle, _ = store.bundle(BIGRU)
    commit = C2 if pin is None else C1
    assert bundle.provenance["kind"] == "published" and bundle.provenance["hub"]["commit"] == commit
    assert bundle.labels == (["x", "y", "z", "w"] if pin is None else ["a", "b", "c"])
    assert f"hf://{repo}@{commit[:12]}" in Handlers(store).weights_banner({})
    assert not (bundle.root / MANIFEST_NAME).exists()  # the published layout: no manifest of ours

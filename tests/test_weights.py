"""Weight bundles: formats, strict loading, untrusted checkpoints, the hub path offline, resolution."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from _paths import need_shared
from signdemo.errors import (
    ChecksumMismatchError,
    UnsafeCheckpointError,
    WeightsMismatchError,
    WeightsNotFoundError,
)
from signdemo import weights
from signdemo.models.bigru_attention import build_bigru_attention
from signdemo.weights import (
    BIGRU,
    I3D,
    load_bundle,
    load_bundle_dir,
    load_checkpoint_file,
    read_labels,
    resolve_bundle,
    save_bundle,
    write_labels,
)

SMALL = dict(input_dim=450, projection_dim=16, hidden_dim=8, num_gru_layers=1, num_classes=3, dropout=0.1)


def _small_bundle(root: Path, kind: str = "demo", labels=("a", "b", "c")) -> Path:
    torch.manual_seed(0)
    model = build_bigru_attention(**SMALL)
    save_bundle(
        root,
        architecture=BIGRU,
        model=model,
        model_args=SMALL,
        labels=list(labels),
        preprocessing={"normalize": "shoulder"},
        provenance={"kind": kind, "description": "test bundle"},
    )
    return root


def _published_layout(root: Path) -> Path:
    """The published BiGRU repository's layout (no manifest of ours), from the stand-in checkpoint."""
    src = need_shared("fixtures", "bigru_seed_layout", "bigru_seed_layout_random.pt")
    (root / "checkpoints").mkdir(parents=True)
    shutil.copy(src, root / "checkpoints" / "best_bigru_attention_model.pt")
    write_labels(root, [f"gloss{i:03d}" for i in range(200)])
    (root / "training_config.json").write_text(json.dumps({"lr": 3e-4}))
    return root


def test_bundle_round_trip(tmp_path):
    root = _small_bundle(tmp_path / "b")
    bundle = load_bundle(root)
    assert bundle.architecture == BIGRU and bundle.labels == ["a", "b", "c"]
    assert bundle.preprocessing == {"normalize": "shoulder"} and bundle.is_demo
    assert "DEMO" in bundle.describe() and "3 classes" in bundle.describe()
    assert not bundle.model.training
    out = bundle.model(torch.zeros(1, 200, 450))
    assert out.shape == (1, 3)


def test_published_layout_loads_strictly(tmp_path):
    bundle = load_bundle(_published_layout(tmp_path / "pub"))
    assert bundle.architecture == BIGRU and bundle.num_classes == 200
    assert bundle.num_parameters == 2_586_957
    assert bundle.model_args["hidden_dim"] == 256


def test_i3d_checkpoint_file_with_wlasl_class_list_and_module_prefix(tmp_path):
    sd = torch.load(need_shared("fixtures", "i3d_reference", "i3d_wlasl100_random_fp16.pt"), weights_only=True)
    ckpt = tmp_path / "FINAL_nslt_100.pt"
    torch.save({f"module.{k}": v for k, v in sd.items()}, ckpt)  # DataParallel-saved
    classes = tmp_path / "wlasl_class_list.txt"
    classes.write_text("".join(f"{i}\tgloss{i}\n" for i in range(2000)))
    bundle = load_checkpoint_file(ckpt, classes)
    assert bundle.architecture == I3D and bundle.num_classes == 100
    assert bundle.labels[:2] == ["gloss0", "gloss1"] and bundle.labels[-1] == "gloss99"
    assert next(bundle.model.parameters()).dtype == torch.float32


def test_mismatch_lists_missing_unexpected_and_wrong_shape(tmp_path):
    root = _small_bundle(tmp_path / "b")
    ckpt = root / "checkpoints" / "best_bigru_attention_model.pt"
    obj = torch.load(ckpt, weights_only=True)
    sd = obj["model_state_dict"]
    del sd["input_norm.bias"]
    sd["extra.weight"] = torch.zeros(2)
    sd["classifier.bias"] = torch.zeros(5)
    torch.save(obj, ckpt)
    with pytest.raises(WeightsMismatchError) as info:
        load_bundle_dir(root, verify=False)
    err = info.value
    assert err.missing == ["input_norm.bias"] and err.unexpected == ["extra.weight"]
    assert len(err.wrong_shape) == 1 and err.wrong_shape[0].startswith("classifier.bias")
    for word in ("missing: input_norm.bias", "unexpected: extra.weight", "wrong shape: classifier.bias"):
        assert word in str(err)


def test_label_count_must_match_head(tmp_path):
    root = _small_bundle(tmp_path / "b")
    write_labels(root, ["a", "b"])  # the head has 3 classes
    with pytest.raises(WeightsMismatchError, match="2 labels but the checkpoint's head has 3"):
        load_bundle_dir(root, verify=False)


def test_checksum_mismatch_is_refused(tmp_path):
    root = _small_bundle(tmp_path / "b")
    write_labels(root, ["x", "y", "z"])  # same length, different content: only the digest can tell
    with pytest.raises(ChecksumMismatchError, match="sha256"):
        load_bundle(root)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"model_state_dict": {"x": _RunsCode(marker)}, "config": {}}, evil)
    labels = tmp_path / "labels.txt"
    labels.write_text("a\n")
    with pytest.raises(UnsafeCheckpointError, match="could run code"):
        load_checkpoint_file(evil, labels)
    assert not marker.exists()


def test_read_labels_formats(tmp_path):
    (tmp_path / "l2i.json").write_text(json.dumps({"b": 1, "a": 0}))
    (tmp_path / "i2l.json").write_text(json.dumps({"1": "b", "0": "a"}))
    (tmp_path / "list.txt").write_text("a\nb\nc\n")
    assert read_labels(tmp_path / "l2i.json") == ["a", "b"]
    assert read_labels(tmp_path / "i2l.json") == ["a", "b"]
    assert read_labels(tmp_path / "list.txt", num_classes=2) == ["a", "b"]
    with pytest.raises(WeightsMismatchError):
        read_labels(tmp_path / "i2l.json", num_classes=3)


def _populate_hf_cache(cache: Path, repo_id: str, files_root: Path, revision="main") -> str:
    """Lay out a Hugging Face cache entry by hand, as a download would leave it."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = cache / f"models--{repo_id.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / revision).write_text(commit)
    shutil.copytree(files_root, repo_dir / "snapshots" / commit)
    return commit




def test_hub_bundle_from_prepopulated_cache_offline(tmp_path, offline):
    repo = "SharoonArshad/asl-citizen-bigru-attention-encoder-200"
    _populate_hf_cache(tmp_path / "cache", repo, _published_layout(tmp_path / "pub"))
    bundle = load_bundle(f"hf://{repo}", cache_dir=tmp_path / "cache")
    assert bundle.num_classes == 200 and bundle.provenance["kind"] == "published"
    assert bundle.source == f"hf://{repo}"
    assert "published weights" in bundle.describe()


def test_hub_bundle_with_our_manifest_and_pinned_revision(tmp_path, offline):
    _populate_hf_cache(tmp_path / "cache", "someone/demo", _small_bundle(tmp_path / "b"), revision="v1")
    bundle = load_bundle("hf://someone/demo@v1", cache_dir=tmp_path / "cache")
    assert bundle.labels == ["a", "b", "c"] and bundle.is_demo
    with pytest.raises(WeightsNotFoundError, match="not in the Hugging Face cache"):
        load_bundle("hf://someone/demo@v2", cache_dir=tmp_path / "cache")


def test_hub_missing_offline_gives_clear_error(tmp_path, offline):
    with pytest.raises(WeightsNotFoundError, match="not reachable"):
        load_bundle("hf://nobody/nothing", cache_dir=tmp_path / "empty")


def test_unreachable_hub_without_offline_flag_uses_the_cache_alone(tmp_path, monkeypatch):
    """No network and no HF_HUB_OFFLINE (a fresh machine): no download is tried (huggingface_hub
    would retry for tens of seconds); the cache serves what it has, the rest fails clearly."""
    import huggingface_hub
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(weights, "hub_reachable", lambda timeout=3.0: False)
    calls = []
    real = huggingface_hub.hf_hub_download

    def spy(*args, **kwargs):
        calls.append(kwargs.get("local_files_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", spy)
    _populate_hf_cache(tmp_path / "cache", "someone/demo", _small_bundle(tmp_path / "b"))
    assert load_bundle("hf://someone/demo", cache_dir=tmp_path / "cache").labels == ["a", "b", "c"]
    with pytest.raises(WeightsNotFoundError, match="not reachable"):
        load_bundle("hf://nobody/nothing", cache_dir=tmp_path / "empty")
    assert calls and all(calls)  # every file asked for from the cache only


def test_hub_reachable_is_false_for_a_name_that_does_not_resolve(monkeypatch):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "ENDPOINT", "https://no-such-host.invalid")
    assert weights.hub_reachable(timeout=1.0) is False


def test_resolution_order(tmp_path, offline):
    weights = tmp_path / "weights"
    _small_bundle(weights / "demo-bigru", kind="demo")
    cache = tmp_path / "cache"
    # 1. hub unreachable and not cached -> the demo bundle
    assert resolve_bundle(BIGRU, weights_dir=weights, cache_dir=cache).is_demo
    # 2. the project's real weights beat the demo bundle, whatever the folder names' order
    _small_bundle(weights / "a-real-bigru", kind="project", labels=("r", "s", "t"))
    real = resolve_bundle(BIGRU, weights_dir=weights, cache_dir=cache)
    assert real.kind == "project" and not real.is_demo and "real ASL weights trained by this project" in real.describe()
    # 3. the published bundle in the cache beats both of the project's
    _populate_hf_cache(cache, "SharoonArshad/asl-citizen-bigru-attention-encoder-200", _published_layout(tmp_path / "p"))
    assert resolve_bundle(BIGRU, weights_dir=weights, cache_dir=cache).provenance["kind"] == "published"
    assert resolve_bundle(BIGRU, weights_dir=weights, cache_dir=cache, use_hub=False).kind == "project"
    # 4. a local bundle of the user's beats all
    _small_bundle(weights / "my-bigru", kind="user", labels=("u", "v", "w"))
    assert resolve_bundle(BIGRU, weights_dir=weights, cache_dir=cache).labels == ["u", "v", "w"]
    # no I3D anywhere -> a clear error
    with pytest.raises(WeightsNotFoundError, match="no i3d weights"):
        resolve_bundle(I3D, weights_dir=weights, cache_dir=cache)


def test_describe_shows_project_relative_paths(tmp_path, monkeypatch):
    import signdemo.weights as w

    monkeypatch.setattr(w, "WEIGHTS_DIR", tmp_path / "weights")
    bundle = load_bundle(_small_bundle(tmp_path / "weights" / "demo-bigru"))
    assert bundle.display_source == "weights/demo-bigru"
    assert "from weights/demo-bigru" in bundle.describe()

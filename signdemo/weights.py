"""Weight bundles: one on-disk layout for both models, loaded strictly and without unpickling code.

A bundle is a folder in the layout of the published BiGRU repository, plus a small manifest of ours:

    BUNDLE/
      signdemo_bundle.json              # ours: architecture, model args, preprocessing, provenance, sha256
      training_config.json              # the resolved training configuration
      checkpoints/best_<name>.pt        # {"model_state_dict": ..., "config": {...}} or a plain state_dict
      checkpoints/last_<name>.pt        # optional (training resume)
      metadata/label_to_id.json         # {"gloss": id}
      metadata/id_to_label.json         # {"id": "gloss"}
      reports/                          # optional: final_metrics.json, training_history.csv, ...

Sources `load_bundle` accepts:
- a bundle folder (with or without our manifest: the published BiGRU repository has none);
- a single checkpoint file plus a label file (e.g. WLASL's `FINAL_nslt_100_...pt` with
  `wlasl_class_list.txt`, whose first K glosses are taken for a K-class head);
- `hf://owner/repo[@revision]`, fetched with `huggingface_hub.hf_hub_download` (cached). The commit
  actually loaded is recorded in the bundle's provenance (and shown as `hf://owner/repo@commit`), and
  every file the hub stores with git LFS (the checkpoints) is checked against the sha256 it is
  stored under, whether or not the repository carries our manifest.

A bundle without our manifest (a folder in the published layout, a single checkpoint file, a hub
repository with a bare checkpoint and its class list) gets the record of its architecture from
`signdemo.published`: the published BiGRU's recipe, with the options public sources leave open listed
in `Bundle.assumed`, or the contract of WLASL's I3D code.

Every checkpoint is read with `torch.load(weights_only=True)`; a state_dict that does not match
the architecture exactly raises one `WeightsMismatchError` naming every missing, unexpected and
wrong-shape key; the label count must equal the head size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from signdemo.errors import (
    ChecksumMismatchError,
    UnsafeCheckpointError,
    WeightsError,
    WeightsMismatchError,
    WeightsNotFoundError,
)

log = logging.getLogger(__name__)

MANIFEST_NAME = "signdemo_bundle.json"
FORMAT_VERSION = 1
BIGRU = "bigru_attention"
I3D = "i3d"
ARCHITECTURES = (BIGRU, I3D)

#: The published checkpoint of each architecture on the Hugging Face hub (None: no public bundle).
PUBLISHED_REPOS: dict[str, str | None] = {
    BIGRU: "SharoonArshad/asl-citizen-bigru-attention-encoder-200",
    I3D: None,
}
#: Revision (commit sha or tag) the published repository of each architecture is pinned to; None
#: follows its main branch. Either way the commit loaded is recorded in the bundle's provenance.
#: SIGNDEMO_<ARCHITECTURE>_REVISION (e.g. SIGNDEMO_BIGRU_ATTENTION_REVISION) overrides it.
PUBLISHED_REVISIONS: dict[str, str | None] = {BIGRU: None, I3D: None}
PUBLISHED_DESCRIPTIONS = {
    BIGRU: "BiGRU-attention encoder trained on ASL Citizen keypoints (200 glosses), published on the "
    "Hugging Face hub as SharoonArshad/asl-citizen-bigru-attention-encoder-200",
}
#: Files of the published BiGRU repository (it has no manifest of ours).
_PUBLISHED_FILES = (
    "checkpoints/best_bigru_attention_model.pt",
    "metadata/label_to_id.json",
    "metadata/id_to_label.json",
    "training_config.json",
)
_OPTIONAL_REPORT_FILES = (
    "reports/final_metrics.json",
    "reports/training_history.csv",
    "reports/test_classification_report.json",
    "reports/test_classification_report.csv",
    "reports/test_confusion_matrix.npy",
)

#: What each provenance kind of a bundle is called in the UI.
PROVENANCE_KINDS = {
    "demo": "DEMO weights (not an ASL recognizer)",
    "project": "real ASL weights trained by this project",
    "published": "published weights",
    "user": "user weights",
}

#: Default folder of local bundles: `weights/` beside the package.
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


# --------------------------------------------------------------------------------------------
# Architectures


def _build_bigru(args: dict) -> nn.Module:
    from signdemo.models.bigru_attention import BiGRUAttention, BiGRUAttentionConfig

    return BiGRUAttention(BiGRUAttentionConfig.from_dict(args))


def _build_i3d(args: dict) -> nn.Module:
    from signdemo.models.i3d import InceptionI3d

    return InceptionI3d(**args)


_BUILDERS: dict[str, Callable[[dict], nn.Module]] = {BIGRU: _build_bigru, I3D: _build_i3d}
#: The head weight of each architecture: its first dimension is the number of classes.
_HEAD_KEYS = {BIGRU: "classifier.weight", I3D: "logits.conv3d.weight"}


def detect_architecture(state_dict: dict[str, torch.Tensor]) -> str:
    """Guess the architecture of a state_dict from its keys."""
    if any(k.startswith("gru.") for k in state_dict) and "input_norm.weight" in state_dict:
        return BIGRU
    if any(k.startswith("Conv3d_1a_7x7.") for k in state_dict):
        return I3D
    raise WeightsError(
        "cannot tell which model this checkpoint is for: it has neither BiGRU-attention keys "
        f"(input_norm.*, gru.*) nor I3D keys (Conv3d_1a_7x7.*); first keys: {list(state_dict)[:5]}"
    )


def _infer_model_args(architecture: str, state_dict: dict[str, torch.Tensor]) -> dict:
    """Model sizes read off the tensors, for checkpoints that carry no config."""
    head = state_dict.get(_HEAD_KEYS[architecture])
    if head is None:
        return {}
    if architecture == I3D:
        return {"num_classes": int(head.shape[0])}
    args = {"num_classes": int(head.shape[0])}
    if "input_norm.weight" in state_dict:
        args["input_dim"] = int(state_dict["input_norm.weight"].shape[0])
    if "projection.0.weight" in state_dict:
        args["projection_dim"] = int(state_dict["projection.0.weight"].shape[0])
    if "gru.weight_hh_l0" in state_dict:
        args["hidden_dim"] = int(state_dict["gru.weight_hh_l0"].shape[1])
        args["num_gru_layers"] = len([k for k in state_dict if re.fullmatch(r"gru\.weight_hh_l\d+", k)])
    return args


# --------------------------------------------------------------------------------------------
# Checkpoint reading


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """`torch.load(weights_only=True)`; a checkpoint that needs arbitrary unpickling is refused."""
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"refused to load {path.name}: it contains Python objects other than tensors and plain "
            "containers, which could run code when unpickled. Only load checkpoints from sources you "
            f"trust, re-saved as plain state_dicts. (torch said: {str(exc).splitlines()[0]})"
        ) from None
    except Exception as exc:  # corrupt zip, truncated file, not a torch file at all
        raise WeightsError(f"cannot read checkpoint {path.name}: {type(exc).__name__}: {exc}") from None
    if not isinstance(obj, dict):
        raise WeightsError(f"checkpoint {path.name} holds a {type(obj).__name__}, not a dict of tensors")
    return obj


def split_checkpoint(obj: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict]:
    """A checkpoint object -> (state_dict, config). Accepts the published BiGRU format
    `{"model_state_dict", "config"}`, `{"state_dict"}` and plain state_dicts, with or without a
    DataParallel `module.` prefix."""
    config: dict = {}
    if "model_state_dict" in obj:
        state_dict, config = obj["model_state_dict"], dict(obj.get("config") or {})
    elif "state_dict" in obj and isinstance(obj["state_dict"], dict):
        state_dict, config = obj["state_dict"], dict(obj.get("config") or {})
    else:
        state_dict = obj
    bad = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsError(f"checkpoint entries that are not tensors: {bad[:10]}")
    if state_dict and all(k.startswith("module.") for k in state_dict):
        state_dict = {k[len("module.") :]: v for k, v in state_dict.items()}
    return state_dict, config


def load_state_dict_strict(model: nn.Module, state_dict: dict[str, torch.Tensor], *, what: str = "") -> None:
    """Load exactly: one error listing every missing, unexpected and wrong-shape key.

    Values are cast to the dtype of the model's tensors (a float16 checkpoint loads into float32).
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong = sorted(
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state_dict)
        if tuple(own[k].shape) != tuple(state_dict[k].shape)
    )
    if missing or unexpected or wrong:
        parts = []
        for title, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if items:
                shown = ", ".join(items[:20]) + (f", ... ({len(items)} in all)" if len(items) > 20 else "")
                parts.append(f"{title}: {shown}")
        raise WeightsMismatchError(
            f"checkpoint {what or ''} does not match the {type(model).__name__} architecture; "
            + "; ".join(parts),
            missing=missing,
            unexpected=unexpected,
            wrong_shape=wrong,
        )
    cast = {k: v.to(own[k].dtype) for k, v in state_dict.items()}
    model.load_state_dict(cast, strict=True)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Labels


def read_labels(path: str | Path, num_classes: int | None = None) -> list[str]:
    """Labels from `id_to_label.json` ({"0": "gloss"} or a list), `label_to_id.json`
    ({"gloss": 0}), or a text file with one gloss per line, optionally `index<TAB>gloss`
    (WLASL's `wlasl_class_list.txt`). With `num_classes`, a longer text list is cut to its first
    `num_classes` glosses (WLASL's K-class subsets are the first K classes)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"label file not found: {path}")
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, list):
            labels = [str(x) for x in data]
        elif data and all(isinstance(v, int) for v in data.values()):  # label_to_id
            labels = [k for k, _ in sorted(data.items(), key=lambda kv: kv[1])]
            if [v for _, v in sorted(data.items(), key=lambda kv: kv[1])] != list(range(len(data))):
                raise WeightsError(f"{path.name}: ids are not 0..{len(data) - 1}")
        else:  # id_to_label
            ids = sorted(data, key=int)
            if [int(i) for i in ids] != list(range(len(ids))):
                raise WeightsError(f"{path.name}: ids are not 0..{len(ids) - 1}")
            labels = [str(data[i]) for i in ids]
    else:
        labels = []
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line:
                continue
            parts = line.split(maxsplit=1)
            labels.append(parts[1] if len(parts) == 2 and parts[0].isdigit() else line)
        if num_classes is not None and len(labels) > num_classes:
            labels = labels[:num_classes]
    if num_classes is not None and len(labels) != num_classes:
        raise WeightsMismatchError(
            f"label file {path.name} has {len(labels)} labels but the model's head has {num_classes} classes"
        )
    return labels


def write_labels(folder: str | Path, labels: list[str]) -> None:
    """Write `metadata/label_to_id.json` and `metadata/id_to_label.json`."""
    meta = Path(folder) / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "label_to_id.json").write_text(json.dumps({l: i for i, l in enumerate(labels)}, indent=1))
    (meta / "id_to_label.json").write_text(json.dumps({str(i): l for i, l in enumerate(labels)}, indent=1))


# --------------------------------------------------------------------------------------------
# Bundles


@dataclass
class Bundle:
    """A loaded model with everything needed to use and describe it."""

    architecture: str
    model: nn.Module
    labels: list[str]
    model_args: dict
    preprocessing: dict
    provenance: dict
    source: str
    root: Path | None = None
    manifest: dict = field(default_factory=dict)
    #: Options of the record that are our reading, not a fact of the weights: option -> why.
    assumed: dict[str, str] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def name(self) -> str:
        return self.manifest.get("name") or (self.root.name if self.root else Path(self.source).stem)

    @property
    def is_demo(self) -> bool:
        return self.provenance.get("kind") == "demo"

    @property
    def kind(self) -> str:
        """"demo", "project" (real data, trained and shipped by this project), "published" or "user"."""
        kind = self.provenance.get("kind", "")
        return kind if kind in PROVENANCE_KINDS else "user"

    @property
    def reports_dir(self) -> Path | None:
        if self.root and (self.root / "reports").is_dir():
            return self.root / "reports"
        return None

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def describe(self) -> str:
        """One line for the UI: which weights, their vocabulary and where they came from."""
        return f"{self.name}: {PROVENANCE_KINDS[self.kind]}, {self.num_classes} classes, from {self.display_source}"

    @property
    def display_source(self) -> str:
        """The source as a user should read it: hf://owner/repo@commit (with the tag or branch asked
        for, if any), or a path relative to the project."""
        if self.source.startswith("hf://"):
            hub = self.provenance.get("hub") or {}
            commit, revision = hub.get("commit"), hub.get("revision")
            if not commit:
                return self.source
            shown = f"hf://{hub['repo_id']}@{commit[:12]}"
            return shown if revision in (None, "main", commit) else f"{shown} ({revision})"
        try:
            return str(Path(self.source).resolve().relative_to(WEIGHTS_DIR.parent))
        except ValueError:
            return self.source


def _build_model(architecture: str, model_args: dict) -> nn.Module:
    if architecture not in _BUILDERS:
        raise WeightsError(f"unknown architecture {architecture!r}; known: {list(_BUILDERS)}")
    return _BUILDERS[architecture](model_args)


def _finish(architecture, state_dict, model_args, labels, *, what) -> nn.Module:
    head = state_dict.get(_HEAD_KEYS[architecture])
    if head is not None and head.shape[0] != len(labels):
        raise WeightsMismatchError(
            f"{what}: the label list has {len(labels)} labels but the checkpoint's head has "
            f"{head.shape[0]} classes"
        )
    model = _build_model(architecture, model_args)
    load_state_dict_strict(model, state_dict, what=what)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _find_checkpoint(root: Path, manifest: dict) -> Path:
    if manifest.get("checkpoint"):
        return root / manifest["checkpoint"]
    best = sorted((root / "checkpoints").glob("best_*.pt"))
    best = [p for p in best if "encoder" not in p.name] or best
    if not best:
        raise WeightsNotFoundError(f"no checkpoints/best_*.pt in {root}")
    return best[0]


def _labels_file(root: Path) -> Path:
    for name in ("metadata/id_to_label.json", "metadata/label_to_id.json"):
        if (root / name).is_file():
            return root / name
    raise WeightsNotFoundError(f"no metadata/id_to_label.json or label_to_id.json in {root}")


def verify_checksums(root: Path, manifest: dict) -> None:
    """Compare the files listed under the manifest's `sha256` with their recorded digests."""
    for rel, expected in (manifest.get("sha256") or {}).items():
        path = root / rel
        if not path.is_file():
            raise WeightsNotFoundError(f"bundle {root.name}: {rel} is listed in the manifest but missing")
        actual = sha256_file(path)
        if actual != expected:
            raise ChecksumMismatchError(
                f"bundle {root.name}: {rel} has sha256 {actual[:12]}... but the manifest records "
                f"{expected[:12]}...; the file was changed or corrupted, download it again"
            )


def load_bundle_dir(root: str | Path, *, source: str | None = None, verify: bool = True) -> Bundle:
    """Load a bundle folder (ours, or the published layout without a manifest)."""
    root = Path(root)
    if not root.is_dir():
        raise WeightsNotFoundError(f"bundle folder not found: {root}")
    manifest_path = root / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    if verify and manifest:
        verify_checksums(root, manifest)
    ckpt = _find_checkpoint(root, manifest)
    state_dict, ckpt_config = split_checkpoint(read_checkpoint(ckpt))
    architecture = manifest.get("architecture") or detect_architecture(state_dict)
    # Without our manifest the folder is in the published layout: it gets the published record.
    record = {} if manifest else published_record(architecture)
    model_args = manifest.get("model_args") or {
        **(ckpt_config or _infer_model_args(architecture, state_dict)), **record.get("model_args", {})
    }
    labels = read_labels(_labels_file(root))
    provenance = dict(manifest.get("provenance") or {})
    if not provenance:
        provenance = {"kind": "user", "description": f"bundle folder {root.name} without a signdemo manifest",
                      **_record_provenance(record)}  # fmt: skip
    return Bundle(
        architecture=architecture,
        model=_finish(architecture, state_dict, model_args, labels, what=f"{root.name}/{ckpt.name}"),
        labels=labels,
        model_args=dict(model_args),
        preprocessing=dict(manifest.get("preprocessing") or record.get("preprocessing") or {}),
        provenance=provenance,
        source=source or str(root),
        root=root,
        manifest=manifest,
        assumed=dict(manifest.get("assumed") or record.get("assumed") or {}),
    )


def published_record(architecture: str) -> dict:
    """The record of a bundle without our manifest (`signdemo.published`): preprocessing, model
    args to merge, assumed options; {} for an unknown architecture."""
    from signdemo import published

    return {BIGRU: published.bigru_record, I3D: published.i3d_record}.get(architecture, dict)()


def _record_provenance(record: dict) -> dict:
    return {k: record[k] for k in ("landmark_extraction_fps",) if k in record}


def load_checkpoint_file(
    checkpoint: str | Path, labels: str | Path, *, architecture: str | None = None, preprocessing: dict | None = None
) -> Bundle:
    """A single checkpoint plus a label file (e.g. WLASL's I3D `FINAL_nslt_100_...pt` and
    `wlasl_class_list.txt`)."""
    checkpoint = Path(checkpoint)
    state_dict, config = split_checkpoint(read_checkpoint(checkpoint))
    architecture = architecture or detect_architecture(state_dict)
    record = published_record(architecture) if preprocessing is None else {}
    model_args = {**(config or _infer_model_args(architecture, state_dict)), **record.get("model_args", {})}
    head = state_dict.get(_HEAD_KEYS[architecture])
    names = read_labels(labels, num_classes=int(head.shape[0]) if head is not None else None)
    return Bundle(
        architecture=architecture,
        model=_finish(architecture, state_dict, model_args, names, what=checkpoint.name),
        labels=names,
        model_args=dict(model_args),
        preprocessing=dict(preprocessing if preprocessing is not None else record.get("preprocessing", {})),
        provenance={"kind": "user", "description": f"checkpoint file {checkpoint.name} with labels {Path(labels).name}",
                    **_record_provenance(record)},  # fmt: skip
        source=str(checkpoint),
        root=None,
        assumed=dict(record.get("assumed") or {}),
    )


# --------------------------------------------------------------------------------------------
# Hugging Face hub


def parse_hf_source(source: str) -> tuple[str, str | None]:
    """`hf://owner/repo[@revision]` -> (repo_id, revision)."""
    spec = source[len("hf://") :]
    repo_id, _, revision = spec.partition("@")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id):
        raise WeightsError(f"not a Hugging Face model id: {source!r}; expected hf://owner/repo[@revision]")
    return repo_id, revision or None


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub's host accepts a TCP connection within `timeout` s. Without network a name
    that does not resolve fails at once, where huggingface_hub would retry with back-off for tens
    of seconds per file; such a machine then uses the Hugging Face cache alone."""
    import socket
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    url = urlsplit(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout):
            return True
    except OSError:
        return False


def download_hf_bundle(
    repo_id: str, revision: str | None = None, *, cache_dir: str | Path | None = None, timeout: float = 10.0
) -> Path:
    """Fetch a bundle's files with `hf_hub_download` (cached; works offline from the cache) and
    return the local snapshot folder. Needs our manifest or the published BiGRU file names.
    Offline (HF_HUB_OFFLINE=1, or `hub_reachable` false) the files come from the cache alone."""
    try:
        from huggingface_hub import constants, hf_hub_download
        from huggingface_hub.errors import LocalEntryNotFoundError, RemoteEntryNotFoundError
    except ImportError as exc:  # pragma: no cover - huggingface_hub is a hard dependency
        raise WeightsError("huggingface_hub is not installed: pip install huggingface_hub") from exc

    where = f"hf://{repo_id}" + (f"@{revision}" if revision else "")
    local_only = not constants.HF_HUB_OFFLINE and not hub_reachable(min(timeout, 3.0))
    if local_only:
        log.info("%s: the hub is not reachable; looking in the Hugging Face cache only", where)

    def get(filename: str, required: bool = True) -> Path | None:
        try:
            path = Path(
                hf_hub_download(
                    repo_id, filename, revision=revision, cache_dir=cache_dir, etag_timeout=timeout,
                    local_files_only=local_only,
                )
            )
            verify_lfs_blob(path, f"{where}/{filename}")
            return path
        except RemoteEntryNotFoundError:
            if required:
                raise WeightsNotFoundError(f"{where}: the repository has no file {filename}") from None
        except LocalEntryNotFoundError:
            # Offline (HF_HUB_OFFLINE=1 or no network) and not in the cache.
            if required:
                raise WeightsNotFoundError(
                    f"cannot fetch {filename} from {where}: the hub is not reachable and the file is not "
                    "in the Hugging Face cache. Run once with network to cache it, or use a local bundle."
                ) from None
        except Exception as exc:  # unknown repository or revision, HTTP errors
            raise WeightsNotFoundError(
                f"cannot fetch {filename} from {where}: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}"
            ) from None
        return None

    manifest_path = get(MANIFEST_NAME, required=False)
    if manifest_path is not None:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = list(manifest.get("files") or [])
        files += [manifest["checkpoint"], "metadata/id_to_label.json", "metadata/label_to_id.json"]
        files += list(manifest.get("sha256") or {})
    else:
        files = list(_PUBLISHED_FILES)
        if get(files[0], required=False) is None:  # not the published BiGRU's layout: a bare checkpoint
            return _download_bare_checkpoint(repo_id, revision, cache_dir=cache_dir, local_only=local_only)
    root: Path | None = manifest_path.parent if manifest_path else None
    for name in dict.fromkeys(files):
        path = get(name, required=name.startswith("checkpoints/best_") or name.endswith("id_to_label.json"))
        if path is not None and root is None:
            # hf_hub_download keeps the repository's layout inside the snapshot folder.
            root = path
            for _ in Path(name).parts:
                root = root.parent
    for name in _OPTIONAL_REPORT_FILES:
        get(name, required=False)
    assert root is not None
    return root


#: What a hub repository holding a bare checkpoint (no manifest of ours, not the published BiGRU's
#: layout) is fetched for: checkpoint files and label lists at its top level.
_BARE_PATTERNS = ["*.pt", "*.pth", "*.txt", "*.json"]


def _download_bare_checkpoint(repo_id: str, revision: str | None, *, cache_dir, local_only: bool) -> Path:
    """The top-level checkpoint and label files of a repository such as a WLASL I3D upload; each
    checkpoint is checked against its LFS sha256. Returns the snapshot folder."""
    from huggingface_hub import constants, snapshot_download

    where = f"hf://{repo_id}" + (f"@{revision}" if revision else "")
    try:
        root = Path(snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, allow_patterns=_BARE_PATTERNS,
                                      local_files_only=local_only))  # fmt: skip
    except Exception as exc:
        if local_only or constants.HF_HUB_OFFLINE:
            raise WeightsNotFoundError(
                f"cannot fetch {where}: the hub is not reachable and it is not in the Hugging Face cache. Run once "
                "with network to cache it, or use a local bundle."
            ) from None
        raise WeightsNotFoundError(
            f"cannot fetch {where}: it has no manifest of ours and no checkpoints/best_*.pt, and its top-level "
            f"files could not be fetched ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    for path in bare_checkpoints(root):
        verify_lfs_blob(path, f"{where}/{path.name}")
    return root


def bare_checkpoints(root: Path) -> list[Path]:
    """Checkpoint files at the top level of a folder without our layout."""
    return sorted(p for p in root.iterdir() if p.suffix in (".pt", ".pth") and p.is_file())


def _load_bare_folder(root: Path, source: str) -> Bundle:
    """A folder holding one checkpoint file and a label file beside it (a bare WLASL upload)."""
    found = bare_checkpoints(root)
    if len(found) != 1:
        raise WeightsNotFoundError(f"{source}: expected one checkpoint file (.pt/.pth) at its top level, found "
                                   f"{[p.name for p in found] or 'none'}")  # fmt: skip
    labels = labels_beside(found[0])
    if labels is None:
        raise WeightsNotFoundError(f"{source}: no label file beside {found[0].name} ({', '.join(LABEL_FILE_NAMES)})")
    bundle = load_checkpoint_file(found[0], labels)
    bundle.source = source
    return bundle


def verify_lfs_blob(path: Path, what: str) -> None:
    """A file the hub stores with git LFS sits in the Hugging Face cache as a link to a blob named
    by its sha256: check that the content still has that digest (a corrupted or tampered cache, or
    a download that went wrong). Plain git files (blobs named by a 40-digit git hash) are skipped."""
    if not path.is_symlink():
        return
    expected = Path(os.readlink(path)).name
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        return
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumMismatchError(
            f"{what} has sha256 {actual[:12]}... but the hub records {expected[:12]}...; the cached file "
            "was changed or corrupted. Delete it from the Hugging Face cache and download it again."
        )


def load_hf_bundle(source: str, *, cache_dir: str | Path | None = None, timeout: float = 10.0) -> Bundle:
    """A bundle from the hub; its provenance records the repository, the revision asked for, the
    commit loaded and the checkpoint's sha256."""
    repo_id, revision = parse_hf_source(source)
    root = download_hf_bundle(repo_id, revision, cache_dir=cache_dir, timeout=timeout)
    bare = not (root / MANIFEST_NAME).is_file() and not list((root / "checkpoints").glob("best_*.pt"))
    bundle = _load_bare_folder(root, source) if bare else load_bundle_dir(root, source=source)
    # hf_hub_download lays files out under snapshots/<commit>/, whatever revision was asked for.
    commit = root.name if re.fullmatch(r"[0-9a-f]{40}", root.name) else None
    checkpoint = bare_checkpoints(root)[0] if bare else _find_checkpoint(root, bundle.manifest)
    hub = {
        "repo_id": repo_id,
        "revision": revision or "main",
        "commit": commit,
        "checkpoint_sha256": sha256_file(checkpoint),
    }
    if not bundle.manifest and PUBLISHED_REPOS.get(bundle.architecture) == repo_id:
        bundle.provenance = {
            "kind": "published",
            "description": PUBLISHED_DESCRIPTIONS.get(bundle.architecture, ""),
            "repo_id": repo_id,
            "revision": revision or "main",
            **_record_provenance(bundle.provenance),
        }
    bundle.provenance["hub"] = hub
    log.info("loaded hf://%s at commit %s (revision %s)", repo_id, commit or "unknown", revision or "main")
    return bundle


#: Label files looked for beside a single checkpoint file given without one, in this order.
LABEL_FILE_NAMES = ("wlasl_class_list.txt", "id_to_label.json", "label_to_id.json", "labels.txt")


def labels_beside(checkpoint: Path) -> Path | None:
    """The label file in the checkpoint's folder (first of `LABEL_FILE_NAMES`), or None."""
    for name in LABEL_FILE_NAMES:
        if (checkpoint.parent / name).is_file():
            return checkpoint.parent / name
    return None


def load_bundle(source: str | Path, *, labels: str | Path | None = None, **kwargs) -> Bundle:
    """Load a model from a bundle folder, a checkpoint file (+ `labels`) or `hf://owner/repo[@rev]`."""
    text = str(source)
    if text.startswith("hf://"):
        return load_hf_bundle(text, **kwargs)
    path = Path(source).expanduser()
    if path.is_dir():
        return load_bundle_dir(path)
    if path.is_file():
        labels = labels or labels_beside(path)
        if labels is None:
            raise WeightsError(
                f"{path.name} is a single checkpoint file: give its label file too "
                f"(e.g. --labels wlasl_class_list.txt), put one of {', '.join(LABEL_FILE_NAMES)} beside it, "
                "or point to a bundle folder"
            )
        return load_checkpoint_file(path, labels)
    raise WeightsNotFoundError(f"no bundle at {source}: not a folder, a checkpoint file or hf://owner/repo")


# --------------------------------------------------------------------------------------------
# Writing and resolution


def save_bundle(
    root: str | Path,
    *,
    architecture: str,
    model: nn.Module,
    model_args: dict,
    labels: list[str],
    preprocessing: dict,
    provenance: dict,
    name: str | None = None,
    checkpoint_name: str | None = None,
    dtype: torch.dtype | None = None,
    extra: dict | None = None,
) -> Path:
    """Write a bundle folder (checkpoint, labels, manifest with sha256). Reports are written by the
    trainers into `root/reports` before or after; they are listed in the manifest if present."""
    root = Path(root)
    (root / "checkpoints").mkdir(parents=True, exist_ok=True)
    checkpoint_name = checkpoint_name or f"best_{architecture}_model.pt"
    state = model.state_dict()
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    torch.save({"model_state_dict": state, "config": dict(model_args)}, root / "checkpoints" / checkpoint_name)
    write_labels(root, labels)
    return write_manifest(
        root,
        architecture=architecture,
        model_args=model_args,
        preprocessing=preprocessing,
        provenance=provenance,
        name=name,
        checkpoint=f"checkpoints/{checkpoint_name}",
        extra=extra,
    )


def write_manifest(
    root: str | Path,
    *,
    architecture: str,
    model_args: dict,
    preprocessing: dict,
    provenance: dict,
    checkpoint: str,
    name: str | None = None,
    extra: dict | None = None,
) -> Path:
    """(Re)write `signdemo_bundle.json`, hashing the checkpoint, labels and reports present."""
    root = Path(root)
    hashed = [checkpoint, "metadata/id_to_label.json", "metadata/label_to_id.json"]
    files = sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != MANIFEST_NAME
    )
    manifest = {
        "format": "signdemo-bundle",
        "format_version": FORMAT_VERSION,
        "name": name or root.name,
        "architecture": architecture,
        "model_args": dict(model_args),
        "checkpoint": checkpoint,
        "preprocessing": dict(preprocessing),
        "provenance": dict(provenance),
        "files": files,
        "sha256": {rel: sha256_file(root / rel) for rel in hashed},
        **(extra or {}),
    }
    path = root / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


#: Manifest entries beyond the written ones that a rewrite keeps.
_KEPT_MANIFEST_KEYS = ("training", "assumed", "settled")


def update_manifest(bundle: Bundle, *, preprocessing: dict | None = None, assumed: dict | None = None,
                    settled: dict | None = None) -> Path:  # fmt: skip
    """Rewrite a bundle folder's manifest (hashing its files anew), keeping what it records and
    replacing the preprocessing, assumed options or settled options given. A folder without our
    manifest (the published layout) gets one, with the record it was loaded with."""
    if bundle.root is None:
        raise WeightsError(f"{bundle.name} is not a bundle folder; nothing to record into")
    if bundle.source.startswith("hf://"):
        raise WeightsError(f"{bundle.display_source} lives in the Hugging Face cache, which is not ours to write: "
                           f"copy {bundle.root} to a folder (e.g. weights/) and record into that")  # fmt: skip
    man = bundle.manifest
    extra = {k: man[k] for k in _KEPT_MANIFEST_KEYS if k in man}
    if not man and bundle.assumed:
        extra["assumed"] = dict(bundle.assumed)
    for key, value in (("assumed", assumed), ("settled", settled)):
        if value is not None:
            extra[key] = dict(value)
    checkpoint = man.get("checkpoint") or str(_find_checkpoint(bundle.root, man).relative_to(bundle.root))
    return write_manifest(bundle.root, architecture=bundle.architecture, model_args=bundle.model_args,
                          preprocessing=bundle.preprocessing if preprocessing is None else preprocessing,
                          provenance=bundle.provenance, checkpoint=checkpoint, name=man.get("name"), extra=extra)  # fmt: skip


def local_bundles(weights_dir: str | Path = WEIGHTS_DIR) -> list[tuple[Path, dict]]:
    """Bundle folders under `weights_dir` with their manifests (empty dict if none), sorted by name."""
    weights_dir = Path(weights_dir)
    found = []
    if weights_dir.is_dir():
        for d in sorted(p for p in weights_dir.iterdir() if p.is_dir()):
            m = d / MANIFEST_NAME
            if m.is_file():
                found.append((d, json.loads(m.read_text(encoding="utf-8"))))
            elif list((d / "checkpoints").glob("best_*.pt")):
                found.append((d, {}))
    return found


def _manifest_architecture(root: Path, manifest: dict) -> str | None:
    if manifest.get("architecture"):
        return manifest["architecture"]
    try:
        return detect_architecture(split_checkpoint(read_checkpoint(_find_checkpoint(root, manifest)))[0])
    except WeightsError:
        return None


def _kind(manifest: dict) -> str:
    return (manifest.get("provenance") or {}).get("kind", "")


def resolve_bundle(
    architecture: str,
    *,
    weights_dir: str | Path = WEIGHTS_DIR,
    use_hub: bool | None = None,
    hub_timeout: float = 10.0,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
) -> Bundle:
    """The bundle to use when the user names none, in this order:
    1. a bundle of the user's for `architecture` in `weights_dir` (neither "project" nor "demo");
    2. the published Hugging Face repository (if any; cached; skipped when `use_hub` is False, and
       served from the cache alone under HF_HUB_OFFLINE=1);
    3. the project's own real weights in `weights_dir` (provenance kind "project");
    4. the project's demo bundle in `weights_dir` (kind "demo").
    Within a rank, bundles are taken in folder-name order.
    """
    if architecture not in ARCHITECTURES:
        raise WeightsError(f"unknown architecture {architecture!r}; known: {ARCHITECTURES}")
    candidates = [(d, m) for d, m in local_bundles(weights_dir) if _manifest_architecture(d, m) == architecture]
    ours = ("project", "demo")
    candidates.sort(key=lambda dm: ours.index(_kind(dm[1])) if _kind(dm[1]) in ours else -1)  # stable: by name within
    for d, m in candidates:
        if _kind(m) not in ours:
            log.info("using local %s bundle %s", architecture, d)
            return load_bundle_dir(d)
    repo = PUBLISHED_REPOS.get(architecture)
    if use_hub is None:
        use_hub = os.environ.get("SIGNDEMO_USE_HUB", "1") != "0"
    errors = []
    if repo and use_hub:
        revision = (
            revision
            or os.environ.get(f"SIGNDEMO_{architecture.upper()}_REVISION")
            or PUBLISHED_REVISIONS.get(architecture)
        )
        source = f"hf://{repo}" + (f"@{revision}" if revision else "")
        try:
            return load_hf_bundle(source, timeout=hub_timeout, cache_dir=cache_dir)
        except WeightsError as exc:
            log.info("published %s weights unavailable (%s); falling back to the project's bundles", architecture, exc)
            errors.append(str(exc))
    for d, m in candidates:
        return load_bundle_dir(d)
    raise WeightsNotFoundError(
        f"no {architecture} weights: nothing in {weights_dir}"
        + (f"; hub: {errors[0]}" if errors else "")
        + ". Train a bundle (see README) or pass a bundle folder."
    )

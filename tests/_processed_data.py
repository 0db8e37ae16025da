"""A processed-200 data set written in the published layout (manifests, label maps, float16 shards)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from signdemo.processed import MANIFEST_COLUMNS, SHARD_ROWS


def write_processed(root: Path, splits: dict[str, tuple[np.ndarray, list[str]]], labels: list[str], *,
                    sources: dict[str, list[str]] | None = None, frames: dict[str, list[int]] | None = None,
                    shard_rows: int = SHARD_ROWS,
                    fmt: str = ".npy", config: dict | None = None) -> Path:  # fmt: skip
    """`splits`: split -> ((N, 200, 450) features, N glosses). Shards of `shard_rows` rows, float16,
    named `features/<split>_shard_<k>.npy` (label shards beside them); manifests with every column."""
    meta, shards = root / "metadata", root / "features"
    meta.mkdir(parents=True, exist_ok=True)
    shards.mkdir(exist_ok=True)
    (meta / "label_to_id.json").write_text(json.dumps({g: i for i, g in enumerate(labels)}, indent=1))
    (meta / "id_to_label.json").write_text(json.dumps({str(i): g for i, g in enumerate(labels)}, indent=1))
    (meta / "preprocessing_config.json").write_text(json.dumps(config or {"target_len": 200, "use_velocity": True}))
    global_index = 0
    for split, (x, glosses) in splits.items():
        rows = []
        for k, start in enumerate(range(0, len(x), shard_rows)):
            feature_shard, label_shard = f"features/{split}_shard_{k:03d}{fmt}", f"features/{split}_labels_{k:03d}.npy"
            block = np.asarray(x[start : start + shard_rows], dtype=np.float16)
            ids = np.asarray([labels.index(g) for g in glosses[start : start + shard_rows]], dtype=np.int64)
            _save(root / feature_shard, block)
            np.save(root / label_shard, ids)
            for r in range(len(block)):
                i = start + r
                source = (sources or {}).get(split, [f"videos/{split}_{i:05d}.mp4"] * len(x))[i]
                rows.append({"split": split, "source_path": source, "feature_dim": x.shape[2], "shard_index": k,
                             "label_shard": label_shard, "row_in_shard": r, "label_id": int(ids[r]),
                             "global_index": global_index, "target_len": x.shape[1], "label": glosses[i],
                             "original_frames": (frames or {}).get(split, [60] * len(x))[i], "filename": Path(source).name, "feature_shard": feature_shard})
                global_index += 1
        with open(meta / f"{split}_manifest.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    return root


def _save(path: Path, block: np.ndarray) -> None:
    if path.suffix == ".npy":
        np.save(path, block)
    elif path.suffix == ".npz":
        np.savez(path, features=block)
    else:
        import torch

        torch.save(torch.from_numpy(block), path)

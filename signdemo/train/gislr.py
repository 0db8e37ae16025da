"""python -m signdemo.train.gislr GISLR.npz --out data/gislr_kp [--val-signers 3 --test-signers 3]

Convert landmark sequences from the Google "Isolated Sign Language Recognition" (GISLR) competition
data, as packed in `../shared/data/gislr_hello_thankyou/gislr_hello_thankyou.npz` (`frames` (M, 75, 3)
float16 with NaN for missing points, `offsets`, `labels`, `participant_id`, `sequence_id`), into a
prepared keypoint data set, through the same landmark files and feature code as
`python -m signdemo.train.prepare` (only MediaPipe is skipped: the landmarks are given).

The split is signer-disjoint: whole participants are held out for validation and test (chosen at
random with `--seed`, the same for every run with the same arguments). Data: CC BY 4.0, Google.

    python -m signdemo.train.gislr ../shared/data/gislr_hello_thankyou/gislr_hello_thankyou.npz --out data/gislr_kp
    python -m signdemo.train.bigru data/gislr_kp --out weights/gislr-bigru --epochs 30
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from signdemo.features import present_from_points
from signdemo.train import script_parser
from signdemo.train.prepare import PROGRESS_NAME, add_feature_args, build_exchange, feature_config_from_args

log = logging.getLogger(__name__)

#: Frame rate of the GISLR recordings (phone cameras; the data set does not give it per sequence).
GISLR_FPS = 30.0


def signer_split(signers: list[str], n_val: int, n_test: int, seed: int) -> dict[str, str]:
    """Participant -> split: `n_test` and `n_val` whole participants held out, the rest train."""
    unique = sorted(set(signers))
    if n_val + n_test >= len(unique):
        raise ValueError(f"{len(unique)} signers cannot give {n_val} val + {n_test} test signers and keep some for training")
    order = np.random.default_rng(seed).permutation(len(unique))
    split = {}
    for rank, i in enumerate(order):
        split[unique[i]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return split


def read_sequences(npz_path: str | Path, limit: int | None = None):
    """Yield (label, participant, sequence id, Landmarks) for the sequences of a packed GISLR file,
    in the project's convention: missing points are zeros with their part's presence flag off."""
    from signdemo.landmarks import Landmarks

    with np.load(npz_path, allow_pickle=False) as data:
        frames, offsets = data["frames"], data["offsets"]
        labels, participants, sequences = data["labels"], data["participant_id"], data["sequence_id"]
    n = len(labels) if limit is None else min(limit, len(labels))
    for i in range(n):
        points = frames[offsets[i] : offsets[i + 1]].astype(np.float32)  # (T, 75, 3), NaN = missing
        present = present_from_points(points)  # (T, 3)
        points = np.where(np.isfinite(points), points, 0.0)
        lm = Landmarks(points, present, np.arange(len(points)), GISLR_FPS, (0, 0))
        yield str(labels[i]), str(participants[i]), str(sequences[i]), lm


def convert(
    npz_path: str | Path,
    out: str | Path,
    *,
    feature_config=None,
    n_val: int = 3,
    n_test: int = 3,
    seed: int = 0,
    limit: int | None = None,
) -> Path:
    """Write landmark files and the exchange format for the sequences in `npz_path`."""
    from signdemo.features import FeatureConfig

    feature_config = feature_config or FeatureConfig()
    out = Path(out)
    landmarks_dir = out / "landmarks"
    landmarks_dir.mkdir(parents=True, exist_ok=True)
    items = list(read_sequences(npz_path, limit))
    signers = [participant for _, participant, _, _ in items]
    split_of = signer_split(signers, n_val, n_test, seed)
    classes = sorted({label for label, *_ in items})
    ids = {c: i for i, c in enumerate(classes)}
    rows = []
    for label, signer, sequence, lm in items:
        key = f"gislr_{sequence}"
        lm.save(landmarks_dir / f"{key}.npz")
        rows.append({
            "sample_id": sequence, "label": label, "label_id": ids[label],
            "split": split_of[signer], "signer": signer, "source_path": f"{Path(npz_path).name}#{sequence}",
            "frame_start": 0, "frame_end": "", "original_frames": len(lm.points), "landmark_rows": len(lm.points),
            "landmarks": f"{key}.npz",
        })  # fmt: skip
    (landmarks_dir / PROGRESS_NAME).unlink(missing_ok=True)
    build_exchange(out, rows, classes, feature_config, landmarks_dir, extra_config={
        "source": f"GISLR {Path(npz_path).name} ({len(classes)} signs, {len(set(signers))} signers)",
        "split": "signer-disjoint", "split_seed": seed, "signers": {s: sorted({sg for sg, v in split_of.items() if v == s})
                                                                   for s in ("train", "val", "test")},
        "command": "python -m signdemo.train.gislr " + " ".join(sys.argv[1:]),
    })  # fmt: skip
    return out


def get_args_parser() -> argparse.ArgumentParser:
    parser = script_parser("python -m signdemo.train.gislr", __doc__)
    parser.add_argument("npz", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--val-signers", type=int, default=3)
    parser.add_argument("--test-signers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="only the first N sequences")
    add_feature_args(parser)
    return parser


def main(args: argparse.Namespace) -> Path:
    return convert(args.npz, args.out, feature_config=feature_config_from_args(args), n_val=args.val_signers,
                   n_test=args.test_signers, seed=args.seed, limit=args.limit)  # fmt: skip


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main(get_args_parser().parse_args())

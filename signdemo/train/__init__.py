"""Training: data preparation, the two trainers, and their shared plumbing.

    python -m signdemo.train.prepare SOURCE... --out data/kp      # videos + labels -> (N, 200, 450) keypoints
    python -m signdemo.train.gislr GISLR.npz --out data/gislr_kp   # GISLR landmark arrays -> keypoints
    python -m signdemo.train.bigru data/kp --out weights/my-bigru  # BiGRU-attention (ASL Citizen recipe)
    python -m signdemo.train.i3d SOURCE... --out weights/my-i3d --init rgb_imagenet.pt   # I3D (WLASL recipe)
    python -m signdemo.audit data/kp                               # duplicates and signer leaks across splits

Each script also runs under `torchrun --nproc_per_node=N -m ...` (the trainers use DDP).
"""

from __future__ import annotations

import argparse


def script_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """The parser of a script whose module docstring starts with its command line: the first line
    is the description, the rest is shown after the options."""
    lines = doc.splitlines()
    return argparse.ArgumentParser(
        prog=prog, description=lines[0], epilog="\n".join(lines[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip

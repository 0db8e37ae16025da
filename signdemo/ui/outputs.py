"""Per-request output folders (overlay videos, skeleton animations, CSV exports), removed after a while.

Gradio copies every file a handler returns into its own cache (cleaned by `delete_cache`), so our
copies are only needed until the response is sent. Each request writes into a fresh folder under
`<tmp>/signdemo-ui/`; folders older than `max_age_s` are removed whenever a new one is made, and a
request that fails removes its folder at once (`with output_dir() as out:`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

#: Folders older than this are removed when a new one is made (seconds).
MAX_AGE_S = 15 * 60


def output_root() -> Path:
    """`<tmp>/signdemo-ui`, or SIGNDEMO_OUTPUT_DIR. Inside the temp dir, so gradio may serve it."""
    root = Path(os.environ.get("SIGNDEMO_OUTPUT_DIR") or Path(tempfile.gettempdir()) / "signdemo-ui")
    root.mkdir(parents=True, exist_ok=True)
    return root


def prune(root: Path | None = None, max_age_s: float = MAX_AGE_S) -> int:
    """Remove request folders older than `max_age_s`; returns how many were removed."""
    root = root or output_root()
    now = time.time()
    removed = 0
    for d in root.iterdir():
        try:
            if d.is_dir() and now - d.stat().st_mtime > max_age_s:
                shutil.rmtree(d, ignore_errors=True)
                removed += 1
        except FileNotFoundError:  # removed by a concurrent prune
            continue
    return removed


@contextlib.contextmanager
def output_dir(max_age_s: float = MAX_AGE_S) -> Iterator[Path]:
    """A fresh folder for one request's files; removed at once if the request raises."""
    root = output_root()
    prune(root, max_age_s)
    path = root / uuid.uuid4().hex
    path.mkdir()
    try:
        yield path
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise

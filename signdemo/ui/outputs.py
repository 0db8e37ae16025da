"""Per-request output folders (overlay videos, skeleton animations, CSV exports), removed after a while.

Gradio copies every file a handler returns into its own cache, so our copies are only needed until
the response is sent. Each request writes into a fresh folder under `<tmp>/signdemo-ui/`; a request
that fails removes its folder at once (`with output_dir() as out:`), and a background thread removes
folders older than `folder_ttl_s()` whether or not new requests come; a folder whose request is
still running (inside its `with`) is never removed.

How long temporary files live is one setting, `SIGNDEMO_TEMP_TTL_S` (default 30 min): Gradio's
cache (uploads, and the copies of what handlers return) is swept every TTL/2 for files older than
the TTL (`delete_cache_setting`, given to `gr.Blocks`), our own folders after TTL/2. Nothing here
imports gradio.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

#: Default lifetime of temporary files (seconds), overridden by SIGNDEMO_TEMP_TTL_S.
TEMP_TTL_S = 30 * 60
#: Our own folders are only needed until gradio has copied their files: half the TTL (15 min by default).
MAX_AGE_S = TEMP_TTL_S // 2

_pruner: threading.Thread | None = None
_pruner_lock = threading.Lock()
#: Folders of requests still running in this process: never pruned, whatever their age.
_in_use: set[Path] = set()
_in_use_lock = threading.Lock()


def temp_ttl_s() -> float:
    """How long temporary files live, in seconds (SIGNDEMO_TEMP_TTL_S, default 30 min)."""
    value = float(os.environ.get("SIGNDEMO_TEMP_TTL_S") or TEMP_TTL_S)
    if not value > 0:
        raise ValueError(f"SIGNDEMO_TEMP_TTL_S must be positive, got {value!r}")
    return value


def folder_ttl_s() -> float:
    """Age (seconds) after which our per-request folders are removed: half the TTL."""
    return temp_ttl_s() / 2


def delete_cache_setting() -> tuple[int, int]:
    """`gr.Blocks(delete_cache=...)`: every TTL/2 seconds, delete cached files older than the TTL."""
    ttl = temp_ttl_s()
    return max(1, round(ttl / 2)), max(1, round(ttl))


def output_root() -> Path:
    """`<tmp>/signdemo-ui`, or SIGNDEMO_OUTPUT_DIR. Inside the temp dir, so gradio may serve it."""
    root = Path(os.environ.get("SIGNDEMO_OUTPUT_DIR") or Path(tempfile.gettempdir()) / "signdemo-ui")
    root.mkdir(parents=True, exist_ok=True)
    return root


def prune(root: Path | None = None, max_age_s: float | None = None) -> int:
    """Remove request folders older than `max_age_s` (default: `folder_ttl_s()`); returns how many."""
    root = root or output_root()
    age = folder_ttl_s() if max_age_s is None else max_age_s
    now = time.time()
    removed = 0
    with _in_use_lock:
        busy = set(_in_use)
    for d in root.iterdir():
        try:
            if d.is_dir() and d not in busy and now - d.stat().st_mtime > age:
                shutil.rmtree(d, ignore_errors=True)
                removed += 1
        except FileNotFoundError:  # removed by a concurrent prune
            continue
    return removed


def _prune_forever() -> None:
    last = time.monotonic()
    while True:
        # Woken every second at most, so a changed SIGNDEMO_TEMP_TTL_S takes effect promptly.
        period = min(60.0, max(0.5, folder_ttl_s() / 2))
        time.sleep(min(1.0, period))
        if time.monotonic() - last < period:
            continue
        last = time.monotonic()
        try:
            removed = prune()
            if removed:
                log.info("removed %d expired output folder(s)", removed)
        except OSError as exc:  # the folder vanished or is not writable: try again next period
            log.warning("pruning output folders failed: %s", exc)


def start_pruner() -> threading.Thread:
    """Start (once per process) the daemon thread that removes expired folders even when no new
    request comes to trigger `prune`."""
    global _pruner
    with _pruner_lock:
        if _pruner is None or not _pruner.is_alive():
            _pruner = threading.Thread(target=_prune_forever, name="signdemo-output-pruner", daemon=True)
            _pruner.start()
        return _pruner


@contextlib.contextmanager
def output_dir(max_age_s: float | None = None) -> Iterator[Path]:
    """A fresh folder for one request's files; removed at once if the request raises, else once
    expired (by the next request or the background pruner)."""
    root = output_root()
    prune(root, max_age_s)
    start_pruner()
    path = root / uuid.uuid4().hex
    path.mkdir()
    with _in_use_lock:
        _in_use.add(path)
    try:
        yield path
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        with _in_use_lock:
            _in_use.discard(path)

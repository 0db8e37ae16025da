"""Files and paths of the launched app: nothing left behind, nothing served or read that is not its own.

One `python app.py` for the module, with every temporary location inside the test's folder
(GRADIO_TEMP_DIR, SIGNDEMO_OUTPUT_DIR, TMPDIR) and a short SIGNDEMO_TEMP_TTL_S, so the files it
creates can be counted: a failed request adds nothing but its upload, and after the time-bounded
cache has run every count is back to where it started. Requests go through gradio_client (the
API) and through the queue protocol the browser speaks (the page's own, private, events).
"""

from __future__ import annotations

import http.client
import json
import os
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import gradio as gr
import httpx
import pytest
from gradio_client import Client, handle_file

from _app_helpers import WLASL_CLIP, launched_app, make_weights_dir, write_clip
from _paths import REPO
from signdemo.ui import outputs
from signdemo.ui.handlers import Handlers
from signdemo.ui.store import ModelStore

TTL_S = 20  # SIGNDEMO_TEMP_TTL_S of the launched app: cache swept every 10 s for files older than 20 s
TEMP_PLACES = ("gradio", "outputs", "systmp")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("files")
    weights = make_weights_dir(tmp / "weights")
    (tmp / "systmp").mkdir()
    env = {"SIGNDEMO_TEMP_TTL_S": str(TTL_S), "TMPDIR": str(tmp / "systmp")}
    with launched_app(weights, tmp, env=env) as (url, _, log_path):
        yield url, tmp, weights, log_path, temp_files(tmp)  # the last: what a fresh server holds


def temp_files(tmp: Path) -> dict[str, list[str]]:
    """Every file in the app's temporary places (folders left empty do not count)."""
    found = {}
    for place in TEMP_PLACES:
        root = tmp / place
        found[place] = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    return found


def new_files(before: dict, after: dict) -> dict[str, list[str]]:
    return {k: sorted(set(after[k]) - set(before[k])) for k in after}


def upload(url: str, path: Path) -> str:
    """Upload a file as the browser does; the server path of the upload."""
    with open(path, "rb") as f:
        response = httpx.post(f"{url}gradio_api/upload", files={"files": (path.name, f)}, timeout=60)
    response.raise_for_status()
    return response.json()[0]


def file_data(path: str) -> dict:
    return {"path": path, "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}


def run_event(url: str, api_name: str, data: list) -> dict:
    """One event through the queue as the page sends it (also for private events, which
    gradio_client does not call); returns the final `process_completed` message."""
    deps = httpx.get(f"{url}config", timeout=60).json()["dependencies"]
    fn_index = next(d["id"] for d in deps if d["api_name"] == api_name)
    session = uuid.uuid4().hex
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    httpx.post(f"{url}gradio_api/queue/join", json=body, timeout=60).raise_for_status()
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=300) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError(f"{api_name}: the event stream ended without process_completed")


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET exactly `path` (no client-side normalisation of ../ or %-escapes)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# ------------------------------------------------------------------------------------ paths


def test_only_uploads_are_served(server, tmp_path):
    url, tmp, weights, log_path, started = server
    secret = b"root:x:0:0"
    targets = [
        "/etc/passwd", "../../../../etc/passwd", "..%2F..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd",
        "%252e%252e%252f%252e%252e%252fetc%252fpasswd", f"{tmp}/gradio/../../../../etc/passwd",
        f"{tmp}/gradio/../server.log", "server.log", "./server.log", str(REPO / "app.py"),
        str(weights / "test-bigru" / "checkpoints" / "best_bigru_attention_model.pt"),
        str(REPO / "weights"), f"{tmp}/outputs",
    ]  # fmt: skip
    for target in targets:
        for prefix in ("/gradio_api/file=", "/file=", "/gradio_api/file/"):
            status, body = raw_get(url, prefix + target)
            assert status in (403, 404), (prefix + target, status, body[:200])
            assert secret not in body and b"signdemo" not in body.lower(), prefix + target
    # The route works: a file the app holds (an upload) is served.
    mine = tmp_path / "mine.txt"
    mine.write_text("uploaded by a user")
    status, body = raw_get(url, "/gradio_api/file=" + upload(url, mine))
    assert status == 200 and body == b"uploaded by a user"


@pytest.mark.parametrize("api_name", ["recognize", "recognize_ui", "inspect_run"])
def test_file_parameters_must_name_an_upload(server, api_name):
    """A file parameter naming a server path (directly or by ../ out of the upload folder) is refused
    before any handler runs, for the API and for the page's own events alike."""
    url, tmp, weights, log_path, started = server
    paths = ["/etc/passwd", str(REPO / "app.py"), str(weights / "test-bigru" / "signdemo_bundle.json"),
             f"{tmp}/gradio/../server.log", f"{tmp}/gradio/x/../../../../../etc/passwd"]  # fmt: skip
    for path in paths:
        if api_name == "inspect_run":  # builtin set, uploads, folder, model, session selection
            data = [None, [file_data(path)], "", "bigru_attention", None]
        else:
            data = [file_data(path), False] + ([None] if api_name == "recognize_ui" else [])
        done = run_event(url, api_name, data)
        assert done["success"] is False, (api_name, path, done)
        # Refused by gradio before the handler: not the engine's error message about the file.
        assert not (done["output"].get("error") or ""), (api_name, path, done)
    log = log_path.read_text()
    assert log.count("was not uploaded by a user") >= len(paths)
    assert "passwd" not in "".join(line for line in log.splitlines() if "signdemo" in line)


def test_allowed_paths_stay_minimal(monkeypatch):
    import app

    assert app.launch_kwargs()["allowed_paths"] == []
    monkeypatch.delenv("SIGNDEMO_ALLOW_LOCAL_PATHS", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setenv("GRADIO_SERVER_NAME", "127.0.0.1")
    assert app._allow_local_paths()  # your own machine: reading its folders is fine
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    assert not app._allow_local_paths()  # served to others: no server paths at all
    monkeypatch.setenv("GRADIO_SERVER_NAME", "127.0.0.1")
    monkeypatch.setenv("SPACE_ID", "someone/signdemo")
    assert not app._allow_local_paths()


def test_server_folders_are_refused_where_local_paths_are_off(server, monkeypatch, tmp_path):
    monkeypatch.setenv("SIGNDEMO_OUTPUT_DIR", str(tmp_path / "outputs"))
    h = Handlers(ModelStore(weights_dir=server[2], use_hub=False), allow_local_paths=False)
    with pytest.raises(gr.Error, match="Reading folders on the server is switched off"):
        h.inspect_run(None, None, "/etc", "bigru_attention", None, progress=lambda *a, **k: None)


# ------------------------------------------------------------------------------------ nothing left behind


@pytest.mark.slow
def test_nothing_is_left_behind(server, tmp_path):
    url, tmp, weights, log_path, started = server
    client = Client(url, verbose=False)
    before = temp_files(tmp)

    # A failed request adds nothing but its own upload (which the time-bounded cache removes).
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(Exception, match="is empty"):
        client.predict(handle_file(str(empty)), False, api_name="/recognize")
    added = new_files(before, temp_files(tmp))
    assert added["outputs"] == [] and added["systmp"] == []
    assert all(Path(f).name == "empty.mp4" for f in added["gradio"]), added

    # The same through the page: an overlay, thumbnails and figures are made for a good clip;
    # a bad clip fails before any of them.
    clip = WLASL_CLIP if WLASL_CLIP.is_file() else write_clip(tmp_path / "nobody.mp4")
    done = run_event(url, "recognize_ui", [file_data(upload(url, clip)), False, None])
    assert done["success"] is True, done
    assert "overlay.mp4" in {Path(f).name for f in temp_files(tmp)["gradio"]}  # gradio's copy of it
    before_bad = temp_files(tmp)
    png = tmp_path / "still.mp4"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    done = run_event(url, "recognize_ui", [file_data(upload(url, png)), False, None])
    assert done["success"] is False and "still image" in done["output"]["error"]
    added = new_files(before_bad, temp_files(tmp))
    assert added["outputs"] == [] and added["systmp"] == [], added
    assert all(Path(f).name == "still.mp4" for f in added["gradio"]), added
    assert client.predict(handle_file(str(clip)), False, api_name="/recognize")["i3d"] is not None
    assert temp_files(tmp) != started  # the requests did leave files for a while

    # Within the TTL (plus a sweep) everything is gone: uploads, overlays, thumbnails, our folders,
    # as on a freshly started server.
    deadline = time.monotonic() + 5 * TTL_S
    while temp_files(tmp) != started and time.monotonic() < deadline:
        time.sleep(1)
    assert temp_files(tmp) == started


def test_output_folders_expire_without_new_requests_but_not_while_in_use(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNDEMO_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("SIGNDEMO_TEMP_TTL_S", "2")  # folders expire after 1 s
    old = time.time() - 60
    with outputs.output_dir() as running:
        os.utime(running, (old, old))
        assert outputs.prune() == 0 and running.is_dir()  # its request is still running
    with outputs.output_dir() as done:
        (done / "overlay.mp4").write_bytes(b"x")
    deadline = time.monotonic() + 60
    while (running.exists() or done.exists()) and time.monotonic() < deadline:
        time.sleep(0.2)  # no new request comes: the background pruner removes both
    assert not running.exists() and not done.exists()
    assert outputs.delete_cache_setting() == (1, 2)

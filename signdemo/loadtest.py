"""Load test of the app over loopback: concurrent gradio_client clients, every answer checked.

    python -m signdemo.loadtest                                    # launches app.py, 8 clients x 5 clips
    python -m signdemo.loadtest --weights-dir /tmp/tiny-weights    # other bundles for the app and the check
    python -m signdemo.loadtest --url http://127.0.0.1:7860/ --temp-dir /tmp/gradio --temp-dir /tmp/signdemo-ui

Each client sends its clips one after another through the named endpoint `/recognize`, all clients
at once, each uploading its own copies (as different users would: gradio stores uploads by content
and name, so identical files would share one cache entry). Every answer must have the same top-1
label, from the same weights, for both models as the library's `Recognizer` on the same clip
(computed here first, with the same bundles). A warm-up round first sends one clip per client at
once, so every server thread has served a request before the RSS baseline is taken (what a thread
allocates once, e.g. its malloc arena, is not a leak). It prints the server's RSS and the number of
files in its temporary places before and after, then waits (bounded) for the time-bounded cache to
empty them again: back to where they started, or not.

Launched by the load test, the app serves on a free loopback port with its temporary places in a
folder of the load test's own (GRADIO_TEMP_DIR, SIGNDEMO_OUTPUT_DIR, TMPDIR) and SIGNDEMO_TEMP_TTL_S
set by --ttl, so the sweep can be watched. With --url, the server must be on loopback (127.0.0.1,
localhost, ::1); its process is found by its port (or --pid), and its temporary places come from
--temp-dir. Bounded: at most 32 clients x 20 clips, and --timeout for the whole run. Clips: the
videos in --clips (default examples/), else five rendered by the synthetic signer.

Exit code 0 when every answer matched, the temporary files came back to their count, and the RSS
after the sweep is within --rss-tolerance-mib of the RSS after the warm-up request.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger("signdemo.loadtest")

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = ("127.0.0.1", "localhost", "::1")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".avi", ".mkv")
MAX_CLIENTS, MAX_CLIPS = 32, 20


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m signdemo.loadtest", description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an app already running on loopback (default: launch app.py)")
    parser.add_argument("--pid", type=int, help="with --url: the server's process id (default: found by its port)")
    parser.add_argument("--temp-dir", type=Path, action="append", default=None,
                        help="with --url: a temporary place of the server to count files in (repeatable)")  # fmt: skip
    parser.add_argument("--weights-dir", type=Path, default=None,
                        help="bundles for the app and the check (default: SIGNDEMO_WEIGHTS_DIR, else weights/)")  # fmt: skip
    parser.add_argument("--clips", type=Path, default=REPO / "examples", help="folder of clips to send")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--clips-per-client", type=int, default=5)
    parser.add_argument("--ttl", type=float, default=120.0, help="launched app: SIGNDEMO_TEMP_TTL_S (s)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="bound on the whole run (s)")
    parser.add_argument("--rss-tolerance-mib", type=float, default=150.0)
    return parser


# ------------------------------------------------------------------------------------ the server


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_page(url: str, deadline: float, proc: subprocess.Popen | None = None) -> None:
    """Poll `url` until it serves a page (200); RuntimeError if `proc` exits first, TimeoutError at
    `deadline` (time.monotonic())."""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"app.py exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} served no page in time")


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate, and kill if it has not exited after 20 s."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _pid_on_port(port: int) -> int | None:
    """The process listening on a local TCP port (Linux /proc; same user)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                inodes.add(fields[9])
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for fd in fd_dir.iterdir():
                if os.readlink(fd) in {f"socket:[{i}]" for i in inodes}:
                    return int(fd_dir.parent.name)
        except OSError:
            continue
    return None


def rss_mib(pid: int, field: str = "VmRSS") -> float | None:
    """Resident memory of a process in MiB (None if it cannot be read); `field="VmHWM"`: its peak."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _mib(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def count_files(places: list[Path]) -> int:
    return sum(1 for place in places if place.is_dir() for p in place.rglob("*") if p.is_file())


@dataclass
class Server:
    url: str
    pid: int | None
    temp_places: list[Path]
    proc: subprocess.Popen | None = None

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


def launch(weights_dir: Path, workdir: Path, ttl: float, deadline: float) -> Server:
    """`python app.py` on a free loopback port, its temporary places under `workdir`."""
    port = free_port()
    places = [workdir / "gradio", workdir / "outputs", workdir / "tmp"]
    for place in places:
        place.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "SIGNDEMO_USE_HUB": "0",
        "SIGNDEMO_WEIGHTS_DIR": str(weights_dir), "SIGNDEMO_TEMP_TTL_S": str(ttl),
        "GRADIO_TEMP_DIR": str(places[0]), "SIGNDEMO_OUTPUT_DIR": str(places[1]), "TMPDIR": str(places[2]),
        "GRADIO_EXAMPLES_CACHE": str(workdir / "examples_cache"),
    }  # fmt: skip
    with open(workdir / "server.log", "w") as server_log:
        proc = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=workdir, env=env,
                                stdout=server_log, stderr=subprocess.STDOUT)  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}/", proc.pid, places, proc)
    try:
        wait_for_page(server.url, deadline, proc)
    except BaseException:
        server.stop()
        raise
    return server


def attach(url: str, pid: int | None, temp_dirs: list[Path] | None) -> Server:
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK:
        raise SystemExit(f"--url must be on loopback ({', '.join(LOOPBACK)}), not {parts.hostname}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    places = temp_dirs or [Path(tempfile.gettempdir()) / "gradio", Path(tempfile.gettempdir()) / "signdemo-ui"]
    return Server(url if url.endswith("/") else url + "/", pid or _pid_on_port(port), places)


class RssSampler:
    """The server's RSS every half second, for its peak under load."""

    def __init__(self, pid: int | None) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, rss_mib(self.pid) or 0.0)

    def __enter__(self) -> "RssSampler":
        if self.pid is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()


# ------------------------------------------------------------------------------------ clips and answers


def find_clips(folder: Path, n: int, workdir: Path) -> list[Path]:
    """The first `n` videos of `folder`, else `n` clips rendered by the synthetic signer."""
    clips = sorted(p for p in folder.glob("*") if p.suffix.lower() in VIDEO_SUFFIXES) if folder.is_dir() else []
    if clips:
        return clips[:n]
    from signdemo.synth.sample import render_sample
    from signdemo.synth.vocabulary import LABELS
    from signdemo.video import write_mp4

    out = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        rendered = render_sample(label, 900 + i, 0, seed=6, width=320, height=240, fps=15)
        out.append(write_mp4(workdir / f"{label}_{i}.mp4", rendered.frames, rendered.fps))
    return out


def top1(answer: dict | None) -> str | None:
    return answer["top"][0]["label"] if answer else None


@dataclass
class Expected:
    """The library's answer on one clip: per model, (top-1, weights) or None."""

    models: dict[str, tuple[str, str] | None]


def expected_answers(weights_dir: Path, clips: list[Path]) -> tuple[dict[Path, Expected], dict[str, str]]:
    """Recognise every clip with the library and the bundles the app resolves from `weights_dir`."""
    from signdemo.ui.store import ModelStore

    recognizer = ModelStore(weights_dir=weights_dir, use_hub=False).recognizer()
    weights = {name: (b.describe() if b else "none") for name, b in (("bigru", recognizer.bigru), ("i3d", recognizer.i3d))}
    expected = {}
    for clip in clips:
        result = recognizer.recognize(clip).as_dict()
        expected[clip] = Expected({m: (top1(result[m]), result[m]["weights"]) if result[m] else None
                                   for m in ("bigru", "i3d")})  # fmt: skip
    return expected, weights


@dataclass
class Outcome:
    client: int
    clip: Path
    seconds: float
    error: str | None = None
    mismatches: list[str] = field(default_factory=list)


def run_client(index: int, url: str, clips: list[Path], expected: dict[Path, Expected], deadline: float,
               uploads: Path) -> list[Outcome]:  # fmt: skip
    """One visitor: its own copies of the clips (in `uploads`), one after another, starting at a
    different clip per client."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    order = clips[index % len(clips) :] + clips[: index % len(clips)]
    uploads.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for clip in order:
        t0 = time.monotonic()
        outcome = Outcome(index, clip, 0.0)
        mine = uploads / f"{uploads.name}-{clip.name}"  # gradio keys uploads by content and name
        mine.write_bytes(clip.read_bytes())
        try:
            job = client.submit(handle_file(str(mine)), False, api_name="/recognize")
            answer = job.result(timeout=max(1.0, deadline - time.monotonic()))
            for model, want in expected[clip].models.items():
                got = (top1(answer[model]), answer[model]["weights"]) if answer[model] else None
                if got != want:
                    outcome.mismatches.append(f"{model}: got {got}, the library says {want}")
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the others
            outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.seconds = time.monotonic() - t0
        outcomes.append(outcome)
    return outcomes


def _settle(server: Server, baseline: int, deadline: float) -> int:
    """Wait (bounded) for the temporary files to come back to `baseline`; the count at the end."""
    count = count_files(server.temp_places)
    while count != baseline and time.monotonic() < deadline:
        time.sleep(2)
        count = count_files(server.temp_places)
    return count


# ------------------------------------------------------------------------------------ main


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not (1 <= args.clients <= MAX_CLIENTS and 1 <= args.clips_per_client <= MAX_CLIPS):
        raise SystemExit(f"--clients must be 1..{MAX_CLIENTS} and --clips-per-client 1..{MAX_CLIPS}")
    from signdemo.runtime import configure_threads
    from signdemo.weights import WEIGHTS_DIR

    configure_threads()  # as app.py does, so the library's numbers are computed the same way
    started = time.monotonic()
    deadline = started + args.timeout
    weights_dir = args.weights_dir or Path(os.environ.get("SIGNDEMO_WEIGHTS_DIR") or WEIGHTS_DIR)
    with tempfile.TemporaryDirectory(prefix="signdemo-loadtest-") as tmp:
        workdir = Path(tmp)
        clips = find_clips(args.clips, args.clips_per_client, workdir)
        expected, weights = expected_answers(weights_dir, clips)
        server = attach(args.url, args.pid, args.temp_dir) if args.url else launch(weights_dir, workdir, args.ttl, deadline)
        try:
            return _run(args, server, clips, expected, weights, started, deadline, workdir / "uploads")
        finally:
            server.stop()


def _run(args, server: Server, clips, expected, weights, started: float, deadline: float, uploads: Path) -> int:
    n = args.clients * len(clips)
    how = "launched by the load test" if server.proc else "already running"
    print(f"loadtest: {args.clients} clients x {len(clips)} clips = {n} requests to {server.url} ({how}, pid {server.pid})")
    print(f"clips: {', '.join(c.name for c in clips)}")
    print(f"weights: BiGRU {weights['bigru']}; I3D {weights['i3d']}")
    files_start, rss_start = count_files(server.temp_places), rss_mib(server.pid) if server.pid else None
    with ThreadPoolExecutor(args.clients) as pool:
        # Warm-up round: one clip per client at once, so the server has loaded everything it loads
        # lazily and each of its threads has served; the RSS baseline is taken after it.
        t0 = time.monotonic()
        warm = [o for f in [pool.submit(run_client, i, server.url, [clips[i % len(clips)]], expected, deadline,
                                        uploads / f"warm-up{i}") for i in range(args.clients)] for o in f.result()]  # fmt: skip
        warm_s = time.monotonic() - t0
        rss_warm = rss_mib(server.pid) if server.pid else None
        t0 = time.monotonic()
        with RssSampler(server.pid) as sampler:
            futures = [pool.submit(run_client, i, server.url, clips, expected, deadline, uploads / f"client{i}")
                       for i in range(args.clients)]  # fmt: skip
            outcomes = [o for f in futures for o in f.result()]
    wall = time.monotonic() - t0
    files_after, rss_after = count_files(server.temp_places), rss_mib(server.pid) if server.pid else None
    settle_deadline = min(deadline, time.monotonic() + 2.5 * (args.ttl if server.proc else 1800))
    files_settled = _settle(server, files_start, settle_deadline)
    rss_settled = rss_mib(server.pid) if server.pid else None

    failed = [o for o in outcomes if o.error]
    wrong = [o for o in outcomes if o.mismatches]
    right = len(outcomes) - len(failed) - len(wrong)
    seconds = sorted(o.seconds for o in outcomes)
    p90 = seconds[min(len(seconds) - 1, int(0.9 * len(seconds)))]
    warm_bad = [o for o in warm if o.error or o.mismatches]
    print(f"warm-up: {len(warm)} requests (one per client) in {warm_s:.1f} s, {len(warm_bad)} failed or wrong")
    print(f"answers: {len(outcomes) - len(failed)}/{n} answered, {right}/{n} with the library's top-1 for both "
          f"models (errors {len(failed)}, mismatches {len(wrong)})")
    print(f"request latency with {args.clients} clients queued (s): median {statistics.median(seconds):.1f}, "
          f"p90 {p90:.1f}, max {seconds[-1]:.1f}; load took {wall:.1f} s ({n / wall:.2f} requests/s)")
    for o in (failed + wrong)[:10]:
        print(f"  client {o.client} {o.clip.name}: {o.error or '; '.join(o.mismatches)}")
    rss_ok = True
    if server.pid:
        growth = (rss_settled or 0) - (rss_warm or 0)
        rss_ok = rss_settled is not None and rss_warm is not None and growth <= args.rss_tolerance_mib
        print(f"server RSS (MiB): start {_mib(rss_start)}, after warm-up {_mib(rss_warm)}, peak under load "
              f"{_mib(sampler.peak)}, after load {_mib(rss_after)}, after the sweep {_mib(rss_settled)} "
              f"({growth:+.0f} vs after warm-up; tolerance {args.rss_tolerance_mib:.0f})")
    else:
        print("server RSS: unknown (no process found for the port; give --pid)")
    back = files_settled == files_start
    print(f"temp files in {', '.join(str(p) for p in server.temp_places)}: start {files_start}, after load "
          f"{files_after}, after the sweep {files_settled} ({'back to baseline' if back else 'NOT back to baseline'})")
    ok = not failed and not wrong and back and rss_ok and not warm_bad
    print(f"loadtest: {'PASS' if ok else 'FAIL'} in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))

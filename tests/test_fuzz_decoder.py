"""Fuzzing the decoder path: hundreds of mutated copies of small valid clips (mp4 with its index
first and last, mov, webm, avi, all made here) go through `probe` and `read_clip`. Every outcome must be a Clip
or a typed SigndemoError: never another exception, never a crash, never a hang.

Each clip is decoded in a worker process, one at a time, with a timeout: a hang or a crash in
FFmpeg's C code is then a recorded outcome (the worker is restarted) instead of a frozen or dead
test run. Seeded (SIGNDEMO_FUZZ_SEED, default 6) and deterministic in what it tries; bounded by
SIGNDEMO_FUZZ_CASES (default 2000) and SIGNDEMO_FUZZ_SECONDS (default 60): when time runs out it
stops early and says how many it tried.
Inputs that fail are kept in the test's folder, named in the failure message.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from _paths import REPO
from _video_fixtures import synthetic_frames, write_synthetic_video
from signdemo.video import write_mp4

SEED = int(os.environ.get("SIGNDEMO_FUZZ_SEED", "6"))
CASES = int(os.environ.get("SIGNDEMO_FUZZ_CASES", "2000"))
SECONDS = float(os.environ.get("SIGNDEMO_FUZZ_SECONDS", "60"))
DECODE_TIMEOUT_S = 30.0  # a 16-frame 64x48 clip decodes in milliseconds; this is a hang
MARK = "FUZZ-RESULT "

_WORKER = f"""
import json, sys
from signdemo.errors import SigndemoError
from signdemo.video import probe, read_clip
for line in sys.stdin:
    try:
        try:
            probe(line.rstrip("\\n"))
        except SigndemoError:
            pass
        clip = read_clip(line.rstrip("\\n"))
        out = {{"outcome": "clip", "detail": f"{{len(clip)}} frames"}}
    except SigndemoError as exc:
        out = {{"outcome": "typed", "detail": type(exc).__name__}}
    except BaseException as exc:
        out = {{"outcome": "other", "detail": f"{{type(exc).__name__}}: {{exc}}"}}
    sys.stdout.write({MARK!r} + json.dumps(out) + "\\n")
    sys.stdout.flush()
"""


class DecoderWorker:
    """`read_clip` in a child process: `decode(path)` -> {"outcome", "detail"}; "hang" when it
    takes longer than the timeout, "crash" when the process dies (both restart the worker)."""

    def __init__(self, log_path: Path, script: str = _WORKER) -> None:
        self.log_path = log_path
        self.script = script
        self.proc: subprocess.Popen | None = None
        self.buffer = b""
        self.restarts = 0

    def _start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), "OPENCV_LOG_LEVEL": "ERROR"}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", self.script], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log, cwd=REPO, env=env)  # fmt: skip
        self.buffer = b""

    def _stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._stop()
            self.proc = None

    def decode(self, path: Path, timeout_s: float = DECODE_TIMEOUT_S) -> dict:
        if self.proc is None:
            self._start()
        try:
            self.proc.stdin.write(f"{path}\n".encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            return self._died()
        deadline = time.monotonic() + timeout_s
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                text = line.decode(errors="replace")
                if text.startswith(MARK):
                    return json.loads(text[len(MARK):])
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(remaining, 0))
            if not ready:
                self._stop()
                self.restarts += 1
                return {"outcome": "hang", "detail": f"no answer within {timeout_s:.0f} s"}
            chunk = os.read(fd, 65536)
            if not chunk:
                return self._died()
            self.buffer += chunk

    def _died(self) -> dict:
        code = self.proc.wait()
        self.proc = None
        self.restarts += 1
        return {"outcome": "crash", "detail": f"worker exited with {code}"}


# ------------------------------------------------------------------------------------ seeds and mutations


def _frames() -> np.ndarray:
    """16 frames of 64x48: structure plus noise, so every frame costs some bytes."""
    noise = np.random.default_rng(SEED).integers(0, 64, (16, 48, 64, 3), dtype=np.uint8)
    return synthetic_frames(16, 64, 48) // 2 + noise


def make_seeds(folder: Path) -> dict[str, Path]:
    """The valid clips that get mutated, by name (the name's first part is the container)."""
    frames = _frames()
    return {
        "mp4_h264_faststart": write_mp4(folder / "seed.mp4", frames, 25),
        "mov_h264": write_synthetic_video(folder / "seed.mov", frames, 25, "libx264"),
        "mp4_mp4v_index_last": write_synthetic_video(folder / "seed_mp4v.mp4", frames, 25, "mp4v"),
        "webm_vp8": write_synthetic_video(folder / "seed.webm", frames, 25, "VP80"),
        "avi_mjpg": write_synthetic_video(folder / "seed.avi", frames, 25, "MJPG"),
    }


#: Structure markers whose neighbourhood holds sizes, counts, dimensions and offsets: ISO BMFF boxes,
#: AVI RIFF chunks, Matroska/WebM element ids.
MARKERS = [b"ftyp", b"moov", b"mvhd", b"trak", b"tkhd", b"mdhd", b"hdlr", b"stsd", b"avcC", b"stts", b"stss",
           b"stsc", b"stsz", b"stco", b"mdat", b"RIFF", b"avih", b"strh", b"strf", b"movi", b"idx1",
           b"\x1a\x45\xdf\xa3", b"\x18\x53\x80\x67", b"\x16\x54\xae\x6b", b"\x1f\x43\xb6\x75", b"\xb0", b"\xba"]  # fmt: skip
EXTREMES = [0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


def flip_bytes(data: bytearray, rng: np.random.Generator) -> str:
    if not data:
        data.append(0)
    k = int(rng.integers(1, 17))
    for pos in rng.integers(0, len(data), k):
        data[pos] ^= int(rng.integers(1, 256))
    return f"flipped {k} bytes"


def corrupt_header(data: bytearray, rng: np.random.Generator) -> str:
    k = int(rng.integers(1, 9))
    for pos in rng.integers(0, min(len(data), 512), k):
        data[pos] = int(rng.integers(0, 256))
    return f"overwrote {k} bytes in the first 512"


def corrupt_field(data: bytearray, rng: np.random.Generator) -> str:
    found = [(m, i) for m in MARKERS if (i := bytes(data).find(m)) >= 0]
    if not found:  # an earlier mutation cut them all away
        return flip_bytes(data, rng)
    marker, at = found[int(rng.integers(len(found)))]
    pos = max(0, at + int(rng.integers(-4, 33)))
    value = EXTREMES[int(rng.integers(len(EXTREMES)))] if rng.random() < 0.6 else int(rng.integers(0, 2**32))
    data[pos : pos + 4] = value.to_bytes(4, "big" if rng.random() < 0.5 else "little")
    return f"wrote {value:#x} at {pos} near {marker!r}"


def truncate(data: bytearray, rng: np.random.Generator) -> str:
    keep = int(rng.integers(1, max(2, len(data))))
    del data[keep:]
    return f"truncated to {keep} bytes"


def zero_run(data: bytearray, rng: np.random.Generator) -> str:
    n = int(rng.integers(16, 513))
    start = int(rng.integers(0, max(1, len(data) - n)))
    data[start : start + n] = bytes(len(data[start : start + n]))
    return f"zeroed {n} bytes at {start}"


def splice(data: bytearray, rng: np.random.Generator) -> str:
    n = int(rng.integers(8, 1025))
    src, dst = (int(x) for x in rng.integers(0, max(1, len(data) - n), 2))
    chunk = bytes(data[src : src + n])
    if rng.random() < 0.5:
        del data[dst : dst + n]
        return f"deleted {n} bytes at {dst}"
    data[dst:dst] = chunk
    return f"duplicated {n} bytes from {src} at {dst}"


def insert_random(data: bytearray, rng: np.random.Generator) -> str:
    n = int(rng.integers(1, 257))
    pos = int(rng.integers(0, len(data) + 1))
    data[pos:pos] = rng.bytes(n)
    return f"inserted {n} random bytes at {pos}"


MUTATIONS: list[Callable[[bytearray, np.random.Generator], str]] = [
    flip_bytes, corrupt_header, corrupt_field, truncate, zero_run, splice, insert_random]  # fmt: skip


def mutations_of(case: int, n_seeds: int) -> list[Callable[[bytearray, np.random.Generator], str]]:
    """1-3 mutations for `case`: a kind taken round-robin (so every seed meets every kind), plus up
    to two random ones stacked on it."""
    rng = np.random.default_rng([SEED, case, 1])
    steps = [MUTATIONS[(case // n_seeds) % len(MUTATIONS)]]
    return steps + [MUTATIONS[int(i)] for i in rng.integers(0, len(MUTATIONS), int(rng.integers(0, 3)))]


def mutate(data: bytes, case: int, n_seeds: int) -> tuple[bytes, str]:
    """Case `case`'s mutant of `data` and what was done to it; deterministic in (SEED, case)."""
    rng = np.random.default_rng([SEED, case])
    mutant = bytearray(data)
    done = [step(mutant, rng) for step in mutations_of(case, n_seeds)]
    return bytes(mutant), "; ".join(done)


# ------------------------------------------------------------------------------------ the test


@pytest.mark.slow
def test_mutated_clips_never_crash_the_decoder(tmp_path):
    seeds = make_seeds(tmp_path)
    names = list(seeds)
    worker = DecoderWorker(tmp_path / "worker.log")
    outcomes: Counter[str] = Counter()
    per_seed: Counter[str] = Counter()
    bad: list[str] = []
    started = time.monotonic()
    tried = 0
    try:
        for name, path in seeds.items():  # the harness must see clips where there are clips
            assert worker.decode(path)["outcome"] == "clip", f"seed {name} must decode"
        for case in range(CASES):
            if time.monotonic() - started > SECONDS:
                break
            name = names[case % len(names)]
            data, how = mutate(seeds[name].read_bytes(), case, len(names))
            path = tmp_path / f"case{case:04d}{seeds[name].suffix}"
            path.write_bytes(data)
            result = worker.decode(path)
            tried += 1
            per_seed[name] += 1
            if result["outcome"] in ("clip", "typed"):
                outcomes[("Clip" if result["outcome"] == "clip" else result["detail"])] += 1
                path.unlink()
            else:
                outcomes[f"{result['outcome']} {result['detail'].split(':')[0]}"] += 1
                bad.append(f"{path.name} ({name}: {how}): {result['outcome']}: {result['detail']}")
    finally:
        worker.close()
    elapsed = time.monotonic() - started
    print(f"\nfuzz: {tried} mutated clips in {elapsed:.0f} s, seed {SEED}, worker restarts {worker.restarts}")
    print(f"fuzz: per seed clip {dict(per_seed)}")
    print("fuzz: outcomes " + ", ".join(f"{kind}: {n}" for kind, n in outcomes.most_common()))
    if tried < CASES:
        print(f"fuzz: stopped after {SECONDS:.0f} s with {CASES - tried} cases untried (SIGNDEMO_FUZZ_SECONDS)")
    assert len(per_seed) == len(names), "every seed clip must be mutated at least once"
    assert not bad, f"{len(bad)} clips neither decoded nor raised a typed error (kept in {tmp_path}):\n" + "\n".join(bad[:20])


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.__name__ for m in MUTATIONS])
def test_mutations_change_the_clip(mutation):
    """Sanity of the harness: each mutation really changes the bytes it is given."""
    data = bytearray(bytes(range(256)) * 8 + b"moov" + bytes(64))
    before = bytes(data)
    mutation(data, np.random.default_rng(0))
    assert bytes(data) != before


def test_harness_reports_other_errors_hangs_and_crashes(tmp_path):
    """The worker protocol tells apart what the fuzz test must catch (so it can fail)."""
    script = _WORKER.replace("clip = read_clip(", "clip = misbehave(").replace(
        "for line in sys.stdin:",
        "import os, time\n"
        "def misbehave(p):\n"
        "    if p.endswith('other'): raise ValueError('not typed')\n"
        "    if p.endswith('hang'): time.sleep(60)\n"
        "    if p.endswith('crash'): os._exit(3)\n"
        "    raise SigndemoError('typed')\n"
        "for line in sys.stdin:",
    )
    worker = DecoderWorker(tmp_path / "worker.log", script)
    try:
        got = [worker.decode(Path(name), timeout_s=5)["outcome"] for name in ("typed", "other", "hang", "crash", "typed")]
    finally:
        worker.close()
    assert got == ["typed", "other", "hang", "crash", "typed"] and worker.restarts == 2

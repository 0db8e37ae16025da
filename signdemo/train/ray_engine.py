"""Ray as the engine of `signdemo.train.prepare --engine ray`: the same per-clip function, as Ray tasks.

Only this module imports Ray, and only when the engine is used: the app and the local engine run
without it. Each task is one clip and asks for one CPU, so a Ray worker process runs one MediaPipe
graph at a time, as a local worker does. A task gets the clip's path, not its frames: the worker
decodes the video itself, so nothing larger than a clip's landmarks travels through the object
store, and at most `workers` tasks are in flight at once (`ray.wait`), however long the list.

A worker process that dies in a task (killed, out of memory, its node lost) is Ray's to retry, up to
`max_retries` times, on any worker; the driver sees one result per clip either way. A clip whose
task died every time comes back through `lost(job, exc)`, so it is recorded as a failure, not
dropped. Workers run in their own process title, `ray::landmarks KEY`, so `ps` on a node shows which
clip each worker is on. On a cluster, the driver's copy of the `signdemo` package goes to the nodes
with the job (`runtime_env` `py_modules`): the nodes need the requirements, and run the same code.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signdemo.errors import ClusterError, MissingDependencyError

log = logging.getLogger(__name__)

TASK_NAME = "landmarks"
#: Object store of a local instance: tasks return landmarks (kilobytes), never frames.
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20
INSTALL_HINT = "pip install ray==2.60.0 (see requirements-dev.txt)"

_initialized_pid: int | None = None  # the worker process that has run `initializer` (in the worker)


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        message = f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}"
        raise MissingDependencyError(message) from exc
    return ray


def _run(fn: Callable, initializer: Callable[[], None] | None, job: Any) -> Any:
    """The task body: `initializer` once per worker process, then `fn(job)`."""
    global _initialized_pid
    if initializer is not None and _initialized_pid != os.getpid():
        initializer()
        _initialized_pid = os.getpid()
    return fn(job)


@dataclass
class RayPool:
    """A connection to a Ray instance that runs at most `workers` tasks at a time."""

    ray: Any
    workers: int
    max_retries: int
    description: str

    def map_unordered(
        self,
        fn: Callable[[Any], Any],
        jobs: Iterable[Any],
        *,
        name: Callable[[Any], str] = lambda job: "",
        lost: Callable[[Any, Exception], Any],
        initializer: Callable[[], None] | None = None,
    ) -> Iterator[Any]:
        """fn(job) for every job, in completion order. `name(job)` is shown in the task's process
        title; `lost(job, exc)` stands in for the result of a task that died `max_retries + 1` times."""
        ray = self.ray
        task = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(_run)
        fn_ref = ray.put(fn)
        pending: dict[Any, Any] = {}  # ObjectRef -> job
        todo = iter(jobs)
        try:
            while True:
                while len(pending) < self.workers:
                    job = next(todo, None)
                    if job is None:
                        break
                    title = f"{TASK_NAME} {name(job)}".strip()  # the worker's process title while it runs
                    ref = task.options(name=title).remote(fn_ref, initializer, job)
                    pending[ref] = job
                if not pending:
                    return
                ready, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(ready[0])
                try:
                    result = ray.get(ready[0])
                except ray.exceptions.RayError as exc:  # the task's worker died on every attempt
                    log.warning("task lost after %d attempt(s): %s", self.max_retries + 1, exc)
                    result = lost(job, exc)
                yield result
        finally:
            for ref in pending:  # interrupted (Ctrl-C, an error in the driver): stop what still runs
                ray.cancel(ref, force=True)


@contextmanager
def connect(
    address: str | None = None,
    workers: int | None = None,
    *,
    max_retries: int = 3,
    init_options: dict | None = None,
) -> Iterator[RayPool]:
    """A `RayPool` on the cluster at `address`, or on a new local instance with `workers` CPUs when
    `address` is None. A Ray already initialised in this process (a notebook, a test) is used as it
    is and left running; an instance or connection made here is shut down on leaving.

    workers: tasks in flight at once (default: every CPU of the instance). init_options: more
    keyword arguments of `ray.init` for a local instance (e.g. `object_store_memory`).
    """
    ray = import_ray()
    t0 = time.perf_counter()
    owned = not ray.is_initialized()
    if owned:
        if address:
            # The driver's copy of the package travels with the job, so every node runs the same
            # extraction code as this one (the nodes need the requirements, not the repository).
            package = Path(__file__).resolve().parents[1]
            runtime_env = {"py_modules": [str(package)], "excludes": ["__pycache__", "*.pyc"]}
            try:
                ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
            except ConnectionError as exc:
                raise ClusterError(
                    f"cannot join the Ray cluster at {address}: {exc} (is `ray start --head` running "
                    "there, and is the address the one it printed?)"
                ) from exc
        else:
            options = {"num_cpus": workers or os.cpu_count() or 1, "include_dashboard": False,
                       "object_store_memory": LOCAL_OBJECT_STORE_BYTES, "log_to_driver": False}  # fmt: skip
            ray.init(**{**options, **(init_options or {})})
    try:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < 1:
            raise ClusterError(f"the Ray cluster at {address or 'this process'} has no CPU to run tasks on")
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        workers = workers or cpus
        where = f"cluster at {address}" if address else "local instance" if owned else "running Ray instance"
        description = f"{workers} Ray worker(s) on a {where} ({nodes} node(s), {cpus} CPUs)"
        log.info("%s, ready in %.1f s", description, time.perf_counter() - t0)
        if workers > cpus:
            log.warning("%d workers asked for, but the cluster has %d CPUs: at most %d run at once",
                        workers, cpus, cpus)  # fmt: skip
        yield RayPool(ray, workers, max_retries, description)
    finally:
        if owned:
            ray.shutdown()

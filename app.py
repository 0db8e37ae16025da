"""signdemo, the Gradio app: layout and wiring only (the work is in `signdemo/`, the adapters in `signdemo/ui/`).

    python app.py        # serves http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT respected)

Importing this module builds `demo` and loads no model: the models load once, on first use (or in
the background when launched from here), and are shared read-only by every session. Settings:
SIGNDEMO_WEIGHTS_DIR (local bundles, default weights/), SIGNDEMO_BIGRU / SIGNDEMO_I3D (a bundle
folder or hf://owner/repo@rev for either model), SIGNDEMO_USE_HUB=0 (never try the hub),
SIGNDEMO_BIGRU_ATTENTION_REVISION (pin the published BiGRU repository to a commit or tag; the commit
loaded is shown either way), SIGNDEMO_QUEUE_SIZE (default 16), SIGNDEMO_TEMP_TTL_S (how long uploads
and outputs are kept, default 1800), SIGNDEMO_ALLOW_LOCAL_PATHS (read server folders; default on
when serving on loopback and not on a Space), SIGNDEMO_EXAMPLES_DIR (default examples/).

Files: the app serves only gradio's own cache (uploads, cached examples, copies of what handlers
return); `allowed_paths` stays empty and file parameters must name an upload.

Named API endpoints (gradio_client): /recognize (clip, mirrored -> JSON of both models' answers).
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import logging  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402

from signdemo.ui import look, outputs, tabs, texts  # noqa: E402
from signdemo.ui.handlers import Handlers  # noqa: E402
from signdemo.ui.store import ModelStore  # noqa: E402

#: Example clips (and labelled sets for the Inspect tab); SIGNDEMO_EXAMPLES_DIR overrides it for tests.
EXAMPLES_DIR = Path(os.environ.get("SIGNDEMO_EXAMPLES_DIR") or Path(__file__).resolve().parent / "examples")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _allow_local_paths() -> bool:
    flag = os.environ.get("SIGNDEMO_ALLOW_LOCAL_PATHS")
    if flag is not None:
        return flag == "1"
    return os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1") in LOOPBACK and not os.environ.get("SPACE_ID")


def build_demo(store: ModelStore | None = None, *, examples_dir: Path = EXAMPLES_DIR,
               allow_local_paths: bool | None = None) -> gr.Blocks:  # fmt: skip
    """The whole page. `store` defaults to `ModelStore.from_env()` (nothing is loaded here)."""
    store = store or ModelStore.from_env()
    allow = _allow_local_paths() if allow_local_paths is None else allow_local_paths
    h = Handlers(store, examples_dir=examples_dir, allow_local_paths=allow)

    with gr.Blocks(title=texts.TITLE, delete_cache=outputs.delete_cache_setting()) as demo:
        selection = gr.State({})  # this session's bundle choice: architecture -> source
        gr.Markdown(texts.INTRO)
        banner = gr.Markdown("Loading the models…", elem_classes="sd-weights", elem_id="weights-banner")
        with gr.Tabs():
            recognise = tabs.recognise_tab(h, store, selection, examples_dir)
            tabs.live_tab(h, selection)
            tabs.inspect_tab(h, selection, allow)
            cards = tabs.models_tab(h, selection, banner, recognise.vocab)
            training = tabs.training_tab(h)
        tabs.on_page_load(demo, h, selection, banner, recognise, cards, training)

    # Bounded: a client past max_size is told the queue is full (gradio_client raises QueueError);
    # the others see their position. api_open=False: queued endpoints cannot be called over plain
    # HTTP to skip the queue (gradio opens them by default outside Spaces).
    demo.queue(max_size=int(os.environ.get("SIGNDEMO_QUEUE_SIZE", "16")), default_concurrency_limit=1,
               api_open=False)  # fmt: skip
    return demo


def launch_kwargs() -> dict:
    """launch() settings shared by `python app.py` and the tests."""
    return {
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        "server_port": int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        "theme": look.theme(),
        "css": look.CSS,
        "max_file_size": "100mb",
        "allowed_paths": [],  # nothing outside gradio's own cache (uploads, examples, outputs) is served
    }


STORE = ModelStore.from_env()
demo = build_demo(STORE)

if __name__ == "__main__":
    from signdemo.runtime import configure_threads, limit_malloc_arenas

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    limit_malloc_arenas()  # before the server's threads start: RSS comes back after a burst of requests
    configure_threads()  # all cores for torch (a 2-vCPU Space otherwise gets 1)
    STORE.preload_in_background()  # the first visitor should not wait for the weights
    demo.launch(**launch_kwargs())

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

from signdemo.ui import look, outputs, texts  # noqa: E402
from signdemo.ui.handlers import Handlers, prepare_examples_cache  # noqa: E402
from signdemo.ui.inspection import VIDEO_SUFFIXES  # noqa: E402
from signdemo.ui.live import close_session  # noqa: E402
from signdemo.ui.store import MODEL_TITLES, ModelStore  # noqa: E402
from signdemo.weights import BIGRU, I3D  # noqa: E402

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
    model_choices = [(MODEL_TITLES[BIGRU], BIGRU), (MODEL_TITLES[I3D], I3D)]

    with gr.Blocks(title=texts.TITLE, delete_cache=outputs.delete_cache_setting()) as demo:
        selection = gr.State({})  # this session's bundle choice: architecture -> source
        gr.Markdown(texts.INTRO)
        banner = gr.Markdown("Loading the models…", elem_classes="sd-weights", elem_id="weights-banner")

        with gr.Tabs():
            # ---------------------------------------------------------------- 1. recognise a clip
            with gr.Tab("Recognise a clip", id="recognise"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2) as input_column:
                        video = gr.Video(sources=["upload", "webcam"], label="Clip: record or upload (up to 10 s)",
                                         webcam_options=gr.WebcamOptions(mirror=True), height=340, elem_id="clip-in")  # fmt: skip
                        mirrored = gr.Checkbox(False, label="the clip is mirrored (selfie view)", elem_id="mirrored",
                                               info="Tick only for an uploaded clip saved as a mirror image.")  # fmt: skip
                        run = gr.Button("Recognise", variant="primary", elem_id="recognise-btn")
                    with gr.Column(scale=3):
                        gr.Markdown("**Landmarks the keypoint model reads**")
                        overlay = gr.Video(label="landmark overlay", show_label=False, interactive=False,
                                           autoplay=True, loop=True, height=340, elem_id="overlay")  # fmt: skip
                        agreement = gr.HTML(elem_id="agreement")
                with gr.Row():
                    with gr.Column():
                        bigru_md = gr.Markdown(f"### {MODEL_TITLES[BIGRU]}", elem_id="bigru-header")
                        bigru_top = gr.Label(num_top_classes=5, label="keypoint model: top-5", elem_id="bigru-top")
                    with gr.Column():
                        i3d_md = gr.Markdown(f"### {MODEL_TITLES[I3D]}", elem_id="i3d-header")
                        i3d_top = gr.Label(num_top_classes=5, label="RGB model: top-5", elem_id="i3d-top")
                attention = gr.Plot(label="BiGRU attention", elem_id="attention-plot")
                thumbs = gr.Gallery(label="Frames where the keypoint model's attention peaks", columns=4, height=250,
                                    object_fit="contain", elem_id="peak-frames")  # fmt: skip
                i3d_time = gr.Plot(label="I3D scores over time", elem_id="i3d-time-plot")
                with gr.Accordion("Try these: the signs the loaded weights know", open=False):
                    vocab = gr.Dataframe(headers=["model", "label", "how to sign it"], wrap=True, interactive=False)
                with gr.Accordion("Raw result (JSON; the same as the /recognize API)", open=False):
                    details = gr.JSON(label="result")
                recognise_outputs = [overlay, bigru_md, bigru_top, i3d_md, i3d_top, agreement, attention, thumbs,
                                     i3d_time, details]  # fmt: skip
                clips = sorted(p for p in examples_dir.glob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
                with input_column:  # under the Recognise button (the outputs had to exist first)
                    if clips:
                        prepare_examples_cache(store)
                        gr.Examples([[str(p)] for p in clips], inputs=[video], outputs=recognise_outputs,
                                    fn=h.recognize_example, cache_examples=True, cache_mode="lazy",
                                    label="Examples (held-out synthetic clips)", elem_id="examples")  # fmt: skip
                    else:
                        gr.Markdown(texts.NO_EXAMPLES)
                    gr.Markdown(texts.RECOGNISE + "\n\n" + texts.ORIENTATION)

            # ---------------------------------------------------------------- 2. live webcam
            with gr.Tab("Live webcam", id="live"):
                gr.Markdown(texts.LIVE)
                with gr.Row():
                    cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Your webcam (selfie view)",
                                   webcam_options=gr.WebcamOptions(mirror=True), height=360, elem_id="live-cam")  # fmt: skip
                    live_view = gr.Image(label="What MediaPipe finds", show_label=False, streaming=True,
                                         interactive=False, height=360, elem_id="live-view")  # fmt: skip
                with gr.Row():
                    with gr.Column(scale=2):
                        live_top = gr.Label(num_top_classes=5, label="keypoint model, last 3 s", elem_id="live-top")
                        live_status = gr.Markdown(elem_id="live-status")
                    live_attention = gr.Plot(label="attention", elem_id="live-attention")
                    with gr.Column(scale=2):
                        live_i3d_top = gr.Label(num_top_classes=5, label="RGB model, last 2 s", elem_id="live-i3d-top")
                        live_i3d_md = gr.Markdown(elem_id="live-i3d-status")
                live_state = gr.State(None, time_to_live=600, delete_callback=close_session)

            # ---------------------------------------------------------------- 3. inspect errors
            with gr.Tab("Inspect errors", id="inspect"):
                gr.Markdown(texts.INSPECT)
                sets = h.inspect_sources()
                with gr.Row():
                    builtin = gr.Dropdown(sets, value=sets[0] if sets else None, label="Built-in set",
                                          info=None if sets else "none found in examples/")  # fmt: skip
                    uploads = gr.File(file_count="multiple", label="…or upload clips + labels CSV, or .npy + manifest CSV",
                                      file_types=[*VIDEO_SUFFIXES, ".csv", ".npy"], elem_id="inspect-upload")  # fmt: skip
                    folder = gr.Textbox(label="…or a folder on this machine", visible=allow,
                                        placeholder="e.g. /data/my_clips (with labels.csv)")  # fmt: skip
                with gr.Row():
                    inspect_model = gr.Radio(model_choices, value=BIGRU, label="Mistakes of")
                    run_inspect = gr.Button("Run the models on the set", variant="primary", elem_id="inspect-btn")
                inspect_status = gr.Markdown(elem_id="inspect-status")
                metrics_df = gr.Dataframe(headers=["model", "scored", "top-1", "top-5", "macro F1", "unanswered",
                                                   "label not in vocabulary"], interactive=False, label="Scores")  # fmt: skip
                with gr.Row():
                    confusion = gr.Plot(label="confusion matrix", elem_id="inspect-confusion")
                    pairs_df = gr.Dataframe(headers=["true", "predicted", "count"], interactive=False,
                                            label="Most confused pairs")  # fmt: skip
                errors_df = gr.Dataframe(headers=["#", "sample", "true", "predicted", "confidence", "rank of true label"],
                                         interactive=False, label="Misclassified, most confident first (click a row)")  # fmt: skip
                predictions_csv = gr.File(label="Per-sample predictions (CSV)", interactive=False)
                sample = gr.Dropdown(label="Look at a sample", choices=[], elem_id="inspect-sample")
                with gr.Row():
                    with gr.Column():
                        gr.Markdown("**The sample: landmark overlay, or its skeleton for keypoint-only data**")
                        sample_video = gr.Video(label="overlay / skeleton", show_label=False, interactive=False,
                                                autoplay=True, loop=True, height=320)  # fmt: skip
                    with gr.Column():
                        sample_md = gr.Markdown()
                        sample_bigru = gr.Label(num_top_classes=5, label="keypoint model")
                        sample_i3d = gr.Label(num_top_classes=5, label="RGB model")
                sample_attention = gr.Plot(label="attention")
                evaluation = gr.State(None, time_to_live=1800)

            # ---------------------------------------------------------------- 4. models
            with gr.Tab("Models", id="models"):
                gr.Markdown(texts.MODELS)
                with gr.Row():
                    bundle_source = gr.Textbox(label="Load another bundle for this session", scale=4,
                                               placeholder="weights/my-bundle  or  hf://owner/repo@revision")  # fmt: skip
                    load_btn = gr.Button("Load", variant="primary", scale=1)
                    reset_btn = gr.Button("Back to defaults", scale=1)
                load_status = gr.Markdown()
                card_outputs = []
                with gr.Tabs():
                    for arch in (BIGRU, I3D):
                        with gr.Tab(MODEL_TITLES[arch]):
                            card_outputs += [
                                gr.Markdown(elem_id=f"card-{arch}"),
                                gr.Dataframe(headers=["metric", "value"], interactive=False, label="measured (reports/)"),
                                gr.Plot(label="training curves"),
                                gr.Plot(label="test confusion matrix"),
                                gr.Plot(label="per-class F1"),
                            ]  # fmt: skip

            # ---------------------------------------------------------------- 5. training
            with gr.Tab("Training", id="training"):
                gr.Markdown(texts.TRAINING)
                gr.Dataframe(h.training_table(), headers=["file", "command", "what it does"], wrap=True, interactive=False,
                             column_widths=["20%", "40%", "40%"])  # fmt: skip
                scripts = h.training_choices()
                script = gr.Dropdown(scripts, value=scripts[0] if scripts else None, label="Read a script")
                script_md = gr.Markdown()
                script_code = gr.Code(language="python", interactive=False, label="source", max_lines=40)

        # -------------------------------------------------------------------- wiring
        # Light events (page set-up, tables, cards) skip the queue: when it is full of recognitions,
        # a new visitor still gets a working page and is told "queue full" only for heavy work.
        light = dict(api_visibility="private", queue=False)
        demo.load(h.weights_banner, [selection], [banner], **light).then(
            h.vocabulary_table, [selection], [vocab], **light).then(
            h.model_cards, [selection], card_outputs, **light)  # fmt: skip
        demo.load(h.training_show, [script], [script_code, script_md], **light)

        run.click(h.recognize, [video, mirrored, selection], recognise_outputs, api_name="recognize_ui",
                  api_visibility="private", concurrency_id="heavy")  # fmt: skip
        # The client-callable endpoint: same clip + flag in, the JSON answer out.
        api_trigger = gr.Button(visible=False)
        api_trigger.click(h.recognize_api, [video, mirrored], [details], api_name="recognize", concurrency_id="heavy")

        cam.stream(h.live_step, [cam, live_state, selection],
                   [live_view, live_top, live_attention, live_status, live_i3d_top, live_i3d_md, live_state],
                   stream_every=0.2, time_limit=300, concurrency_limit=2, concurrency_id="live",
                   show_progress="hidden", api_visibility="private")  # fmt: skip
        cam.clear(h.live_stop, [live_state], [live_state], **light)

        run_inspect.click(h.inspect_run, [builtin, uploads, folder, inspect_model, selection],
                          [inspect_status, metrics_df, confusion, pairs_df, errors_df, sample, predictions_csv, evaluation],
                          concurrency_id="heavy", api_visibility="private")  # fmt: skip
        inspect_model.change(h.inspect_model, [inspect_model, evaluation], [confusion, pairs_df, errors_df], **light)
        errors_df.select(h.inspect_pick_row, None, [sample], **light)
        sample.change(h.inspect_sample, [sample, evaluation, selection],
                      [sample_video, sample_md, sample_bigru, sample_i3d, sample_attention], api_visibility="private")  # fmt: skip

        load_btn.click(h.load_bundle, [bundle_source, selection], [selection, load_status, banner],
                       api_visibility="private").success(h.model_cards, [selection], card_outputs, **light)  # fmt: skip
        reset_btn.click(h.reset_bundles, None, [selection, load_status, banner], **light).then(
            h.model_cards, [selection], card_outputs, **light)  # fmt: skip
        script.change(h.training_show, [script], [script_code, script_md], **light)

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

"""The page's tabs: each function lays out one tab and wires its own events.

`app.py` calls them in order inside its `gr.Blocks`; what another part of the page needs from a tab
(the vocabulary table and the model cards, filled when the page loads) is returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from signdemo.ui import texts
from signdemo.ui.handlers import Handlers, prepare_examples_cache
from signdemo.ui.inspection import VIDEO_SUFFIXES
from signdemo.ui.live import close_session
from signdemo.ui.store import MODEL_TITLES, ModelStore
from signdemo.weights import BIGRU, I3D

#: Light events (page set-up, tables, cards) skip the queue: when it is full of recognitions, a new
#: visitor still gets a working page and is told "queue full" only for heavy work.
LIGHT = dict(api_visibility="private", queue=False)


@dataclass
class WeightSwitch:
    """What the Recognise tab gives the rest of the page: the "try these" table and the buttons that
    switch this session between the default weights and the synthetic demo pair."""

    vocab: gr.Dataframe
    demo: gr.Button
    defaults: gr.Button
    status: gr.Markdown


def recognise_tab(h: Handlers, store: ModelStore, selection: gr.State, examples_dir: Path) -> WeightSwitch:
    """Record or upload a clip; both models' answers, attention and scores over time."""
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
            vocab = gr.Dataframe(headers=["model", "label", "how to sign it"], wrap=True, interactive=False,
                                 elem_id="vocabulary")  # fmt: skip
        with gr.Accordion("Raw result (JSON; the same as the /recognize API)", open=False):
            details = gr.JSON(label="result")
        outputs = [overlay, bigru_md, bigru_top, i3d_md, i3d_top, agreement, attention, thumbs, i3d_time, details]
        clips = sorted(p for p in examples_dir.glob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
        with input_column:  # under the Recognise button (the outputs had to exist first)
            if clips:
                prepare_examples_cache(store)
                gr.Examples([[str(p)] for p in clips], inputs=[video], outputs=outputs, fn=h.recognize_example,
                            cache_examples=True, cache_mode="lazy", label=texts.EXAMPLES_LABEL,
                            elem_id="examples")  # fmt: skip
            else:
                gr.Markdown(texts.NO_EXAMPLES)
            with gr.Row():
                use_demo = gr.Button("Use the synthetic demo pair", size="sm", elem_id="use-demo-pair")
                use_defaults = gr.Button("Back to the default weights", size="sm", elem_id="use-defaults")
            switch_status = gr.Markdown(elem_id="weights-switch-status")
            gr.Markdown(texts.RECOGNISE + "\n\n" + texts.ORIENTATION)
        api_trigger = gr.Button(visible=False)  # the client-callable endpoint below, with no button shown

    run.click(h.recognize, [video, mirrored, selection], outputs, api_name="recognize_ui",
              api_visibility="private", concurrency_id="heavy")  # fmt: skip
    # The client-callable endpoint: same clip + flag in, the JSON answer out.
    api_trigger.click(h.recognize_api, [video, mirrored], [details], api_name="recognize", concurrency_id="heavy")
    return WeightSwitch(vocab, use_demo, use_defaults, switch_status)


def live_tab(h: Handlers, selection: gr.State) -> None:
    """The webcam streamed frame by frame: overlay, the rolling keypoint answer, the I3D on its own."""
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
            with gr.Column(scale=2):  # the I3D scores the last 2 s on its own, beside the keypoint answer
                live_i3d_top = gr.Label(num_top_classes=5, label="RGB model, last 2 s", elem_id="live-i3d-top")
                live_i3d_md = gr.Markdown(elem_id="live-i3d-status")
        live_state = gr.State(None, time_to_live=600, delete_callback=close_session)

    cam.stream(h.live_step, [cam, live_state, selection],
               [live_view, live_top, live_attention, live_status, live_i3d_top, live_i3d_md, live_state],
               stream_every=0.2, time_limit=300, concurrency_limit=2, concurrency_id="live",
               show_progress="hidden", api_visibility="private")  # fmt: skip
    cam.clear(h.live_stop, [live_state], [live_state], **LIGHT)


def inspect_tab(h: Handlers, selection: gr.State, allow_local_paths: bool) -> None:
    """A labelled set through the models: scores, confusions, misclassified samples one by one."""
    model_choices = [(MODEL_TITLES[BIGRU], BIGRU), (MODEL_TITLES[I3D], I3D)]
    with gr.Tab("Inspect errors", id="inspect"):
        gr.Markdown(texts.INSPECT)
        sets = h.inspect_sources()
        with gr.Row():
            builtin = gr.Dropdown(sets, value=sets[0] if sets else None, label="Built-in set",
                                  info=None if sets else "none found in examples/")  # fmt: skip
            uploads = gr.File(file_count="multiple", label="…or upload clips + labels CSV, or .npy + manifest CSV",
                              file_types=[*VIDEO_SUFFIXES, ".csv", ".npy"], elem_id="inspect-upload")  # fmt: skip
            folder = gr.Textbox(label="…or a folder on this machine", visible=allow_local_paths,
                                placeholder="e.g. /data/my_clips (with labels.csv), a processed-200 folder, "
                                "or hf://datasets/owner/name@revision#test")  # fmt: skip
        with gr.Row():
            inspect_model = gr.Radio(model_choices, value=BIGRU, label="Mistakes of")
            run_inspect = gr.Button("Run the models on the set", variant="primary", elem_id="inspect-btn")
        inspect_status = gr.Markdown(elem_id="inspect-status")
        metrics_df = gr.Dataframe(headers=["model", "scored", "top-1", "top-5", "macro F1", "unanswered",
                                           "label not in vocabulary"], interactive=False, label="Scores")  # fmt: skip
        with gr.Row():
            confusion = gr.Plot(label="confusion matrix", elem_id="inspect-confusion")
            pairs_df = gr.Dataframe(headers=["true", "predicted", "count"], interactive=False, label="Most confused pairs")
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

    run_inspect.click(h.inspect_run, [builtin, uploads, folder, inspect_model, selection],
                      [inspect_status, metrics_df, confusion, pairs_df, errors_df, sample, predictions_csv, evaluation],
                      concurrency_id="heavy", api_visibility="private")  # fmt: skip
    inspect_model.change(h.inspect_model, [inspect_model, evaluation], [confusion, pairs_df, errors_df], **LIGHT)
    errors_df.select(h.inspect_pick_row, None, [sample], **LIGHT)
    sample.change(h.inspect_sample, [sample, evaluation, selection],
                  [sample_video, sample_md, sample_bigru, sample_i3d, sample_attention], api_visibility="private")  # fmt: skip


def models_tab(h: Handlers, selection: gr.State, banner: gr.Markdown, vocab: gr.Dataframe) -> list:
    """A card per loaded bundle; another bundle for this session (one of the weights folder's, or
    a folder / hub source). Returns the card outputs."""
    with gr.Tab("Models", id="models"):
        gr.Markdown(texts.MODELS)
        with gr.Row():
            shipped = h.shipped_choices()
            shipped_pick = gr.Dropdown(shipped, value=None, label="Bundles in the weights folder", scale=4,
                                       elem_id="shipped-bundles")  # fmt: skip
            use_btn = gr.Button("Use", variant="primary", scale=1, elem_id="use-shipped")
        with gr.Row():
            bundle_source = gr.Textbox(label="Load another bundle for this session", scale=4,
                                       placeholder="weights/my-bundle  or  hf://owner/repo@revision")  # fmt: skip
            load_btn = gr.Button("Load", variant="primary", scale=1)
            reset_btn = gr.Button("Back to defaults", scale=1)
        load_status = gr.Markdown(elem_id="models-load-status")
        cards = []
        with gr.Tabs():
            for arch in (BIGRU, I3D):
                with gr.Tab(MODEL_TITLES[arch]):
                    cards += [
                        gr.Markdown(elem_id=f"card-{arch}"),
                        gr.Dataframe(headers=["metric", "value"], interactive=False, label="measured (reports/)"),
                        gr.Plot(label="training curves"),
                        gr.Plot(label="test confusion matrix"),
                        gr.Plot(label="per-class F1"),
                    ]  # fmt: skip

    switched = [selection, load_status, banner]
    for event in (use_btn.click(h.use_shipped_bundle, [shipped_pick, selection], switched, api_visibility="private"),
                  load_btn.click(h.load_bundle, [bundle_source, selection], switched, api_visibility="private"),
                  reset_btn.click(h.reset_bundles, None, switched, **LIGHT)):  # fmt: skip
        event.success(h.model_cards, [selection], cards, **LIGHT).then(
            h.vocabulary_table, [selection], [vocab], **LIGHT)  # fmt: skip
    return cards


def training_tab(h: Handlers) -> tuple[gr.Dropdown, list]:
    """The bundled training scripts: commands and source. Returns the picker and what it fills."""
    with gr.Tab("Training", id="training"):
        gr.Markdown(texts.TRAINING)
        gr.Dataframe(h.training_table(), headers=["file", "command", "what it does"], wrap=True, interactive=False,
                     column_widths=["20%", "40%", "40%"])  # fmt: skip
        scripts = h.training_choices()
        script = gr.Dropdown(scripts, value=scripts[0] if scripts else None, label="Read a script")
        script_md = gr.Markdown()
        script_code = gr.Code(language="python", interactive=False, label="source", max_lines=40)
    script.change(h.training_show, [script], [script_code, script_md], **LIGHT)
    return script, [script_code, script_md]


def on_page_load(demo: gr.Blocks, h: Handlers, selection: gr.State, banner: gr.Markdown,
                 recognise: WeightSwitch, cards: list, training: tuple) -> None:  # fmt: skip
    """What a new page fills in (the weights banner, the vocabulary, the cards, the first script),
    and the weight switch of the Recognise tab, which changes all of them but the script."""
    demo.load(h.weights_banner, [selection], [banner], **LIGHT).then(
        h.vocabulary_table, [selection], [recognise.vocab], **LIGHT).then(
        h.model_cards, [selection], cards, **LIGHT)  # fmt: skip
    script, script_outputs = training
    demo.load(h.training_show, [script], script_outputs, **LIGHT)
    switched = [selection, recognise.status, banner]
    for button, handler in ((recognise.demo, h.use_demo_pair), (recognise.defaults, h.reset_bundles)):
        button.click(handler, None, switched, **LIGHT).success(
            h.vocabulary_table, [selection], [recognise.vocab], **LIGHT).then(
            h.model_cards, [selection], cards, **LIGHT)  # fmt: skip

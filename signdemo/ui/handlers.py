"""Thin gradio adapters: page inputs -> package calls -> one value per output component.

`Handlers` is bound to the shared `ModelStore` (read-only models); everything per session arrives
as an argument from a `gr.State` (the session's bundle choice, its live webcam session, its last
evaluation). Typed engine errors become `gr.Error` (the request fails with the engine's message)
or `gr.Warning` (the request goes on), never a stack trace.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr
import numpy as np

from signdemo.errors import SigndemoError
from signdemo.runtime import release_memory
from signdemo.ui import cards, inspection, plots, results, training
from signdemo.ui.live import LiveI3D, LiveSession
from signdemo.ui.outputs import output_dir
from signdemo.ui.store import MODEL_TITLES, ModelStore, Selection
from signdemo.weights import ARCHITECTURES, BIGRU, I3D

log = logging.getLogger(__name__)


def _as_gr_error(fn: Callable, exc: SigndemoError) -> gr.Error:
    log.info("%s: %s: %s", fn.__name__, type(exc).__name__, exc)
    return gr.Error(str(exc), title=type(exc).__name__.replace("Error", " error"))


def user_errors(fn: Callable) -> Callable:
    """Turn the engine's typed errors into gr.Error with their message (what is wrong, what to do).
    Works for plain and generator handlers (gradio streams a generator's yields). After every call
    the memory the request freed goes back to the OS (`release_memory`), so the server's RSS comes
    back down after a burst of requests."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except SigndemoError as exc:
                raise _as_gr_error(fn, exc) from None
            finally:
                release_memory()

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SigndemoError as exc:
            raise _as_gr_error(fn, exc) from None
        finally:
            release_memory()

    return wrapper


def prepare_examples_cache(store: ModelStore) -> None:
    """Empty gradio's example cache when the weights changed since it was filled.

    Lazily cached example outputs live on disk (GRADIO_EXAMPLES_CACHE, default
    .gradio/cached_examples) and would otherwise outlive a change of weights."""
    root = Path(os.environ.get("GRADIO_EXAMPLES_CACHE", ".gradio/cached_examples"))
    marker = root / "signdemo_weights.txt"
    fingerprint = store.fingerprint()
    if root.is_dir() and (not marker.is_file() or marker.read_text(encoding="utf-8") != fingerprint):
        log.info("weights changed: emptying the example cache %s", root)
        for child in root.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text(fingerprint, encoding="utf-8")


def _progress_adapter(progress: gr.Progress | None) -> Callable[[float, str], None]:
    if progress is None:
        return lambda fraction, message: None
    return lambda fraction, message: progress(fraction, desc=message)


class Handlers:
    """Every event handler of the page, over one shared store of models."""

    def __init__(self, store: ModelStore, *, examples_dir: Path | None = None, allow_local_paths: bool = False) -> None:
        self.store = store
        self.allow_local_paths = allow_local_paths
        self.builtin_sets = dict(inspection.find_sets(examples_dir)) if examples_dir else {}
        self.scripts = {s.module: s for s in training.discover_scripts()}
        self.example_labels = inspection.example_labels(examples_dir) if examples_dir else {}

    # ------------------------------------------------------------------ weights banner

    def weights_banner(self, selection: Selection | None = None) -> str:
        """Markdown: which weights each model runs on (loads the defaults on first use)."""
        lines = []
        for arch, (bundle, reason) in self.store.status(selection).items():
            lines.append(f"**{MODEL_TITLES[arch]}:** {cards.weights_line(bundle, reason)}")
        return "\n\n".join(lines)

    # ------------------------------------------------------------------ recognise

    @user_errors
    def recognize(self, video: str | None, mirrored: bool, selection: Selection | None,
                  progress: gr.Progress = gr.Progress()) -> Iterator[tuple]:  # fmt: skip
        """Yields the outputs twice: when the keypoint model has answered, then with the I3D.

        Outputs: overlay, BiGRU header, BiGRU top-5, I3D header, I3D top-5, agreement banner,
        attention figure, peak thumbnails, I3D-over-time figure, JSON details."""
        yield from self._recognize(video, mirrored, selection, progress, stream=True)

    @user_errors
    def recognize_example(self, video: str | None) -> Iterator[tuple]:
        """An example clip (unmirrored) in one final answer (cached for everyone), by models that know
        its label: the defaults where they do, else the local bundles that do (the demo pair for the
        synthetic examples)."""
        label, synthetic = self.example_labels.get(Path(video).name, (None, False)) if video else (None, False)
        selection = self.store.selection_knowing(label, demo=True if synthetic else None) if label else None
        yield from self._recognize(video, False, selection, None, stream=False)

    def use_demo_pair(self) -> tuple:
        """Outputs: the session's selection (the synthetic demo pair), a status line, the weights banner."""
        selection = self.store.demo_selection()
        if not selection:
            raise gr.Error("No demo bundles were found in the weights folder.")
        return selection, "This session now uses the synthetic demo pair (not ASL).", self.weights_banner(selection)

    def _recognize(self, video, mirrored, selection, progress, *, stream: bool) -> Iterator[tuple]:
        if not video:
            raise gr.Error("Record or upload a clip first.")
        recognizer = self.store.recognizer(selection)
        reasons = {a: r for a, (_, r) in self.store.status(selection).items()}
        if recognizer.bigru is None and recognizer.i3d is None:
            raise gr.Error("No weights are loaded for either model: " + "; ".join(filter(None, reasons.values())))
        report = _progress_adapter(progress)
        shown_warnings, sent = 0, False
        # The overlay video is encoded on a thread of its own, beside the I3D: the keypoint answer is
        # shown as soon as it is ready, the overlay comes with the I3D's answer (the last update).
        with output_dir() as out, ThreadPoolExecutor(1, thread_name_prefix="overlay") as pool:
            overlay_job = None
            # The recognizer decodes the clip itself (mirrored input flipped right after decoding), so
            # that a keypoint model on one graph gets each frame as it is decoded.
            for result in recognizer.recognize_stream(video, mirror=bool(mirrored), progress=report):
                clip = result.clip
                final = "total" in result.timings_ms
                pending = not final and recognizer.i3d is not None
                if overlay_job is None and result.landmarks is not None:
                    overlay_job = pool.submit(results.render_clip_overlay, result, clip, out)
                if not final and not stream:
                    continue
                report(0.97 if final else 0.6, "drawing the results")
                overlay = overlay_job.result() if final and overlay_job is not None else None
                view = results.clip_view(result, clip, recognizer, reasons, pending_i3d=pending, overlay=overlay)
                for warning in view.warnings[shown_warnings:]:
                    gr.Warning(warning)
                shown_warnings = len(view.warnings)
                # After the first answer only the I3D's outputs (and the overlay, once) change;
                # re-sending the keypoint outputs would redraw them for nothing.
                keep = (lambda value: gr.skip()) if sent else (lambda value: value)
                yield (
                    str(view.overlay) if view.overlay else (gr.skip() if sent else None),
                    view.headers[BIGRU], keep(view.top[BIGRU]), view.headers[I3D], view.top[I3D],
                    view.agreement, keep(view.attention), keep(view.thumbnails), view.i3d_time, view.details,
                )  # fmt: skip
                sent = True

    @user_errors
    def recognize_api(self, video: str | None, mirrored: bool = False) -> dict:
        """API: both models' top-5, attention, timings and warnings for one clip (default weights)."""
        if not video:
            raise gr.Error("no clip given")
        result = self.store.recognizer().recognize(video, mirror=bool(mirrored))
        return results.result_details(result, result.clip)

    def vocabulary_table(self, selection: Selection | None = None) -> list[list[str]]:
        """[model, label, how to sign it] for the "try these" table."""
        rows = []
        for arch, (bundle, _) in self.store.status(selection).items():
            for label, how in cards.vocabulary_rows(bundle):
                rows.append([MODEL_TITLES[arch].split(" → ")[0], label, how])
        return rows

    # ------------------------------------------------------------------ live

    def live_step(self, frame: np.ndarray | None, session: LiveSession | None, selection: Selection | None) -> tuple:
        """Outputs: overlaid frame, rolling top-5, attention figure, status line, I3D top-5, I3D
        line, session state. The I3D outputs change only when a scoring of the last seconds finished."""
        if frame is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), session
        if session is None or session.closed:
            session = LiveSession(mirrored=True)
        recognizer = self.store.recognizer(selection)
        try:
            update = session.step(frame, recognizer)
        except SigndemoError as exc:
            return gr.skip(), gr.skip(), gr.skip(), f"⚠️ {exc}", gr.skip(), gr.skip(), session
        status = update.status + (f" · {update.message}" if update.message else "")
        i3d_top, i3d_line = self._live_i3d_outputs(update.i3d, recognizer)
        if update.prediction is None:
            return update.display, gr.skip(), gr.skip(), status, i3d_top, i3d_line, session
        figure = plots.live_attention_figure(update.prediction.attention, update.seconds_ago)
        return update.display, results.top_dict(update.prediction), figure, status, i3d_top, i3d_line, session

    @staticmethod
    def _live_i3d_outputs(i3d: LiveI3D | None, recognizer) -> tuple:
        if i3d is None:
            return gr.skip(), gr.skip()
        if i3d.prediction is None:
            return gr.skip(), f"⚠️ I3D: {i3d.message}"
        line = (f"I3D on the last {i3d.window_s:.0f} s ({i3d.frames} frames), scored in {i3d.took_s:.1f} s; "
                f"rescored on its own every {max(1.0, i3d.took_s):.0f} s or so · {cards.weights_line(recognizer.i3d)}")  # fmt: skip
        return results.top_dict(i3d.prediction), line

    def live_stop(self, session: LiveSession | None) -> None:
        """The webcam stopped: release this session's graph now rather than at its time to live."""
        if isinstance(session, LiveSession):
            session.close()
        return None

    # ------------------------------------------------------------------ inspect errors

    def inspect_sources(self) -> list[str]:
        return list(self.builtin_sets)

    def _load_set(self, builtin: str | None, uploads: list[str] | None, folder: str | None,
                  selection: Selection | None = None) -> inspection.LabelledSet:  # fmt: skip
        if uploads:
            return inspection.load_uploads(uploads)
        if folder and folder.strip():
            if not self.allow_local_paths:
                raise gr.Error("Reading folders on the server is switched off here; upload the files instead.")
            bigru, _ = self.store.bundle(BIGRU, selection)  # its label map is checked against the set's
            return inspection.load_folder(folder.strip(), bigru.labels if bigru is not None else None)
        if builtin:
            if builtin not in self.builtin_sets:
                raise gr.Error(f"unknown built-in set {builtin!r}")
            return self.builtin_sets[builtin]()
        raise gr.Error("Choose a built-in set, upload files, or give a folder.")

    @user_errors
    def inspect_run(self, builtin: str | None, uploads: list[str] | None, folder: str | None,
                    model: str, selection: Selection | None, progress: gr.Progress = gr.Progress()) -> tuple:  # fmt: skip
        """Outputs: status, metrics table, confusion matrix, confused pairs, errors table, sample
        dropdown, predictions CSV, evaluation state."""
        dataset = self._load_set(builtin, uploads, folder, selection)
        recognizer = self.store.recognizer(selection)
        evaluation = inspection.evaluate(recognizer, dataset, _progress_adapter(progress))
        with output_dir() as out:
            csv_path = inspection.write_predictions_csv(evaluation, out / "predictions.csv")
        failed = [r for r in evaluation.results if r.error]
        n = len(dataset.samples)
        status = f"**{dataset.name}**: {n} sample{'' if n == 1 else 's'} ({dataset.kind})" + (
            f" · {len(failed)} without any answer (first: {failed[0].error})" if failed else "")
        if dataset.kind == "keypoints":
            status += " · keypoint-only data: the RGB model cannot score it"
        status += "".join(f" · {note}" for note in dataset.notes)
        model = model if model in evaluation.summaries else next(iter(evaluation.summaries), BIGRU)
        choices = inspection.sample_choices(evaluation)
        return (status, inspection.metrics_rows(evaluation), *self._model_views(evaluation, model),
                gr.update(choices=choices, value=None), str(csv_path), evaluation)  # fmt: skip

    def _model_views(self, evaluation: inspection.Evaluation, model: str) -> tuple:
        ms = evaluation.summaries.get(model)
        title = f"{MODEL_TITLES.get(model, model)}: confusion matrix on {evaluation.dataset.name}"
        if ms is None or ms.summary is None:
            why = "this model is not loaded" if ms is None else (
                "no sample's label is in this model's vocabulary" if ms.out_of_vocabulary and not ms.scored
                else "no sample was scored")
            return plots.empty_figure(f"Nothing to show: {why}"), [], []
        cm = plots.confusion_figure(ms.summary["confusion_matrix"], ms.labels, title=title)
        pairs = [[t, p, n] for t, p, n in ms.pairs]
        return cm, pairs, inspection.misclassified(evaluation, model)

    def inspect_model(self, model: str, evaluation: inspection.Evaluation | None) -> tuple:
        """Outputs: confusion matrix, confused pairs, errors table for the chosen model."""
        if evaluation is None:
            return plots.empty_figure("Run the models on a set first"), [], []
        return self._model_views(evaluation, model)

    def inspect_pick_row(self, evt: gr.SelectData) -> Any:
        """A click in the errors table selects that sample (its index is the first column)."""
        row = evt.row_value if evt is not None else None
        if not row:
            return gr.skip()
        return int(row[0])

    @user_errors
    def inspect_sample(self, index: int | None, evaluation: inspection.Evaluation | None,
                       selection: Selection | None) -> tuple:  # fmt: skip
        """Outputs: overlay or skeleton video, header, BiGRU top-5, I3D top-5, attention figure."""
        if index is None or evaluation is None:
            return None, "", None, None, plots.empty_figure("Pick a sample")
        r = evaluation.results[int(index)]
        lines = [f"### #{index} {r.sample.sample_id}: true label **{r.sample.label}**"]
        for arch in ARCHITECTURES:
            pred = r.prediction(arch)
            if pred is not None:
                ok = inspection.is_correct(r, arch)
                lines.append(f"{MODEL_TITLES[arch]}: {pred.top1} ({pred.probabilities[0]:.0%}) {'✔' if ok else '✘'}")
        if r.error:
            lines.append(f"**No answer:** {r.error}")
        lines += [f"⚠️ {n}" for n in r.notes]
        with output_dir() as out:
            video = self._sample_video(evaluation, r, out)
        b = r.bigru
        if b is not None and b.attention is not None:
            fig = plots.attention_figure(b.attention, b.attention_frames, r.fps, plots.attention_peaks(b.attention))
        else:
            fig = plots.empty_figure("No keypoint-model attention for this sample")
        return video, "  \n".join(lines), results.top_dict(r.bigru), results.top_dict(r.i3d), fig

    def _sample_video(self, evaluation: inspection.Evaluation, r: inspection.SampleResult, out: Path) -> str | None:
        if evaluation.dataset.kind == "keypoints":
            return str(inspection.render_skeleton(evaluation.dataset.features[r.sample.row], out / "skeleton.mp4"))
        if r.landmarks is None or r.sample.path is None:
            return str(r.sample.path) if r.sample.path else None
        from signdemo.overlay import render_overlay
        from signdemo.video import read_clip

        clip = read_clip(r.sample.path, self.store.recognizer().limits)
        return str(render_overlay(out / "overlay.mp4", clip.frames, r.landmarks, clip.fps, frame_indices=clip.source_indices))

    # ------------------------------------------------------------------ models

    def model_cards(self, selection: Selection | None) -> tuple:
        """Outputs, per model (BiGRU then I3D): card markdown, metrics table, training curves,
        confusion matrix, per-class F1."""
        out = []
        for arch in (BIGRU, I3D):
            bundle, reason = self.store.bundle(arch, selection)
            card = cards.model_card(arch, bundle, reason)
            out += [card.markdown, card.metrics, card.history, card.confusion, card.per_class]
        return tuple(out)

    @user_errors
    def load_bundle(self, source: str, selection: Selection | None, progress: gr.Progress = gr.Progress()) -> tuple:
        """Outputs: the session's new selection, a status line, the weights banner."""
        source = (source or "").strip()
        if not source:
            raise gr.Error("Give a bundle folder or hf://owner/repo[@revision].")
        if not source.startswith("hf://") and not self.allow_local_paths:
            raise gr.Error("Loading folders on the server is switched off here; use hf://owner/repo[@revision].")
        progress(0.1, desc=f"loading {source}")
        bundle = self.store.load_extra(source)
        selection = {**(selection or {}), bundle.architecture: source}
        status = f"Loaded for this session: {cards.weights_line(bundle)}"
        return selection, status, self.weights_banner(selection)

    def shipped_choices(self) -> list[tuple[str, str]]:
        """(label, folder name) of each bundle in the weights folder, for the Models tab's picker:
        the folder, its kind (real ASL / demo / the user's) and its number of classes."""
        kinds = {"project": "real ASL, trained by this project", "demo": "DEMO, synthetic signer, not ASL"}
        out = []
        for name, (_, manifest) in self.store.shipped().items():
            kind = (manifest.get("provenance") or {}).get("kind", "")
            arch = manifest.get("architecture")
            classes = (manifest.get("model_args") or {}).get("num_classes")
            parts = [MODEL_TITLES.get(arch, "model read from its checkpoint"), kinds.get(kind, kind or "yours")]
            out.append((f"{name} ({', '.join(parts)}" + (f", {classes} classes)" if classes else ")"), name))
        return out

    @user_errors
    def use_shipped_bundle(self, name: str | None, selection: Selection | None,
                           progress: gr.Progress = gr.Progress()) -> tuple:  # fmt: skip
        """A bundle of the weights folder, by folder name, for this session (allowed where server paths
        are not: only those names are accepted). Outputs as `load_bundle`'s."""
        folder, _ = self.store.shipped().get((name or "").strip(), (None, None))
        if folder is None:
            raise gr.Error(f"{name!r} is not a bundle in the weights folder; pick one of the list.")
        progress(0.1, desc=f"loading {folder.name}")
        bundle = self.store.load_extra(str(folder))
        selection = {**(selection or {}), bundle.architecture: str(folder)}
        return selection, f"Loaded for this session: {cards.weights_line(bundle)}", self.weights_banner(selection)

    def reset_bundles(self) -> tuple:
        """Outputs: an empty selection, a status line, the weights banner (defaults)."""
        return {}, "Back to the default weights.", self.weights_banner({})

    # ------------------------------------------------------------------ training

    def training_table(self) -> list[list[str]]:
        """[script, command, what it does] of every training/data script."""
        return [[s.relpath, s.command, s.summary] for s in self.scripts.values()]

    def training_choices(self) -> list[str]:
        return list(self.scripts)

    def training_show(self, module: str | None) -> tuple:
        """Outputs: the script's source, and markdown with its link, commands and --help."""
        script = self.scripts.get(module or "")
        if script is None:
            return "", "No training scripts found in `signdemo/train/`." if not self.scripts else ""
        url = training.repository_url(script.relpath)
        link = f"[`{script.relpath}`]({url})" if url else f"`{script.relpath}` (in the repository)"
        commands = "\n".join(script.commands) or script.command
        md = (f"### {script.module}\n{script.summary}\n\n**File:** {link}\n\n**Run:**\n```bash\n{commands}\n```\n"
              f"<details><summary>all options (--help)</summary>\n\n```text\n{training.script_help(script)}\n```\n</details>")  # fmt: skip
        return script.path.read_text(encoding="utf-8"), md

"""What the Recognise tab shows for one clip, built from a `ClipResult` (no gradio here).

`clip_view` turns the engine's answer into plain values that map one to one onto the page: the
overlay video, per model a header (weights, latency) and its top-5, the agree/disagree banner, the
attention figure with thumbnails of the frames where attention peaks, and the I3D's scores over
time.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import plotly.graph_objects as go

from signdemo.inference import ClipResult, Prediction, Recognizer
from signdemo.ui import plots
from signdemo.ui.cards import weights_line
from signdemo.ui.store import MODEL_TITLES
from signdemo.weights import BIGRU, I3D

THUMB_HEIGHT = 180


@dataclass
class ClipView:
    overlay: Path | None
    headers: dict[str, str]  # architecture -> markdown: weights, latency, status
    top: dict[str, dict[str, float] | None]  # architecture -> {label: probability} (top-k) or None
    agreement: str  # HTML banner
    attention: go.Figure
    thumbnails: list[tuple[np.ndarray, str]]  # (RGB image, caption) of the attention peaks
    i3d_time: go.Figure
    details: dict  # JSON summary (the API's answer)
    warnings: list[str] = field(default_factory=list)


def _ms(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def latency_text(architecture: str, result: ClipResult, pred: Prediction) -> str:
    t = pred.timings_ms
    if architecture == BIGRU:
        landmarks = result.timings_ms.get("landmarks", 0.0)
        per_frame = result.timings_ms.get("landmarks_per_frame")
        rows = len(result.landmarks.points) if result.landmarks is not None else 0
        text = f"landmarks {_ms(landmarks)}"
        if per_frame:
            text += f" ({rows} frames, {per_frame:.0f} ms/frame)"
        return text + f" + BiGRU {_ms(t.get('features', 0) + t.get('bigru', 0))}"
    n = len(pred.frame_indices) if pred.frame_indices is not None else 0
    return f"I3D {_ms(t.get('i3d', 0) + t.get('i3d_preprocess', 0))} on {n} frames"


def model_header(architecture: str, recognizer: Recognizer, result: ClipResult | None, reason: str | None,
                 pending: bool = False) -> str:  # fmt: skip
    """Markdown above a model's top-5: its title, weights and latency (or why it has no answer)."""
    bundle = recognizer.bigru if architecture == BIGRU else recognizer.i3d
    lines = [f"### {MODEL_TITLES[architecture]}", weights_line(bundle, reason)]
    pred = None if result is None else (result.bigru if architecture == BIGRU else result.i3d)
    if pending:
        lines.append("**Running…** (the RGB model takes a few seconds on a CPU)")
    elif pred is not None and result is not None:
        lines.append(f"**Latency:** {latency_text(architecture, result, pred)}")
    elif result is not None and architecture in result.errors:
        lines.append(f"**No answer:** {result.errors[architecture]}")
    return "  \n".join(lines)


def top_dict(pred: Prediction | None) -> dict[str, float] | None:
    """{label: probability} for gr.Label (duplicate labels keep the higher score)."""
    if pred is None:
        return None
    out: dict[str, float] = {}
    for label, p in zip(pred.labels, pred.probabilities):
        out[label] = max(p, out.get(label, 0.0))
    return out


def agreement_html(result: ClipResult, pending: bool = False) -> str:
    """A banner saying whether the two models' top-1 agree (or that the RGB model is still running)."""
    b, m = result.bigru, result.i3d
    if pending:
        said = f"keypoints say <b>{html.escape(b.top1)}</b> ({b.probabilities[0]:.0%}); " if b else ""
        return f'<div class="sd-banner sd-none">{said}waiting for the RGB model…</div>'
    if b is not None and m is not None and not result.comparable:
        kinds = "one is the synthetic demo model, " if b.is_demo != m.is_demo else ""
        return (f'<div class="sd-banner sd-none">The two models know different vocabularies '
                f"({kinds}{len(b.vocabulary)} and {len(m.vocabulary)} labels), so their answers cannot agree: "
                f"keypoints say <b>{html.escape(b.top1)}</b> ({b.probabilities[0]:.0%}), RGB says "
                f"<b>{html.escape(m.top1)}</b> ({m.probabilities[0]:.0%})</div>")  # fmt: skip
    if b is not None and m is not None:
        if result.agree:
            return (f'<div class="sd-banner sd-agree">✔ Both models agree: <b>{html.escape(b.top1)}</b> '
                    f"(keypoints {b.probabilities[0]:.0%}, RGB {m.probabilities[0]:.0%})</div>")  # fmt: skip
        return (f'<div class="sd-banner sd-disagree">✘ The models disagree: keypoints say '
                f"<b>{html.escape(b.top1)}</b> ({b.probabilities[0]:.0%}), RGB says "
                f"<b>{html.escape(m.top1)}</b> ({m.probabilities[0]:.0%})</div>")  # fmt: skip
    only = b or m
    if only is None:
        return '<div class="sd-banner sd-none">Neither model gave an answer.</div>'
    who = "keypoint" if only is b else "RGB"
    return (f'<div class="sd-banner sd-none">Only the {who} model answered: '
            f"<b>{html.escape(only.top1)}</b> ({only.probabilities[0]:.0%})</div>")  # fmt: skip


def peak_thumbnails(result: ClipResult, frames: np.ndarray, source_indices: np.ndarray, fps: float,
                    peaks: list[int]) -> list[tuple[np.ndarray, str]]:  # fmt: skip
    """RGB thumbnails (landmarks drawn) of the source frames at the attention peaks, in time order."""
    from signdemo.overlay import draw_landmarks

    pred, lm = result.bigru, result.landmarks
    if pred is None or pred.attention_frames is None or lm is None:
        return []
    thumbs = []
    for step in peaks:
        f = int(pred.attention_frames[step])
        if f < 0:
            continue
        pos = int(np.clip(np.searchsorted(source_indices, f), 0, len(frames) - 1))
        row = int(np.clip(np.searchsorted(lm.frame_indices, f, side="right") - 1, 0, len(lm.points) - 1))
        image = draw_landmarks(frames[pos], lm.points[row], lm.present[row])
        scale = THUMB_HEIGHT / image.shape[0]
        image = cv2.resize(image, (max(1, round(image.shape[1] * scale)), THUMB_HEIGHT), interpolation=cv2.INTER_AREA)
        caption = f"frame {f} · {f / fps:.2f} s · attention {pred.attention[step]:.1%}"
        thumbs.append((cv2.cvtColor(image, cv2.COLOR_BGR2RGB), caption))
    return thumbs


def render_clip_overlay(result: ClipResult, clip, out_dir: Path) -> Path:
    """The landmark overlay of a result's clip as browser-playable H.264, `out_dir`/overlay.mp4."""
    from signdemo.overlay import render_overlay

    return render_overlay(out_dir / "overlay.mp4", clip.frames, result.landmarks, clip.fps,
                          frame_indices=clip.source_indices)  # fmt: skip


def clip_view(result: ClipResult, clip, recognizer: Recognizer, reasons: dict[str, str | None] | None = None, *,
              pending_i3d: bool = False, overlay: Path | None = None) -> ClipView:  # fmt: skip
    """Everything the Recognise tab shows. `clip` is the decoded `video.Clip` the result came from;
    `reasons`: why a model has no weights (architecture -> message); `pending_i3d`: the BiGRU
    answered and the I3D is still running; `overlay`: the clip's overlay (`render_clip_overlay`),
    None while it is being encoded."""
    reasons = reasons or {}
    fps = clip.fps
    headers = {BIGRU: model_header(BIGRU, recognizer, result, reasons.get(BIGRU)),
               I3D: model_header(I3D, recognizer, result, reasons.get(I3D), pending=pending_i3d)}  # fmt: skip
    top = {BIGRU: top_dict(result.bigru), I3D: top_dict(result.i3d)}

    b = result.bigru
    if b is not None and b.attention is not None:
        peaks = plots.attention_peaks(b.attention)
        attention = plots.attention_figure(b.attention, b.attention_frames, clip.info.fps or fps, peaks)
        thumbnails = peak_thumbnails(result, clip.frames, clip.source_indices, clip.info.fps or fps, peaks)
    else:
        why = "no keypoint model answer" if recognizer.bigru is not None else "no keypoint model loaded"
        attention, thumbnails = plots.empty_figure(f"No attention to show ({why})"), []

    m = result.i3d
    if m is not None and m.time_scores is not None and recognizer.i3d is not None:
        i3d_time = plots.i3d_time_figure(m.time_scores, m.time_frames, recognizer.i3d.labels, m.indices,
                                         clip.info.fps or fps)  # fmt: skip
    elif pending_i3d:
        i3d_time = plots.empty_figure("The RGB model is running…")
    else:
        i3d_time = plots.empty_figure("No I3D scores to show" + ("" if recognizer.i3d else " (no I3D loaded)"))

    return ClipView(
        overlay=overlay,
        headers=headers,
        top=top,
        agreement=agreement_html(result, pending_i3d),
        attention=attention,
        thumbnails=thumbnails,
        i3d_time=i3d_time,
        details=result_details(result, clip),
        warnings=list(result.warnings),
    )


def result_details(result: ClipResult, clip) -> dict:
    """The JSON answer (also the API's): both models' top-k, timings, warnings, the input as read."""
    out = result.as_dict()
    # Not "path": gradio's JSON handling takes any {"path": ...} object for a file to serve.
    out.pop("path", None)
    out = {"clip": Path(result.path).name, **out}
    info = clip.info
    out["input"] = {
        "width": info.width, "height": info.height, "fps": info.fps, "frames_decoded": len(clip),
        "duration_s": round(len(clip) / clip.fps, 3), "codec": info.codec,
        "rotation": info.rotation, "mirrored_input": bool(clip.mirrored_input), "scale": round(float(clip.scale), 4),
        "landmark_frames": len(result.landmarks.points) if result.landmarks is not None else 0,
    }  # fmt: skip
    return out

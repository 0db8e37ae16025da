"""Model cards: what a loaded bundle is, where it came from, and only the scores it was shipped with.

A card never shows a number that was not measured: metrics come from the bundle's `reports/` (as
written by the trainers) and nowhere else; a bundle without reports says so. Where validation and
test top-1 diverge strongly the card says that the split may leak (`reports.split_leak_warning`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go

from signdemo.features import FeatureConfig
from signdemo.reports import Reports, read_reports, split_leak_warning
from signdemo.ui import plots
from signdemo.ui.store import DEMO_LABEL, MODEL_TITLES
from signdemo.weights import BIGRU, I3D, Bundle

log = logging.getLogger(__name__)

ARCHITECTURE_NOTES = {
    BIGRU: "MediaPipe Holistic keypoints (75 points × xyz + velocities = 450 features on 200 steps) → "
    "linear projection → 2-layer bidirectional GRU → attention pooling over time → embedding → classifier.",
    I3D: "Inflated Inception-V1 (I3D) on RGB frames (224×224 centre crop, BGR, [-1, 1]); per-time class "
    "scores pooled over time (max, as in WLASL's evaluation).",
}

#: Report metrics as (key, label, is a fraction shown as a percentage).
_METRICS = (
    ("test_top1", "test top-1", True), ("test_top5", "test top-5", True),
    ("test_macro_f1", "test macro F1", True), ("test_weighted_f1", "test weighted F1", True),
    ("best_val_top1", "best validation top-1", True), ("best_epoch", "best epoch", False),
    ("test_loss", "test loss", False), ("test_correct", "test correct", False), ("test_total", "test samples", False),
)  # fmt: skip


def weights_line(bundle: Bundle | None, error: str | None = None) -> str:
    """One markdown line saying which weights a model runs on (or why it has none)."""
    if bundle is None:
        return f"**No weights loaded.** {error or ''}".strip()
    text = f"`{bundle.describe()}`"
    if bundle.is_demo:
        text += f"  \n⚠️ **{DEMO_LABEL}**"
    measured = _measured_text(bundle.reports_dir)
    if measured:
        text += f"  \n{measured}"
    return text


def _measured_text(reports_dir) -> str:
    """`measured_line` of a bundle's final_metrics.json, read once per version of the file (this
    line is in every answer's header, so it must not read the reports on each request)."""
    path = reports_dir / "final_metrics.json" if reports_dir is not None else None
    if path is None or not path.is_file():
        return ""
    return _measured_cached(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _measured_cached(path: str, mtime_ns: int) -> str:
    return measured_line(json.loads(Path(path).read_text(encoding="utf-8")))


def measured_line(metrics: dict) -> str:
    """"Measured: test top-1 .. (top-5 ..) on N clips" from final_metrics.json; "" when not measured."""
    top1, total = metrics.get("test_top1"), metrics.get("test_total")
    if not isinstance(top1, (int, float)):
        return ""
    top5 = metrics.get("test_top5")
    text = f"Measured on its held-out test split: top-1 {top1:.1%}"
    if isinstance(top5, (int, float)):
        text += f", top-5 {top5:.1%}"
    return text + (f" ({total} clips)" if total else "")


def synth_vocabulary() -> dict[str, dict[str, str]]:
    """label -> {title, how_to, ...} of the synthetic signer's classes; {} if unavailable."""
    try:
        from signdemo.synth import vocabulary as vocab
    except Exception as exc:  # the synthetic signer is optional for the app
        log.info("no synthetic vocabulary: %s", exc)
        return {}
    rows = []
    if callable(getattr(vocab, "try_these_table", None)):
        rows = vocab.try_these_table()
    else:
        for c in getattr(vocab, "VOCABULARY", ()):
            rows.append({"label": getattr(c, "name", ""), "title": getattr(c, "title", ""),
                         "how_to": getattr(c, "how_to", "") or getattr(c, "description", "")})  # fmt: skip
    return {str(r.get("label")): dict(r) for r in rows if r.get("label")}


def vocabulary_rows(bundle: Bundle | None) -> list[list[str]]:
    """Rows [label, how to sign it] for a bundle's vocabulary (descriptions for demo weights)."""
    if bundle is None:
        return []
    known = synth_vocabulary() if bundle.is_demo else {}
    rows = []
    for label in bundle.labels:
        info = known.get(label, {})
        how = info.get("how_to") or info.get("description") or ""
        title = info.get("title") or ""
        rows.append([label, f"{title}: {how}" if title and how else (how or title)])
    return rows


def preprocessing_rows(bundle: Bundle) -> list[list[str]]:
    """[option, value, where from] of the bundle's preprocessing, defaults filled in: "bundle"
    (recorded), "default", or "assumed" (our reading of a published recipe, not yet settled)."""
    if bundle.architecture == BIGRU:
        resolved = FeatureConfig.from_dict(bundle.preprocessing).to_dict()
    else:
        from signdemo.i3d_input import I3DInputConfig

        resolved = dataclasses.asdict(I3DInputConfig(**bundle.preprocessing))
    return [[k, str(v), "assumed" if k in bundle.assumed else "bundle" if k in bundle.preprocessing else "default"]
            for k, v in resolved.items()]  # fmt: skip


def landmark_lines(bundle: Bundle) -> list[str]:
    """Markdown: which MediaPipe graph a keypoint model's landmarks come from (`landmark_model`)."""
    if bundle.architecture != BIGRU:
        return []
    from signdemo.landmarks import DEFAULT_LANDMARK_MODEL, LANDMARK_MODELS

    model = bundle.provenance.get("landmark_model")
    how = "recorded in the bundle" if model else "none recorded, so the default"
    model = model or DEFAULT_LANDMARK_MODEL
    return [f"\n**Landmarks:** `{model}` ({how}): {LANDMARK_MODELS.get(model, 'unknown to this version')}"]


def assumed_lines(bundle: Bundle) -> list[str]:
    """Markdown: what the bundle's record assumes (option = value, and why), and how to settle it."""
    if not bundle.assumed:
        return []
    values = {**{k: str(v) for k, v in bundle.model_args.items()}, **{k: str(v) for k, v in bundle.preprocessing.items()}}
    fps = bundle.provenance.get("landmark_extraction_fps")
    if fps is not None:
        values["landmark_extraction_fps"] = f"{fps} rows/s" if fps else "every frame"
    items = "\n".join(f"- `{k}` = `{values.get(k, '?')}` (assumed): {why}" for k, why in bundle.assumed.items())
    return [
        f"\n**Assumed, not settled ({len(bundle.assumed)}):** the public record of these weights leaves these "
        "options open; the values are our best reading. `python -m signdemo parity` (features, on the "
        "data set's raw videos) and `python -m signdemo evaluate DATA --try-assumptions` (the activation) settle "
        "them on real data.",
        f"<details><summary>assumed options and why</summary>\n\n{items}\n</details>",
    ]


def i3d_frames_lines(bundle: Bundle) -> list[str]:
    """Markdown: which frames an I3D is given, when its contract is WLASL's (every frame, capped)."""
    if bundle.architecture != I3D:
        return []
    from signdemo.i3d_input import I3DInputConfig

    cfg = I3DInputConfig(**bundle.preprocessing)
    if cfg.sampling != "all":
        return []
    return [f"\n**Frames:** every frame at the clip's own rate (WLASL's contract), at least {cfg.min_frames} "
            f"(a shorter clip repeats its last frame) and at most {cfg.num_frames}: a longer clip gives its "
            f"middle {cfg.num_frames} consecutive frames, and the answer says so."]  # fmt: skip


def metrics_rows(metrics: dict) -> list[list[str]]:
    """[metric, value] for the metrics present in final_metrics.json, nothing else."""
    rows = []
    for key, label, fraction in _METRICS:
        value = metrics.get(key)
        if value is None:
            continue
        if fraction and isinstance(value, (int, float)):
            rows.append([label, f"{value:.2%}" if value <= 1.5 else f"{value:.2f}%"])
        elif isinstance(value, float):
            rows.append([label, f"{value:.4g}"])
        else:
            rows.append([label, str(value)])
    return rows


@dataclass
class Card:
    """Everything the Models tab shows for one model."""

    markdown: str
    metrics: list[list[str]]
    history: go.Figure
    confusion: go.Figure
    per_class: go.Figure


def card_markdown(architecture: str, bundle: Bundle | None, error: str | None, reports: Reports) -> str:
    title = MODEL_TITLES[architecture]
    if bundle is None:
        return f"## {title}\n\n**No weights are loaded for this model.** {error or ''}\n\nThe other model still works."
    prov = bundle.provenance
    lines = [
        f"## {title}",
        weights_line(bundle),
        "",
        f"**Architecture:** `{bundle.architecture}` · {bundle.num_parameters:,} parameters · "
        f"{bundle.num_classes} classes  \n{ARCHITECTURE_NOTES.get(bundle.architecture, '')}",
        "",
        f"**Provenance:** {prov.get('kind', 'unknown')}: {prov.get('description', 'no description recorded')}",
    ]
    extra = {k: v for k, v in prov.items() if k not in ("kind", "description")}
    if extra:
        lines.append(f"<details><summary>provenance details</summary>\n\n```json\n{json.dumps(extra, indent=1)}\n```\n</details>")
    lines.append(f"\n**Source:** `{bundle.source}`")
    sha = (bundle.manifest or {}).get("sha256") or {}
    if sha:
        lines.append("**Checksums (sha256, verified at load):** " + ", ".join(
            f"`{k}` {v[:12]}…" for k, v in sha.items()))  # fmt: skip
    pre = preprocessing_rows(bundle)
    lines.append("\n**Preprocessing:** " + ", ".join(f"`{k}={v}`" + ("" if src == "bundle" else f" ({src})")
                                                     for k, v, src in pre))  # fmt: skip
    lines += landmark_lines(bundle) + assumed_lines(bundle) + i3d_frames_lines(bundle)
    shown = ", ".join(bundle.labels[:40]) + (f", … ({bundle.num_classes} in all)" if bundle.num_classes > 40 else "")
    lines.append(f"\n**Vocabulary ({bundle.num_classes}):** {shown}")
    if reports.empty:
        lines.append("\n**Measured scores:** none shipped with these weights (no `reports/` folder), so none are shown.")
    else:
        lines.append("\n**Measured scores:** as written by the training run into this bundle's `reports/`.")
        warning = split_leak_warning(reports.metrics)
        if warning:
            lines.append(f"\n> ⚠️ **The split may leak.** {warning}")
    return "\n".join(lines)


def model_card(architecture: str, bundle: Bundle | None, error: str | None = None) -> Card:
    """The card of one model (figures are placeholders where the reports have nothing)."""
    reports = read_reports(bundle.reports_dir) if bundle is not None else Reports()
    name = MODEL_TITLES[architecture]
    if reports.confusion is not None and bundle is not None and len(bundle.labels) == reports.confusion.shape[0]:
        confusion = plots.confusion_figure(reports.confusion, bundle.labels, title=f"{name}: test confusion matrix")
    else:
        confusion = plots.empty_figure("no test_confusion_matrix.npy in this bundle's reports/")
    return Card(
        markdown=card_markdown(architecture, bundle, error, reports),
        metrics=metrics_rows(reports.metrics),
        history=plots.history_figure(reports.history),
        confusion=confusion,
        per_class=plots.per_class_f1_figure(reports.classification),
    )

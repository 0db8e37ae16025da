"""Plotly figures of the app: large, plain, readable from the back of a room.

Every function takes numpy arrays / plain rows and returns a `plotly.graph_objects.Figure`; none
loads a model or touches gradio.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

BIGRU_COLOR = "#2563eb"
I3D_COLOR = "#ea580c"
PEAK_COLOR = "#dc2626"
#: Distinct colours for the I3D's top classes over time.
CLASS_COLORS = ("#ea580c", "#2563eb", "#16a34a", "#9333ea", "#0891b2", "#ca8a04")
FONT_SIZE = 15


def _style(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": FONT_SIZE + 3}},
        template="plotly_white",
        font={"size": FONT_SIZE},
        height=height,
        margin={"l": 60, "r": 40, "t": 60, "b": 55},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
    )
    return fig


def empty_figure(message: str, height: int = 300) -> go.Figure:
    """A blank figure with a centred message (instead of an empty plot area)."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": FONT_SIZE + 1, "color": "#6b7280"})  # fmt: skip
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, "", height)


# ------------------------------------------------------------------------------------ attention


def attention_peaks(attention: np.ndarray, k: int = 4, min_separation: int = 12) -> list[int]:
    """Steps of the `k` highest attention peaks, at least `min_separation` steps apart, in time order.

    attention: (S,) weights over the feature steps. Greedy: take the highest remaining step, then
    suppress its neighbourhood.
    """
    a = np.asarray(attention, dtype=np.float64).copy()
    peaks: list[int] = []
    for _ in range(min(k, len(a))):
        i = int(np.argmax(a))
        if not np.isfinite(a[i]) or a[i] < 0:
            break
        peaks.append(i)
        a[max(0, i - min_separation) : i + min_separation + 1] = -np.inf
    return sorted(peaks)


def attention_figure(
    attention: np.ndarray,
    attention_frames: np.ndarray | None = None,
    fps: float | None = None,
    peaks: list[int] | None = None,
    title: str = "Where the BiGRU looked: attention over the 200 steps",
    height: int = 360,
) -> go.Figure:
    """The BiGRU's attention over its input steps, with the peak steps marked.

    attention: (S,) weights summing to 1; attention_frames: (S,) source-video frame of each step
    (-1 = padding); fps: the source video's rate (for the hover text).
    """
    attention = np.asarray(attention, dtype=np.float64)
    steps = np.arange(len(attention))
    frames = np.asarray(attention_frames) if attention_frames is not None else None
    hover = []
    for i in steps:
        f = None if frames is None else int(frames[i])
        if f is None:
            hover.append(f"step {i}")  # keypoint-only data: no video frames to point to
        elif f < 0:
            hover.append("padding")
        elif fps:
            hover.append(f"frame {f} ({f / fps:.2f} s)")
        else:
            hover.append(f"frame {f}")
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=steps, y=attention * 100, mode="lines", name="attention", line={"color": BIGRU_COLOR, "width": 3},
        fill="tozeroy", fillcolor="rgba(37, 99, 235, 0.15)", customdata=hover,
        hovertemplate="step %{x}: %{y:.2f}%<br>%{customdata}<extra></extra>",
    ))  # fmt: skip
    fig.add_hline(y=100 / max(len(attention), 1), line={"dash": "dot", "color": "#9ca3af"},
                  annotation_text="uniform", annotation_position="top left")  # fmt: skip
    if peaks:
        labels = [hover[p] for p in peaks]
        fig.add_trace(go.Scatter(
            x=peaks, y=attention[peaks] * 100, mode="markers+text", name="peaks",
            marker={"color": PEAK_COLOR, "size": 12, "symbol": "diamond"},
            text=[lab.split(" (")[0] for lab in labels], textposition="top center",
            textfont={"color": PEAK_COLOR}, hovertemplate="peak at step %{x}<extra></extra>", cliponaxis=False,
        ))  # fmt: skip
    fig.update_xaxes(title="feature step (the clip resampled to 200 steps)", range=[-1, len(attention)])
    top = float(attention.max() * 100) if len(attention) else 1.0
    fig.update_yaxes(title="attention (%)", range=[0, top * 1.3 + 1e-6])  # headroom for the peak labels
    return _style(fig, title, height)


def live_attention_figure(attention: np.ndarray, seconds_ago: np.ndarray, height: int = 300) -> go.Figure:
    """Attention of the rolling live prediction against time (seconds before now, 0 = now)."""
    attention = np.asarray(attention, dtype=np.float64)
    fig = go.Figure(go.Scatter(
        x=-np.asarray(seconds_ago, dtype=np.float64), y=attention * 100, mode="lines",
        line={"color": BIGRU_COLOR, "width": 3}, fill="tozeroy", fillcolor="rgba(37, 99, 235, 0.15)",
        hovertemplate="%{x:.2f} s: %{y:.2f}%<extra></extra>", name="attention",
    ))  # fmt: skip
    fig.update_xaxes(title="seconds before now")
    fig.update_yaxes(title="attention (%)", rangemode="tozero")
    return _style(fig, "Attention over the last seconds", height)


# ------------------------------------------------------------------------------------ I3D over time


def i3d_time_figure(
    time_scores: np.ndarray,
    time_frames: np.ndarray,
    labels: list[str],
    top: list[int],
    fps: float | None = None,
    height: int = 360,
) -> go.Figure:
    """Per-time class probabilities of the I3D for its top classes.

    time_scores: (T', C) softmax per time step; time_frames: (T',) source frame at the centre of
    each step; top: class indices to draw (its top-k over the whole clip).
    """
    time_scores = np.asarray(time_scores)
    frames = np.asarray(time_frames, dtype=np.float64)
    x = frames / fps if fps else frames
    fig = go.Figure()
    for n, c in enumerate(top):
        fig.add_trace(go.Scatter(
            x=x, y=time_scores[:, c] * 100, mode="lines+markers", name=labels[c],
            line={"color": CLASS_COLORS[n % len(CLASS_COLORS)], "width": 3}, marker={"size": 8},
            hovertemplate=f"{labels[c]}: " + "%{y:.1f}%<extra></extra>",
        ))  # fmt: skip
    fig.update_xaxes(title="time in the clip (s)" if fps else "source frame")
    fig.update_yaxes(title="probability (%)", range=[0, 100])
    title = "I3D: class scores over time"
    if len(frames) < 2:
        title += " (clip too short for more than one step)"
    return _style(fig, title, height)


# ------------------------------------------------------------------------------------ evaluation


def confusion_figure(
    cm: np.ndarray, labels: list[str], title: str = "Confusion matrix", normalize: bool = True, height: int = 520
) -> go.Figure:
    """Heatmap of a (C, C) confusion matrix (rows = true class), row-normalised by default.

    Classes that never occur (no row and no column counts) are left out so a small evaluation set
    on a large vocabulary stays readable; tick labels are hidden beyond 40 classes (hover still
    names them).
    """
    cm = np.asarray(cm, dtype=np.float64)
    used = np.flatnonzero((cm.sum(axis=0) + cm.sum(axis=1)) > 0)
    if len(used) == 0:
        return empty_figure("nothing to show: no sample was scored")
    sub = cm[np.ix_(used, used)]
    names = [labels[i] for i in used]
    z = sub / np.maximum(sub.sum(axis=1, keepdims=True), 1) if normalize else sub
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, colorscale="Blues", zmin=0, zmax=1 if normalize else None,
        customdata=sub, colorbar={"title": "share of row" if normalize else "count"},
        hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata:.0f} samples<extra></extra>",
    ))  # fmt: skip
    if len(names) <= 20:
        for i in range(len(names)):
            for j in range(len(names)):
                if sub[i, j]:
                    fig.add_annotation(x=names[j], y=names[i], text=str(int(sub[i, j])), showarrow=False,
                                       font={"color": "white" if z[i, j] > 0.5 else "#111827"})  # fmt: skip
    fig.update_yaxes(title="true class", autorange="reversed", showticklabels=len(names) <= 40, type="category")
    fig.update_xaxes(title="predicted class", showticklabels=len(names) <= 40, type="category")
    return _style(fig, title, height)


def history_figure(history: list[dict], height: int = 380) -> go.Figure:
    """Training curves from `training_history.csv` rows: loss and top-1, train and validation."""
    if not history:
        return empty_figure("no training_history.csv in this bundle's reports/")
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "top-1"))
    series = (
        ("train_loss", 1, "train", BIGRU_COLOR), ("val_loss", 1, "validation", I3D_COLOR),
        ("train_top1", 2, "train", BIGRU_COLOR), ("val_top1", 2, "validation", I3D_COLOR),
    )  # fmt: skip
    shown = set()
    for key, col, name, color in series:
        values = [row.get(key) for row in history]
        if all(v is None or v == "" for v in values):
            continue
        fig.add_trace(go.Scatter(
            x=epochs, y=values, mode="lines+markers", name=name, legendgroup=name, showlegend=name not in shown,
            line={"color": color, "width": 3},
        ), row=1, col=col)  # fmt: skip
        shown.add(name)
    fig.update_xaxes(title="epoch")
    return _style(fig, "Training curves (from reports/training_history.csv)", height)


def per_class_f1_figure(per_class: list[dict], max_bars: int = 30, height: int | None = None) -> go.Figure:
    """Horizontal bars of per-class F1, worst first; beyond `max_bars` classes the worst and best
    halves are shown."""
    rows = [r for r in per_class if r.get("f1") is not None and r.get("label") is not None]
    if not rows:
        return empty_figure("no per-class report in this bundle's reports/")
    rows = sorted(rows, key=lambda r: float(r["f1"]))
    title = "Per-class F1 on the test split"
    if len(rows) > max_bars:
        half = max_bars // 2
        rows = rows[:half] + rows[-half:]
        title += f" ({half} lowest and {half} highest of {len(per_class)} classes)"
    fig = go.Figure(go.Bar(
        x=[float(r["f1"]) for r in rows], y=[str(r["label"]) for r in rows], orientation="h",
        marker={"color": BIGRU_COLOR}, hovertemplate="%{y}: F1 %{x:.3f}<extra></extra>",
    ))  # fmt: skip
    fig.update_xaxes(title="F1", range=[0, 1])
    fig.update_yaxes(type="category")
    return _style(fig, title, height or max(320, 24 * len(rows) + 120))

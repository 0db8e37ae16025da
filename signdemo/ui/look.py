"""The app's look: a clean theme on system fonts (nothing fetched from the network at the venue)."""

from __future__ import annotations

import gradio as gr

_SANS = [gr.themes.Font("ui-sans-serif"), gr.themes.Font("system-ui"), gr.themes.Font("Segoe UI"),
         gr.themes.Font("Helvetica"), gr.themes.Font("Arial"), gr.themes.Font("sans-serif")]  # fmt: skip
_MONO = [gr.themes.Font("ui-monospace"), gr.themes.Font("SFMono-Regular"), gr.themes.Font("Menlo"),
         gr.themes.Font("Consolas"), gr.themes.Font("monospace")]  # fmt: skip


def theme() -> gr.themes.Base:
    """Soft theme, blue accents, system fonts only (the default theme loads Google Fonts)."""
    return gr.themes.Soft(primary_hue="blue", secondary_hue="orange", neutral_hue="slate", font=_SANS, font_mono=_MONO)


CSS = """
.sd-banner { padding: 12px 16px; border-radius: 10px; font-size: 1.2rem; margin: 4px 0; }
.sd-agree { background: #dcfce7; color: #14532d; border: 1px solid #86efac; }
.sd-disagree { background: #fef3c7; color: #78350f; border: 1px solid #fcd34d; }
.sd-none { background: #f1f5f9; color: #334155; border: 1px solid #cbd5e1; }
.sd-weights { font-size: 0.95rem; }
.sd-weights code { white-space: normal; }
"""

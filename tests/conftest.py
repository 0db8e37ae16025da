"""Shared pytest fixtures. Keep this small: one clearly named fixture per shared need."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from _video_fixtures import synthetic_frames, write_synthetic_video


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing a small synthetic clip into tmp_path:
    make_video("clip.webm", codec="VP90", n=12, fps=25, width=128, height=96, rotation=0)."""

    def make(
        name: str = "clip.mp4",
        codec: str = "mp4v",
        n: int = 12,
        fps: float = 25,
        width: int = 128,
        height: int = 96,
        rotation: int = 0,
    ) -> Path:
        frames = synthetic_frames(n, width, height)
        return write_synthetic_video(tmp_path / name, frames, fps, codec, rotation)

    return make


@pytest.fixture
def offline(monkeypatch):
    """huggingface_hub as on a machine without network (HF_HUB_OFFLINE=1, also for code that already
    imported it)."""
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

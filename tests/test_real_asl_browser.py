"""Real ASL through the browser: the app as shipped (weights/ as in the repository, offline) in
headless Chromium, a real WLASL clip of a WLASL100 gloss played by the fake webcam and recorded on
the Recognise tab. The page must show the same keypoint top-5 as the library on the same recording.
"""

from __future__ import annotations

import re
import time

import pytest

from _app_helpers import DATA, camera_frames, launched_app, write_y4m
from _paths import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]

from test_app_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, sync_api  # noqa: E402  (skips without Chromium)

CLIP = DATA / "wlasl_clips" / "09960.mp4"  # "change", in WLASL100
PERCENT = re.compile(r"^\d+(\.\d+)?%$")


@pytest.fixture(scope="module")
def shipped_app(tmp_path_factory):
    if not CLIP.is_file():
        pytest.skip(f"{CLIP} is not available (needs ../shared)")
    tmp = tmp_path_factory.mktemp("real-asl")
    with launched_app(REPO / "weights", tmp, env={"SIGNDEMO_EXAMPLES_DIR": str(REPO / "examples")}) as (url, _, log):
        yield url, tmp, log


@pytest.fixture(scope="module")
def page(shipped_app, tmp_path_factory):
    y4m = write_y4m(tmp_path_factory.mktemp("camera") / "change.y4m", camera_frames(CLIP, marker=False))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + [
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}"])  # fmt: skip
        pg = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        pg.goto(shipped_app[0], wait_until="load")
        pg.wait_for_selector("#recognise-btn", timeout=120_000)
        pg.wait_for_function("(document.querySelector('#weights-banner')?.innerText || '').includes('classes')",
                             timeout=120_000)  # fmt: skip
        yield pg
        browser.close()


def _label_names(text: str) -> list[str]:
    """The labels a gr.Label lists, in its order (its text alternates label and percentage)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return [line for line, nxt in zip(lines, lines[1:]) if PERCENT.match(nxt)]


def test_the_webcam_recording_of_a_real_sign_gets_the_library_top5(page, shipped_app):
    banner = page.inner_text("#weights-banner")
    assert "real ASL weights trained by this project, 100 classes" in banner and "Measured" in banner

    page.click("#clip-in button[aria-label='Capture from camera']")
    page.locator("#clip-in").get_by_text("Click to Access Webcam").click()
    page.click("#clip-in button[aria-label='start recording']")
    time.sleep(3.5)  # the clip is 3.3 s; the fake camera loops it
    page.click("#clip-in button[aria-label='start recording']")  # the same button stops
    page.wait_for_selector("#clip-in video[src]", timeout=30_000)
    page.click("#recognise-btn")
    page.wait_for_function("(document.querySelector('#bigru-top')?.innerText || '').includes('%')",
                           timeout=120_000)  # fmt: skip
    page.wait_for_selector("#agreement .sd-banner", timeout=120_000)
    shown = _label_names(page.inner_text("#bigru-top"))
    page.screenshot(path=str(SHOTS / "4_real_asl_webcam.png"), full_page=True)

    from signdemo.inference import Recognizer
    from signdemo.weights import BIGRU, resolve_bundle

    recordings = sorted((shipped_app[1] / "gradio").rglob("sample.*"), key=lambda p: p.stat().st_mtime)
    assert recordings, "the webcam recording was not uploaded"
    library = Recognizer(resolve_bundle(BIGRU, weights_dir=REPO / "weights", use_hub=False), None)
    expected = library.recognize(recordings[-1], models=(BIGRU,)).bigru.labels
    assert len(expected) == 5 and shown[:5] == expected, (shown, expected)
    # the synthetic demo I3D beside it knows other labels: the page says they cannot agree
    assert "different vocabularies" in page.inner_text("#agreement")

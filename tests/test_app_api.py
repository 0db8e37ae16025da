"""The launched app as a service: `python app.py` on a loopback port, called through gradio_client."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file

from _app_helpers import WLASL_CLIP, launched_app, make_weights_dir, write_clip
from signdemo.inference import Recognizer
from signdemo.weights import load_bundle


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    weights = make_weights_dir(tmp / "weights")
    with launched_app(weights, tmp) as (url, startup_s, log_path):
        print(f"\napp.py served its first page after {startup_s:.1f} s")
        yield url, weights, tmp


@pytest.fixture(scope="module")
def client(server):
    return Client(server[0], verbose=False)


def test_only_the_recognition_endpoint_is_public(client):
    info = client.view_api(return_format="dict", print_info=False)
    assert list(info["named_endpoints"]) == ["/recognize"]


def test_api_answer_equals_the_library(server, client, tmp_path):
    url, weights, _ = server
    clip = WLASL_CLIP if WLASL_CLIP.is_file() else write_clip(tmp_path / "nobody.mp4")
    got = client.predict(handle_file(str(clip)), False, api_name="/recognize")
    want = Recognizer(load_bundle(weights / "test-bigru"), load_bundle(weights / "test-i3d")).recognize(clip).as_dict()
    assert got["clip"] == clip.name and got["input"]["mirrored_input"] is False
    for model in ("bigru", "i3d"):
        if want[model] is None:
            assert got[model] is None
            continue
        assert [t["label"] for t in got[model]["top"]] == [t["label"] for t in want[model]["top"]]
        for a, b in zip(got[model]["top"], want[model]["top"]):
            assert a["probability"] == pytest.approx(b["probability"], abs=1e-4)
        assert got[model]["weights"] == want[model]["weights"] and got[model]["demo_weights"] is True
    if want["bigru"] is not None:
        assert got["bigru"]["attention"] == pytest.approx(want["bigru"]["attention"], abs=1e-4)
    assert got["agree"] == want["agree"] and got["warnings"] == want["warnings"]


def test_api_errors_carry_the_engine_message(client, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(Exception, match="empty"):
        client.predict(handle_file(str(empty)), False, api_name="/recognize")

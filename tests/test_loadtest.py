"""The load-test script's guards (the load test itself is run by hand: `python -m signdemo.loadtest`)."""

from __future__ import annotations

import os
import socket

import pytest

from signdemo import loadtest


def test_only_loopback_servers_are_load_tested():
    with pytest.raises(SystemExit, match="must be on loopback"):
        loadtest.attach("http://example.com:7860/", None, None)
    server = loadtest.attach("http://127.0.0.1:9/", 123, None)
    assert server.url == "http://127.0.0.1:9/" and server.pid == 123 and server.proc is None


def test_request_count_is_bounded():
    args = loadtest.get_args_parser().parse_args(["--clients", "100"])
    with pytest.raises(SystemExit, match="--clients must be 1..32"):
        loadtest.main(args)


def test_server_process_is_found_by_its_port(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert loadtest._pid_on_port(s.getsockname()[1]) == os.getpid()
    assert loadtest.rss_mib(os.getpid()) > 10
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_text("x")
    (tmp_path / "g").write_text("y")
    assert loadtest.count_files([tmp_path / "a", tmp_path / "missing"]) == 1

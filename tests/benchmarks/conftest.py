"""Fixtures of the benchmark tests."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fixtures.stand_in_oracle import FILES, stand_in_bytes


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def oracle_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """mol_opt's property oracles (stand-in models in PyTDC's file format) on a local mirror:
    the environment for the prepare step, and FT_ORACLE_DIR set for in-process scoring of the
    model cache the test prepares under ``tmp_path``."""
    mirror = tmp_path / "oracle-mirror"
    mirror.mkdir()
    for name, file_name in FILES.items():
        (mirror / file_name).write_bytes(stand_in_bytes(name))
    handler = functools.partial(_Quiet, directory=str(mirror))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("FT_ORACLE_DIR", str(tmp_path / "models" / "oracles"))
    try:
        yield {"FT_ORACLE_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}"}
    finally:
        server.shutdown()
        server.server_close()

"""Issue #15, hardening: each defect reproduced where a user meets it (CLI, page, a real server)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BREAKEVEN = Path(sys.executable).parent / "breakeven"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_sigterm_of_breakeven_dashboard_stops_streamlit(tmp_path):
    port = _free_port()
    env = {**os.environ, "BREAKEVEN_DATA_DIR": str(tmp_path / "workspaces"), "HOME": str(tmp_path)}
    server = subprocess.Popen([BREAKEVEN, "dashboard", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not _listening(port):
            assert server.poll() is None and time.monotonic() < deadline, "the dashboard never listened"
            time.sleep(0.5)
        server.send_signal(signal.SIGTERM)  # `kill PID`, to the process the user started only
        deadline = time.monotonic() + 10
        while _listening(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _listening(port), "Streamlit still serves after SIGTERM of breakeven dashboard"
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

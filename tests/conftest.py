"""Shared fixtures. Every test gets its own data directory; ../shared must exist (no skips).

Test tiers, marked here at collection so nobody has to remember: `engine` for a test that uses the
`llama_server` or `tuning_tools` fixture (directly or through another fixture) or needs the [local] extra installed
(NEEDS_LOCAL_EXTRA), `browser` for one in a module driving Chromium through tests/browser.py.
`make test-fast` deselects them (and the `wheel` test); `make test` runs everything, and there a
missing engine or browser FAILS, never skips.
"""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from analysis.store.database import open_db

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
ENGINE_FIXTURES = frozenset({"llama_server", "tuning_tools"})  # tuning_tools: tests/test_fine_tuning*.py
# Tests that need the [local] extra installed (an engine that is installed but stopped) without
# starting the server; the fixture rule cannot see them.
NEEDS_LOCAL_EXTRA = frozenset({
    "tests/test_candidates.py::test_nothing_reachable_says_what_to_do",
    "tests/test_dashboard_replay.py::test_renders_and_lists_the_local_engine",
    "tests/test_local_engine.py::test_install_is_a_no_op_when_installed",
    "tests/test_local_engine.py::test_port_in_use_is_refused",
    "tests/test_local_engine.py::test_server_command_sizes_context_per_slot",
    "tests/test_local_engine.py::test_stale_pid_file_never_kills_another_process",
})


def _drives_a_browser(item: pytest.Item) -> bool:
    """The test's module uses the helpers of tests/browser.py (Chromium, a served dashboard)."""
    module = getattr(item, "module", None)
    return module is not None and any(getattr(value, "__module__", None) == "browser"
                                      for value in vars(module).values())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tiers (module docstring): `engine` by fixture or NEEDS_LOCAL_EXTRA, `browser` by module."""
    for item in items:
        if ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())) or item.nodeid.split("[")[0] in NEEDS_LOCAL_EXTRA:
            item.add_marker(pytest.mark.engine)
        if _drives_a_browser(item):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def tuning_tools():
    """llama-finetune beside llama-server and SmolLM2's GGUF: without them the test FAILS (no skip)."""
    from analysis.replay.providers import local_engine
    from analysis.replay.tuning import llama_finetune

    try:
        llama_finetune.tool_path("llama-finetune")
        local_engine.model_path(local_engine.SMOLLM2_ALIAS)
    except local_engine.NotInstalledError as exc:
        pytest.fail(f"the fine-tuning test did NOT run: {exc}")

@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch) -> Path:
    """Point BREAKEVEN_DATA_DIR at a per-test folder so no test touches a real workspace."""
    folder = tmp_path / "workspaces"
    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(folder))
    monkeypatch.delenv("BREAKEVEN_DUCKDB_PATH", raising=False)
    monkeypatch.delenv("BREAKEVEN_WORKSPACE", raising=False)
    return folder


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared next to the checkout (real samples and labelled datasets). Its absence is a
    failure, with a clear message: these tests did not run."""
    if not (SHARED / "samples").is_dir() or not (SHARED / "datasets").is_dir():
        pytest.fail(
            f"../shared is missing (looked for {SHARED}/samples and {SHARED}/datasets): the tests "
            "that read real samples and datasets did NOT run. Put the shared folder next to the checkout."
        )
    return SHARED


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """The demo workspace, built once per session (about ten seconds: 72k requests and the demo's
    replay run); tests use `demo_dir`, a copy of it."""
    from analysis.ingest.demo import ensure_demo_workspace
    from analysis.settings import get_settings

    folder = tmp_path_factory.mktemp("demo-template") / "workspaces"
    ensure_demo_workspace(get_settings(data_dir=folder))
    return folder


@pytest.fixture(scope="module")
def demo_dir(demo_template, tmp_path_factory) -> Path:
    """A data directory holding the demo workspace, one copy per test module (modules that run
    replays or probes in it do not disturb each other)."""
    folder = tmp_path_factory.mktemp("demo") / "workspaces"
    shutil.copytree(demo_template, folder)
    return folder


@pytest.fixture
def con(tmp_path):
    """A fresh workspace database file."""
    connection = open_db(tmp_path / "test.duckdb")
    yield connection
    connection.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class LlamaServer:
    """The session's llama.cpp server: OpenAI API under `{base_url}/v1`, Anthropic's at
    `{base_url}/v1/messages`."""

    base_url: str
    model: str
    port: int
    pid: int
    data_dir: Path


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> LlamaServer:
    """The embedded engine (Gemma 3 270M, 2 slots), started once per session on a free port with
    its own data dir, stopped at the end. Without the [local] extra this FAILS (no skip)."""
    from analysis.replay.providers import local_engine
    from analysis.settings import Settings

    data = tmp_path_factory.mktemp("local-engine")
    settings = Settings(data_dir=data, local_engine_port=_free_port(), local_engine_parallel=2)
    try:
        engine = local_engine.start(settings)
    except local_engine.NotInstalledError as exc:
        pytest.fail(f"the llama.cpp server tests did NOT run: {exc}")
    try:
        yield LlamaServer(engine.base_url, local_engine.MODEL_ALIAS, engine.port, engine.pid, data)
    finally:
        local_engine.stop(settings)


@pytest.fixture
def fake_ollama():
    """Ollama's documented API (tags, show, streamed chat) from a tiny server on 127.0.0.1."""
    from local_http import FakeOllama, serve

    FakeOllama.requests.clear()
    with serve(FakeOllama) as url:
        yield url

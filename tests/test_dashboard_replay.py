"""The Replay page through AppTest on the demo workspace: candidates found, the estimate before
start, and a real small run against the llama.cpp server (as a configured OpenAI-compatible
endpoint) followed to the end, then listed in a fresh session."""

import json
import socket
import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analysis.present import formatting as fmt
from analysis.replay import runs as replay
from analysis.replay import sampling
from analysis.store.database import open_db
from analysis.settings import get_settings
from analysis.economics.workspace_defaults import scenario_defaults

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
FAKE_KEY = "sk-test-fake-key-never-sent-42"


@pytest.fixture
def env(demo_dir, monkeypatch):
    """The demo workspace, no Ollama (a free port), no API key; Streamlit's caches emptied (they are
    per process and keyed by workspace name, which other test modules share)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        monkeypatch.setenv("BREAKEVEN_OLLAMA_HOST", f"http://127.0.0.1:{sock.getsockname()[1]}")
    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(demo_dir))
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "BREAKEVEN_ENDPOINTS"):
        monkeypatch.delenv(name, raising=False)
    st.cache_resource.clear()
    st.cache_data.clear()
    return monkeypatch


def _replay() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    app.switch_page("views/replay.py").run()
    assert not app.exception, app.exception
    return app


def _table(app: AppTest, column: str):
    return next(d.value for d in app.dataframe if column in d.value.columns)


def _texts(app: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "success", "warning", "error") for e in getattr(app, kind)]
    parts += [m.value for m in app.metric] + [d.value.to_csv() for d in app.dataframe]
    return "\n".join(str(p) for p in parts)


def test_renders_and_lists_the_local_engine(env):
    app = _replay()
    assert app.title[0].value == "Replay" and not app.error
    options = _table(app, "candidate")
    local = options[options["candidate"].str.contains("embedded llama.cpp engine")]
    assert len(local) == 1 and not local["available"].iloc[0]
    assert "start it below" in local["what to do"].iloc[0]
    assert app.button(key="replay_engine_start")  # installed here, stopped in this data dir
    ollama = options[options["kind"] == "ollama"]
    assert "embedded local engine works without Ollama" in ollama["what to do"].iloc[0]
    assert any("Pick at least one candidate" in i.value for i in app.info)


def test_estimate_for_an_api_candidate_with_its_key_set(env, demo_dir):
    env.setenv("OPENAI_API_KEY", FAKE_KEY)
    app = _replay()
    app.multiselect(key="replay_candidates").set_value(["openai:gpt-4o-mini"]).run()
    assert not app.exception and not app.error
    con = open_db("demo", settings=get_settings(data_dir=demo_dir))
    expected = replay.estimate_run(con, ["openai:gpt-4o-mini"], sampling.SampleSpec(size=20))
    con.close()
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Estimated cost"] == fmt.usd(expected.total_usd) and expected.total_usd > 0
    assert metrics["Calls"] == "20"
    assert app.button(key="replay_start")
    app.number_input(key="replay_budget").set_value(0.0).run()
    assert any("above the budget" in w.value for w in app.warning)
    assert not [b for b in app.button if b.key == "replay_start"]
    assert FAKE_KEY not in _texts(app)


def test_a_real_run_reaches_done_and_is_listed(env, llama_server):
    base = f"{llama_server.base_url}/v1"
    env.setenv("BREAKEVEN_ENDPOINTS", json.dumps([{"name": "test llama", "base_url": base, "model": llama_server.model}]))
    spec = f"openai-compat:{base}:{llama_server.model}"
    app = _replay()
    app.multiselect(key="replay_candidates").set_value([spec])
    app.number_input(key="replay_size").set_value(3)
    app.number_input(key="replay_max_tokens").set_value(8).run()
    assert {m.label: m.value for m in app.metric}["Estimated cost"] == "$0"  # local: nothing per call
    app.button(key="replay_start").click().run()
    assert not app.exception and not app.error
    assert any("Current run" in h.value for h in app.subheader)
    app.switch_page("views/overview.py").run()  # leave the page and come back: the run is still shown
    app.switch_page("views/replay.py").run()
    deadline = time.monotonic() + 120
    while not any("Run complete" in s.value for s in app.success):
        assert time.monotonic() < deadline, _texts(app)
        time.sleep(0.5)
        app.run()
        assert not app.exception and not app.error, app.error
    runs = _table(app, "sample_size")
    row = runs.iloc[0]
    assert (row["status"], row["sample_size"], row["ok"] + row["failed"], row["candidates"]) == ("done", 3, 3, spec)
    assert row["ok"] >= 1
    fresh = _replay()  # a new session (a reload): the run is listed from the database
    listed = _table(fresh, "sample_size")
    assert listed.iloc[0]["run_id"] == row["run_id"] and listed.iloc[0]["status"] == "done"


def test_measuring_capacity_feeds_the_economics(env, llama_server, demo_dir):
    """Last in the module: it stores a probe in the shared demo workspace."""
    base = f"{llama_server.base_url}/v1"
    env.setenv("BREAKEVEN_ENDPOINTS", json.dumps([{"name": "test llama", "base_url": base, "model": llama_server.model}]))
    app = _replay()
    app.selectbox(key="replay_probe_spec").set_value(f"openai-compat:{base}:{llama_server.model}")
    app.multiselect(key="replay_probe_levels").set_value([1, 2])
    app.number_input(key="replay_probe_n").set_value(2)
    app.number_input(key="replay_probe_tokens").set_value(4)
    app.number_input(key="replay_probe_p95").set_value(600.0).run()
    app.button(key="replay_probe_start").click().run()
    assert not app.exception and not app.error, _texts(app)
    levels = _table(app, "requests/s")
    assert list(levels["concurrency"]) == [1, 2] and (levels["requests/s"] > 0).all()
    best = max(levels["requests/s"])
    assert any("now uses it as the capacity per GPU" in s.value for s in app.success)
    con = open_db("demo", settings=get_settings(data_dir=demo_dir))
    defaults = scenario_defaults(con)
    con.close()
    assert defaults.capacity_source == "probe" and round(defaults.capacity_rps_per_gpu, 3) == best

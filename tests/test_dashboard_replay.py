"""The Replay page through AppTest on the demo workspace: candidates found (the only one
preselected), the cost and time estimates before start, and a real small run against the llama.cpp
server (as a configured OpenAI-compatible endpoint) followed beside the start button to the end,
scored without a click, then listed in a fresh session whose time estimate uses its latency."""

import json
import math
import shutil
import socket
import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analysis.economics.workspace_defaults import probe_measurements, scenario_defaults
from analysis.ingest import ingest_file
from analysis.present import formatting as fmt
from analysis.quality.scoring.judge import JudgeScorer
from analysis.replay import runs as replay
from analysis.replay import sampling
from analysis.replay.background import RunManager, score_finished
from analysis.replay.demo_run import CANDIDATE, DEMO_RUN_ID
from analysis.settings import get_settings
from analysis.store.database import open_db, scalar

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
    time = next(m for m in app.metric if m.label == "Estimated time")  # 20 calls x 2 s assumed / 4 at once
    assert time.value == "under a minute" and "openai:gpt-4o-mini: 2.0 s (assumed for openai)" in time.help
    assert app.button(key="replay_start")
    app.number_input(key="replay_budget").set_value(0.0).run()
    assert any("above the budget" in w.value for w in app.warning)
    assert not [b for b in app.button if b.key == "replay_start"]
    assert FAKE_KEY not in _texts(app)


def _beside_start(app: AppTest):
    """The column beside the one holding the start button."""
    columns = list(app.columns)
    [index] = [i for i, c in enumerate(columns) if any(b.key == "replay_start" for b in c.button)]
    return columns[index + 1]


def test_a_real_run_reaches_done_is_scored_and_is_listed(env, llama_server, demo_dir):
    base = f"{llama_server.base_url}/v1"
    env.setenv("BREAKEVEN_ENDPOINTS", json.dumps([{"name": "test llama", "base_url": base, "model": llama_server.model}]))
    spec = f"openai-compat:{base}:{llama_server.model}"
    app = _replay()
    assert app.multiselect(key="replay_candidates").value == [spec]  # the only candidate, preselected
    app.number_input(key="replay_size").set_value(3)
    app.multiselect(key="replay_task_types").set_value(["classification"])  # labelled: scored by label
    app.number_input(key="replay_max_tokens").set_value(8).run()
    metrics = {m.label: m for m in app.metric}
    assert metrics["Estimated cost"].value == "$0"  # local: nothing per call
    assert metrics["Estimated time"].value == "under a minute"  # 3 calls x 5 s assumed, 4 at once
    assert f"{spec}: 5.0 s (assumed for openai-compat)" in metrics["Estimated time"].help
    app.button(key="replay_start").click().run()
    assert not app.exception and not app.error
    assert not any("Current run" in h.value for h in app.subheader)
    assert _beside_start(app).get("progress")  # the progress is beside the start button
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
    # scored when it ended, without a click: the candidate's three answers and the incumbent's
    assert any(s.value == "Run complete. Scored at once: 6 answers scored (3 of them the incumbent's)."
               for s in _beside_start(app).success)
    con = open_db("demo", settings=get_settings(data_dir=demo_dir))
    scored = scalar(con, "SELECT count(*) FROM scores WHERE run_id = ?", [row["run_id"]])
    con.close()
    assert scored == 6
    fresh = _replay()  # a new session (a reload): the run is listed from the database
    listed = _table(fresh, "sample_size")
    assert listed.iloc[0]["run_id"] == row["run_id"] and listed.iloc[0]["status"] == "done"
    # the sidebar's candidate is now this run's (the newest real scored run), and its measured latency times a run
    assert fresh.sidebar.selectbox(key="rt_pick").value == (row["run_id"], spec)
    assert f"{spec}: " in (help_text := next(m.help for m in fresh.metric if m.label == "Estimated time"))
    assert f"(run {row['run_id']})" in help_text


def test_measuring_capacity_is_stored_with_its_hardware(env, llama_server, demo_dir):
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
    assert any("measured on unknown hardware" in s.value and "beside the sizing model's figure" in s.value
               for s in app.success)
    con = open_db("demo", settings=get_settings(data_dir=demo_dir))
    [measured, *_] = probe_measurements(con)
    defaults = scenario_defaults(con)
    con.close()
    assert round(measured.capacity_rps, 3) == best and measured.hardware is None
    assert defaults.capacity_source == "sizing"  # an endpoint on unknown hardware stands for no catalogue GPU


def test_time_estimate_from_a_past_run_a_probe_or_the_provider_default(demo_dir, tmp_path):
    """analysis.replay.runs.estimate_duration: a candidate's seconds per call is its newest run's
    median latency, else its newest probe's at the lowest concurrency, else the provider's default."""
    folder = tmp_path / "copy"
    shutil.copytree(demo_dir, folder)
    con = open_db("demo", settings=get_settings(data_dir=folder))
    probed = "openai-compat:http://127.0.0.1:9/v1:probed"
    try:
        demo_p50 = scalar(con, "SELECT median(latency_ms) FROM results WHERE run_id = ? AND status = 'ok'",
                          [DEMO_RUN_ID]) / 1000
        for probe_id, when, concurrency, p50 in (("old", "2026-01-01", 1, 9_000.0), ("new", "2026-02-01", 4, 4_000.0),
                                                  ("new", "2026-02-01 00:01", 1, 2_000.0)):
            con.execute("INSERT INTO probe_results VALUES (?, ?, 'probed', ?, ?, 8, 0, 1, 1, 1, ?, ?, true, 1e4, 64, NULL)",
                        [probe_id, when, probed, concurrency, p50, p50]).fetchall()
        estimate = replay.estimate_duration(con, [CANDIDATE.spec, probed, "anthropic:claude-3-5-haiku-latest"],
                                            requests=100, concurrency=4)
    finally:
        con.close()
    assert [(t.seconds, t.source) for t in estimate.per_candidate] == [
        (pytest.approx(demo_p50), f"run {DEMO_RUN_ID}"), (2.0, "probe new"), (3.0, "assumed for anthropic")]
    assert estimate.seconds == pytest.approx(100 * (demo_p50 + 2.0 + 3.0) / 4)
    assert estimate.text == f"about {math.ceil(estimate.seconds / 60)} minutes"
    assert replay.DurationEstimate(59.0, []).text == "under a minute"
    assert replay.DurationEstimate(61.0, []).text == "about 2 minutes"
    assert replay.DurationEstimate(60.0, []).text == "about 1 minute"


LONG_ANSWER = ("The customer writes that the invoice for March was charged twice to the same card, asks for the "
               "second charge to be refunded, and wants to know whether the April invoice will be affected. "
               "They also mention that the billing address on file is outdated and should be changed to the new "
               "office, and they ask for a copy of both invoices to be sent to their accounts team.")


def _long_free_text_run(tmp_path: Path, candidate: str) -> Path:
    """A workspace of two logged summaries (long answers, no ground truth) and a run of them
    against `candidate`, not executed: only an LLM judge can score its answers."""
    folder = tmp_path / "free-text"
    con = open_db("main", settings=get_settings(data_dir=folder))
    try:
        log = tmp_path / "summaries.jsonl"
        log.write_text("".join(json.dumps({
            "request": {"model": "gpt-4o-mini", "messages": [
                {"role": "user", "content": f"Summarise this ticket ({n}): the March invoice was charged twice ..."}]},
            "response": {"id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1731368630 + n,
                         "model": "gpt-4o-mini", "choices": [{"index": 0, "finish_reason": "stop", "message": {
                             "role": "assistant", "content": LONG_ANSWER}}],
                         "usage": {"prompt_tokens": 40, "completion_tokens": 90}}}) + "\n" for n in range(2)))
        assert ingest_file(con, log).rows_loaded == 2
        replay.create_run(con, [candidate], sampling.SampleSpec(size=2), params=replay.RunParams(max_tokens=8))
    finally:
        con.close()
    return folder / "main.duckdb"


def test_a_finished_run_is_scored_with_the_judge_when_one_is_set(llama_server, tmp_path, monkeypatch):
    """RunManager (analysis.replay.background): the run ends, its answers are scored at once, the
    long free-text ones by the judge (here the same local model); a judge that cannot run (no key)
    is left out, said so, and the exact scorers still run."""
    spec = f"openai-compat:{llama_server.base_url}/v1:{llama_server.model}"
    workspace = _long_free_text_run(tmp_path, spec)
    con = open_db(workspace)
    [(run_id,)] = con.execute("SELECT run_id FROM runs").fetchall()
    con.close()
    manager = RunManager()
    manager.start(workspace, run_id, JudgeScorer(spec, max_tokens=4))
    entry = manager.live(run_id)
    entry.thread.join(timeout=240)
    assert not entry.thread.is_alive() and entry.error is None and entry.score_note is None
    assert entry.scored.by_scorer == {"judge": 2} and entry.scored.judge_calls == 4  # both orders, two answers
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    con = open_db(workspace)
    try:
        summary, note = score_finished(con, run_id, JudgeScorer("openai:gpt-4o-mini", budget_usd=1.0))
    finally:
        con.close()
    assert note.startswith("the LLM judge was left out (") and "OPENAI_API_KEY" in note
    assert summary.scored == 0 and summary.skipped == {"long free text without ground truth: configure a judge": 2}

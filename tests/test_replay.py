"""Replay runs end to end against the real llama.cpp server (session fixture `llama_server`):
the three protocols, kill-and-resume of the CLI, the budget, retries, an unreachable candidate and
progress. Faults come from a tiny proxy on 127.0.0.1 in front of the llama server, which also
counts what was really sent."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict

import httpx
import pytest
from local_http import QuietHandler, serve

from analysis.cli import main
from analysis.errors import UserError
from analysis.ingest import ingest_paths
from analysis.replay import runs as replay
from analysis.replay.background import RunManager
from analysis.replay.prompt_adapter import PromptAdapter, build_messages
from analysis.replay.sampling import SampleSpec
from analysis.settings import get_settings
from analysis.store.database import open_db, rows, scalar

FAST_RETRIES = {"max_attempts": 3, "backoff_base_s": 0.05, "backoff_cap_s": 2.0}


@pytest.fixture
def workspace(shared_dir, data_dir):
    """The default workspace with the logged requests of the real samples whose prompts are short
    (8 replayable ones: 2 cores make long prompts slow); Batch and prompt-caching logs left out."""
    files = [f for f in sorted((shared_dir / "samples").glob("*/*"))
             if f.name != "SOURCES.txt" and f.parent.name not in ("openai-batch", "anthropic-message")]
    con = open_db()
    results = ingest_paths(con, files)
    assert not any(r.error for r in results)
    assert scalar(con, "SELECT count(*) FROM requests WHERE status = 'ok' AND input_messages IS NOT NULL") == 8
    yield con
    con.close()


def key(messages: list[dict]) -> str:
    """What the proxy tells requests apart by: the messages as sent."""
    return json.dumps(messages, sort_keys=True)


def keys_of(con, run_id: str) -> dict[str, str]:
    """request_id -> proxy key, for a run's sample (asserting the keys tell requests apart)."""
    found = rows(con, """SELECT q.request_id, r.input_messages FROM run_requests q JOIN requests r USING (request_id)
                         WHERE q.run_id = ?""", [run_id])
    keys = {rid: key(build_messages(PromptAdapter(), json.loads(m), [])) for rid, m in found}
    assert len(set(keys.values())) == len(keys)
    return keys


CANNED = [  # a streamed OpenAI chat completion, as llama.cpp and OpenAI send it
    {"id": "c1", "object": "chat.completion.chunk", "model": "fake",
     "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": None}]},
    {"id": "c1", "object": "chat.completion.chunk", "model": "fake",
     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {"id": "c1", "object": "chat.completion.chunk", "model": "fake", "choices": [],
     "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}},
]


class Proxy(QuietHandler):
    """Forwards to the llama server, streaming (or, when `canned`, answers CANNED at once); logs
    every POST (key, time). `plan[key]` lists faults to answer first, one per request: "429"
    (Retry-After: 1), "500", or "slow" (no answer for SLOW_S seconds)."""

    upstream = ""
    canned = False
    plan: dict[str, list[str]] = {}
    sent: list[tuple[str, float]] = []
    answered: list[str] = []
    SLOW_S = 3.0

    def do_GET(self):
        response = httpx.get(self.upstream + self.path)
        self._reply(response.status_code, response.content)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.loads(raw)
        sent = key(body["messages"])
        Proxy.sent.append((sent, time.monotonic()))
        fault = Proxy.plan[sent].pop(0) if Proxy.plan.get(sent) else None
        if fault == "slow":
            time.sleep(self.SLOW_S)
            return self._reply(504, b"{}")
        if fault:
            headers = {"Retry-After": "1"} if fault == "429" else {}
            error = json.dumps({"error": {"message": f"simulated {fault}"}}).encode()
            return self._reply(int(fault), error, headers)
        if Proxy.canned:
            stream = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in CANNED) + "data: [DONE]\n\n"
            return self._reply(200, stream.encode(), {"Content-Type": "text/event-stream"})
        with httpx.stream("POST", self.upstream + self.path, content=raw, timeout=60,
                          headers={"content-type": "application/json"}) as response:
            self.send_response(response.status_code)
            self.send_header("Content-Type", response.headers.get("content-type", "text/event-stream"))
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes
            try:
                for chunk in response.iter_raw():
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except OSError:  # the client went away (killed)
                return
        Proxy.answered.append(sent)

    def _reply(self, status: int, body: bytes, headers: dict | None = None):
        headers = {"Content-Type": "application/json"} | (headers or {})
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass


@pytest.fixture
def proxy(llama_server):
    """The proxy's base URL (OpenAI API under /v1); its logs and plan start empty."""
    Proxy.upstream, Proxy.canned, Proxy.plan, Proxy.sent, Proxy.answered = llama_server.base_url, False, {}, [], []
    with serve(Proxy) as url:
        yield url


def results_of(con, run_id: str) -> list[dict]:
    columns = ["candidate", "request_id", "output_text", "input_tokens", "output_tokens", "usage_reported",
               "latency_ms", "ttft_ms", "tokens_per_s", "cost_usd", "status", "error", "attempts"]
    return [dict(zip(columns, r)) for r in rows(
        con, f"SELECT {', '.join(columns)} FROM results WHERE run_id = ? ORDER BY ALL", [run_id])]


def test_three_protocols_end_to_end(workspace, llama_server, monkeypatch):
    monkeypatch.setenv("BREAKEVEN_LOCAL_ENGINE_PORT", str(llama_server.port))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake")
    specs = ["local:gemma-3-270m", f"openai:{llama_server.base_url}/v1:gpt-4o-mini",
             f"anthropic:{llama_server.base_url}:claude-3-5-haiku-latest"]
    adapter = PromptAdapter(system_prompt="Answer briefly.", few_shot=1)
    params = replay.RunParams(max_tokens=8, concurrency=2)
    run_id = replay.create_run(workspace, specs, SampleSpec(size=4, seed=3), adapter, params, budget_usd=1.0)

    stored = rows(workspace, "SELECT adapter, params, candidates, status FROM runs WHERE run_id = ?", [run_id])[0]
    assert stored[3] == "created"
    saved = PromptAdapter.model_validate_json(stored[0])
    assert saved.system_prompt == "Answer briefly." and len(saved.few_shot_ids) == 1
    sample = [r[0] for r in rows(workspace, "SELECT request_id FROM run_requests WHERE run_id = ?", [run_id])]
    assert len(sample) == 4 and saved.few_shot_ids[0] not in sample  # examples never from the sample
    assert replay.RunParams.model_validate_json(stored[1]) == params
    assert "sk-" not in stored[2]

    progress = replay.execute(workspace, run_id)
    assert (progress.status, progress.done, progress.failed, progress.total) == ("done", 12, 0, 12)
    results = results_of(workspace, run_id)
    canonical = [replay.registry.parse_candidate_spec(x).spec for x in specs]
    assert Counter((r["candidate"], r["request_id"]) for r in results) == {(c, r): 1 for c in canonical for r in sample}
    for r in results:
        assert r["status"] == "ok" and r["error"] is None and r["attempts"] == 1
        assert r["usage_reported"] and r["input_tokens"] > 0 and 0 < r["output_tokens"] <= 8
        assert 0 < r["ttft_ms"] < r["latency_ms"] and r["tokens_per_s"] > 0
        assert (r["cost_usd"] == 0) == r["candidate"].startswith("local:")
    assert progress.spent_usd == pytest.approx(sum(r["cost_usd"] for r in results))
    assert replay.progress_of(workspace, run_id).status == "done"
    assert replay.list_runs(workspace).row(0, named=True)["ok"] == 12

    again = replay.execute(workspace, run_id)  # nothing left to send
    assert (again.status, again.done) == ("done", 12)
    assert len(results_of(workspace, run_id)) == 12


def test_progress_callbacks(workspace, llama_server, monkeypatch):
    monkeypatch.setenv("BREAKEVEN_LOCAL_ENGINE_PORT", str(llama_server.port))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    specs = ["local", f"openai:{llama_server.base_url}/v1:gpt-4o-mini"]
    params = replay.RunParams(max_tokens=4, concurrency=2)
    run_id = replay.create_run(workspace, specs, SampleSpec(size=3), params=params)
    seen = []
    final = replay.execute(workspace, run_id, on_progress=lambda p: seen.append(p.to_dict()))
    assert len(seen) >= 2
    handled = [s["done"] + s["failed"] for s in seen]
    assert handled == sorted(handled) and handled[0] >= 1 and handled[-1] == 6
    spent = [s["spent_usd"] for s in seen]
    assert spent == sorted(spent) and spent[-1] > 0 and spent[-1] == final.spent_usd
    for s in seen[:-1]:
        assert s["status"] == "running" and s["total"] == 6 and s["eta_s"] is not None and s["eta_s"] >= 0
    assert seen[-2]["eta_s"] == 0  # nothing left
    assert seen[-1]["status"] == "done" and seen[-1]["eta_s"] == 0
    assert final.estimate_usd > 0 and final.budget_usd is None


def test_kill_and_resume_sends_nothing_twice(workspace, proxy, data_dir):
    spec = f"openai-compat:{proxy}/v1:gemma-3-270m"
    workspace.close()
    command = [sys.executable, "-m", "analysis.cli", "replay", "--candidate", spec, "--sample", "8",
               "--concurrency", "2", "--max-tokens", "4", "--timeout", "120", "--json"]
    env = {**os.environ, "BREAKEVEN_DATA_DIR": str(data_dir)}
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(Proxy.answered) < 3 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # let it store what was answered
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the run finished before it could be killed"

    con = open_db()
    try:
        run_id = scalar(con, "SELECT run_id FROM runs")
        assert scalar(con, "SELECT status FROM runs") == "running"  # killed, never marked
        keys = keys_of(con, run_id)
        stored_before = {r["request_id"] for r in results_of(con, run_id)}
    finally:
        con.close()
    assert 1 <= len(stored_before) < 8
    sends_before = len(Proxy.sent)

    resumed = subprocess.run([sys.executable, "-m", "analysis.cli", "replay", "--resume", run_id, "--json"],
                             env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "done"

    resent = Counter(k for k, _ in Proxy.sent[sends_before:])
    by_key = {k: rid for rid, k in keys.items()}
    assert not {by_key[k] for k in resent} & stored_before  # nothing stored was sent again
    assert set(resent) == {keys[r] for r in keys if r not in stored_before}
    assert set(resent.values()) == {1}
    con = open_db()
    try:
        results = results_of(con, run_id)
    finally:
        con.close()
    assert Counter(r["request_id"] for r in results) == {r: 1 for r in keys}
    assert all(r["status"] == "ok" for r in results)


def test_budget_refuses_an_estimate_above_it(workspace, llama_server, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    spec = f"openai:{llama_server.base_url}/v1:gpt-4o-mini"
    estimate = sum(replay.estimate_costs(workspace, [replay.registry.parse_candidate_spec(spec)],
                                         replay.sampling.draw(workspace, SampleSpec(size=8)))[spec].values())
    assert estimate > 0
    with pytest.raises(replay.BudgetError, match=r"estimated cost \$.* exceeds the budget"):
        replay.create_run(workspace, [spec], SampleSpec(size=8), budget_usd=estimate * 0.9)
    assert scalar(workspace, "SELECT count(*) FROM runs") == 0
    workspace.close()
    assert main(["replay", "--candidate", spec, "--sample", "8", "--budget-usd", f"{estimate * 0.9}"]) == 1
    assert "refused: estimated cost" in capsys.readouterr().err
    con = open_db()
    try:
        assert scalar(con, "SELECT count(*) FROM runs") == 0
    finally:
        con.close()


def test_budget_stops_paid_calls_and_never_overspends(workspace, llama_server, monkeypatch):
    """The incumbent answered in one token, the candidate needs more: the estimate fits the budget
    but the spend would not, so the run stops its paid calls in time; the local one goes on."""
    monkeypatch.setenv("BREAKEVEN_LOCAL_ENGINE_PORT", str(llama_server.port))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    workspace.execute("UPDATE requests SET output_tokens = 1").fetchall()
    paid = f"openai:{llama_server.base_url}/v1:gpt-4o-mini"
    spec = SampleSpec(size=6)
    estimate = sum(replay.estimate_costs(workspace, [replay.registry.parse_candidate_spec(paid)],
                                         replay.sampling.draw(workspace, spec))[paid].values())
    run_id = replay.create_run(workspace, [paid, "local"], spec, params=replay.RunParams(max_tokens=4, concurrency=2),
                               budget_usd=estimate)
    progress = replay.execute(workspace, run_id)
    assert progress.status == "stopped_budget"
    assert "stopped by the budget" in progress.errors[paid] and "local:gemma-3-270m" not in progress.errors
    results = results_of(workspace, run_id)
    spent = sum(r["cost_usd"] for r in results)
    assert 0 < spent <= estimate and progress.spent_usd == pytest.approx(spent)
    assert sum(r["candidate"] == paid for r in results) == 1  # the second would not fit (see ceiling_cost)
    assert sum(r["candidate"] == "local:gemma-3-270m" and r["status"] == "ok" for r in results) == 6
    assert replay.progress_of(workspace, run_id).status == "stopped_budget"


def test_retries_with_backoff_then_success_and_lasting_failure(workspace, proxy):
    Proxy.canned = True  # fast answers, so a short timeout only catches the "slow" fault
    spec = f"openai-compat:{proxy}/v1:gemma-3-270m"
    params = replay.RunParams(max_tokens=4, concurrency=2, timeout_s=1.5, **FAST_RETRIES)
    run_id = replay.create_run(workspace, [spec], SampleSpec(size=4), params=params)
    keys = keys_of(workspace, run_id)
    limited, erroring, slow, broken = sorted(keys)
    Proxy.plan = {keys[limited]: ["429"], keys[erroring]: ["500"], keys[slow]: ["slow"],
                  keys[broken]: ["500"] * 10}
    progress = replay.execute(workspace, run_id)
    assert (progress.status, progress.done, progress.failed) == ("done", 3, 1)
    results = {r["request_id"]: r for r in results_of(workspace, run_id)}
    for request_id in (limited, erroring, slow):
        assert results[request_id]["status"] == "ok" and results[request_id]["attempts"] == 2
        assert (results[request_id]["output_text"], results[request_id]["output_tokens"]) == ("ok", 1)
    assert results[broken]["status"] == "failed" and results[broken]["attempts"] == 3
    assert "HTTP 500" in results[broken]["error"] and results[broken]["output_text"] is None
    assert replay.failure_reasons(workspace, run_id) == [(spec, results[broken]["error"], 1)]
    sends = defaultdict(list)
    for k, at in Proxy.sent:
        sends[k].append(at)
    assert len(sends[keys[broken]]) == 3
    first, second = sends[keys[limited]]
    assert second - first >= 1.0  # Retry-After: 1 was honoured


def test_unreachable_candidate_is_given_up_clearly(workspace, llama_server, monkeypatch):
    monkeypatch.setenv("BREAKEVEN_LOCAL_ENGINE_PORT", str(llama_server.port))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = f"openai-compat:http://127.0.0.1:{port}/v1:gemma-3-270m"
    run_id = replay.create_run(workspace, [dead, "local"], SampleSpec(size=3),
                               params=replay.RunParams(max_tokens=4, concurrency=2, **FAST_RETRIES))
    started = time.monotonic()
    progress = replay.execute(workspace, run_id)
    assert time.monotonic() - started < 60
    assert progress.status == "interrupted" and progress.done == 3 and progress.failed == 0
    assert f"cannot reach http://127.0.0.1:{port}/v1" in progress.errors[dead]
    assert {r["candidate"] for r in results_of(workspace, run_id)} == {"local:gemma-3-270m"}  # dead: nothing stored
    assert replay.progress_of(workspace, run_id).errors == progress.errors  # still said after a reload


def test_missing_key_is_a_candidate_error(workspace, llama_server, monkeypatch):
    """No run is stored for a candidate without its key; a key gone before a run resumes gives
    that candidate up."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("BREAKEVEN_OPENAI_API_KEY", raising=False)
    spec = f"openai:{llama_server.base_url}/v1:gpt-4o-mini"
    with pytest.raises(UserError, match="openai needs an API key: set OPENAI_API_KEY"):
        replay.create_run(workspace, [spec], SampleSpec(size=2))
    assert scalar(workspace, "SELECT count(*) FROM runs") == 0
    monkeypatch.setenv("OPENAI_API_KEY", "sk-set-when-the-run-was-made")
    run_id = replay.create_run(workspace, [spec], SampleSpec(size=2))
    monkeypatch.delenv("OPENAI_API_KEY")
    progress = replay.execute(workspace, run_id)
    assert progress.status == "interrupted" and "OPENAI_API_KEY" in progress.errors[spec]
    assert results_of(workspace, run_id) == []


def test_run_manager_stop_then_resume(workspace, llama_server, monkeypatch, data_dir):
    """Stopping a background run stores what was in flight; running it again completes it."""
    monkeypatch.setenv("BREAKEVEN_LOCAL_ENGINE_PORT", str(llama_server.port))
    params = replay.RunParams(max_tokens=4, concurrency=1)
    run_id = replay.create_run(workspace, ["local"], SampleSpec(size=4), params=params)
    workspace.close()
    manager = RunManager()
    manager.start(get_settings().workspace, run_id)
    deadline = time.monotonic() + 60
    while not (manager.live(run_id).progress and manager.live(run_id).progress.done) and time.monotonic() < deadline:
        time.sleep(0.02)
    manager.stop(run_id)
    manager.live(run_id).thread.join(60)
    entry = manager.live(run_id)
    assert entry.error is None and entry.progress.status == "interrupted" and 1 <= entry.progress.done < 4
    con = open_db()
    try:
        assert replay.progress_of(con, run_id).done == entry.progress.done  # nothing in flight was lost
        assert replay.execute(con, run_id).status == "done"
        assert len(results_of(con, run_id)) == 4
    finally:
        con.close()

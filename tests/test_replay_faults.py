"""Replay against misbehaving endpoints and kill -9, at the CLI (issue #15, items 1-3): a `200`
that is not a stream and a malformed stream fail their call (never an empty success, never
charged) while the run goes on; a run whose every call failed says 'failed' and exits non-zero; a
killed run reads 'interrupted', and its resume re-sends at most the calls that were in flight
(bench/faults.py, run here with a few kills)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from local_http import QuietHandler, serve

from analysis.cli import main
from analysis.store.database import open_db, rows

REPO = Path(__file__).resolve().parents[1]
STREAM = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in [
    {"id": "c1", "object": "chat.completion.chunk", "model": "m",
     "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": None}]},
    {"id": "c1", "object": "chat.completion.chunk", "model": "m",
     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [],
     "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}},
]) + "data: [DONE]\n\n"
ANSWERS = {  # by the number of the question mod 4: (Content-Type, body)
    0: ("text/event-stream", STREAM),
    1: ("application/json", json.dumps({"id": "c1", "object": "chat.completion", "model": "m", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}})),
    2: ("text/plain", "not json, not a stream"),
    3: ("text/event-stream", 'data: {"id": "c1", "choices": [{"index": 0, "delta": {"content": "unterminated\n\n'),
}


class Endpoint(QuietHandler):
    """An OpenAI-style endpoint answering `question N` with ANSWERS[N % 4], or every question
    with ANSWERS[`always`] when set."""

    always: int | None = None

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        number = int(body["messages"][-1]["content"].split()[-1])
        kind, text = ANSWERS[number % 4 if self.always is None else self.always]
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def endpoint(monkeypatch):
    """The endpoint's OpenAI base URL, with a key set and 8 logged questions in the workspace."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-faults")
    con = open_db()
    try:
        for i in range(8):
            con.execute("""INSERT INTO requests (request_id, source_id, status, model, input_messages, input_tokens,
                                                 output_tokens) VALUES (?, 's', 'ok', 'gpt-4o', ?, 100, 5)""",
                        [f"r{i}", json.dumps([{"role": "user", "content": f"question {i}"}])]).fetchall()
    finally:
        con.close()
    Endpoint.always = None
    with serve(Endpoint) as url:
        yield f"{url}/v1"


def stored(run_id: str | None = None) -> list[dict]:
    con = open_db()
    try:
        found = rows(con, """SELECT x.request_id, x.status, x.output_text, x.cost_usd, x.error, r.run_id, r.status
                             FROM results x JOIN runs r USING (run_id) ORDER BY x.request_id""")
    finally:
        con.close()
    columns = ["request_id", "status", "output_text", "cost_usd", "error", "run_id", "run_status"]
    return [dict(zip(columns, r)) for r in found]


def test_wrong_answers_fail_their_calls_and_the_run_goes_on(endpoint, capsys):
    code = main(["replay", "--candidate", f"openai:{endpoint}:gpt-4o-mini", "--sample", "8", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert (code, out["status"], out["done"], out["failed"]) == (0, "done", 2, 6)
    results = {int(r["request_id"][1:]): r for r in stored()}
    assert len(results) == 8  # one malformed stream no longer ends the run
    for number, r in results.items():
        if number % 4 == 0:
            assert r["status"] == "ok" and r["output_text"] == "ok" and r["cost_usd"] > 0
            continue
        assert r["status"] == "failed" and r["output_text"] is None and r["cost_usd"] == 0  # never charged
        expected = {1: "is not a stream (a stream was asked for): got Content-Type 'application/json'",
                    2: "is not a stream (a stream was asked for): got Content-Type 'text/plain'",
                    3: "malformed stream from"}[number % 4]
        assert expected in r["error"], r["error"]
    assert "Unterminated string" in results[3]["error"]
    assert out["spent_usd"] == pytest.approx(results[0]["cost_usd"] + results[4]["cost_usd"])
    assert main(["replay", "--resume", out["run_id"], "--json"]) == 0  # resumes: nothing is left to send
    assert json.loads(capsys.readouterr().out)["status"] == "done"


@pytest.mark.parametrize("answer", [1, 2], ids=["plain-json", "text"])
def test_a_run_whose_every_call_failed_says_failed(endpoint, capsys, answer):
    Endpoint.always = answer
    code = main(["replay", "--candidate", f"openai-compat:{endpoint}:m", "--sample", "4"])
    out = capsys.readouterr().out
    assert code == 1
    assert ": failed, 0 ok, 4 failed" in out and "is not a stream" in out
    assert {r["run_status"] for r in stored()} == {"failed"}
    assert main(["runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "failed"


def test_kill9_resends_at_most_what_was_in_flight():
    """bench/faults.py with a few seeded kills: exactly one stored answer per call, at most
    `concurrency` calls sent again on resume, and the killed run reads 'interrupted' until resumed."""
    done = subprocess.run([sys.executable, str(REPO / "bench" / "faults.py"), "--kills", "2", "--seed", "7"],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kills: ok" in done.stdout

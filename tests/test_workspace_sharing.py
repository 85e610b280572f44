"""One workspace shared between processes (analysis.store.access): the dashboard (a real Streamlit
server, pages in Chromium), a CLI ingest and a CLI replay at once; commands that wait visibly for a
holder and give up with one clear line; summary, runs and economics while the dashboard is open."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from browser import chromium, dashboard_server, wait_idle
from local_http import QuietHandler, serve

from analysis.present import formatting as fmt
from analysis.store import access

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "analysis.cli"]
HOLDER = "ingest of big.jsonl"
STREAM = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in [
    {"id": "c1", "object": "chat.completion.chunk", "model": "tiny",
     "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]},
    {"id": "c1", "object": "chat.completion.chunk", "model": "tiny", "choices": [],
     "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}},
]) + "data: [DONE]\n\n"


class SlowEndpoint(QuietHandler):
    """An OpenAI-compatible chat endpoint that answers every call with "ok", streamed, after
    `delay_s`, so that a replay of a few calls lasts seconds."""

    delay_s = 0.4

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        time.sleep(self.delay_s)
        data = STREAM.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def cli(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """`breakeven ARGS` in a process of its own."""
    return subprocess.run([*CLI, *args], cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout)


def start_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def hold(path: Path) -> subprocess.Popen:
    """Another process that takes the workspace's write lock as an ingest would and keeps it until
    its stdin is closed (`release`); returns once it holds it."""
    code = textwrap.dedent(f"""
        import sys
        from analysis.store import access
        with access.writing({str(path)!r}, {HOLDER!r}):
            print("held", flush=True)
            sys.stdin.read()
    """)
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def release(holder: subprocess.Popen) -> None:
    holder.stdin.close()
    assert holder.wait(30) == 0


def ingest(data_dir: Path, *paths: Path) -> None:
    result = cli("ingest", *map(str, paths))
    assert result.returncode == 0, result.stderr


@pytest.fixture
def batch_logs(shared_dir) -> list[Path]:
    folder = shared_dir / "samples" / "openai-batch"
    return [folder / "genai_navirag_batch_output.jsonl", folder / "genai_navirag_batch_input.jsonl"]


@pytest.fixture
def litellm_log(shared_dir) -> Path:
    return shared_dir / "samples" / "litellm" / "standard_logging_payload.json"


def test_a_command_waits_for_the_holder_saying_what_it_is_then_goes_on(data_dir, batch_logs):
    ingest(data_dir, *batch_logs)
    holder = hold(data_dir / "main.duckdb")
    summary = start_cli("summary", "--json")
    assert summary.stderr.readline() == f"waiting for {HOLDER} (pid {holder.pid}) to finish…\n"
    assert summary.poll() is None  # still waiting
    release(holder)
    out, err = summary.communicate(timeout=120)
    assert summary.returncode == 0 and err == "", err
    assert json.loads(out)["requests"] > 0
    assert not (data_dir / f"main.duckdb{access.HOLDER_SUFFIX}").exists()  # the holder removed its record


def test_a_command_gives_up_after_the_wait_with_one_clear_line(data_dir, batch_logs, litellm_log):
    ingest(data_dir, *batch_logs)
    holder = hold(data_dir / "main.duckdb")
    try:
        started = time.monotonic()
        result = cli("ingest", str(litellm_log), env={"BREAKEVEN_WORKSPACE_WAIT_S": "1.5"})
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"waiting for {HOLDER} (pid {holder.pid}) to finish…",
        f"refused: the workspace 'main' is busy: {HOLDER} (pid {holder.pid}) has held it for over 1.5 s; try again "
        "when it is done (BREAKEVEN_WORKSPACE_WAIT_S sets how long to wait)"]
    assert 1.5 <= waited < 30
    # The killed holder's record is stale: the next command neither names nor waits for it.
    assert access.current_holder(data_dir / "main.duckdb") is None
    result = cli("ingest", str(litellm_log), "--json")
    assert result.returncode == 0 and "waiting" not in result.stderr, result.stderr
    assert json.loads(result.stdout)[0]["rows_loaded"] > 0


def test_the_dashboard_says_what_it_waits_for_then_shows_the_page(data_dir, batch_logs):
    ingest(data_dir, *batch_logs)
    with dashboard_server(data_dir) as url, chromium() as browser:
        page = browser.new_page()
        holder = hold(data_dir / "main.duckdb")
        page.goto(f"{url}/?ws=main")
        waiting = page.get_by_text(f"Waiting for {HOLDER} (pid {holder.pid}) to finish…")
        waiting.wait_for(timeout=30_000)
        release(holder)
        wait_idle(page)
        assert waiting.count() == 0  # the message goes once the page could read
        text = page.inner_text("body")
        assert "Monthly spend" in text and "IOException" not in text


def test_dashboard_cli_ingest_and_cli_replay_share_one_workspace(data_dir, batch_logs, litellm_log):
    """The dashboard shows the workspace while summary, runs and economics run, then while an
    ingest and a replay write it at once: everything succeeds, no page shows a DuckDB error, and
    the page shows the new data after."""
    ingest(data_dir, *batch_logs)
    with serve(SlowEndpoint) as endpoint, dashboard_server(data_dir) as url, chromium() as browser:
        page = browser.new_page()
        page.goto(f"{url}/?ws=main")
        wait_idle(page)
        seen = [page.inner_text("body")]
        for command in (["summary", "--json"], ["runs", "--json"], ["economics", "--json"]):
            result = cli(*command)
            assert result.returncode == 0 and "busy" not in result.stderr, (command, result.stderr)
        before = json.loads(cli("summary", "--json").stdout)

        replay = start_cli("replay", "--candidate", f"openai-compat:{endpoint}/v1:tiny", "--sample", "16",
                           "--concurrency", "2", "--json")
        stored, deadline = 0, time.monotonic() + 120
        while not stored and time.monotonic() < deadline:  # read by this process while the replay writes
            time.sleep(0.1)
            with access.reading(data_dir / "main.duckdb") as con:
                stored = con.execute("SELECT count(*) FROM results").fetchall()[0][0]
        assert 0 < stored < 16 and replay.poll() is None  # the replay handed its connection over mid-run
        ingesting = start_cli("ingest", str(litellm_log), "--json")
        pages = 0
        while replay.poll() is None or ingesting.poll() is None:
            page.goto(f"{url}/replay?ws=main" if pages % 2 else f"{url}/?ws=main")
            wait_idle(page)
            seen.append(page.inner_text("body"))
            pages += 1
        replayed, replay_errors = replay.communicate()
        ingested, ingest_errors = ingesting.communicate()
        assert replay.returncode == 0, replay_errors
        assert ingesting.returncode == 0, ingest_errors
        assert pages >= 2  # the page was shown while both wrote

        after = json.loads(cli("summary", "--json").stdout)
        page.goto(f"{url}/?ws=main")
        wait_idle(page)
        shown = page.inner_text("body")
    log = (data_dir.parent / "streamlit.log").read_text()
    for text in [*seen, shown, log, replay_errors, ingest_errors]:
        assert "IOException" not in text and "Could not set lock" not in text
    run = json.loads(replayed)
    assert run["status"] == "done" and run["done"] == 16 and run["failed"] == 0
    assert json.loads(ingested)[0]["rows_loaded"] > 0
    assert after["requests"] > before["requests"]
    assert f"{fmt.compact(after['input_tokens'])} / {fmt.compact(after['output_tokens'])}" in shown
    runs = json.loads(cli("runs", "--json").stdout)
    assert [(r["run_id"], r["ok"]) for r in runs] == [(run["run_id"], 16)]


def test_stale_records_of_killed_processes_are_ignored(data_dir):
    """A holder record or waiting marker left by a killed process neither names a holder nor makes
    a long job hand its connection over; a live process's marker does."""
    path = data_dir / "main.duckdb"
    with access.writing(path, "creating it"):
        pass
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    access.holder_path(path).write_text(json.dumps(
        {"pid": gone.pid, "host": os.uname().nodename, "purpose": HOLDER, "started_at": "2026-01-01T00:00:00"}))
    path.with_name(f"{path.name}{access.WAITING_INFIX}{gone.pid}-1").touch()
    assert access.current_holder(path) is None and not access.others_waiting(path)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        path.with_name(f"{path.name}{access.WAITING_INFIX}{alive.pid}-1").touch()
        assert access.others_waiting(path)
    finally:
        alive.kill()
        alive.wait()

"""Past runs as the Replay page lists them (analysis.replay.history)."""

import json

from analysis.replay import runs as replay
from analysis.replay import sampling
from analysis.replay.history import past_runs


def test_past_runs_name_candidates_by_spec_newest_first(con, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-used")  # a run is stored only with its keys; nothing is sent
    for i in range(5):
        con.execute("""INSERT INTO requests (request_id, source_id, status, model, input_messages, input_tokens, output_tokens)
                       VALUES (?, 's', 'ok', 'gpt-4o', ?, 100, 5)""",
                    [f"r{i}", json.dumps([{"role": "user", "content": f"question {i}"}])])
    first = replay.create_run(con, ["local:gemma-3-270m"], sampling.SampleSpec(size=2))
    second = replay.create_run(con, ["openai-compat:http://127.0.0.1:9/v1:m", "openai:gpt-4o-mini"],
                               sampling.SampleSpec(size=3), budget_usd=1.0)
    table = past_runs(con)
    assert table["run_id"].to_list() == [second, first]
    assert table["candidates"].to_list() == ["openai-compat:http://127.0.0.1:9/v1:m, openai:gpt-4o-mini",
                                             "local:gemma-3-270m"]
    assert table["sample_size"].to_list() == [3, 2] and table["status"].to_list() == ["created", "created"]
    # A run stored by an older version with a provider this one no longer knows is still listed.
    con.execute("UPDATE runs SET candidates = ? WHERE run_id = ?",
                [json.dumps([{"provider": "gone", "model": "m"}]), first]).fetchall()
    assert past_runs(con)["candidates"].to_list()[1] == "gone:m (no longer a valid candidate)"


def test_a_running_run_whose_owner_is_gone_reads_interrupted(con, monkeypatch):
    """A process killed mid-run never marks its run: the owner recorded with it tells (#15 item 3).
    A run of this live process stays 'running'; one owned on another host cannot be told."""
    import os
    import socket
    import subprocess
    import sys

    con.execute("""INSERT INTO requests (request_id, source_id, status, model, input_messages)
                   VALUES ('r1', 's', 'ok', 'm', ?)""", [json.dumps([{"role": "user", "content": "q"}])])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    owners = {"dead": (dead.pid, socket.gethostname(), None),
              "alive": (os.getpid(), socket.gethostname(), replay._process_started(os.getpid())),
              "reused": (os.getpid(), socket.gethostname(), "1"),  # the pid now belongs to a later process
              "elsewhere": (dead.pid, "another-host", None)}
    ids = {}
    for name, (pid, host, started) in owners.items():
        ids[name] = replay.create_run(con, ["local:gemma-3-270m"], sampling.SampleSpec(size=1))
        con.execute("""UPDATE runs SET status = 'running', owner_pid = ?, owner_host = ?, owner_started = ?
                       WHERE run_id = ?""", [pid, host, started, ids[name]]).fetchall()
    shown = dict(zip(past_runs(con)["run_id"], past_runs(con)["status"]))
    expected = {"dead": "interrupted", "alive": "running", "reused": "interrupted", "elsewhere": "running"}
    assert {name: shown[run_id] for name, run_id in ids.items()} == expected
    assert {name: replay.progress_of(con, run_id).status for name, run_id in ids.items()} == expected

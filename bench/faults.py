"""Kill `breakeven replay` with SIGKILL at random points and check what a resume guarantees.

    .venv/bin/python bench/faults.py [--kills 5] [--seed 0] [--requests N] [--concurrency 4]

Serves a slow OpenAI-compatible endpoint on 127.0.0.1 (every answer streamed after 0.2-0.6 s; it
logs each question it is sent), fills a fresh workspace (a temporary data directory) with
`--requests` logged questions (default: enough that no kill comes after the end,
4 x concurrency per kill and 2 x concurrency more), then `--kills` times: starts `breakeven replay` (the first time a
new run, afterwards `--resume RUN_ID`), waits until a seeded random number of further questions
have been sent (1 to 2 x concurrency) plus a random part of an answer's time, and kills it with
SIGKILL. After each kill it asserts:

- `breakeven runs` shows the killed run as 'interrupted' (its owner process is gone), not 'running';
- no call has more than one stored result, and nothing stored before the kill is sent again later;
- the questions sent but not stored (what the next resume sends again) number at most the
  concurrency: the calls that were in flight.

A last resume runs to the end; then every call has exactly one stored answer, the run is 'done',
and the resends in all number at most kills x concurrency. Prints one line per kill and
'N kills: ok'; exits 1 with the broken guarantee otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 120.0  # the most one step waits for the replay to send or finish


class SlowEndpoint(BaseHTTPRequestHandler):
    """POST /v1/chat/completions: a two-chunk stream after 0.2-0.6 s; `sent` logs each question."""

    sent: list[str] = []
    lock = threading.Lock()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        question = body["messages"][-1]["content"]
        with self.lock:
            self.sent.append(question)
        time.sleep(random.uniform(0.2, 0.6))
        chunks = [{"model": "m", "choices": [{"index": 0, "delta": {"content": f"answer to {question}"},
                                              "finish_reason": None}]},
                  {"model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                  {"model": "m", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}]
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()  # HTTP/1.0: the stream ends when the connection closes
            for chunk in chunks:
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
        except OSError:  # the replay was killed mid-answer
            pass

    def log_message(self, *args):
        pass


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "analysis.cli", *args]


def stored_now(run_id: str | None) -> tuple[str | None, Counter]:
    """(the run's id, stored results per question) read from the workspace."""
    from analysis.store.database import open_db, rows

    con = open_db()
    try:
        run_id = run_id or (rows(con, "SELECT run_id FROM runs") or [[None]])[0][0]
        found = rows(con, """SELECT r.input_messages FROM results x JOIN requests r USING (request_id)
                             WHERE x.run_id = ?""", [run_id])
    finally:
        con.close()
    return run_id, Counter(json.loads(m)[-1]["content"] for (m,) in found)


def shown_status(env: dict) -> str:
    listed = subprocess.run(cli("runs", "--json"), env=env, cwd=REPO, capture_output=True, text=True, timeout=WAIT_S,
                            check=True)
    return json.loads(listed.stdout)[0]["status"]


def check(condition: bool, what: str) -> None:
    if not condition:
        print(f"BROKEN: {what}")
        sys.exit(1)


def run(kills: int, seed: int, requests: int, concurrency: int, data_dir: Path) -> None:
    os.environ["BREAKEVEN_DATA_DIR"] = str(data_dir)
    env = {**os.environ}
    from analysis.store.database import open_db

    con = open_db()
    try:
        for i in range(requests):
            con.execute("""INSERT INTO requests (request_id, source_id, status, model, input_messages, input_tokens,
                                                 output_tokens) VALUES (?, 'bench', 'ok', 'm', ?, 10, 3)""",
                        [f"q{i}", json.dumps([{"role": "user", "content": f"question {i}"}])]).fetchall()
    finally:
        con.close()
    rng = random.Random(seed)
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowEndpoint)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    spec = f"openai-compat:http://127.0.0.1:{server.server_address[1]}/v1:m"
    run_id, resent_total = None, 0
    try:
        for kill in range(1, kills + 1):
            command = (cli("replay", "--resume", run_id, "--json") if run_id else
                       cli("replay", "--candidate", spec, "--sample", str(requests), "--concurrency", str(concurrency),
                           "--max-tokens", "8", "--json"))
            before = len(SlowEndpoint.sent)
            child = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            target, deadline = before + rng.randint(1, 2 * concurrency), time.monotonic() + WAIT_S
            while len(SlowEndpoint.sent) < target and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.6))
            child.send_signal(signal.SIGKILL)
            child.wait()
            check(child.returncode == -signal.SIGKILL, f"kill {kill}: the replay ended before it was killed")
            run_id, stored = stored_now(run_id)
            check(run_id is not None, f"kill {kill}: no run was stored")
            check(max(stored.values(), default=1) == 1, f"kill {kill}: a call has {max(stored.values())} results")
            with SlowEndpoint.lock:
                sent = list(SlowEndpoint.sent)
            unstored = set(sent) - set(stored)
            check(len(unstored) <= concurrency,
                  f"kill {kill}: {len(unstored)} calls sent but not stored (more than the {concurrency} in flight)")
            check(shown_status(env) == "interrupted", f"kill {kill}: the killed run reads {shown_status(env)!r}")
            resent_total += len(unstored)
            print(f"kill {kill}: {len(stored)}/{requests} stored, {len(unstored)} in flight to send again")
        stored_before = set(stored_now(run_id)[1])
        before = len(SlowEndpoint.sent)
        final = subprocess.run(cli("replay", "--resume", run_id, "--json"), env=env, cwd=REPO, capture_output=True,
                               text=True, timeout=WAIT_S)
        check(final.returncode == 0 and json.loads(final.stdout)["status"] == "done", f"last resume: {final.stderr}")
        _, stored = stored_now(run_id)
        check(stored == Counter({f"question {i}": 1 for i in range(requests)}), "not exactly one answer per call")
        check(not stored_before & set(SlowEndpoint.sent[before:]), "the last resume sent a stored call again")
        resends = len(SlowEndpoint.sent) - len(set(SlowEndpoint.sent))
        check(resends <= kills * concurrency, f"{resends} resends for {kills} kills at concurrency {concurrency}")
        check(shown_status(env) == "done", "the finished run does not read 'done'")
    finally:
        server.shutdown()
        server.server_close()
    print(f"{resends} calls sent twice in all (at most {kills} x {concurrency})")
    print(f"{kills} kills: ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    requests = args.requests or (4 * args.kills + 2) * args.concurrency
    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory() as folder:
        run(args.kills, args.seed, requests, args.concurrency, Path(folder) / "workspaces")


if __name__ == "__main__":
    main()

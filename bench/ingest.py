"""Ingest speed: the project's ingest of a 1,000,000-line OpenAI Batch output file (~0.7 GB)
against, in the same run, a bare DuckDB `CREATE TABLE AS SELECT` of the same fields (the columns
the project stores for a Batch line) from `read_json`, and a naive json.loads + pandas baseline.
Each contender runs in its own subprocess, so its peak RSS is its own; project and bare DuckDB run
alternately `--repeat` times and the ratio is the median of each round's ratio (the machine may be
shared: wall times drift, ratios within a round much less). CPU seconds (all threads) are shown
too: they hardly depend on other load. The naive baseline runs once (~30 s, ~1.4 GB at 1M lines on
2 cores); `--naive-lines N` makes it read the first N lines only and extrapolates its time linearly
(said in the output).

    .venv/bin/python bench/ingest.py [--lines 1000000] [--repeat 3] [--naive-lines N] [--skip-naive]
                                     [--threads 1,2,4,8]

Targets: project <= 1.5x bare DuckDB, >= 10x faster than naive, peak RSS < 1.5 GB.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = """
import resource, sys, time
from pathlib import Path
from analysis.store.database import open_db
from analysis.ingest import ingest_file
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
con = open_db(Path(sys.argv[2]))
if int(sys.argv[4]):
    con.execute(f"SET threads = {int(sys.argv[4])}").fetchall()
t, c = time.perf_counter(), cpu()
result = ingest_file(con, sys.argv[1], format="openai_batch")
assert result.ok and result.rows_loaded == int(sys.argv[3]), result
print(time.perf_counter() - t, cpu() - c, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

BARE = """
import resource, sys, time, duckdb
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
con = duckdb.connect(sys.argv[2])
if int(sys.argv[4]):
    con.execute(f"SET threads = {int(sys.argv[4])}").fetchall()
t, c = time.perf_counter(), cpu()
# The same fields, with the same types, that the project stores for a Batch output line.
con.execute('''CREATE TABLE requests AS SELECT
    'source' AS source_id, coalesce(id, custom_id) AS request_id,
    CAST(to_timestamp(response.body.created) AS TIMESTAMP) AS ts,
    'openai' AS provider, response.body.model AS model_logged,
    lower(regexp_replace(response.body.model, '^[A-Za-z0-9_.-]+/', '')) AS model,
    'chat' AS operation, response.body.choices[1].message.content AS output_text,
    response.body.usage.prompt_tokens AS input_tokens,
    response.body.usage.prompt_tokens_details.cached_tokens AS cached_input_tokens,
    0 AS cache_write_tokens,
    response.body.usage.completion_tokens AS output_tokens,
    response.body.usage.completion_tokens_details.reasoning_tokens AS reasoning_tokens,
    CASE WHEN response.status_code = 200 THEN 'ok' ELSE 'error' END AS status,
    error.message AS error, true AS is_batch,
    json_object('custom_id', custom_id, 'batch_request_id', response.request_id,
                'response_id', response.body.id) AS extra
  FROM read_json(?, format='newline_delimited')''', [sys.argv[1]]).fetchall()
n = con.execute('SELECT count(*) FROM requests').fetchall()[0][0]
assert n == int(sys.argv[3]), n
print(time.perf_counter() - t, cpu() - c, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

NAIVE = """
import resource, sys, time, json, duckdb, pandas as pd
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
con = duckdb.connect(sys.argv[2])
t, c = time.perf_counter(), cpu()
records = []
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)
        body = r["response"]["body"]
        usage = body["usage"]
        records.append({
            "request_id": r["id"], "custom_id": r["custom_id"], "model": body["model"],
            "ts": pd.Timestamp(body["created"], unit="s"),
            "output_text": body["choices"][0]["message"]["content"],
            "input_tokens": usage["prompt_tokens"],
            "cached_input_tokens": usage["prompt_tokens_details"]["cached_tokens"],
            "output_tokens": usage["completion_tokens"],
            "reasoning_tokens": usage["completion_tokens_details"]["reasoning_tokens"],
            "status_code": r["response"]["status_code"],
        })
df = pd.DataFrame.from_records(records)
con.execute("CREATE TABLE requests AS SELECT * FROM df").fetchall()
assert len(df) == int(sys.argv[3])
print(time.perf_counter() - t, cpu() - c, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

WORDS = ["the", "a", "ticket", "order", "refund", "login", "error", "shipping", "invoice", "account", "card", "app", "crash", "sync", "export"]


def generate(path: Path, lines: int, seed: int = 7) -> None:
    """Batch output lines shaped like OpenAI's, ~500 bytes each."""
    rng = random.Random(seed)
    models = ["gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06"]
    with open(path, "w") as out:
        for i in range(lines):
            prompt_tokens = rng.randint(50, 2000)
            completion_tokens = rng.randint(1, 300)
            answer = " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))
            record = {
                "id": f"batch_req_{i:012x}", "custom_id": f"request-{i}",
                "response": {"status_code": 200, "request_id": f"{i:032x}", "body": {
                    "id": f"chatcmpl-{i:x}", "object": "chat.completion", "created": 1729730156 + i,
                    "model": models[i % 2],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": answer,
                                                         "refusal": None},
                                 "logprobs": None, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                              "total_tokens": prompt_tokens + completion_tokens,
                              "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}},
                    "system_fingerprint": "fp_abc"}},
                "error": None,
            }
            out.write(json.dumps(record) + "\n")


def run(code: str, data: Path, db: Path, lines: int, threads: int = 0) -> tuple[float, float, float]:
    """(wall seconds and CPU seconds measured inside the child, the child's own peak RSS in MB);
    `threads` > 0 caps DuckDB's threads (0: DuckDB's default, one per core)."""
    db.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-c", code, str(data), str(db), str(lines), str(threads)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode:
        raise SystemExit(f"contender failed:\n{done.stderr[-2000:]}")
    wall, cpu, rss_mb = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu), float(rss_mb)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of project + bare DuckDB")
    parser.add_argument("--naive-lines", type=int, default=0,
                        help="lines the naive baseline reads (extrapolated linearly); 0 = all")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--threads", default="",
                        help="comma-separated DuckDB thread caps for an extra scaling table, e.g. 2,4,8")
    args = parser.parse_args()
    thread_caps = [int(t) for t in args.threads.split(",") if t]
    naive_lines = min(args.naive_lines or args.lines, args.lines)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "batch_output.jsonl"
        t = time.perf_counter()
        generate(data, args.lines)
        print(f"generated {args.lines:,} lines, {data.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - t:.1f} s")
        runs: dict[str, list[tuple[float, float, float]]] = {"project": [], "bare_duckdb": []}
        for round_no in range(1, args.repeat + 1):
            for name, code in (("project", PROJECT), ("bare_duckdb", BARE)):
                runs[name].append(run(code, data, Path(tmp) / f"{name}.duckdb", args.lines))
            (pw, pc, _), (bw, bc, _) = runs["project"][-1], runs["bare_duckdb"][-1]
            print(f"round {round_no}: project {pw:.2f} s ({pc:.2f} s CPU), bare DuckDB {bw:.2f} s ({bc:.2f} s CPU): "
                  f"{pw / bw:.2f}x", flush=True)
        naive = None
        if not args.skip_naive:
            subset = data
            if naive_lines < args.lines:
                subset = Path(tmp) / "naive_subset.jsonl"
                with open(data) as src, open(subset, "w") as out:
                    out.writelines(itertools.islice(src, naive_lines))
            naive = run(NAIVE, subset, Path(tmp) / "naive.duckdb", naive_lines)
        scaling = {cap: (run(PROJECT, data, Path(tmp) / "project.duckdb", args.lines, cap),
                         run(BARE, data, Path(tmp) / "bare_duckdb.duckdb", args.lines, cap))
                   for cap in thread_caps}
    scale = args.lines / naive_lines
    ratio = statistics.median(p[0] / b[0] for p, b in zip(runs["project"], runs["bare_duckdb"], strict=True))
    cpu_ratio = statistics.median(p[1] / b[1] for p, b in zip(runs["project"], runs["bare_duckdb"], strict=True))
    project_s = statistics.median(p[0] for p in runs["project"])
    project_rss = max(p[2] for p in runs["project"])
    print(f"\n{'contender':<14} {'wall s (median)':>16} {'CPU s (median)':>15} {'peak RSS MB':>12}  runs (wall s)")
    for name, results in runs.items():
        print(f"{name:<14} {statistics.median(r[0] for r in results):>16.2f} {statistics.median(r[1] for r in results):>15.2f} "
              f"{max(r[2] for r in results):>12,.0f}  {', '.join(f'{r[0]:.2f}' for r in results)}")
    if naive:
        note = f"  extrapolated x{scale:g} from {naive_lines:,} lines ({naive[0]:.2f} s)" if scale != 1 else ""
        print(f"{'naive_pandas':<14} {naive[0] * scale:>16.2f} {naive[1] * scale:>15.2f} {naive[2]:>12,.0f}{note}")
    print(f"\n{'target':<36} {'measured':>10}  result")
    print(f"{'project / bare DuckDB <= 1.5x':<36} {ratio:>9.2f}x  {verdict(ratio <= 1.5)}"
          f"   (median of {args.repeat} rounds; CPU-time ratio {cpu_ratio:.2f}x)")
    if naive:
        speedup = naive[0] * scale / project_s
        print(f"{'naive / project >= 10x':<36} {speedup:>9.1f}x  {verdict(speedup >= 10)}"
              + (f"   (naive extrapolated from {naive_lines:,} lines)" if scale != 1 else ""))
        # What any DuckDB-based ingest can reach on this machine: the naive loop uses one core,
        # DuckDB all of them, so this ceiling grows with the core count.
        ceiling = naive[0] * scale / statistics.median(b[0] for b in runs["bare_duckdb"])
        print(f"{'(ceiling) naive / bare DuckDB':<36} {ceiling:>9.1f}x  on {os.cpu_count()} cores")
    print(f"{'project peak RSS < 1500 MB':<36} {project_rss:>7,.0f} MB  {verdict(project_rss < 1500)}")
    if scaling:
        print(f"\n{'DuckDB threads':<15} {'project s':>10} {'bare s':>8} {'project/bare':>13}"
              + (f" {'naive/project':>14} {'naive/bare':>11}" if naive else "") + "   (one round each)")
        for cap, ((pw, _, _), (bw, _, _)) in scaling.items():
            print(f"{cap:<15} {pw:>10.2f} {bw:>8.2f} {pw / bw:>12.2f}x"
                  + (f" {naive[0] * scale / pw:>13.1f}x {naive[0] * scale / bw:>10.1f}x" if naive else ""))


if __name__ == "__main__":
    main()

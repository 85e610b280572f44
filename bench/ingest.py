"""Ingest speed: the project's ingest of a 1,000,000-line OpenAI Batch output file (~0.5 GB)
against, in the same run, a bare DuckDB `CREATE TABLE AS SELECT` of the same fields (the
columns the project stores for a Batch line) from `read_json`, and a naive json.loads + pandas baseline. Each contender runs in its own
subprocess so its peak RSS is its own.

    .venv/bin/python bench/ingest.py [--lines 1000000] [--skip-naive]

Targets: project <= 1.5x bare DuckDB, >= 10x faster than naive, peak RSS < 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = """
import resource, sys, time
from pathlib import Path
from analysis.db import open_db
from analysis.ingest import ingest_file
con = open_db(Path(sys.argv[2]))
t = time.perf_counter()
result = ingest_file(con, sys.argv[1], format="openai_batch")
assert result.ok and result.rows_loaded == int(sys.argv[3]), result
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

BARE = """
import resource, sys, time, duckdb
con = duckdb.connect(sys.argv[2])
t = time.perf_counter()
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
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

NAIVE = """
import resource, sys, time, json, duckdb, pandas as pd
con = duckdb.connect(sys.argv[2])
t = time.perf_counter()
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
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

WORDS = "the a ticket order refund login error shipping invoice account card app crash sync export".split()


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


def run(code: str, data: Path, db: Path, lines: int) -> tuple[float, float]:
    """(seconds measured inside the child, the child's own peak RSS in MB)."""
    done = subprocess.run([sys.executable, "-c", code, str(data), str(db), str(lines)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode:
        raise SystemExit(f"contender failed:\n{done.stderr[-2000:]}")
    seconds, rss_mb = done.stdout.strip().splitlines()[-1].split()
    return float(seconds), float(rss_mb)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "batch_output.jsonl"
        t = time.perf_counter()
        generate(data, args.lines)
        print(f"generated {args.lines:,} lines, {data.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - t:.1f} s")
        results = {}
        contenders = [("project", PROJECT), ("bare_duckdb", BARE)] + ([] if args.skip_naive else [("naive_pandas", NAIVE)])
        for name, code in contenders:
            results[name] = run(code, data, Path(tmp) / f"{name}.duckdb", args.lines)
            print(f"{name:>13}: {results[name][0]:7.2f} s, peak RSS {results[name][1]:,.0f} MB")
    project, bare = results["project"][0], results["bare_duckdb"][0]
    print(f"project / bare DuckDB = {project / bare:.2f}x (target <= 1.5x)")
    if "naive_pandas" in results:
        print(f"naive / project = {results['naive_pandas'][0] / project:.1f}x faster (target >= 10x)")
    print(f"project peak RSS = {results['project'][1]:,.0f} MB (target < 1500 MB)")


if __name__ == "__main__":
    main()

"""Dashboard speed: each page's full script run (Streamlit AppTest) on a 10M-request workspace
against the same run on the demo workspace, in one process.

    .venv/bin/python bench/dashboard.py [--requests 10000000]

Targets: under 1 s per page on the big workspace, and under 3x the demo's time. The first run
of each page fills the caches (reported separately); the timed runs are the median of 5 reruns,
as a user clicking around would see them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Python puts this file's folder first on sys.path, where this file's name would shadow the
# `dashboard` package that the app imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
PAGES = ["overview", "logs", "replay", "quality", "economics", "routing", "scenarios"]


def fill(path: Path, n: int) -> None:
    """n synthetic requests written by DuckDB itself (30 days, 6 models, 5 task types)."""
    from analysis.store.database import open_db

    con = open_db(path)
    con.execute(
        f"""INSERT INTO requests (request_id, source_id, source_line, ts, provider, model_logged, model,
                                  operation, input_text, output_text, input_tokens, cached_input_tokens,
                                  output_tokens, latency_ms, ttft_ms, status, cost_usd, cost_source,
                                  task_type, complexity, label, input_messages)
            SELECT 'big-' || i, 'bench', i, TIMESTAMP '2026-10-01' + to_seconds(i * (30 * 86400 / {n})),
                   'openai', m, m, 'chat', 'synthetic prompt ' || i, 'answer', 200 + i % 900, 0, 5 + i % 400,
                   300 + i % 2000, 200 + i % 300, CASE WHEN i % 250 = 0 THEN 'error' ELSE 'ok' END,
                   (200 + i % 900) * 1.5e-7 + (5 + i % 400) * 6e-7, 'computed',
                   ['classification', 'extraction', 'summarisation', 'code', 'reasoning'][1 + i % 5],
                   (i % 100) / 100.0, NULL, '[{{"role": "user", "content": "x"}}]'
            FROM range({n}) t(i),
                 LATERAL (SELECT ['gpt-4o-mini', 'gpt-4o-2024-08-06', 'claude-3-5-haiku-20241022',
                                  'claude-3-5-sonnet-20241022', 'gpt-4.1-mini', 'gpt-4.1'][1 + i % 6] AS m)"""
    ).fetchall()
    con.execute("INSERT INTO sources VALUES ('bench', 'bench', NULL, 'generic', 'bench', 0, ?, 0, now())", [n]).fetchall()
    con.close()


def time_pages(data_dir: Path, workspace: str) -> dict[str, tuple[float, float]]:
    """{page: (first run seconds, median of 5 reruns seconds)}."""
    from streamlit.testing.v1 import AppTest

    os.environ["BREAKEVEN_DATA_DIR"] = str(data_dir)
    results = {}
    for page in PAGES:
        app = AppTest.from_file(str(APP), default_timeout=120)
        app.query_params["ws"] = workspace
        app.run()
        start = time.perf_counter()
        app.switch_page(f"views/{page}.py").run()
        first = time.perf_counter() - start
        if app.exception:
            raise SystemExit(f"{page} raised on {workspace}: {app.exception[0].message}")
        reruns = []
        for _ in range(5):
            start = time.perf_counter()
            app.run()
            reruns.append(time.perf_counter() - start)
        results[page] = (first, statistics.median(reruns))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000_000)
    args = parser.parse_args()
    from analysis.ingest.demo import ensure_demo_workspace
    from analysis.settings import get_settings

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        os.environ["BREAKEVEN_DATA_DIR"] = str(data_dir)
        start = time.perf_counter()
        ensure_demo_workspace(get_settings())
        fill(data_dir / "big.duckdb", args.requests)
        print(f"built demo + {args.requests:,}-request workspace in {time.perf_counter() - start:.0f} s")
        demo, big = time_pages(data_dir, "demo"), time_pages(data_dir, "big")
    print(f"{'page':>10} {'demo s':>8} {'big s':>8} {'ratio':>6} {'big first s':>11}  target: big < 1 s, ratio < 3")
    for page in PAGES:
        ratio = big[page][1] / demo[page][1]
        ok = "ok" if big[page][1] < 1 and ratio < 3 else "MISSED"
        print(f"{page:>10} {demo[page][1]:8.3f} {big[page][1]:8.3f} {ratio:6.2f} {big[page][0]:11.2f}  {ok}")


if __name__ == "__main__":
    main()

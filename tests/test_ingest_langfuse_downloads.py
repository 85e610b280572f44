"""Langfuse files as users get them: the UI's "download trace" JSON ({"trace": ..., "observations": [...]},
no top-level id) and a public API page ({"data": [...], "meta": {...}}), detected without --format."""

from datetime import datetime
from pathlib import Path

import pytest

from analysis.ingest import ingest_file
from analysis.ingest.registry import detect_format
from analysis.ingest.sample import read_sample
from analysis.store.database import rows

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def test_trace_download(con):
    path = FIXTURES / "langfuse_trace_download.json"
    assert detect_format(read_sample(path)) == "langfuse"
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded, result.rows_rejected, result.rows_skipped) == ("langfuse", 2, 0, 1)
    got = rows(con, """SELECT request_id, ts, model, user_id, input_tokens, cached_input_tokens, output_tokens,
                              latency_ms, cost_usd, cost_source, extra->>'trace_name', tags
                       FROM requests ORDER BY request_id""")
    assert got == [
        ("obs-1", datetime(2025, 5, 4, 8, 15, 0, 100000), "gpt-4o-mini-2024-07-18", "user-42", 300, 0, 40, 800.0,
         0.000069, "logged", "support-chat", ["prod"]),
        # usageDetails input 400 leaves out the 200 cached tokens
        ("obs-2", datetime(2025, 5, 4, 8, 15, 1), "gpt-4o-mini-2024-07-18", "user-42", 600, 200, 80, 1000.0,
         0.000138, "logged", "support-chat", ["prod"]),
    ]
    totals = rows(con, "SELECT sum(input_tokens), sum(output_tokens), sum(cost_usd) FROM requests")[0]
    assert totals[:2] == (900, 120) and totals[2] == pytest.approx(0.000207)  # the trace's totalCost


def test_api_page_of_observations(con):
    path = FIXTURES / "langfuse_observations_page.json"
    assert detect_format(read_sample(path)) == "langfuse"
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected, result.rows_skipped) == (2, 0, 1)
    got = rows(con, """SELECT request_id, model, input_tokens, output_tokens, latency_ms, cost_usd, cost_source,
                              extra->>'trace_id' FROM requests ORDER BY request_id""")
    assert got == [
        ("obs-11", "claude-3-5-haiku-20241022", 1000, 200, 3000.0, 0.0016, "logged", "t-a"),
        ("obs-13", "gpt-4o-2024-08-06", 100, 10, 1000.0, 0.00035, "logged", "t-b"),
    ]

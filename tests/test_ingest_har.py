"""HAR files (browser or proxy captures): tests/fixtures/ingest/browser_capture.har holds a page load,
an OpenAI chat call (base64 body), a streamed Anthropic call, an embeddings call and a 429."""

from datetime import datetime
from pathlib import Path

import pytest

from analysis.ingest import ingest_file
from analysis.ingest.registry import detect_format
from analysis.ingest.sample import read_sample
from analysis.store.database import rows

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def test_browser_capture(con):
    path = FIXTURES / "browser_capture.har"
    assert detect_format(read_sample(path)) == "har"
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded, result.rows_rejected, result.rows_skipped) == ("har", 3, 0, 2)
    assert result.skip_reasons == {"not an LLM call": 1, "embeddings": 1}
    got = rows(con, """SELECT source_line, provider, model, input_tokens, output_tokens, latency_ms, ts, status, error,
                              output_text, cost_source, CAST(extra->>'streamed' AS BOOLEAN)
                       FROM requests ORDER BY source_line""")
    assert got == [
        (2, "openai", "gpt-4o-mini-2024-07-18", 30, 4, 640.25, datetime(2025, 4, 30, 8, 0), "ok", None, "Bonjour!",
         "computed", None),
        (3, "anthropic", "claude-sonnet-4-20250514", 120, 40, 1500.0, datetime(2025, 4, 30, 8, 0, 2), "ok", None, "Hello",
         "computed", True),
        (5, "openai", "gpt-4o", None, None, 120.0, datetime(2025, 4, 30, 8, 0, 4), "error", "Rate limit reached", None,
         "unknown", None),
    ]
    costs = [r[0] for r in rows(con, "SELECT cost_usd FROM requests ORDER BY source_line")]
    # gpt-4o-mini $0.15 / $0.60 per M; claude-sonnet-4 $3 / $15 per M; an error is not priced
    assert costs[:2] == pytest.approx([30 * 0.15e-6 + 4 * 0.6e-6, 120 * 3e-6 + 40 * 15e-6]) and costs[2] is None

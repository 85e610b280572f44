"""Placeholders are not facts (#14): a logged cost of 0 on a call with no usage is unknown, and
rows without a time are counted in the ingest result (no per-day figure can use them)."""

import json

from analysis.ingest import ingest_file
from analysis.store.database import rows


def test_zero_cost_with_null_usage_is_unknown(con, tmp_path):
    base = {"traceId": "t1", "type": "GENERATION", "startTime": "2025-03-01T10:00:00Z",
            "endTime": "2025-03-01T10:00:01Z", "model": "gpt-4o-mini"}
    path = tmp_path / "observations.jsonl"
    path.write_text("".join(json.dumps(o) + "\n" for o in [
        {**base, "id": "placeholder", "usage": None, "usageDetails": None, "totalCost": 0, "calculatedTotalCost": 0},
        {**base, "id": "free", "usageDetails": {"input": 0, "output": 0, "total": 0}, "totalCost": 0},
        {**base, "id": "priced", "usageDetails": {"input": 1000, "output": 100}, "totalCost": 0.5},
    ]))
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded, result.rows_rejected) == ("langfuse", 3, 0)
    assert rows(con, "SELECT request_id, input_tokens, output_tokens, cost_usd, cost_source FROM requests ORDER BY request_id") == [
        ("free", 0, 0, 0.0, "logged"),  # a known zero-token call costs nothing
        ("placeholder", None, None, None, "unknown"),
        ("priced", 1000, 100, 0.5, "logged"),
    ]


def test_undated_rows_are_counted(con, tmp_path):
    response = {"id": "c1", "object": "chat.completion", "model": "gpt-4o-mini",
                "choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 10, "completion_tokens": 2}}
    path = tmp_path / "one_call.json"
    path.write_text(json.dumps(response))
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_undated) == (1, 1)
    assert result.counts_text() == "1 row loaded, 0 rejected, 1 without a time (left out of per-day figures)"
    assert rows(con, "SELECT ts, cost_source FROM requests") == [(None, "computed")]

"""Helicone request exports (hand-made in the export tool's, REST API's and ClickHouse's shapes):
cost units (USD, USD x 1e9, cents), millisecond latency, cache tokens."""

import json
from datetime import datetime

import pytest
from local_files import write_csv

from analysis.ingest import ingest_file
from analysis.ingest.registry import detect_format
from analysis.ingest.sample import read_sample
from analysis.store.database import rows

API_ROW = {
    "request_id": "r1", "request_created_at": "2025-04-01T12:00:00.000Z", "response_id": "s1",
    "response_created_at": "2025-04-01T12:00:01.500Z", "response_status": 200, "request_path": "/v1/chat/completions",
    "request_body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0},
    "response_body": {"choices": [{"message": {"content": "hello"}}]}, "request_user_id": "u1",
    "request_properties": {"env": "prod"}, "model": "gpt-4o-mini", "provider": "OPENAI", "delay_ms": 1480,
    "time_to_first_token": 300, "prompt_tokens": 50, "completion_tokens": 10, "prompt_cache_read_tokens": 100,
    "prompt_cache_write_tokens": 0, "costUSD": 0.0000195,
}
CSV_FIELDS = ["response_id", "response_created_at", "response_status", "request_created_at", "request_body",
              "request_properties", "request_user_id", "model", "prompt_tokens", "completion_tokens", "latency", "cost"]


def test_api_rows_jsonl(con, tmp_path):
    error = {"request_id": "r2", "request_created_at": "2025-04-01T12:01:00.000Z",
             "response_created_at": "2025-04-01T12:01:02.000Z", "response_status": 429,
             "response_body": {"error": {"message": "rate limited"}}, "model": "gpt-4o", "prompt_tokens": 0,
             "completion_tokens": 0}
    path = tmp_path / "helicone.jsonl"
    path.write_text(json.dumps(API_ROW) + "\n" + json.dumps(error) + "\n")
    assert detect_format(read_sample(path)) == "helicone"
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (2, 0)
    got = rows(con, """SELECT request_id, ts, provider, model, input_tokens, cached_input_tokens, cache_write_tokens,
                              output_tokens, latency_ms, ttft_ms, status, error, cost_usd, cost_source, user_id,
                              input_text, output_text FROM requests ORDER BY source_line""")
    # Helicone's prompt_tokens are the uncached ones: cache reads and writes are added back.
    assert got[0] == ("r1", datetime(2025, 4, 1, 12), "openai", "gpt-4o-mini", 150, 100, 0, 10, 1480.0, 300.0, "ok",
                      None, 0.0000195, "logged", "u1", "user: hi", "hello")
    # No delay_ms: the latency is response_created_at - request_created_at.
    assert got[1][8] == 2000.0 and got[1][10:12] == ("error", "rate limited")
    assert json.loads(rows(con, "SELECT extra FROM requests WHERE request_id = 'r1'")[0][0])["properties"] == {"env": "prod"}


def _csv_row(response_id, cost, tokens=(1000, 100)):
    return {"response_id": response_id, "response_created_at": "2025-04-01 12:00:01.5", "response_status": "200",
            "request_created_at": "2025-04-01 12:00:00", "request_body": json.dumps({"model": "gpt-4o", "messages": [
                {"role": "user", "content": "q"}]}), "request_properties": "{}", "request_user_id": "u2",
            "model": "gpt-4o", "prompt_tokens": str(tokens[0]), "completion_tokens": str(tokens[1]), "latency": "1500",
            "cost": cost}


def test_csv_cost_in_usd(con, tmp_path):
    path = write_csv(tmp_path / "usd.csv", CSV_FIELDS, [_csv_row("s1", "0.0035"), _csv_row("s2", "0.000025", (10, 1))])
    assert detect_format(read_sample(path)) == "helicone"
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded) == ("helicone", 2)
    got = rows(con, "SELECT request_id, source_line, input_tokens, output_tokens, latency_ms, cost_usd FROM requests ORDER BY 2")
    assert got == [("s1", 2, 1000, 100, 1500.0, pytest.approx(0.0035)), ("s2", 3, 10, 1, 1500.0, pytest.approx(0.000025))]


def test_csv_cost_in_usd_times_1e9(con, tmp_path):
    # Helicone's ClickHouse keeps cost as an integer, USD x 1e9.
    path = write_csv(tmp_path / "clickhouse.csv", CSV_FIELDS, [_csv_row("s1", "3500000"), _csv_row("s2", "25000", (10, 1))])
    ingest_file(con, path)
    assert rows(con, "SELECT cost_usd FROM requests ORDER BY source_line") == [
        (pytest.approx(0.0035),), (pytest.approx(0.000025),)]


def test_cost_unit_option_overrides(con, tmp_path):
    path = write_csv(tmp_path / "cents.csv", CSV_FIELDS, [_csv_row("s1", "0.35")])
    ingest_file(con, path, options={"cost_unit": "cents"})
    assert rows(con, "SELECT cost_usd FROM requests") == [(pytest.approx(0.0035),)]
    bad = ingest_file(con, write_csv(tmp_path / "x.csv", CSV_FIELDS, [_csv_row("s9", "1")]), options={"cost_unit": "euros"})
    assert "cost_unit 'euros' unknown" in bad.error


def test_rows_without_model_or_time_are_rejected(con, tmp_path):
    path = write_csv(tmp_path / "bad.csv", CSV_FIELDS, [_csv_row("s1", "0.1"), {**_csv_row("s2", "0.1"), "model": ""},
                                           {**_csv_row("s3", "0.1"), "request_created_at": "yesterday"}])
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (1, 2)
    assert result.reasons == [
        "line 3: missing required field model (expected a Helicone request export row)",
        "line 4: missing or unreadable request_created_at (expected a Helicone request export row)",
    ]

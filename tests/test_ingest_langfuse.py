"""Langfuse observation and trace exports (hand-made in the shapes Langfuse's docs give: API / UI
camelCase, blob-storage snake_case CSV, traces with nested observations, API pages)."""

import json
from datetime import datetime

from local_files import write_csv

from analysis.ingest import ingest_file
from analysis.ingest.registry import detect_format
from analysis.ingest.sample import read_sample
from analysis.store.database import rows

GENERATION = {
    "id": "obs-1", "traceId": "tr-1", "type": "GENERATION", "name": "answer",
    "startTime": "2025-03-01T10:00:00.000Z", "endTime": "2025-03-01T10:00:01.250Z",
    "completionStartTime": "2025-03-01T10:00:00.400Z", "model": "gpt-4o-mini", "modelParameters": {"temperature": 0.2},
    "input": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    "output": {"role": "assistant", "content": "Hello!"},
    # Langfuse's `input` leaves out the cached tokens, priced apart.
    "usageDetails": {"input": 80, "input_cached_tokens": 20, "output": 12, "output_reasoning_tokens": 4, "total": 116},
    "costDetails": {"input": 0.00001, "output": 0.00002, "total": 0.00003}, "calculatedTotalCost": 0.00003,
    "level": "DEFAULT", "userId": "u-1",
    "latency": 1250,  # milliseconds here, seconds elsewhere: never read
}
SPAN = {"id": "obs-2", "traceId": "tr-1", "type": "SPAN", "name": "retrieve",
        "startTime": "2025-03-01T10:00:00.000Z", "endTime": "2025-03-01T10:00:00.100Z"}
CLAUDE = {
    "id": "obs-3", "traceId": "tr-2", "type": "GENERATION", "startTime": "2025-03-01T11:00:00Z",
    "endTime": "2025-03-01T11:00:02Z", "model": "claude-3-5-haiku-20241022", "input": "Summarise this", "output": "Short.",
    "usageDetails": {"input": 10, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200, "output": 50,
                     "total": 1260},
    "calculatedTotalCost": 0, "level": "ERROR", "statusMessage": "overloaded",
}


def test_observations_jsonl(con, tmp_path):
    path = tmp_path / "observations.jsonl"
    path.write_text("".join(json.dumps(o) + "\n" for o in (GENERATION, SPAN, CLAUDE)))
    assert detect_format(read_sample(path)) == "langfuse"
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected, result.rows_skipped) == (2, 0, 1)
    got = rows(con, """SELECT request_id, ts, model, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
                              reasoning_tokens, latency_ms, ttft_ms, status, error, cost_usd, cost_source, user_id,
                              input_text, output_text FROM requests ORDER BY source_line""")
    assert got == [
        ("obs-1", datetime(2025, 3, 1, 10), "gpt-4o-mini", 100, 20, 0, 16, 4, 1250.0, 400.0, "ok", None, 0.00003,
         "logged", "u-1", "system: Be brief.\nuser: Hi", "Hello!"),
        # A zero cost with tokens means "no price known"; an error call is not priced.
        ("obs-3", datetime(2025, 3, 1, 11), "claude-3-5-haiku-20241022", 1210, 1000, 200, 50, None, 2000.0, None,
         "error", "overloaded", None, "unknown", None, "user: Summarise this", "Short."),
    ]


def test_blob_storage_csv(con, tmp_path):
    fields = ["id", "trace_id", "type", "start_time", "end_time", "completion_start_time", "provided_model_name",
              "input", "output", "usage_details", "cost_details", "total_cost", "latency", "user_id", "tags", "level",
              "status_message"]
    generation = {"id": "o1", "trace_id": "t1", "type": "GENERATION", "start_time": "2025-03-02 09:00:00.000000",
                  "end_time": "2025-03-02 09:00:02.500000", "completion_start_time": "",
                  "provided_model_name": "gpt-4o", "input": json.dumps([{"role": "user", "content": "Q"}]),
                  "output": json.dumps("A"), "usage_details": json.dumps({"input": 100, "output": 40, "total": 140}),
                  "cost_details": json.dumps({"total": 0.00065}), "total_cost": "0.00065", "latency": "2.5",
                  "user_id": "u9", "tags": json.dumps(["prod"]), "level": "DEFAULT", "status_message": ""}
    event = {**generation, "id": "o2", "type": "EVENT", "provided_model_name": "", "end_time": ""}
    path = write_csv(tmp_path / "observations.csv", fields, [generation, event])
    assert detect_format(read_sample(path)) == "langfuse"
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_skipped) == (1, 1)
    assert rows(con, """SELECT request_id, source_line, ts, model, input_tokens, output_tokens, latency_ms, cost_usd,
                               cost_source, user_id, tags, input_text, output_text FROM requests""") == [
        ("o1", 2, datetime(2025, 3, 2, 9), "gpt-4o", 100, 40, 2500.0, 0.00065, "logged", "u9", ["prod"], "user: Q", "A"),
    ]


def test_traces_with_nested_observations_and_api_pages(con, tmp_path):
    trace = {"id": "tr-1", "timestamp": "2025-03-01T10:00:00Z", "name": "qa", "userId": "bob", "sessionId": "s-1",
             "tags": ["beta"], "observations": [GENERATION | {"userId": None}, SPAN]}
    path = tmp_path / "traces.json"
    path.write_text(json.dumps([trace]))
    assert detect_format(read_sample(path)) == "langfuse"
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_skipped) == (1, 1)
    got = rows(con, "SELECT request_id, user_id, tags, extra FROM requests")[0]
    assert got[:3] == ("obs-1", "bob", ["beta"])
    assert json.loads(got[3])["session_id"] == "s-1"

    page = tmp_path / "page.json"
    page.write_text(json.dumps({"data": [CLAUDE | {"id": "obs-9"}, SPAN], "meta": {"page": 1, "totalItems": 2}}))
    result = ingest_file(con, page)
    assert (result.format, result.rows_loaded, result.rows_skipped) == ("langfuse", 1, 1)


def test_a_trace_listing_only_observation_ids_is_rejected(con, tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps({"id": "tr-1", "timestamp": "2025-03-01T10:00:00Z", "observations": ["a", "b"]}) + "\n"
                    + json.dumps(GENERATION) + "\n")
    result = ingest_file(con, path, format="langfuse")
    assert (result.rows_loaded, result.rows_rejected) == (1, 1)
    assert result.reasons[0].startswith("line 1: a trace that lists only observation ids")


def test_blob_storage_parquet(con, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "observations.parquet"
    pq.write_table(pa.table({
        "id": ["o1", "o2"], "trace_id": ["t1", "t1"], "type": ["GENERATION", "SPAN"],
        "start_time": pa.array([datetime(2025, 3, 2, 9), datetime(2025, 3, 2, 9)], pa.timestamp("us")),
        "end_time": pa.array([datetime(2025, 3, 2, 9, 0, 3), None], pa.timestamp("us")),
        "provided_model_name": ["gpt-4o", ""],
        "usage_details": pa.array([[("input", 70), ("input_cached_tokens", 30), ("output", 9)], []],
                                  pa.map_(pa.string(), pa.int64())),
        "total_cost": [0.0004, 0.0],
    }), path)
    assert detect_format(read_sample(path)) == "langfuse"
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_skipped) == (1, 1)
    assert rows(con, "SELECT input_tokens, cached_input_tokens, output_tokens, latency_ms, cost_usd FROM requests") == [
        (100, 30, 9, 3000.0, 0.0004)]

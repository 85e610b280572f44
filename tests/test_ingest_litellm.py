"""LiteLLM spend logs and StandardLoggingPayload objects: the shared samples and hand-made cases."""

import json
from datetime import datetime

import pytest
from local_files import write_csv

from analysis.ingest import ingest_file
from analysis.ingest.registry import detect_format
from analysis.ingest.sample import read_sample
from analysis.store.database import rows

COLUMNS = """request_id, ts, provider, model, operation, input_tokens, output_tokens, latency_ms, ttft_ms, status,
             cost_usd, cost_source"""
SECRET = "sk-hashed-0123456789abcdef"


@pytest.mark.parametrize("name, request_id", [
    ("spend_logs_payload.json", "chatcmpl-2283081b-dc89-41f6-93e6-d4f914774027"),
    ("standard_logging_payload.json", "chatcmpl-2299b6a2-82a3-465a-b47c-04e685a2227f"),
])
def test_shared_samples(con, shared_dir, name, request_id):
    path = shared_dir / "samples" / "litellm" / name
    assert detect_format(read_sample(path)) == "litellm"
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded, result.rows_rejected) == ("litellm", 1, 0)
    got = rows(con, f"SELECT {COLUMNS} FROM requests")[0]
    # gpt-4o, 10 prompt / 20 completion tokens, spend $0.000225 logged; 4.583 ms from start to end.
    assert got[:7] == (request_id, datetime(2025, 1, 24, 9, 20, 46, 847371), "openai", "gpt-4o", "chat", 10, 20)
    assert got[7] == pytest.approx(4.583)
    assert got[8] is None  # completionStartTime == endTime: no time to first token
    assert got[9:] == ("ok", pytest.approx(0.000225), "logged")


def test_standard_payload_messages_and_answer(con, shared_dir):
    ingest_file(con, shared_dir / "samples" / "litellm" / "standard_logging_payload.json")
    assert rows(con, "SELECT input_text, output_text FROM requests") == [("user: Hello, world!", "hi")]


def test_spend_logs_csv_with_json_strings_and_no_api_key(con, tmp_path):
    fields = ["request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens", "completion_tokens",
              "startTime", "endTime", "completionStartTime", "model", "model_group", "custom_llm_provider", "user",
              "team_id", "metadata", "messages", "response", "cache_hit", "request_tags", "status"]
    metadata = {"user_api_key": SECRET, "user_api_key_alias": "prod-key", "usage_object": {
        "prompt_tokens": 2000, "completion_tokens": 50, "prompt_tokens_details": {"cached_tokens": 1536}}}
    row = {"request_id": "r-1", "call_type": "acompletion", "api_key": SECRET, "spend": "0.0031",
           "total_tokens": "2050", "prompt_tokens": "2000", "completion_tokens": "50",
           "startTime": "2025-02-01 08:00:00.000000+00:00", "endTime": "2025-02-01 08:00:02.500000+00:00",
           "completionStartTime": "2025-02-01 08:00:00.400000+00:00", "model": "azure/gpt-4o-2024-08-06",
           "model_group": "gpt-4o", "custom_llm_provider": "azure", "user": "alice", "team_id": "search",
           "metadata": json.dumps(metadata), "messages": json.dumps([{"role": "user", "content": "hello"}]),
           "response": json.dumps({"choices": [{"message": {"content": "hi there"}}]}), "cache_hit": "False",
           "request_tags": json.dumps(["prod", "search"]), "status": "success"}
    failure = {**row, "request_id": "r-2", "status": "failure", "spend": "0", "prompt_tokens": "0",
               "completion_tokens": "0", "metadata": json.dumps({"error_information": {"error_message": "timeout"}})}
    path = write_csv(tmp_path / "spend_logs.csv", fields, [row, failure])
    assert detect_format(read_sample(path)) == "litellm"
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (2, 0)
    got = rows(con, """SELECT request_id, provider, model_logged, model, input_tokens, cached_input_tokens, output_tokens,
                              latency_ms, ttft_ms, status, error, cost_usd, cost_source, user_id, team, tags,
                              input_text, output_text FROM requests ORDER BY source_line""")
    assert got[0] == ("r-1", "azure", "azure/gpt-4o-2024-08-06", "gpt-4o-2024-08-06", 2000, 1536, 50, 2500.0, 400.0,
                      "ok", None, 0.0031, "logged", "alice", "search", ["prod", "search"], "user: hello", "hi there")
    assert got[1][9:11] == ("error", "timeout")
    everything = " ".join(str(r) for r in rows(con, "SELECT * FROM requests"))
    assert SECRET not in everything and "prod-key" not in everything


def test_standard_payload_with_epoch_seconds(con, tmp_path):
    payload = {"id": "p-1", "call_type": "completion", "status": "success", "custom_llm_provider": "anthropic",
               "startTime": 1737710446.5, "endTime": 1737710449.0, "completionStartTime": 1737710447.25,
               "response_time": 2.5, "model": "claude-3-5-haiku-20241022", "response_cost": 0.0012,
               "prompt_tokens": 300, "completion_tokens": 40, "metadata": {"user_api_key_hash": SECRET},
               "messages": [{"role": "user", "content": "x"}], "response": {"choices": [{"message": {"content": "y"}}]},
               "request_tags": [], "error_str": None}
    path = tmp_path / "payloads.jsonl"
    path.write_text(json.dumps(payload) + "\n" + json.dumps({**payload, "id": "p-2", "endTime": None}) + "\n")
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded) == ("litellm", 2)
    got = rows(con, "SELECT ts, latency_ms, ttft_ms, cost_usd, tags FROM requests ORDER BY source_line")
    assert got[0] == (datetime(2025, 1, 24, 9, 20, 46, 500000), 2500.0, 750.0, 0.0012, None)
    assert got[1][1] == 2500.0  # no endTime: response_time (seconds) x 1000

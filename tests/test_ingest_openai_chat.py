"""OpenAI chat-completion / Responses objects, alone or as request+response pairs (hand-made; the
real recorded calls are cassettes, see test_ingest_cassette.py)."""

import json
from datetime import datetime

import pytest
from local_files import write_jsonl

from analysis.ingest import ingest_file
from analysis.ingest.registry import detect_format
from analysis.ingest.sample import read_sample
from analysis.store.database import rows

COMPLETION = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1731368630, "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1200, "completion_tokens": 30, "prompt_tokens_details": {"cached_tokens": 1024},
              "completion_tokens_details": {"reasoning_tokens": 0}},
}
RESPONSE = {
    "id": "resp_1", "object": "response", "created_at": 1731368700, "status": "completed", "model": "o4-mini-2025-04-16",
    "output": [{"type": "reasoning", "content": []},
               {"type": "message", "content": [{"type": "output_text", "text": "42"}]}],
    "usage": {"input_tokens": 50, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 300,
              "output_tokens_details": {"reasoning_tokens": 256}},
}
REQUEST = {"model": "o4-mini", "instructions": "Answer briefly.", "input": "What is 6 x 7?", "max_output_tokens": 500}


def test_response_objects_alone(con, tmp_path):
    path = write_jsonl(tmp_path / "chat.jsonl", [COMPLETION, RESPONSE])
    assert detect_format(read_sample(path)) == "openai_chat"
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (2, 0)
    got = rows(con, """SELECT request_id, ts, provider, model, operation, output_text, input_tokens, cached_input_tokens,
                              output_tokens, reasoning_tokens, status, cost_source FROM requests ORDER BY source_line""")
    # OpenAI's prompt tokens already include the cached ones: stored as they are.
    assert got == [
        ("chatcmpl-1", datetime(2024, 11, 11, 23, 43, 50), "openai", "gpt-4o-mini-2024-07-18", "chat", "Paris.",
         1200, 1024, 30, 0, "ok", "computed"),
        ("resp_1", datetime(2024, 11, 11, 23, 45), "openai", "o4-mini-2025-04-16", "responses", "42",
         50, 0, 300, 256, "ok", "computed"),
    ]


@pytest.mark.parametrize("keys", [("request", "response"), ("req", "resp"), ("request_body", "response_body")])
def test_pairs_with_any_key_spelling(con, tmp_path, keys):
    path = write_jsonl(tmp_path / "pairs.jsonl", [{keys[0]: REQUEST, keys[1]: RESPONSE, "latency_ms": 1834.5}])
    assert detect_format(read_sample(path)) == "openai_chat"
    result = ingest_file(con, path)
    assert result.rows_loaded == 1
    got = rows(con, "SELECT input_text, output_text, latency_ms, request_params FROM requests")[0]
    assert got[:3] == ("system: Answer briefly.\nuser: What is 6 x 7?", "42", 1834.5)
    assert json.loads(got[3]) == {"model": "o4-mini", "instructions": "Answer briefly.", "max_output_tokens": 500}


def test_pair_latency_from_seconds_or_start_and_end_times(con, tmp_path):
    chat_request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Capital of France?"}]}
    path = write_jsonl(tmp_path / "timed.jsonl", [
        {"request": chat_request, "response": COMPLETION, "duration_s": 1.25},
        {"request": json.dumps(chat_request), "response": json.dumps({**COMPLETION, "id": "chatcmpl-2"}),
         "start_time": "2024-11-11T23:43:50.100Z", "end_time": "2024-11-11T23:43:52.350Z"},
        {"request": chat_request, "response": {**COMPLETION, "id": "chatcmpl-3"},
         "started_at": 1731368630.5, "ended_at": 1731368631.0},
    ])
    result = ingest_file(con, path)
    assert result.rows_loaded == 3
    got = rows(con, "SELECT latency_ms, input_text FROM requests ORDER BY source_line")
    assert got == [(1250.0, "user: Capital of France?"), (2250.0, "user: Capital of France?"),
                   (500.0, "user: Capital of France?")]


def test_error_pair_and_json_array(con, tmp_path):
    error = {"request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
             "response": {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}}, "status_code": 429}
    path = tmp_path / "array.json"
    path.write_text(json.dumps([COMPLETION, error]))
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded) == ("openai_chat", 2)
    got = rows(con, "SELECT source_line, model, status, error, cost_usd FROM requests ORDER BY source_line")
    assert got[1] == (2, "gpt-4o", "error", "Rate limit reached", None)


def test_records_without_a_model_are_rejected(con, tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [COMPLETION, {"object": "chat.completion", "usage": {}},
                                                 {"request": {"messages": []}, "response": "not json"}])
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (1, 2)
    assert result.reasons[0] == "line 2: missing required field model (expected an OpenAI chat.completion or response object)"
    assert result.reasons[1].startswith("line 3: missing required field response")

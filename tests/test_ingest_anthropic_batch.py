"""Anthropic Message Batches results, Message objects and request+response pairs (hand-made: the
real recorded Anthropic calls are a cassette, see test_ingest_cassette.py)."""

import json

from local_files import write_jsonl

from analysis.ingest import ingest_file
from analysis.ingest.registry import detect_format
from analysis.ingest.sample import read_sample
from analysis.store.database import rows, scalar


def message(n: int, usage: dict, model: str = "claude-3-5-haiku-20241022") -> dict:
    return {"id": f"msg_{n}", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": f"answer {n}"}],
            "stop_reason": "end_turn", "usage": usage}


RESULTS = [
    {"custom_id": "req-1", "result": {"type": "succeeded", "message": message(1, {
        "input_tokens": 4, "cache_creation_input_tokens": 1163, "cache_read_input_tokens": 0, "output_tokens": 187})}},
    {"custom_id": "req-2", "result": {"type": "succeeded", "message": message(2, {
        "input_tokens": 4, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1163, "output_tokens": 202})}},
    {"custom_id": "req-3", "result": {"type": "errored", "error": {"type": "error", "error": {
        "type": "invalid_request_error", "message": "max_tokens: field required"}}}},
    {"custom_id": "req-4", "result": {"type": "canceled"}},
    {"custom_id": "req-5", "result": {"type": "expired"}},
    {"custom_id": "req-6", "result": {"type": "exploded"}},
    {"result": {"type": "succeeded", "message": message(7, {"input_tokens": 1, "output_tokens": 1})}},
]


def test_batch_results(con, tmp_path):
    path = write_jsonl(tmp_path / "results.jsonl", RESULTS)
    assert detect_format(read_sample(path)) == "anthropic_batch"
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (5, 2)
    assert result.reasons == [
        "line 6: result.type 'exploded' (expected one of succeeded, errored, canceled, expired)",
        "line 7: missing required field custom_id (expected a Message Batches result line)",
    ]
    got = rows(con, """SELECT request_id, provider, model, operation, input_tokens, cached_input_tokens,
                              cache_write_tokens, output_tokens, status, error, is_batch, output_text
                       FROM requests ORDER BY source_line""")
    # Anthropic's input_tokens leave out cache reads and writes: the store adds them back.
    assert got == [
        ("msg_1", "anthropic", "claude-3-5-haiku-20241022", "messages", 1167, 0, 1163, 187, "ok", None, True, "answer 1"),
        ("msg_2", "anthropic", "claude-3-5-haiku-20241022", "messages", 1167, 1163, 0, 202, "ok", None, True, "answer 2"),
        ("req-3", "anthropic", None, "messages", None, None, None, None, "error", "max_tokens: field required", True, None),
        ("req-4", "anthropic", None, "messages", None, None, None, None, "canceled", "batch request canceled", True, None),
        ("req-5", "anthropic", None, "messages", None, None, None, None, "expired", "batch request expired", True, None),
    ]
    assert json.loads(scalar(con, "SELECT extra FROM requests WHERE request_id = 'msg_1'"))["custom_id"] == "req-1"
    assert scalar(con, "SELECT count(*) FROM requests WHERE cost_source = 'computed'") == 2


def test_message_objects_and_pairs(con, tmp_path):
    request = {"model": "claude-sonnet-4-20250514", "max_tokens": 100, "system": [{"type": "text", "text": "Be terse."}],
               "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}], "temperature": 0}
    records = [
        message(1, {"input_tokens": 10, "output_tokens": 5}, "claude-sonnet-4-20250514"),
        {"request": request, "response": message(2, {"input_tokens": 20, "cache_read_input_tokens": 100,
                                                      "output_tokens": 8}, "claude-sonnet-4-20250514"),
         "latency_ms": 950},
        {"request": request, "response": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
         "status_code": 529},
    ]
    path = write_jsonl(tmp_path / "messages.jsonl", records)
    assert detect_format(read_sample(path)) == "anthropic_batch"
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (3, 0)
    got = rows(con, """SELECT model, input_tokens, cached_input_tokens, output_tokens, latency_ms, status, error,
                              input_text, request_params, is_batch FROM requests ORDER BY source_line""")
    assert got[0][:6] == ("claude-sonnet-4-20250514", 10, 0, 5, None, "ok")
    assert got[1][:8] == ("claude-sonnet-4-20250514", 120, 100, 8, 950.0, "ok", None, "system: Be terse.\nuser: Hi")
    assert json.loads(got[1][8]) == {"model": "claude-sonnet-4-20250514", "max_tokens": 100, "temperature": 0}
    assert got[2][:7] == ("claude-sonnet-4-20250514", None, None, None, None, "error", "Overloaded")
    assert [g[9] for g in got] == [False, False, False]


def test_a_message_without_usage_is_rejected(con, tmp_path):
    broken = message(2, {})
    del broken["usage"]
    path = write_jsonl(tmp_path / "m.jsonl", [message(1, {"input_tokens": 3, "output_tokens": 1}),
                                               {"request": {"max_tokens": 5}, "response": broken}])
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (1, 1)
    assert result.reasons == ["line 2: missing required field usage (expected an Anthropic Message with usage, or a pair with one)"]

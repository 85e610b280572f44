"""Streamed (SSE) calls reassembled: tests/fixtures/ingest/streamed_calls.yaml holds one stream of
each API, written from the documented event shapes, and one OpenAI stream without usage."""

import json
from datetime import datetime
from pathlib import Path

import pytest

from analysis.ingest import ingest_file, streams
from analysis.ingest.registry import detect_format
from analysis.ingest.sample import read_sample
from analysis.store.database import rows

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def test_streamed_calls_load_with_their_usage(con):
    path = FIXTURES / "streamed_calls.yaml"
    assert detect_format(read_sample(path)) == "cassette"
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded, result.rows_rejected, result.rows_skipped) == ("cassette", 4, 0, 0)
    got = rows(con, """SELECT source_line, provider, model, operation, input_tokens, cached_input_tokens, output_tokens,
                              output_text, status, cost_source, extra->>'tokens', CAST(extra->>'streamed' AS BOOLEAN)
                       FROM requests ORDER BY source_line""")
    assert got == [
        (1, "openai", "gpt-4o-mini-2024-07-18", "chat", 13, 0, 3, "Hello there!", "ok", "computed", None, True),
        (2, "openai", "gpt-4o-2024-08-06", "responses", 20, 0, 2, "Paris.", "ok", "computed", None, True),
        # message_start: input 25 + cache read 100; message_delta: output 15 (wins over message_start's 1)
        (3, "anthropic", "claude-3-5-haiku-20241022", "messages", 125, 100, 15, "Bonjour", "ok", "computed", None, True),
        # no usage: ceil(len("Count the letters, please") / 4) = 7, ceil(len("Twelve characters") / 4) = 5
        (4, "openai", "gpt-4o-mini-2024-07-18", "chat", 7, 0, 5, "Twelve characters", "ok", "computed", "estimated", True),
    ]
    costs = [r[0] for r in rows(con, "SELECT cost_usd FROM requests ORDER BY source_line")]
    # gpt-4o-mini $0.15 / $0.60 per M; gpt-4o $2.50 / $10; claude-3.5-haiku $0.80 in, $0.08 cache read, $4 out
    assert costs == pytest.approx([13 * 0.15e-6 + 3 * 0.6e-6, 20 * 2.5e-6 + 2 * 10e-6,
                                   25 * 0.8e-6 + 100 * 0.08e-6 + 15 * 4e-6, 7 * 0.15e-6 + 5 * 0.6e-6])
    assert rows(con, "SELECT ts FROM requests WHERE source_line = 3")[0][0] == datetime(2024, 12, 1, 10, 3, 20)


def _sse(*events):
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def test_openai_tool_call_deltas_are_merged_by_index():
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
    body, estimated = streams.reassemble(_sse(
        {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}}]},
        {**chunk, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}}]},
        {**chunk, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]},
                               "finish_reason": "tool_calls"}]},
        {**chunk, "choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 9}},
    ))
    assert not estimated
    message = body["choices"][0]["message"]
    assert message["tool_calls"] == [{"id": "call_1", "type": "function",
                                      "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]
    assert body["usage"] == {"prompt_tokens": 50, "completion_tokens": 9}
    assert body["choices"][0]["finish_reason"] == "tool_calls"


def test_anthropic_tool_use_and_error_events():
    body, _ = streams.reassemble(
        "event: message_start\n" + _sse({"type": "message_start", "message": {
            "id": "m", "type": "message", "model": "claude-sonnet-4-20250514", "content": [],
            "usage": {"input_tokens": 400, "output_tokens": 1}}})
        + _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t1",
                                                                              "name": "lookup", "input": {}}},
               {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"q\": "}},
               {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "\"x\"}"}},
               {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 30}}))
    assert body["content"] == [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": "x"}}]
    assert body["usage"] == {"input_tokens": 400, "output_tokens": 30} and body["stop_reason"] == "tool_use"
    error, estimated = streams.reassemble(_sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
    assert error == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}} and not estimated


def test_unknown_events_are_no_body():
    assert streams.reassemble("data: {\"foo\": 1}\n\n") == (None, False)
    assert streams.reassemble("") == (None, False)


def test_pairs_with_streamed_responses(con):
    """A logged pair whose response is the list of chunks or the SSE text (OpenAI), or the list of
    events (Anthropic): detected and reassembled like a cassette's stream."""
    openai_path, anthropic_path = FIXTURES / "openai_streamed_pairs.jsonl", FIXTURES / "anthropic_streamed_pairs.jsonl"
    assert detect_format(read_sample(openai_path)) == "openai_chat"
    assert detect_format(read_sample(anthropic_path)) == "anthropic_batch"
    assert (ingest_file(con, openai_path).rows_loaded, ingest_file(con, anthropic_path).rows_loaded) == (2, 1)
    got = rows(con, """SELECT request_id, model, input_tokens, output_tokens, latency_ms, output_text,
                              CAST(extra->>'streamed' AS BOOLEAN), extra->>'tokens' FROM requests ORDER BY request_id""")
    assert got == [
        ("chatcmpl-p1", "gpt-4o-mini-2024-07-18", 11, 2, 1500.0, "Hi you", True, None),
        ("chatcmpl-p2", "gpt-4o-mini-2024-07-18", 11, 2, 900.0, "Hi you", True, None),
        ("msg_p3", "claude-3-5-haiku-20241022", 30, 6, 700.0, "Salut", True, None),
    ]
    costs = [r[0] for r in rows(con, "SELECT cost_usd FROM requests ORDER BY request_id")]
    assert costs == pytest.approx([11 * 0.15e-6 + 2 * 0.6e-6] * 2 + [30 * 0.8e-6 + 6 * 4e-6])

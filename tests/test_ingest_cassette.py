"""VCR cassettes: the real recorded calls in ../shared/samples, and hand-made edge cases."""

import gzip
import json
from datetime import datetime

import yaml

from analysis.ingest import ingest_file
from analysis.ingest.registry import detect_format
from analysis.ingest.sample import read_sample
from analysis.store.database import rows

COLUMNS = ("model_logged, provider, operation, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, "
           "reasoning_tokens, latency_ms, status, ts, cost_source")


def requests(con, source_id):
    return rows(con, f"SELECT {COLUMNS} FROM requests WHERE source_id = ? ORDER BY source_line", [source_id])


def test_openai_chat_completion_cassette(con, shared_dir):
    path = shared_dir / "samples" / "openai-chat-completion" / "otel-contrib_test_chat_completion_with_content.yaml"
    assert detect_format(read_sample(path)) == "cassette"
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded, result.rows_rejected, result.rows_skipped) == ("cassette", 1, 0, 0)
    assert requests(con, result.source_id) == [
        ("gpt-4o-mini-2024-07-18", "openai", "chat", 12, 0, 0, 5, 0, 287.0, "ok", datetime(2024, 11, 11, 23, 43, 50),
         "computed"),
    ]
    text = rows(con, "SELECT input_text, output_text FROM requests")[0]
    assert text == ("user: Say this is a test", "This is a test.")


def test_openai_responses_cassette(con, shared_dir):
    path = shared_dir / "samples" / "openai-chat-completion" / "otel-contrib_test_responses_create_aggregates_cache_tokens.yaml"
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (1, 0)
    assert requests(con, result.source_id) == [
        ("gpt-4o-mini-2024-07-18", "openai", "responses", 22, 0, 0, 6, 0, 917.0, "ok", datetime(2026, 4, 18, 3, 1, 4),
         "computed"),
    ]
    assert rows(con, "SELECT input_text FROM requests")[0][0] == (
        "system: You are a helpful assistant.\nuser: Say this is a test")


def test_anthropic_prompt_caching_cassette_normalises_cache_tokens(con, shared_dir):
    path = shared_dir / "samples" / "anthropic-message" / "openllmetry_test_anthropic_prompt_caching_legacy.yaml"
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded, result.rows_rejected) == ("cassette", 2, 0)
    got = requests(con, result.source_id)
    model, provider = "claude-3-5-sonnet-20240620", "anthropic"
    # usage {input 4, cache_creation 1163, cache_read 0, output 187} and {4, 0, 1163, 202}:
    # input_tokens counts every prompt token, cache reads and writes included.
    assert [g[:8] for g in got] == [
        (model, provider, "messages", 4 + 1163, 0, 1163, 187, None),
        (model, provider, "messages", 4 + 1163, 1163, 0, 202, None),
    ]
    assert [g[9] for g in got] == ["ok", "ok"]
    assert got[0][10] == datetime(2025, 3, 15, 9, 40, 0)  # the response's Date header
    cost_write, cost_read = (r[0] for r in rows(con, "SELECT cost_usd FROM requests ORDER BY source_line"))
    assert cost_read < cost_write  # reading the cache is cheaper than writing it


def _interaction(uri, request, response, status=200, headers=None, method="POST"):
    return {"request": {"body": request if isinstance(request, str) else json.dumps(request), "method": method,
                        "uri": uri, "headers": {"host": ["x"]}},
            "response": {"body": {"string": response}, "headers": headers or {}, "status": {"code": status, "message": ""}}}


def test_hand_made_cassette(con, tmp_path):
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
               "content": [{"type": "text", "text": "Bonjour"}], "stop_reason": "end_turn",
               "usage": {"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": 50}}
    chat = {"id": "c1", "object": "chat.completion", "created": 1700000000, "model": "llama-3.1-8b-instant",
            "choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}
    interactions = [
        _interaction("https://api.anthropic.com/v1/messages",
                     {"model": "claude-3-5-haiku-20241022", "max_tokens": 10, "system": "Be French.",
                      "messages": [{"role": "user", "content": "Hello"}]},
                     gzip.compress(json.dumps(message).encode()), headers={"Content-Encoding": ["gzip"]}),
        _interaction("https://api.openai.com/v1/models", "", json.dumps({"data": []}), method="GET"),
        _interaction("https://api.groq.com/openai/v1/chat/completions",
                     {"model": "llama-3.1-8b-instant", "messages": [{"role": "user", "content": "yo"}]},
                     json.dumps(chat), headers={"openai-processing-ms": ["42"]}),
        _interaction("https://api.openai.com/v1/chat/completions", {"model": "gpt-4o", "messages": [], "stream": True},
                     "data: {\"foo\": 1}\n\ndata: [DONE]\n", headers={"Content-Type": ["text/event-stream"]}),
        _interaction("https://api.openai.com/v1/chat/completions", {"model": "gpt-4o", "messages": []},
                     json.dumps({"error": {"message": "Invalid API key", "code": "invalid_api_key"}}), status=401),
    ]
    path = tmp_path / "cassette.yaml"
    path.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}))  # bytes -> !!binary
    assert "!!binary" in path.read_text()
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected, result.rows_skipped) == (3, 1, 1)
    assert result.reasons == ["line 4: streamed (SSE) response of no known API (expected OpenAI or Anthropic events)"]
    got = rows(con, """SELECT source_line, provider, model, input_tokens, cached_input_tokens, output_tokens, latency_ms,
                              status, error, input_text, output_text FROM requests ORDER BY source_line""")
    assert got == [
        (1, "anthropic", "claude-3-5-haiku-20241022", 57, 50, 3, None, "ok", None, "system: Be French.\nuser: Hello",
         "Bonjour"),
        (3, "groq", "llama-3.1-8b-instant", 9, 0, 2, 42.0, "ok", None, "user: yo", "hi"),
        (5, "openai", "gpt-4o", None, 0, None, None, "error", "Invalid API key", None, None),
    ]


def test_a_cassette_without_llm_calls_is_all_skipped(con, tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump({"interactions": [
        _interaction("https://example.com/v1/things", "{}", "{}", method="GET")]}))
    result = ingest_file(con, path)
    assert result.ok and (result.rows_loaded, result.rows_skipped) == (0, 1)

"""Gemini generateContent in cassettes and HAR files (#14): real recorded calls (pydantic-ai's VCR
cassettes, MIT; sources below) on the Gemini API and Vertex AI,
streamed as SSE, with function calls and thinking tokens; a stream as a JSON array written from the
documented shape (https://ai.google.dev/api/generate-content: streamGenerateContent returns
GenerateContentResponse chunks). Prices from genai-prices."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from analysis.ingest import ingest_file
from analysis.store.database import rows

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
# The recorded calls, copied byte for byte (`git show`) from pydantic/pydantic-ai (MIT License, Copyright (c)
# Pydantic Services Inc.) at 4fda38988f2939fa6ea9cdefcf120693e10ef491, tests/models/cassettes/:
#   gemini_generate_content.yaml <- test_google/test_google_model.yaml
#   gemini_stream_sse.yaml <- test_google/test_google_model_stream.yaml
#   gemini_tool_calls.yaml <- test_google/test_google_instructions_only_with_tool_calls.yaml
#   gemini_vertex.yaml <- test_google/test_google_model_vertex_provider.yaml
COLUMNS = """source_line, provider, model, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens,
             status, cost_usd, cost_source, output_text"""


def requests(con) -> list[tuple]:
    return rows(con, f"SELECT {COLUMNS} FROM requests ORDER BY source_line")


def test_generate_content_counts_thinking_as_output(con):
    result = ingest_file(con, FIXTURES / "gemini_generate_content.yaml")
    assert (result.format, result.rows_loaded, result.rows_rejected, result.rows_skipped) == ("cassette", 1, 0, 0)
    # usageMetadata {promptTokenCount 9, candidatesTokenCount 9, thoughtsTokenCount 34}: thinking is
    # billed as output; Gemini 2.5 Flash at $0.30 in / $2.50 out per M tokens
    assert requests(con) == [(1, "google", "gemini-2.5-flash", 9, 0, 9 + 34, 34, "ok",
                              pytest.approx(9 * 0.30e-6 + 43 * 2.50e-6), "computed", "Hello! How can I help you today?")]
    assert rows(con, "SELECT input_text, extra->>'finish_reason' FROM requests")[0] == (
        "system: You are a chatbot.\nuser: Hello!", "stop")


def test_sse_stream_takes_the_last_chunks_usage(con):
    result = ingest_file(con, FIXTURES / "gemini_stream_sse.yaml")
    assert (result.rows_loaded, result.rows_rejected) == (1, 0)
    # three chunks: the text joined, the last usageMetadata {13, 8} (the earlier ones said 15, 0)
    assert requests(con) == [(1, "google", "gemini-2.0-flash-exp", 13, 0, 8, 0, "ok", pytest.approx(13 * 0.1e-6 + 8 * 0.4e-6),
                              "computed", "The capital of France is Paris.\n")]
    assert rows(con, "SELECT extra->>'streamed' FROM requests")[0][0] == "true"


def test_vertex_ai_calls_are_google_calls(con):
    ingest_file(con, FIXTURES / "gemini_vertex.yaml")
    assert requests(con)[0][:7] == (1, "google", "gemini-2.0-flash", 13, 0, 8, 0)


def test_function_calls_are_kept_as_tool_calls(con):
    result = ingest_file(con, FIXTURES / "gemini_tool_calls.yaml")
    assert (result.rows_loaded, result.rows_rejected) == (5, 0)
    got = requests(con)
    assert [(g[3], g[5], g[6]) for g in got] == [(83, 220, 190), (348, 50, 40), (415, 115, 105), (546, 116, 106),
                                                 (679, 300, 235)]
    first = json.loads(got[0][10])
    assert first == {"content": None, "tool_calls": [{"name": "generate_topic", "arguments": {}}] * 3}
    last = json.loads(got[4][10])["tool_calls"]
    assert [c["name"] for c in last] == ["final_result"] and len(last[0]["arguments"]["response"]) == 3
    assert rows(con, """SELECT request_params->'tools'->0->'function'->>'name', extra->>'finish_reason'
                        FROM requests WHERE source_line = 1""")[0] == ("generate_topic", "tool_calls")


STREAM_AS_ARRAY = [  # streamGenerateContent without alt=sse: one JSON array of chunks
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Bonjour"}]}}],
     "usageMetadata": {"promptTokenCount": 1200, "cachedContentTokenCount": 1000, "totalTokenCount": 1200},
     "modelVersion": "gemini-2.5-flash"},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": " !"}]}, "finishReason": "STOP"}],
     "usageMetadata": {"promptTokenCount": 1200, "cachedContentTokenCount": 1000, "candidatesTokenCount": 3,
                       "thoughtsTokenCount": 7, "totalTokenCount": 1210},
     "modelVersion": "gemini-2.5-flash", "responseId": "r-1"},
]


def _har_entry(url: str, request: dict, response, mime: str = "application/json") -> dict:
    text = json.dumps(response)
    return {"startedDateTime": "2026-03-02T10:15:00.000Z", "time": 812.5,
            "request": {"method": "POST", "url": url, "headers": [], "postData": {"text": json.dumps(request)}},
            "response": {"status": 200, "headers": [{"name": "Content-Type", "value": mime}],
                         "content": {"mimeType": mime, "encoding": "base64",
                                     "text": base64.b64encode(text.encode()).decode()}}}


def test_a_har_capture_with_a_stream_as_a_json_array(con, tmp_path):
    url = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    request = {"contents": [{"role": "user", "parts": [{"text": "Dis bonjour."}]}],
               "generationConfig": {"temperature": 0.2, "maxOutputTokens": 64}}
    path = tmp_path / "capture.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": [_har_entry(url, request, STREAM_AS_ARRAY)]}}))
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded, result.rows_rejected) == ("har", 1, 0)
    # 1,000 of the 1,200 prompt tokens from the context cache (Gemini 2.5 Flash caches at $0.03 per M)
    assert requests(con)[0][:8] == (1, "google", "gemini-2.5-flash", 1200, 1000, 10, 7, "ok")
    assert requests(con)[0][8] == pytest.approx(200 * 0.30e-6 + 1000 * 0.03e-6 + 10 * 2.50e-6)
    assert rows(con, "SELECT output_text, latency_ms, ts, request_params->>'max_tokens' FROM requests")[0] == (
        "Bonjour !", 812.5, datetime(2026, 3, 2, 10, 15), "64")


def test_an_error_body_is_an_error_row(con, tmp_path):
    document = yaml.safe_load((FIXTURES / "gemini_generate_content.yaml").read_text())
    response = document["interactions"][0]["response"]
    response["status"] = {"code": 429, "message": "Too Many Requests"}
    response["parsed_body"] = {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                                         "status": "RESOURCE_EXHAUSTED"}}
    path = tmp_path / "quota.yaml"
    path.write_text(yaml.safe_dump(document))
    ingest_file(con, path)
    assert rows(con, "SELECT provider, model, status, error, input_tokens FROM requests") == [
        ("google", "gemini-2.5-flash", "error", "Resource has been exhausted (e.g. check quota).", None)]


def test_a_stream_without_usage_gets_estimated_tokens(con, tmp_path):
    document = yaml.safe_load((FIXTURES / "gemini_stream_sse.yaml").read_text())
    body = document["interactions"][0]["response"]["body"]
    chunks = [json.loads(line[5:]) for line in body["string"].split("\r\n\r\n") if line.startswith("data:")]
    body["string"] = "".join(f"data: {json.dumps({k: v for k, v in c.items() if k != 'usageMetadata'})}\r\n\r\n"
                             for c in chunks)
    path = tmp_path / "no_usage.yaml"
    path.write_text(yaml.safe_dump(document))
    ingest_file(con, path)
    # characters / 4, rounded up: the prompt's 57 ("You are a helpful chatbot." and "What is the capital of
    # France?" on two lines) and the answer's 32
    assert rows(con, "SELECT input_tokens, output_tokens, extra->>'tokens', output_text FROM requests") == [
        (15, 8, "estimated", "The capital of France is Paris.\n")]

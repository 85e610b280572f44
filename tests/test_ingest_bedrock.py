"""Bedrock's Converse API in cassettes (#14): real recorded calls (pydantic-ai's VCR cassettes, MIT;
sources below), non-streamed, streamed as AWS event-stream frames, with
a tool call and with prompt caching; prices from genai-prices. Shapes as documented in
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html and
API_runtime_ConverseStreamOutput.html."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
import yaml

from analysis.ingest import bedrock_converse, ingest_file
from analysis.store.database import rows

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
# The recorded calls, copied byte for byte (`git show`) from pydantic/pydantic-ai (MIT License, Copyright (c)
# Pydantic Services Inc.) at 4fda38988f2939fa6ea9cdefcf120693e10ef491, tests/models/cassettes/:
#   bedrock_converse.yaml <- test_bedrock/test_bedrock_model.yaml
#   bedrock_converse_stream.yaml <- test_bedrock/test_bedrock_model_stream.yaml
#   bedrock_converse_tool_call.yaml <- test_bedrock/test_bedrock_moonshotai_tool_call.yaml
#   bedrock_converse_cache.yaml <- test_bedrock/test_bedrock_cache_write_and_read.yaml
COLUMNS = """source_line, provider, model_logged, model, input_tokens, cached_input_tokens, cache_write_tokens,
             output_tokens, latency_ms, status, cost_usd, cost_source"""


def requests(con) -> list[tuple]:
    return rows(con, f"SELECT {COLUMNS} FROM requests ORDER BY source_line")


def test_converse_call_is_read_with_aws_prices(con):
    result = ingest_file(con, FIXTURES / "bedrock_converse.yaml")
    assert (result.format, result.rows_loaded, result.rows_rejected, result.rows_skipped) == ("cassette", 1, 0, 0)
    # usage {inputTokens 7, outputTokens 30}, metrics.latencyMs 268; Nova Micro at $0.035 / $0.14 per M tokens
    assert requests(con) == [(1, "aws", "us.amazon.nova-micro-v1:0", "amazon.nova-micro-v1:0", 7, 0, 0, 30, 268.0,
                              "ok", pytest.approx(7 * 0.035e-6 + 30 * 0.14e-6), "computed")]
    assert rows(con, "SELECT input_text, output_text, extra->>'latency_from' FROM requests")[0] == (
        "system: You are a chatbot.\nuser: Hello!",
        "Hello! How can I assist you today? Whether you have questions, need information, or just want to chat, "
        "I'm here to help.", "bedrock metrics.latencyMs")


def test_converse_stream_event_frames_are_reassembled(con):
    result = ingest_file(con, FIXTURES / "bedrock_converse_stream.yaml")
    assert (result.rows_loaded, result.rows_rejected) == (1, 0)
    # the metadata event: usage {inputTokens 13, outputTokens 82}, metrics.latencyMs 522
    assert requests(con) == [(1, "aws", "us.amazon.nova-micro-v1:0", "amazon.nova-micro-v1:0", 13, 0, 0, 82, 522.0,
                              "ok", pytest.approx(13 * 0.035e-6 + 82 * 0.14e-6), "computed")]
    text, streamed, stop = rows(con, "SELECT output_text, extra->>'streamed', extra->>'stop_reason' FROM requests")[0]
    assert text.startswith("The capital of France is Paris. Paris is not only the capital city")
    assert text.endswith('referred to as "The City of Light" or "The City of Love."')
    assert (streamed, stop) == ("true", "end_turn")


def test_converse_tool_use_is_kept_as_a_tool_call(con):
    result = ingest_file(con, FIXTURES / "bedrock_converse_tool_call.yaml")
    assert (result.rows_loaded, result.rows_rejected) == (2, 0)
    got = rows(con, """SELECT provider, model, input_tokens, output_tokens, output_text, cost_source,
                              request_params->'tools'->0->>'name' FROM requests ORDER BY source_line""")
    assert [g[:4] for g in got] == [("aws", "moonshot.kimi-k2-thinking", 92, 75), ("aws", "moonshot.kimi-k2-thinking", 188, 11)]
    assert json.loads(got[0][4]) == {"content": None, "tool_calls": [{"name": "get_temperature",
                                                                      "arguments": {"city": "London"}}]}
    assert got[1][4] == " <think> The temperature in London is 30°C."
    assert {g[5] for g in got} == {"unknown"}  # genai-prices has no price for this model on Bedrock: not $0
    assert got[0][6] == "get_temperature"  # the logged tools, for a replay to offer


def test_converse_prompt_cache_reads_and_writes_count_as_prompt_tokens(con):
    ingest_file(con, FIXTURES / "bedrock_converse_cache.yaml")
    # usage {inputTokens 2, cacheWriteInputTokens 1322, outputTokens 5}, then {2, cacheRead 1322, 5}: a
    # Claude inference profile reads as Anthropic's model and prices (Sonnet 4.5: $3 in, $3.75 cache
    # write, $0.30 cache read, $15 out per M tokens).
    assert [r[1:8] + r[10:] for r in requests(con)] == [
        ("anthropic", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929", 1324, 0, 1322, 5,
         pytest.approx(2 * 3e-6 + 1322 * 3.75e-6 + 5 * 15e-6), "computed"),
        ("anthropic", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929", 1324, 1322, 0, 5,
         pytest.approx(2 * 3e-6 + 1322 * 0.3e-6 + 5 * 15e-6), "computed"),
    ]


def _frame(event_type: str, payload: dict) -> bytes:
    """One event-stream frame as AWS encodes it (string headers; CRC32 of prelude and message)."""
    headers = b"".join(bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
                       for name, value in ((":event-type", event_type), (":message-type", "event"),
                                           (":content-type", "application/json")))
    body = json.dumps(payload).encode()
    prelude = struct.pack(">II", 16 + len(headers) + len(body), len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


TOOL_STREAM = [  # a ConverseStream that calls a tool, its input in two fragments
    ("messageStart", {"role": "assistant"}),
    ("contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "t1", "name": "get_temperature"}}}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": "{\"city\": "}}}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": "\"Paris\"}"}}}),
    ("contentBlockStop", {"contentBlockIndex": 0}),
    ("messageStop", {"stopReason": "tool_use"}),
    ("metadata", {"usage": {"inputTokens": 40, "outputTokens": 12, "totalTokens": 52}, "metrics": {"latencyMs": 90}}),
]


def test_a_streamed_tool_call_in_frames_or_as_a_loggers_event_list():
    raw = b"".join(_frame(kind, payload) for kind, payload in TOOL_STREAM)
    as_list = [{kind: payload} for kind, payload in TOOL_STREAM]  # boto3's shape
    for logged in (raw, as_list):
        message, latency = bedrock_converse.reassemble(bedrock_converse.events_of(logged), "m")
        assert message["content"] == [{"type": "tool_use", "id": "t1", "name": "get_temperature",
                                       "input": {"city": "Paris"}}]
        assert (message["stop_reason"], message["usage"]["input_tokens"], message["usage"]["output_tokens"],
                latency) == ("tool_use", 40, 12, 90.0)
    with pytest.raises(ValueError, match="truncated or malformed event-stream frame"):
        bedrock_converse.decode_event_stream(raw[:-20])


def test_a_broken_event_stream_is_rejected_with_its_reason(con, tmp_path):
    document = yaml.safe_load((FIXTURES / "bedrock_converse_stream.yaml").read_text())
    body = document["interactions"][0]["response"]["body"]
    body["string"] = body["string"][:300]  # cut inside the second frame
    document["interactions"] += yaml.safe_load((FIXTURES / "bedrock_converse.yaml").read_text())["interactions"]
    path = tmp_path / "cut.yaml"
    path.write_text(yaml.safe_dump(document))
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (1, 1)
    assert rows(con, "SELECT line, reason FROM rejects") == [
        (1, "Bedrock event stream could not be read (truncated or malformed event-stream frame at byte 143 "
            "(214 bytes claimed, 157 left))")]

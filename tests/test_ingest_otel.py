"""OpenTelemetry GenAI spans: the shared samples (OTLP JSON, Vercel AI SDK span list, a flat
attribute map) and hand-made OTLP documents."""

import json
from datetime import datetime

import pytest

from analysis.ingest import ingest_file
from analysis.ingest.registry import detect_format
from analysis.ingest.sample import read_sample
from analysis.store.database import rows


def sample(shared_dir, name):
    path = shared_dir / "samples" / "otel-genai" / name
    assert detect_format(read_sample(path)) == "otel"
    return path


def test_flat_attribute_map(con, shared_dir):
    result = ingest_file(con, sample(shared_dir, "openinference_otel_genai_client_span_tool_calls.json"))
    assert (result.rows_loaded, result.rows_rejected, result.rows_skipped) == (1, 0, 0)
    got = rows(con, """SELECT request_id, provider, model_logged, operation, input_tokens, output_tokens, input_text,
                              output_text, request_params FROM requests""")[0]
    assert got[:6] == ("chatcmpl-CQF10eCkoFphJZJQkzzN6EkTD0AVF", "openai", "gpt-4-0613", "chat", 97, 52)
    # gen_ai.input.messages in the parts format: text parts kept, tool calls left out.
    assert got[6] == "user: Weather in Paris?\nassistant: Absolutely! Let me check the weather for you.\ntool: "
    assert got[7] == "The weather in Paris is currently rainy with a temperature of 57°F."
    assert json.loads(got[8]) == {"temperature": 0.5, "max_tokens": 200, "top_p": 0.9}


def test_vercel_ai_sdk_spans(con, shared_dir):
    result = ingest_file(con, sample(shared_dir, "openinference_vercel_v6_all-spans.json"))
    # 10 spans: 4 provider calls with gen_ai.* + 1 doEmbed; the 5 outer ai.* spans repeat their usage.
    assert (result.rows_loaded, result.rows_rejected, result.rows_skipped) == (5, 0, 5)
    got = rows(con, """SELECT source_line, model_logged, operation, input_tokens, output_tokens, latency_ms, ttft_ms, ts
                       FROM requests ORDER BY source_line""")
    assert [g[:5] for g in got] == [
        (1, "gpt-4o-mini-2024-07-18", "chat", 14, 20),
        (3, "gpt-4o-mini-2024-07-18", "chat", 50, 9),
        (5, "gpt-4o-mini-2024-07-18", "chat", 63, 156),
        (7, "gpt-4o-mini-2024-07-18", "chat", 15, 112),
        (9, "text-embedding-3-small", "embedding", 10, 0),
    ]
    # HrTime [seconds, nanos]: [1770131992, 242000000] -> [1770131994, 21415667]
    assert got[0][5] == pytest.approx(1779.415667)
    assert got[0][7] == datetime(2026, 2, 3, 15, 19, 52, 242000)
    assert got[3][6] == pytest.approx(426.8535)  # streamed: ai.response.msToFirstChunk
    assert rows(con, "SELECT DISTINCT provider FROM requests") == [("openai",)]


def test_otlp_example_without_genai_spans_is_skipped_not_rejected(con, shared_dir):
    result = ingest_file(con, sample(shared_dir, "otlp_example_trace.json"))
    assert result.ok and (result.rows_loaded, result.rows_rejected, result.rows_skipped) == (0, 0, 1)
    assert rows(con, "SELECT rows_loaded, rows_rejected FROM sources") == [(0, 0)]


def _attr(key, value):
    kind = {str: "stringValue", int: "intValue", float: "doubleValue", bool: "boolValue"}[type(value)]
    return {"key": key, "value": {kind: str(value) if kind == "intValue" else value}}


def _span(span_id, start_ns, end_ns, attributes, status=None):
    span = {"traceId": "ab" * 16, "spanId": span_id, "name": "chat gpt-4o", "kind": 3, "startTimeUnixNano": start_ns,
            "endTimeUnixNano": end_ns, "attributes": [_attr(k, v) for k, v in attributes.items()]}
    return span | ({"status": status} if status else {})


def _document(spans):
    return {"resourceSpans": [{"resource": {"attributes": [_attr("service.name", "checkout")]},
                               "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai"}, "spans": spans}]}]}


CHAT = {"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.response.id": "chatcmpl-9",
        "gen_ai.usage.input_tokens": 1500, "gen_ai.usage.output_tokens": 80,
        "gen_ai.usage.cache_read.input_tokens": 1024}


def test_hand_made_otlp_jsonl(con, tmp_path):
    line1 = _document([
        _span("01", "1735725600000000000", "1735725601500000000", CHAT),
        _span("02", "1735725600000000000", "1735725602000000000",
              {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}),
        _span("03", "1735725600000000000", "1735725600100000000", {"http.method": "GET"}),
    ])
    line2 = _document([_span("04", 1735725700000000000, 1735725700250000000,
                             {**CHAT, "gen_ai.response.id": "chatcmpl-10", "error.type": "timeout"},
                             status={"code": 2, "message": "Request timed out"})])
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps(line1) + "\n" + json.dumps(line2) + "\n")
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded, result.rows_rejected, result.rows_skipped) == ("otel", 2, 0, 2)
    got = rows(con, """SELECT request_id, source_line, ts, model, input_tokens, cached_input_tokens, output_tokens,
                              latency_ms, status, error FROM requests ORDER BY source_line""")
    assert got == [
        ("chatcmpl-9", 1, datetime(2025, 1, 1, 10), "gpt-4o-2024-08-06", 1500, 1024, 80, 1500.0, "ok", None),
        ("chatcmpl-10", 2, datetime(2025, 1, 1, 10, 1, 40), "gpt-4o-2024-08-06", 1500, 1024, 80, 250.0, "error",
         "Request timed out"),
    ]
    assert json.loads(rows(con, "SELECT extra FROM requests LIMIT 1")[0][0])["service"] == "checkout"


def test_flat_spans_with_iso_times_and_a_span_without_model(con, tmp_path):
    spans = [
        {"name": "chat", "context": {"trace_id": "0x1", "span_id": "0xa"}, "start_time": "2025-01-01T10:00:00.000000Z",
         "end_time": "2025-01-01T10:00:00.750000Z", "attributes": dict(CHAT)},
        {"name": "chat", "context": {"trace_id": "0x1", "span_id": "0xb"}, "start_time": "2025-01-01T10:00:01Z",
         "end_time": "2025-01-01T10:00:02Z", "attributes": {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 3}},
    ]
    path = tmp_path / "spans.json"
    path.write_text(json.dumps(spans))
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (1, 1)
    assert result.reasons == ["line 2: missing required field gen_ai.request.model (expected a GenAI client span)"]
    assert rows(con, "SELECT latency_ms FROM requests") == [(750.0,)]


def test_a_pretty_printed_document_larger_than_the_detection_head(con, tmp_path):
    spans = [_span(f"{n:04x}", str(1735725600000000000 + n), str(1735725600500000000 + n),
                   {**CHAT, "gen_ai.response.id": f"chatcmpl-{n}", "padding": "x" * 200}) for n in range(600)]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_document(spans), indent=2))
    assert path.stat().st_size > 256 * 1024
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded) == ("otel", 600)

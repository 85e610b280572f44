"""Every skip names its reason (#14): counted per reason in IngestResult.skip_reasons, in the line the
CLI prints and the Logs page shows (IngestResult.counts_text), and in `breakeven ingest --json`."""

from pathlib import Path

import pytest

from analysis.ingest import ingest_file
from analysis.ingest.context import skip_reason
from analysis.ingest.registry import detect_format
from analysis.ingest.sample import read_sample
from analysis.present import tables
from analysis.store.database import rows

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def test_cassette_skips_name_their_reasons(con):
    path = FIXTURES / "skipped_calls.yaml"
    assert detect_format(read_sample(path)) == "cassette"
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected, result.rows_skipped) == (2, 0, 5)
    assert result.skip_reasons == {"embeddings": 1, "moderation": 1, "token counting": 1, "not an LLM call": 1,
                                   "unsupported provider": 1}  # the last: Bedrock's invoke of a non-Anthropic model
    assert result.counts_text() == ("2 rows loaded, 0 rejected, 5 skipped (embeddings: 1, moderation: 1, "
                                    "not an LLM call: 1, token counting: 1, unsupported provider: 1)")
    assert tables.ingest_lines(result)[0].endswith(result.counts_text())
    # A Bedrock invoke call of an Anthropic model is read (its body is the Messages API's; the URL names the model).
    assert rows(con, """SELECT source_line, provider, model, input_tokens, output_tokens, output_text
                        FROM requests ORDER BY source_line""") == [
        (1, "openai", "gpt-4o-mini-2024-07-18", 20, 2, "Yes."),
        (6, "anthropic", "claude-3-5-sonnet-20240620", 8, 2, "Hello"),
    ]
    costs = [r[0] for r in rows(con, "SELECT cost_usd FROM requests ORDER BY source_line")]
    assert costs == pytest.approx([20 * 0.15e-6 + 2 * 0.6e-6, 8 * 3e-6 + 2 * 15e-6])  # gpt-4o-mini; claude-3.5-sonnet


def test_langfuse_spans_are_not_llm_calls(con):
    result = ingest_file(con, FIXTURES / "langfuse_trace_download.json")
    assert result.skip_reasons == {"not an LLM call": 1}


def test_otel_spans_skipped_by_reason(con, tmp_path):
    path = tmp_path / "spans.jsonl"
    path.write_text(
        '{"name": "chat gpt-4o-mini", "context": {"span_id": "1", "trace_id": "t"}, "start_time": "2025-01-01T00:00:00Z",'
        ' "end_time": "2025-01-01T00:00:01Z", "attributes": {"gen_ai.operation.name": "chat", "gen_ai.system": "openai",'
        ' "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 1}}\n'
        '{"name": "GET /health", "context": {"span_id": "2", "trace_id": "t"}, "start_time": "2025-01-01T00:00:00Z",'
        ' "attributes": {"http.method": "GET"}}\n'
        '{"name": "execute_tool search", "context": {"span_id": "3", "trace_id": "t"}, "start_time": "2025-01-01T00:00:00Z",'
        ' "attributes": {"gen_ai.operation.name": "execute_tool"}}\n')
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded, result.skip_reasons) == ("otel", 1, {"not an LLM call": 2})


def test_reason_words():
    assert [skip_reason(p) for p in ("/v1/embeddings", "/v1beta/models/x:embedContent", "/v1/moderations",
                                     "/v1/messages/count_tokens", "/v1beta/models/x:countTokens", "/v1/files")] == [
        "embeddings", "embeddings", "moderation", "token counting", "token counting", "not an LLM call"]

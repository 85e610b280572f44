"""Auto-detection picks the right reader for every fixture under tests/fixtures/ingest, and each
loads without --format."""

from pathlib import Path

import pytest

from analysis.ingest import ingest_file
from analysis.ingest.registry import detect_format
from analysis.ingest.sample import read_sample

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
EXPECTED = {
    "streamed_calls.yaml": "cassette",
    "pydantic_ai_cassette.yaml": "cassette",
    "skipped_calls.yaml": "cassette",
    "browser_capture.har": "har",
    "langfuse_trace_download.json": "langfuse",
    "langfuse_observations_page.json": "langfuse",
    "cloud_model_ids.jsonl": "langfuse",
    "openrouter_chat.jsonl": "openai_chat",
    "openai_streamed_pairs.jsonl": "openai_chat",
    "anthropic_streamed_pairs.jsonl": "anthropic_batch",
    **{f"bedrock_converse{variant}.yaml": "cassette" for variant in ("", "_stream", "_tool_call", "_cache")},
    **{f"gemini_{variant}.yaml": "cassette" for variant in ("generate_content", "stream_sse", "tool_calls", "vertex")},
}


def test_every_fixture_is_listed():
    assert sorted(p.name for p in FIXTURES.iterdir() if p.is_file()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_detected_and_loaded(con, name):
    path = FIXTURES / name
    assert detect_format(read_sample(path)) == EXPECTED[name]
    result = ingest_file(con, path)
    assert result.ok and result.format == EXPECTED[name] and result.rows_loaded > 0 and result.rows_rejected == 0

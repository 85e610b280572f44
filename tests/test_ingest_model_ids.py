"""Cloud and gateway model ids (#14): one normalisation (analysis.ingest.model_ids) for every reader,
priced with genai-prices where it knows the model."""

from pathlib import Path

import duckdb
import pytest

from analysis.ingest import ingest_file, model_ids
from analysis.ingest.registry import detect_format
from analysis.ingest.sample import read_sample
from analysis.store.database import rows

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


@pytest.mark.parametrize(("logged", "reader_provider", "provider", "model"), [
    ("projects/P/locations/L/publishers/google/models/gemini-2.5-flash", "projects", "google", "gemini-2.5-flash"),
    ("projects/p/locations/l/publishers/anthropic/models/claude-3-5-sonnet-v2@20241022", None, "anthropic",
     "claude-3-5-sonnet-v2@20241022"),
    ("models/gemini-1.5-pro", None, "google", "gemini-1.5-pro"),
    ("vertex_ai/gemini-2.5-flash", "vertex_ai", "google", "gemini-2.5-flash"),
    ("arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0", None, "anthropic",
     "claude-3-5-sonnet-20240620"),
    ("anthropic.claude-3-5-sonnet-20240620-v1:0", "bedrock", "anthropic", "claude-3-5-sonnet-20240620"),
    ("bedrock/us.amazon.nova-pro-v1:0", "bedrock", "aws", "amazon.nova-pro-v1:0"),
    ("arn:aws:bedrock:us-east-1:123:application-inference-profile/a1b2c3", None, "aws", "a1b2c3"),
    ("azure/gpt-4o", "azure", "azure", "gpt-4o"),
    ("anthropic/claude-3.5-sonnet", None, "anthropic", "claude-3.5-sonnet"),
    ("anthropic/claude-3.5-sonnet", "openrouter", "openrouter", "claude-3.5-sonnet"),
    ("meta-llama/llama-3.1-8b-instruct", "groq", "groq", "llama-3.1-8b-instruct"),  # the host serves it
    ("GPT-4o-mini", "openai", "openai", "gpt-4o-mini"),
    ("llama3.1:8b", "ollama", "ollama", "llama3.1:8b"),
])
def test_normalisation(logged, reader_provider, provider, model):
    con = duckdb.connect()
    for macro in model_ids.MACROS:
        con.execute(macro)
    assert con.execute("SELECT norm_provider(?, ?), norm_model(?)", [reader_provider, logged, logged]).fetchone() == (
        provider, model)


def test_cloud_ids_in_a_langfuse_export_are_priced(con):
    path = FIXTURES / "cloud_model_ids.jsonl"
    assert detect_format(read_sample(path)) == "langfuse"
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (5, 0)
    got = rows(con, "SELECT request_id, provider, model, cost_source FROM requests ORDER BY request_id")
    assert got == [
        ("cloud-1", "google", "gemini-2.5-flash", "computed"),
        ("cloud-2", "anthropic", "claude-3-5-sonnet-20240620", "computed"),
        ("cloud-3", "anthropic", "claude-3-5-sonnet-20240620", "computed"),
        ("cloud-4", "aws", "amazon.nova-pro-v1:0", "computed"),
        ("cloud-5", "azure", "gpt-4o", "computed"),
    ]
    costs = [r[0] for r in rows(con, "SELECT cost_usd FROM requests ORDER BY request_id")]
    # per M tokens: gemini-2.5-flash $0.30 / $2.50; claude-3.5-sonnet $3 / $15; Nova Pro on Bedrock $0.80 / $3.20;
    # gpt-4o on Azure $2.50 / $10
    assert costs == pytest.approx([1000 * 0.3e-6 + 100 * 2.5e-6, 2000 * 3e-6 + 300 * 15e-6, 500 * 3e-6 + 50 * 15e-6,
                                   1000 * 0.8e-6 + 1000 * 3.2e-6, 400 * 2.5e-6 + 40 * 10e-6])


def test_openrouter_ids_name_their_vendor(con):
    path = FIXTURES / "openrouter_chat.jsonl"
    assert detect_format(read_sample(path)) == "openai_chat"
    result = ingest_file(con, path)
    assert result.rows_loaded == 3
    got = rows(con, "SELECT model_logged, provider, model, cost_usd FROM requests ORDER BY request_id")
    assert [g[:3] for g in got] == [
        ("anthropic/claude-3.5-sonnet", "anthropic", "claude-3.5-sonnet"),
        ("openai/gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("google/gemini-2.5-flash", "google", "gemini-2.5-flash"),
    ]
    assert [g[3] for g in got] == pytest.approx([1000 * 3e-6 + 100 * 15e-6, 1000 * 0.15e-6 + 100 * 0.6e-6,
                                                 1000 * 0.3e-6 + 100 * 2.5e-6])

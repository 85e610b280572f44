"""API keys never reach the database: rejected records and provider errors are redacted."""

import pytest
from pydantic import ValidationError

from analysis.store.database import rows
from analysis.ingest import ingest_file
from analysis.replay.providers.base import error_for_status
from analysis.replay.providers.registry import parse_candidate_spec
from analysis.redact import redact
from analysis.settings import Endpoint

KEY = "sk-proj-abcdefgh12345678"


def test_key_fields_and_key_shaped_tokens_are_cut():
    text = (f'{{"api_key": "{KEY}", "user_api_key_hash": "88dc6b4b", "Authorization": "Bearer abcdefghijkl", '
            f'"note": "retry with {KEY}", "model": "gpt-4o"}}')
    clean = redact(text)
    assert KEY not in clean and "88dc6b4b" not in clean and "abcdefghijkl" not in clean
    assert '"model": "gpt-4o"' in clean and clean.count("[redacted]") == 4


def test_a_rejected_line_is_stored_without_its_key(con, shared_dir, tmp_path):
    good = (shared_dir / "samples" / "openai-batch" / "genai_navirag_batch_output.jsonl").read_text().splitlines()[:3]
    broken = f'{{"custom_id": "request-x", "api_key": "{KEY}", "response": {{"status_code": 200, "body": '
    path = tmp_path / "batch_output.jsonl"
    path.write_text("\n".join([*good, broken]) + "\n")
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected) == (3, 1)
    [(raw,)] = rows(con, "SELECT raw FROM rejects")
    assert KEY not in raw and '"api_key": "[redacted]"' in raw and "request-x" in raw


def test_provider_error_bodies_lose_the_key():
    error = error_for_status(401, {"error": {"message": f"Incorrect API key provided: {KEY}"}}, "https://api.x")
    assert KEY not in str(error) and "authentication failed" in str(error)


def test_a_base_url_with_credentials_is_refused_without_repeating_it():
    for build in (lambda: Endpoint(name="vllm", base_url=f"https://user:{KEY}@gpu-box/v1"),
                  lambda: parse_candidate_spec(f"openai-compat:https://user:{KEY}@gpu-box/v1:m")):
        with pytest.raises(ValidationError) as caught:
            build()
        assert "credentials" in str(caught.value) and KEY not in str(caught.value)

"""API keys never reach the database: rejected records and provider errors are redacted."""

import json
from urllib.parse import quote

import pytest
from local_http import QuietHandler, serve
from pydantic import ValidationError

from analysis.errors import UserError
from analysis.ingest import ingest_file
from analysis.redact import redact
from analysis.replay.providers.base import error_for_status
from analysis.replay.providers.registry import parse_candidate_spec
from analysis.settings import Endpoint, get_settings
from analysis.store.database import rows

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
        with pytest.raises((ValidationError, UserError)) as caught:
            build()
        assert "credentials" in str(caught.value) and KEY not in str(caught.value)


# A configured key with characters that URL-encoding and JSON-escaping change.
CONFIGURED = "sk-proj-Ab+cd/ef=gh12345678"


def test_configured_keys_are_cut_raw_url_encoded_and_json_escaped(monkeypatch):
    from urllib.parse import quote

    monkeypatch.setenv("OPENAI_API_KEY", CONFIGURED)
    monkeypatch.setenv("MY_GATEWAY_TOKEN", "gw-secret-value-123")
    for shown in (f"Authorization=Bearer%20{quote(CONFIGURED, safe='')}", f'{{"echo": "{CONFIGURED}"}}',
                  "token gw-secret-value-123 here", json.dumps({"h": f"Bearer {CONFIGURED}"})[1:-1]):
        clean = redact(shown)
        assert CONFIGURED not in clean and quote(CONFIGURED, safe="") not in clean
        assert "gw-secret-value-123" not in clean and "[redacted]" in clean


class _EchoesTheKey(QuietHandler):
    """An OpenAI-compatible endpoint that echoes the Authorization header: URL-encoded in a 400
    error for gpt-4o, inside a normal streamed answer otherwise."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        auth = self.headers.get("Authorization", "")
        if body["model"] == "gpt-4o":
            payload = json.dumps({"error": {"message": f"bad header: authorization={quote(auth)}"}}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": body["model"]}
        events = [chunk | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": f"you sent {auth}"},
                                        "finish_reason": None}]},
                  chunk | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                  chunk | {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}}]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


def test_an_endpoint_echoing_the_key_gets_it_neither_stored_nor_printed(shared_dir, monkeypatch, capsys, data_dir):
    from analysis.cli import main
    from analysis.store.database import open_db

    monkeypatch.setenv("OPENAI_API_KEY", CONFIGURED)
    batch = shared_dir / "samples" / "openai-batch"
    assert main(["ingest", str(batch / "genai_navirag_batch_output.jsonl"),
                 str(batch / "genai_navirag_batch_input.jsonl")]) == 0
    with serve(_EchoesTheKey) as url:
        code = main(["replay", "--candidate", f"openai:{url}/v1:gpt-4o", "--candidate", f"openai:{url}/v1:gpt-4o-mini",
                     "--sample", "3", "--concurrency", "2"])
    printed = capsys.readouterr()
    con = open_db(get_settings().workspace_path())
    stored = rows(con, "SELECT candidate, status, coalesce(error, ''), coalesce(output_text, '') FROM results")
    con.close()
    assert {(c.rsplit(":", 1)[1], s) for c, s, _, _ in stored} == {("gpt-4o", "failed"), ("gpt-4o-mini", "ok")}, stored
    assert any("you sent" in text and "[redacted]" in text for _, _, _, text in stored)
    assert any("authorization=" in error for _, _, error, _ in stored)
    everything = printed.out + printed.err + json.dumps(stored) + str(code)
    for form in (CONFIGURED, quote(CONFIGURED, safe=""), quote(CONFIGURED)):
        assert form not in everything

"""No empty "ok" rows (#14): every reader, given a record that is an LLM call but whose body is
missing, rejects it with a reason (or fails the file); none is stored as a success with no model,
no tokens and no cost. pydantic-ai cassettes keep their bodies under `parsed_body`, which is read."""

import json
from pathlib import Path

import pytest
import yaml

from analysis.ingest import ingest_file
from analysis.ingest.context import EMPTY_REASON
from analysis.ingest.registry import ADAPTERS, detect_format
from analysis.ingest.sample import read_sample
from analysis.store.database import rows

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
WHEN = "2025-03-01T10:00:00Z"

# One LLM call per reader with its body (response, usage, model) missing, in that reader's shape.
BODILESS = {
    "openai_batch": ("jsonl", {"id": "batch_req_1", "custom_id": "r1", "response": {"status_code": 200, "request_id": "q1"},
                               "error": None}),
    "anthropic_batch": ("jsonl", {"custom_id": "r1", "result": {"type": "succeeded"}}),
    "cassette": ("yaml", {"interactions": [{
        "request": {"method": "POST", "uri": "https://api.openai.com/v1/chat/completions", "body": ""},
        "response": {"status": {"code": 200, "message": "OK"}, "headers": {}}}]}),
    "har": ("json", {"log": {"version": "1.2", "entries": [{
        "startedDateTime": WHEN, "time": 10, "request": {"method": "POST", "url": "https://api.anthropic.com/v1/messages"},
        "response": {"status": 200, "content": {"mimeType": "application/json"}}}]}}),
    "litellm": ("jsonl", {"request_id": "l1", "call_type": "acompletion", "startTime": WHEN, "endTime": WHEN, "spend": None}),
    "langfuse": ("jsonl", {"id": "o1", "traceId": "t1", "type": "GENERATION", "startTime": WHEN}),
    "helicone": ("jsonl", {"request_id": "h1", "request_created_at": WHEN}),
    "openai_chat": ("jsonl", {"request": {"messages": [{"role": "user", "content": "hi"}]}, "response": None}),
    "otel": ("jsonl", {"name": "chat", "context": {"span_id": "s1", "trace_id": "t1"}, "start_time": WHEN,
                       "attributes": {"gen_ai.operation.name": "chat"}}),
    "generic": ("csv", "request_id,ts,model,input_tokens,output_tokens\ng1,2025-03-01 10:00:00,,,\n"),
}


def _write(path: Path, kind: str, record) -> Path:
    if kind == "yaml":
        path.write_text(yaml.safe_dump(record))
    elif kind == "csv":
        path.write_text(record)
    else:
        path.write_text(json.dumps(record) + "\n")
    return path


def test_every_reader_is_covered():
    assert set(BODILESS) == set(ADAPTERS) - {"openai_batch_input", "labelled"}  # neither reads calls on its own


@pytest.mark.parametrize("name", sorted(BODILESS))
def test_a_call_without_its_body_is_never_an_empty_success(con, tmp_path, name):
    kind, record = BODILESS[name]
    path = _write(tmp_path / f"bodiless.{kind}", kind, record)
    result = ingest_file(con, path, format=name)
    empty = rows(con, """SELECT count(*) FROM requests WHERE status = 'ok' AND model IS NULL
                         AND input_tokens IS NULL AND output_tokens IS NULL AND cost_usd IS NULL""")[0][0]
    assert empty == 0
    assert result.rows_loaded == 0
    # a file of that one call fails, naming the record and why
    assert result.error and "first problems: line " in result.error, result


def test_the_empty_call_reason(con, tmp_path):
    """A call whose reader finds neither model nor tokens nor cost (an OpenAI Batch line without its
    response body) is rejected with that reason, beside a good one."""
    good = {"id": "b2", "custom_id": "r2", "error": None, "response": {"status_code": 200, "request_id": "q2", "body": {
        "id": "c2", "object": "chat.completion", "created": 1740823200, "model": "gpt-4o-mini",
        "choices": [{"message": {"content": "ok"}}], "usage": {"prompt_tokens": 10, "completion_tokens": 2}}}}
    path = tmp_path / "batch.jsonl"
    path.write_text(json.dumps(BODILESS["openai_batch"][1]) + "\n" + json.dumps(good) + "\n")
    result = ingest_file(con, path)
    assert (result.format, result.rows_loaded, result.rows_rejected) == ("openai_batch", 1, 1)
    assert result.reasons == [f"line 1: {EMPTY_REASON}"]


def test_pydantic_ai_cassette_reads_parsed_body(con):
    path = FIXTURES / "pydantic_ai_cassette.yaml"
    assert detect_format(read_sample(path)) == "cassette"
    result = ingest_file(con, path)
    assert (result.rows_loaded, result.rows_rejected, result.rows_skipped) == (2, 0, 0)
    got = rows(con, """SELECT provider, model, input_tokens, output_tokens, latency_ms, input_text, output_text, cost_source
                       FROM requests ORDER BY source_line""")
    assert got == [
        ("openai", "gpt-4o-2024-08-06", 14, 8, 398.0, "user: What is the capital of France?",
         "The capital of France is Paris.", "computed"),
        ("anthropic", "claude-3-5-haiku-20241022", 10, 5, None, "user: Say hi", "Hi!", "computed"),
    ]
    # gpt-4o $2.50 / $10 per M; claude-3.5-haiku $0.80 / $4 per M
    costs = [r[0] for r in rows(con, "SELECT cost_usd FROM requests ORDER BY source_line")]
    assert costs == pytest.approx([14 * 2.5e-6 + 8 * 10e-6, 10 * 0.8e-6 + 5 * 4e-6])

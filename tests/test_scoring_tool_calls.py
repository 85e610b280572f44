"""Tool calls (#14 item 7): kept in the stored answer as JSON by ingest, compared by name and
arguments by the exact scorers (fields, fuzzy) through analysis.quality.scoring.tool_calls."""

import json

import pytest

from analysis.ingest import ingest_file
from analysis.quality.scoring import SCORERS, tool_calls
from analysis.store.database import rows

STORED = json.dumps({"content": None, "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}]})


def test_ingest_keeps_openai_and_anthropic_tool_calls(con, tmp_path):
    chat = {"id": "c1", "object": "chat.completion", "created": 1735689600, "model": "gpt-4o-mini",
            "choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"unit\": \"c\"}"}}]},
                "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 12}}
    plain = {"id": "c2", "object": "chat.completion", "created": 1735689601, "model": "gpt-4o-mini",
             "choices": [{"message": {"role": "assistant", "content": "hi"}}], "usage": {"prompt_tokens": 5, "completion_tokens": 1}}
    responses = {"id": "r1", "object": "response", "created_at": 1735689602, "model": "gpt-4o", "status": "completed",
                 "output": [{"type": "function_call", "call_id": "c", "name": "lookup", "arguments": "{\"q\": \"x\"}"}],
                 "usage": {"input_tokens": 9, "output_tokens": 3}}
    path = tmp_path / "openai.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (chat, plain, responses)))
    assert ingest_file(con, path).rows_loaded == 3
    message = {"id": "m1", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
               "content": [{"type": "text", "text": "Let me look."},
                           {"type": "tool_use", "id": "t", "name": "lookup", "input": {"q": "x"}}],
               "stop_reason": "tool_use", "usage": {"input_tokens": 10, "output_tokens": 5}}
    path = tmp_path / "anthropic.jsonl"
    path.write_text(json.dumps(message) + "\n")
    assert ingest_file(con, path).rows_loaded == 1
    got = [(r[0], json.loads(r[1]) if r[1].startswith("{") else r[1])
           for r in rows(con, "SELECT request_id, output_text FROM requests ORDER BY ts")]
    assert got == [
        ("c1", json.loads(STORED)),
        ("c2", "hi"),
        ("r1", {"content": None, "tool_calls": [{"name": "lookup", "arguments": {"q": "x"}}]}),
        ("m1", {"content": "Let me look.", "tool_calls": [{"name": "lookup", "arguments": {"q": "x"}}]}),
    ]


def test_calls_read_every_shape():
    expected = [("get_weather", {"city": "Paris", "unit": "c"})]
    openai_message = json.dumps({"role": "assistant", "tool_calls": [
        {"id": "x", "type": "function", "function": {"name": "get_weather", "arguments": "{\"unit\": \"c\", \"city\": \"Paris\"}"}}]})
    anthropic_blocks = json.dumps([{"type": "text", "text": "ok"},
                                   {"type": "tool_use", "name": "get_weather", "input": {"city": "Paris", "unit": "c"}}])
    assert tool_calls.calls(STORED) == tool_calls.calls(openai_message) == tool_calls.calls(anthropic_blocks) == expected
    assert tool_calls.calls('[{"name": "Ada", "age": 36}]') is None  # extracted entities are data, not calls
    assert tool_calls.calls("Paris") is None


@pytest.mark.parametrize("scorer", ["fields", "fuzzy"])
def test_scorers_compare_name_and_arguments(scorer):
    score = SCORERS[scorer]().score
    same_in_another_shape = json.dumps({"tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": "{\"unit\": \"c\", \"city\": \"Paris\"}"}}]})
    assert score(same_in_another_shape, STORED).passed
    wrong = score(STORED.replace("Paris", "Lyon"), STORED)
    assert (wrong.score, wrong.passed) == (0.0, False)
    assert wrong.reason.startswith("wrong arguments for get_weather(")
    extra = score(json.dumps({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}},
                                             {"name": "send_email", "arguments": {}}]}), STORED)
    assert (extra.score, extra.passed, extra.reason) == (0.5, False, "extra call send_email({})")
    none = score("It is sunny in Paris.", STORED)
    assert (none.score, none.passed) == (0.0, False) and none.reason.startswith("no tool call in the answer")


def test_text_references_are_scored_as_before():
    assert SCORERS["fuzzy"]().score("Paris", "paris").passed
    assert tool_calls.compare('[{"name": "Ada"}]', '[{"name": "Ada"}]') is None
    assert SCORERS["fields"]().score('[{"name": "Ada"}]', '[{"name": "Ada"}]').passed

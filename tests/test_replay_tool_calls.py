"""Tool calls survive replay (#14): the providers offer the logged request's tools and store a
candidate's tool calls as ingest stores a logged answer's, JSON {"content", "tool_calls": [{"name",
"arguments"}]}, so the tool-call scorer compares replayed with logged calls. A tiny real HTTP server on
127.0.0.1 answers in OpenAI's and Anthropic's documented stream shapes (a real llama-server with
Gemma 3 270M, a base model, does not call tools reliably)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from local_http import QuietHandler, serve

from analysis.ingest import ingest_file
from analysis.quality.scoring import tool_calls
from analysis.quality.scoring.runner import INCUMBENT, score_run
from analysis.replay import runs as replay
from analysis.replay.prompt_adapter import PromptAdapter
from analysis.replay.providers.anthropic import AnthropicProvider
from analysis.replay.providers.base import CompletionRequest, anthropic_tools, function_tools
from analysis.replay.providers.openai import OpenAIProvider
from analysis.replay.providers.openai_compat import OpenAICompatProvider
from analysis.replay.sampling import SampleSpec
from analysis.store.database import open_db, rows

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
WEATHER = {"type": "function", "function": {
    "name": "get_temperature", "description": "Get the current temperature in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ASK = [{"role": "user", "content": "What is the temperature in London? Use the tool."}]


def _sse(events: list[tuple[str | None, dict]]) -> bytes:
    return "".join((f"event: {name}\n" if name else "") + f"data: {json.dumps(data)}\n\n"
                   for name, data in events).encode()


def openai_chunks(model: str) -> list[tuple[None, dict]]:
    """A Chat Completions stream calling get_temperature({"city": "London"}), its arguments in
    three pieces, usage in the last chunk (stream_options.include_usage)."""
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1767225600, "model": model}
    start = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_temperature", "arguments": ""}}
    pieces = [{"index": 0, "function": {"arguments": part}} for part in ('{"ci', 'ty": "Lon', 'don"}')]
    deltas = [{"role": "assistant", "content": None, "tool_calls": [start]}] + [{"tool_calls": [p]} for p in pieces]
    chunks = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    chunks.append({**base, "choices": [], "usage": {"prompt_tokens": 61, "completion_tokens": 17, "total_tokens": 78}})
    return [(None, c) for c in chunks]


def anthropic_events(model: str) -> list[tuple[str, dict]]:
    """A Messages stream with a text block, then a tool_use block whose input comes as
    input_json_delta pieces."""
    return [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "usage": {"input_tokens": 402, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Let me check."}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "toolu_1", "name": "get_temperature", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": '{"city": '}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": '"London"}'}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                           "usage": {"output_tokens": 38}}),
        ("message_stop", {"type": "message_stop"}),
    ]


class ToolCaller(QuietHandler):
    """Answers every chat call with a call of get_temperature, in the stream shape of the path
    (/v1/chat/completions: OpenAI, /v1/messages: Anthropic); keeps the bodies it was sent."""

    bodies: list[dict] = []

    def do_GET(self):  # /v1/models: an OpenAI-compatible server that is not llama.cpp
        self.reply("application/json", json.dumps({"data": [{"id": "m", "owned_by": "vllm"}]}).encode())

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        ToolCaller.bodies.append(body)
        events = anthropic_events(body["model"]) if self.path.endswith("/messages") else openai_chunks(body["model"])
        self.reply("text/event-stream", _sse(events) + (b"" if self.path.endswith("/messages") else b"data: [DONE]\n\n"))


@pytest.fixture(scope="module")
def tool_caller():
    with serve(ToolCaller) as url:
        yield url


EXPECTED = {"name": "get_temperature", "arguments": {"city": "London"}}


@pytest.mark.parametrize("make", [
    lambda url: OpenAICompatProvider("m", f"{url}/v1"),
    lambda url: OpenAIProvider("gpt-4o-mini", f"{url}/v1", api_key="sk-local"),
])
def test_openai_shapes_store_the_tool_calls(tool_caller, make):
    ToolCaller.bodies.clear()
    with make(tool_caller) as provider:
        completion = provider.complete(CompletionRequest(ASK, tools=[WEATHER], timeout_s=10))
    assert json.loads(completion.text) == {"content": None, "tool_calls": [EXPECTED]}
    assert (completion.input_tokens, completion.output_tokens, completion.finish_reason) == (61, 17, "tool_calls")
    assert completion.ttft_ms is not None  # the first tool-call fragment is the first token
    assert ToolCaller.bodies[-1]["tools"] == [WEATHER]  # the logged tools are offered


def test_anthropic_shape_stores_text_and_tool_use(tool_caller):
    ToolCaller.bodies.clear()
    logged_as_anthropic = [{"name": "get_temperature", "description": "Get the current temperature in a city.",
                            "input_schema": WEATHER["function"]["parameters"]}]
    with AnthropicProvider("claude-haiku-4-5", tool_caller, api_key="sk-ant-local") as provider:
        completion = provider.complete(CompletionRequest(ASK, tools=logged_as_anthropic, timeout_s=10))
    assert json.loads(completion.text) == {"content": "Let me check.", "tool_calls": [EXPECTED]}
    assert (completion.input_tokens, completion.output_tokens, completion.finish_reason) == (402, 38, "tool_calls")
    assert ToolCaller.bodies[-1]["tools"] == logged_as_anthropic


def test_logged_tool_shapes_become_each_protocols_tools():
    responses_api = {"type": "function", "name": "get_temperature", "description": "Get the current temperature in a city.",
                     "parameters": WEATHER["function"]["parameters"]}
    anthropic = {"name": "get_temperature", "description": "Get the current temperature in a city.",
                 "input_schema": WEATHER["function"]["parameters"]}
    for logged in (WEATHER, responses_api, anthropic):
        assert function_tools([logged]) == [WEATHER]
        assert anthropic_tools([logged]) == [anthropic]
    assert function_tools([{"type": "web_search_preview"}, "junk"]) is None  # built-in tools are no functions
    assert function_tools(None) is None


def test_a_replayed_tool_call_is_scored_against_the_logged_one(tool_caller, data_dir):
    """End to end: a real logged answer that calls a tool (Bedrock Converse, pydantic-ai's recorded
    cassette), a replay run whose candidate calls the same tool, and the run's scores."""

    con = open_db()
    ingest_file(con, FIXTURES / "bedrock_converse_tool_call.yaml")
    logged = rows(con, "SELECT request_id, output_text FROM requests WHERE output_text LIKE '%tool_calls%'")
    assert len(logged) == 1 and tool_calls.calls(logged[0][1]) == [("get_temperature", {"city": "London"})]
    run_id = replay.create_run(con, [f"openai-compat:{tool_caller}/v1:m"], SampleSpec(size=2, seed=1),
                               PromptAdapter(), replay.RunParams(max_tokens=32, concurrency=1))
    ToolCaller.bodies.clear()
    assert replay.execute(con, run_id).status == "done"
    logged_tool = {"type": "function", "function": {
        "name": "get_temperature", "description": "Get the current temperature in a city.",
        "parameters": {"additionalProperties": False, "properties": {"city": {"type": "string"}},
                       "required": ["city"], "type": "object"}}}
    assert [b["tools"] for b in ToolCaller.bodies] == [[logged_tool]] * 2  # the logged tools (toolConfig) are offered
    stored = dict(rows(con, "SELECT request_id, output_text FROM results WHERE run_id = ?", [run_id]))
    assert json.loads(stored[logged[0][0]]) == {"content": None, "tool_calls": [EXPECTED]}
    score_run(con, run_id)
    scores = rows(con, "SELECT request_id, scorer, passed, score FROM scores WHERE run_id = ? AND candidate <> ?",
                  [run_id, INCUMBENT])
    assert (logged[0][0], True, 1.0) in [(r, passed, score) for r, _, passed, score in scores]  # same call
    # the other logged answer is text: the tool-calling candidate does not match it
    assert any(request_id != logged[0][0] and not passed for request_id, _, passed, _ in scores)
    con.close()

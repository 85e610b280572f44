"""SQL for OpenAI response bodies (Chat Completions and Responses API) and request bodies, shared
by the Batch, chat-completion and cassette adapters.

Bodies are parsed once with `json_transform(body, BODY_STRUCTURE)` into a STRUCT; the column
expressions below read that struct (`b`), which is several times faster than one JSON path
extraction per field on large files.

Token units: OpenAI's `prompt_tokens` / `input_tokens` already include cached tokens, and
`completion_tokens` / `output_tokens` include reasoning tokens: the store's convention, so they are
copied as they are.
"""

from __future__ import annotations

import json

BODY_STRUCTURE = json.dumps({
    "id": "VARCHAR", "object": "VARCHAR", "created": "DOUBLE", "created_at": "DOUBLE", "model": "VARCHAR",
    "status": "VARCHAR",
    "choices": [{"message": {"content": "VARCHAR",
                             "tool_calls": [{"type": "VARCHAR", "function": {"name": "VARCHAR", "arguments": "VARCHAR"}}]},
                 "text": "VARCHAR", "finish_reason": "VARCHAR"}],
    "output_text": "VARCHAR",
    "output": [{"type": "VARCHAR", "content": [{"type": "VARCHAR", "text": "VARCHAR"}], "name": "VARCHAR",
                "arguments": "VARCHAR"}],
    "usage": {
        "prompt_tokens": "BIGINT", "completion_tokens": "BIGINT",
        "input_tokens": "BIGINT", "output_tokens": "BIGINT",
        "prompt_tokens_details": {"cached_tokens": "BIGINT"},
        "input_tokens_details": {"cached_tokens": "BIGINT"},
        "completion_tokens_details": {"reasoning_tokens": "BIGINT"},
        "output_tokens_details": {"reasoning_tokens": "BIGINT"},
    },
    "error": {"message": "VARCHAR", "code": "VARCHAR"},
})


def parse_body(body_json: str) -> str:
    """A STRUCT (see BODY_STRUCTURE) from a JSON expression holding a response body."""
    return f"json_transform({body_json}, '{BODY_STRUCTURE}')"


def usage_columns(b: str) -> str:
    """Canonical token columns from a parsed body `b` (either API's usage shape)."""
    return f"""
        coalesce({b}.usage.prompt_tokens, {b}.usage.input_tokens) AS input_tokens,
        coalesce({b}.usage.prompt_tokens_details.cached_tokens,
                 {b}.usage.input_tokens_details.cached_tokens, 0) AS cached_input_tokens,
        CAST(0 AS BIGINT) AS cache_write_tokens,
        coalesce({b}.usage.completion_tokens, {b}.usage.output_tokens) AS output_tokens,
        coalesce({b}.usage.completion_tokens_details.reasoning_tokens,
                 {b}.usage.output_tokens_details.reasoning_tokens, 0) AS reasoning_tokens"""


def with_tool_calls(text: str, calls: str) -> str:
    """The stored answer: `text` alone, or, when `calls` (a list of {name, arguments JSON}) is not
    empty, JSON {"content": text, "tool_calls": [{"name", "arguments"}]} (the scorers compare
    tool calls by name and arguments: analysis.quality.scoring.tool_calls)."""
    return f"""CASE WHEN len({calls}) > 0
        THEN json_object('content', {text}, 'tool_calls', to_json({calls}))::VARCHAR ELSE {text} END"""


def _arguments(text: str) -> str:
    """Tool arguments as JSON: the object they hold, else the text itself as a JSON string."""
    return f"coalesce(try_cast({text} AS JSON), to_json({text}))"


def output_text(b: str) -> str:
    """The answer's text: first choice of a chat.completion / text_completion, or a Responses
    object's output_text or its output message parts; with its tool calls (with_tool_calls): a chat
    message's `tool_calls`, a Responses object's `function_call` items."""
    text = f"""coalesce({b}.choices[1].message.content, {b}.choices[1].text, {b}.output_text,
        nullif(array_to_string(flatten(list_transform({b}.output, lambda o:
            list_transform(o.content, lambda c: c.text))), chr(10)), ''))"""
    calls = f"""coalesce(
        list_transform({b}.choices[1].message.tool_calls, lambda t: {{'name': t.function.name,
                                                                   'arguments': {_arguments('t.function.arguments')}}}),
        list_transform(list_filter({b}.output, lambda o: o.type = 'function_call'),
                       lambda o: {{'name': o.name, 'arguments': {_arguments('o.arguments')}}}))"""
    return with_tool_calls(text, calls)


def created(b: str) -> str:
    """`created` / `created_at`: epoch seconds as the API writes them, or milliseconds,
    microseconds or nanoseconds as some loggers rewrite them (context's epoch_units)."""
    value = f"coalesce({b}.created, {b}.created_at)"
    return f"ts_from_epoch_s({value} / epoch_units({value}))"


def operation(b: str, url: str = "NULL") -> str:
    return f"""CASE
        WHEN {b}.object = 'chat.completion' OR {url} LIKE '%chat/completions%' THEN 'chat'
        WHEN {b}.object = 'response' OR {url} LIKE '%/responses%' THEN 'responses'
        WHEN {b}.object = 'text_completion' OR {url} LIKE '%/completions%' THEN 'completion'
        WHEN {b}.object = 'list' OR {url} LIKE '%embeddings%' THEN 'embedding'
        ELSE 'chat' END"""


def input_messages(request: str) -> str:
    """[{role, content}] from a request body (JSON): a chat request's `messages`, a Responses
    request's `instructions` + `input` (a string or a list of items), or a legacy `prompt`."""
    return f"""CASE
        WHEN json_type({request}, '$.messages') = 'ARRAY' THEN {request}->'messages'
        WHEN json_type({request}, '$.input') = 'VARCHAR' THEN
            CASE WHEN json_type({request}, '$.instructions') = 'VARCHAR'
                 THEN json_array(json_object('role', 'system', 'content', {request}->>'instructions'),
                                 json_object('role', 'user', 'content', {request}->>'input'))
                 ELSE json_array(json_object('role', 'user', 'content', {request}->>'input')) END
        WHEN json_type({request}, '$.input') = 'ARRAY' THEN {request}->'input'
        WHEN json_type({request}, '$.prompt') = 'VARCHAR' THEN
            json_array(json_object('role', 'user', 'content', {request}->>'prompt'))
        END"""


def request_params(request: str) -> str:
    """The request body without its messages: model parameters, response_format, tools..."""
    return f"""CASE WHEN json_type({request}) = 'OBJECT'
        THEN json_merge_patch({request}, '{{"messages": null, "input": null, "prompt": null}}') END"""

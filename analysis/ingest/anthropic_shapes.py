"""SQL for Anthropic Messages API objects, shared by the Anthropic batch / message adapter and the
cassette adapter.

A response (Message) body is parsed once with `parse_message(json)` into a STRUCT (`m`); a
request body stays JSON.

Token units: Anthropic's `usage.input_tokens` EXCLUDES prompt-cache reads and writes, which are
reported beside it. The store counts all prompt tokens, so:

    input_tokens        = usage.input_tokens + cache_read_input_tokens + cache_creation_input_tokens
    cached_input_tokens = cache_read_input_tokens
    cache_write_tokens  = cache_creation_input_tokens
    output_tokens       = usage.output_tokens (extended thinking included; not reported apart)
"""

from __future__ import annotations

import json

from analysis.ingest.context import LoadContext
from analysis.ingest.openai_shapes import with_tool_calls

MESSAGE_STRUCTURE = json.dumps({
    "id": "VARCHAR", "type": "VARCHAR", "role": "VARCHAR", "model": "VARCHAR", "stop_reason": "VARCHAR",
    "content": [{"type": "VARCHAR", "text": "VARCHAR", "name": "VARCHAR", "input": "JSON"}],
    "usage": {
        "input_tokens": "BIGINT", "output_tokens": "BIGINT",
        "cache_read_input_tokens": "BIGINT", "cache_creation_input_tokens": "BIGINT",
    },
    "error": {"type": "VARCHAR", "message": "VARCHAR"},
})


def parse_message(body_json: str) -> str:
    """A STRUCT (see MESSAGE_STRUCTURE) from a JSON expression holding a Message or an error body."""
    return f"json_transform({body_json}, '{MESSAGE_STRUCTURE}')"


def is_message(record: dict) -> bool:
    """A Message object as the API returns it."""
    return record.get("type") == "message" and "usage" in record and "content" in record


def usage_columns(m: str) -> str:
    """Canonical token columns from a parsed Message `m` (see the module's formula)."""
    return f"""
        {m}.usage.input_tokens + coalesce({m}.usage.cache_read_input_tokens, 0)
            + coalesce({m}.usage.cache_creation_input_tokens, 0) AS input_tokens,
        CASE WHEN {m}.usage.input_tokens IS NOT NULL THEN coalesce({m}.usage.cache_read_input_tokens, 0) END
            AS cached_input_tokens,
        CASE WHEN {m}.usage.input_tokens IS NOT NULL THEN coalesce({m}.usage.cache_creation_input_tokens, 0) END
            AS cache_write_tokens,
        {m}.usage.output_tokens AS output_tokens,
        CAST(NULL AS BIGINT) AS reasoning_tokens"""


def output_text(m: str) -> str:
    """The text blocks of the answer, one per line (thinking blocks left out), with its tool_use
    blocks as tool calls (openai_shapes.with_tool_calls: name and input as arguments)."""
    text = f"""nullif(array_to_string(list_transform(list_filter({m}.content, lambda c: c.type = 'text'),
        lambda c: c.text), chr(10)), '')"""
    calls = f"""list_transform(list_filter({m}.content, lambda c: c.type = 'tool_use'),
        lambda c: {{'name': c.name, 'arguments': c.input}})"""
    return with_tool_calls(text, calls)


def input_messages(request: str) -> str:
    """[{role, content}] from a request body (JSON): `system` (a string or text blocks) first, then
    `messages` as sent."""
    return f"""CASE WHEN json_type({request}, '$.messages') = 'ARRAY' THEN
        CASE WHEN json_type({request}, '$.system') IN ('VARCHAR', 'ARRAY')
             THEN to_json(list_prepend(json_object('role', 'system', 'content', {request}->'system'),
                                       json_extract({request}, '$.messages[*]')))
             ELSE {request}->'messages' END END"""


def request_params(request: str) -> str:
    """The request body without its prompt: model, max_tokens, temperature, tools..."""
    return f"""CASE WHEN json_type({request}) = 'OBJECT'
        THEN json_merge_patch({request}, '{{"messages": null, "system": null}}') END"""


def insert_pairs(ctx: LoadContext, table: str, provider: str = "anthropic") -> int:
    """Insert the requests of `table(line, req JSON, resp JSON, request_id, ts, latency_ms,
    status_code, status, error, is_batch, extra JSON)` whose responses are Anthropic Messages or
    error bodies. `status` / `error` override what the body says (batch results carry their own).
    `provider`: who served them (Bedrock's Converse API, translated to these shapes: 'aws')."""
    m = "p.m"
    return ctx.insert_requests(
        f"""SELECT
            coalesce(p.request_id, {m}.id, 'line-' || p.line) AS request_id,
            p.line AS source_line,
            p.ts,
            '{provider}' AS provider,
            coalesce({m}.model, p.req->>'model') AS model_logged,
            norm_model(coalesce({m}.model, p.req->>'model')) AS model,
            'messages' AS operation,
            {input_messages('p.req')} AS input_messages,
            msg_text({input_messages('p.req')}) AS input_text,
            {output_text(m)} AS output_text,
            {request_params('p.req')} AS request_params,
            {usage_columns(m)},
            p.latency_ms,
            coalesce(p.status, CASE WHEN {m}.type = 'error' OR {m}.error.message IS NOT NULL
                                         OR p.status_code >= 400 THEN 'error' ELSE 'ok' END) AS status,
            coalesce(p.error, {m}.error.message, 'HTTP ' || CASE WHEN p.status_code >= 400 THEN p.status_code END)
                AS error,
            coalesce(p.is_batch, false) AS is_batch,
            json_merge_patch(coalesce(p.extra, '{{}}'),
                             json_object('stop_reason', {m}.stop_reason, 'response_id', {m}.id)) AS extra
        FROM (SELECT *, {parse_message('resp')} AS m FROM {table}) AS p"""
    )

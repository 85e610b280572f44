"""OpenAI Chat Completions / Responses API objects, one per JSON line or as a JSON array: alone (the
response object: id, object 'chat.completion' | 'response' | 'text_completion', created /
created_at, model, usage) or as request+response pairs (see pairs.py for the key spellings; a
pair's timing fields give the latency). A pair's response may be a stream (SSE text or a list of
chunks / events): it is reassembled first (pairs.unstream).

Tokens are OpenAI's as they are (openai_shapes): prompt tokens include cached ones.
"""

from __future__ import annotations

from analysis.ingest import openai_shapes as oa
from analysis.ingest import pairs
from analysis.ingest.context import LoadContext
from analysis.ingest.sample import Sample

NAME = "openai_chat"
DESCRIPTION = "OpenAI chat-completion / Responses API objects (JSONL or JSON array), alone or as request+response pairs"
OBJECTS = ("chat.completion", "response", "text_completion")


def is_response(record: dict) -> bool:
    """A chat.completion / response / text_completion object with a model."""
    return record.get("object") in OBJECTS and "model" in record


def is_openai_pair(record: dict) -> bool:
    """A request+response pair whose response is an OpenAI object (or an error to a chat request)."""
    if not pairs.is_pair(record):
        return False
    request, response = pairs.bodies(record)
    return is_response(response) or "choices" in response or (
        "error" in response and ("messages" in request or "input" in request) and "max_tokens" not in request
    )


def detect(sample: Sample) -> bool:
    """JSON / JSON lines whose first record is an OpenAI response object or an OpenAI pair."""
    first = sample.first()
    return sample.kind in ("json", "jsonl") and (is_response(first) or is_openai_pair(first))


def insert_pairs(ctx: LoadContext, table: str) -> int:
    """Insert the requests of `table(line, req JSON, resp JSON, url, provider, request_id, ts,
    latency_ms, status_code, extra JSON)` whose responses are OpenAI bodies (or error bodies)."""
    b = "p.b"
    return ctx.insert_requests(
        f"""SELECT
            coalesce(p.request_id, {b}.id, 'line-' || p.line) AS request_id,
            p.line AS source_line,
            coalesce({oa.created(b)}, p.ts) AS ts,
            coalesce(p.provider, CASE WHEN coalesce({b}.model, p.req->>'model') NOT LIKE '%/%' THEN 'openai' END)
                AS provider,  -- a vendor/model id (OpenRouter) names its vendor: model_ids.norm_provider
            coalesce({b}.model, p.req->>'model') AS model_logged,
            norm_model(coalesce({b}.model, p.req->>'model')) AS model,
            {oa.operation(b, 'p.url')} AS operation,
            {oa.input_messages('p.req')} AS input_messages,
            msg_text({oa.input_messages('p.req')}) AS input_text,
            {oa.output_text(b)} AS output_text,
            {oa.request_params('p.req')} AS request_params,
            {oa.usage_columns(b)},
            p.latency_ms,
            CASE WHEN {b}.error.message IS NOT NULL OR p.status_code >= 400 OR {b}.status = 'failed'
                 THEN 'error' ELSE 'ok' END AS status,
            coalesce({b}.error.message, 'HTTP ' || CASE WHEN p.status_code >= 400 THEN p.status_code END)
                AS error,
            false AS is_batch,
            json_merge_patch(coalesce(p.extra, '{{}}'), json_object('response_id', {b}.id, 'object', {b}.object,
                             'finish_reason', {b}.choices[1].finish_reason)) AS extra
        FROM (SELECT *, {oa.parse_body('resp')} AS b FROM {table}) AS p"""
    )


def load(ctx: LoadContext) -> None:
    """Reject records without a response object or a model; insert the rest."""
    table = ctx.records()
    pairs.unstream(ctx, table)
    ctx.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _openai AS
            SELECT r.line, {pairs.request('r.j')} AS req, {pairs.response('r.j')} AS resp,
                   r.j->>'url' AS url, r.j->>'provider' AS provider, CAST(NULL AS VARCHAR) AS request_id,
                   {pairs.timestamp('r.j')} AS ts, {pairs.latency_ms('r.j')} AS latency_ms,
                   {pairs.status_code('r.j')} AS status_code, {pairs.extra('r.j')} AS extra
            FROM {table} AS r"""
    )
    ctx.reject_where(
        "_openai", "json_type(r.resp) IS DISTINCT FROM 'OBJECT'",
        "'missing required field response (expected an OpenAI response object or a request+response pair)'",
    )
    ctx.reject_where(
        "_openai", "coalesce(r.resp->>'model', r.req->>'model') IS NULL",
        "'missing required field model (expected an OpenAI chat.completion or response object)'",
    )
    insert_pairs(ctx, "_openai")

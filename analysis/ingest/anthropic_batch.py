"""Anthropic Message Batches results JSONL, and plain Anthropic Message objects or request+response
pairs (JSON lines or a JSON array).

A batch result line is `{"custom_id", "result": {"type": succeeded|errored|canceled|expired,
"message": {...} | "error": {...}}}`; its status is ok / error / canceled / expired and it is priced
at batch rates. Batch results carry no prompt and no time. Tokens follow anthropic_shapes (cache
reads and writes added to input_tokens).
"""

from __future__ import annotations

from analysis.ingest import anthropic_shapes as an
from analysis.ingest import pairs
from analysis.ingest.context import LoadContext
from analysis.ingest.sample import Sample

NAME = "anthropic_batch"
DESCRIPTION = "Anthropic Message Batches results JSONL; Anthropic Message objects or request+response pairs"
RESULT_STATUS = {"succeeded": "ok", "errored": "error", "canceled": "canceled", "expired": "expired"}


def is_batch_result(record: dict) -> bool:
    """A Message Batches result line: custom_id and a result with a type."""
    return "custom_id" in record and isinstance(record.get("result"), dict) and "type" in record["result"]


def is_anthropic_pair(record: dict) -> bool:
    """A request+response pair whose response is a Message (or an error to a request with max_tokens)."""
    if not pairs.is_pair(record):
        return False
    request, response = pairs.bodies(record)
    return an.is_message(response) or (response.get("type") == "error" and "max_tokens" in request)


def detect(sample: Sample) -> bool:
    """JSON / JSON lines whose first record is a batch result, a Message or an Anthropic pair."""
    first = sample.first()
    return sample.kind in ("json", "jsonl") and (
        is_batch_result(first) or an.is_message(first) or is_anthropic_pair(first)
    )


def load(ctx: LoadContext) -> None:
    """Reject lines lacking custom_id / a known result type / usage / model; insert the rest."""
    table = ctx.records()
    pairs.unstream(ctx, table)  # a pair's streamed response (SSE text or events) -> its Message
    status = "CASE r.j->>'$.result.type' " + " ".join(
        f"WHEN '{k}' THEN '{v}'" for k, v in RESULT_STATUS.items()) + " END"
    ctx.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _anthropic AS
            SELECT r.line, r.j, coalesce(json_type(r.j, '$.result') = 'OBJECT', false) AS batch,
                   {pairs.request('r.j')} AS req,
                   CASE WHEN json_type(r.j, '$.result') = 'OBJECT' THEN r.j->'$.result.message'
                        ELSE {pairs.response('r.j')} END AS resp,
                   {status} AS result_status
            FROM {table} AS r"""
    )
    ctx.reject_where("_anthropic", "r.batch AND r.j->>'custom_id' IS NULL",
                     "'missing required field custom_id (expected a Message Batches result line)'")
    ctx.reject_where(
        "_anthropic", "r.batch AND r.result_status IS NULL",
        "'result.type ' || coalesce('''' || (r.j->>'$.result.type') || '''', 'missing') || "
        f"' (expected one of {', '.join(RESULT_STATUS)})'",
    )
    ctx.reject_where(
        "_anthropic", "NOT r.batch AND coalesce(r.resp->>'type', '') <> 'error' AND json_type(r.resp, '$.usage') IS NULL",
        "'missing required field usage (expected an Anthropic Message with usage, or a pair with one)'",
    )
    ctx.reject_where(
        "_anthropic", "r.result_status = 'ok' AND json_type(r.resp, '$.usage') IS NULL",
        "'missing required field result.message.usage (expected a succeeded batch result)'",
    )
    ctx.reject_where(
        "_anthropic", "(NOT r.batch OR r.result_status = 'ok') AND coalesce(r.resp->>'model', r.req->>'model') IS NULL",
        "'missing required field model (expected an Anthropic Message)'",
    )
    ctx.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _anthropic_pairs AS
            SELECT line, req, resp,
                   CASE WHEN batch THEN coalesce(resp->>'id', j->>'custom_id') END AS request_id,
                   CASE WHEN NOT batch THEN {pairs.timestamp('j')} END AS ts,
                   CASE WHEN NOT batch THEN {pairs.latency_ms('j')} END AS latency_ms,
                   CASE WHEN NOT batch THEN {pairs.status_code('j')} END AS status_code,
                   result_status AS status,
                   CASE WHEN batch AND result_status <> 'ok' THEN coalesce(
                       j->>'$.result.error.error.message', j->>'$.result.error.message',
                       'batch request ' || (j->>'$.result.type')) END AS error,
                   batch AS is_batch,
                   CASE WHEN batch THEN json_object('custom_id', j->>'custom_id', 'result_type', j->>'$.result.type')
                        ELSE {pairs.extra('j')} END AS extra
            FROM _anthropic"""
    )
    an.insert_pairs(ctx, "_anthropic_pairs")

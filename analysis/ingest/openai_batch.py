"""OpenAI Batch API output JSONL (`{"id", "custom_id", "response": {"status_code", "body"}, "error"}`).

Prompts are not in the output file: when the matching Batch *input* file is ingested in the same
call, its request bodies are joined on `custom_id`. Batch requests are priced at batch rates.
"""

from __future__ import annotations

from analysis.ingest import openai_shapes as oa
from analysis.ingest.context import LoadContext
from analysis.ingest.sample import Sample

NAME = "openai_batch"
DESCRIPTION = "OpenAI Batch API output JSONL, joined with its input JSONL on custom_id when given"


def detect(sample: Sample) -> bool:
    first = sample.first()
    return sample.kind == "jsonl" and "custom_id" in first and ("response" in first or "error" in first)


def load(ctx: LoadContext) -> None:
    table = ctx.records()
    ctx.reject_missing(table, {"$.custom_id": "custom_id"}, "an OpenAI Batch output line")
    ctx.reject(
        f"""SELECT line, 'missing field response or error (expected an OpenAI Batch output line)', j
            FROM {table} WHERE coalesce(json_type(j, '$.response'), 'NULL') = 'NULL'
                           AND coalesce(json_type(j, '$.error'), 'NULL') = 'NULL'"""
    )
    ctx.con.execute(
        f"""DELETE FROM {table} WHERE coalesce(json_type(j, '$.response'), 'NULL') = 'NULL'
                                   AND coalesce(json_type(j, '$.error'), 'NULL') = 'NULL'"""
    )
    inputs = ctx.options.get("batch_inputs") or []
    ctx.con.execute(
        "CREATE OR REPLACE TEMP TABLE _batch_inputs (custom_id VARCHAR, url VARCHAR, body JSON)"
    )
    if inputs:
        ctx.con.execute(
            """INSERT INTO _batch_inputs
               SELECT json->>'custom_id', json->>'url', json->'body'
               FROM read_json_objects(?, format='newline_delimited', ignore_errors=true)
               QUALIFY row_number() OVER (PARTITION BY json->>'custom_id') = 1""",
            [inputs],
        )
    body = "(j->'response'->'body')"
    ctx.insert_requests(
        f"""SELECT
            coalesce(j->>'id', j->>'custom_id') AS request_id,
            line AS source_line,
            ts_from_epoch_s({body}->>'created') AS ts,
            'openai' AS provider,
            coalesce({body}->>'model', i.body->>'model') AS model_logged,
            norm_model(coalesce({body}->>'model', i.body->>'model')) AS model,
            {oa.operation(body, 'i.url')} AS operation,
            {oa.input_messages('i.body')} AS input_messages,
            msg_text({oa.input_messages('i.body')}) AS input_text,
            {oa.output_text(body)} AS output_text,
            {oa.request_params('i.body')} AS request_params,
            {oa.usage_columns(f"{body}->'usage'")},
            CASE WHEN CAST(j->'response'->>'status_code' AS INTEGER) = 200 THEN 'ok' ELSE 'error' END AS status,
            coalesce(j->'error'->>'message', {body}->'error'->>'message',
                     CASE WHEN CAST(j->'response'->>'status_code' AS INTEGER) <> 200
                          THEN 'HTTP ' || (j->'response'->>'status_code') END) AS error,
            true AS is_batch,
            json_object('custom_id', j->>'custom_id', 'batch_request_id', j->'response'->>'request_id',
                        'response_id', {body}->>'id', 'prompt_joined', i.custom_id IS NOT NULL) AS extra
        FROM {table} LEFT JOIN _batch_inputs i ON i.custom_id = j->>'custom_id'"""
    )

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
WHAT = "an OpenAI Batch output line with custom_id and response or error"


def detect(sample: Sample) -> bool:
    first = sample.first()
    return sample.kind == "jsonl" and "custom_id" in first and ("response" in first or "error" in first)


STRUCTURE = (
    '{"id": "VARCHAR", "custom_id": "VARCHAR", "error": {"message": "VARCHAR"}, '
    '"response": {"status_code": "INTEGER", "request_id": "VARCHAR", "body": ' + oa.BODY_STRUCTURE + "}}"
)


def load(ctx: LoadContext) -> None:
    table = ctx.records(structure=STRUCTURE)
    ctx.reject_where(
        table, "r.custom_id IS NULL OR (r.response.status_code IS NULL AND r.error.message IS NULL)",
        f"'missing custom_id, response or error (expected {WHAT})'",
    )
    # Without input files the prompt columns are NULL constants (no join): DuckDB then folds away
    # every expression over them, here and in the task rules applied on insert.
    body, url, joined, join = "NULL::JSON", "NULL::VARCHAR", "false", ""
    if inputs := ctx.options.get("batch_inputs"):
        ctx.con.execute(
            """CREATE OR REPLACE TEMP TABLE _batch_inputs AS
               SELECT json->>'custom_id' AS custom_id, json->>'url' AS url, json->'body' AS body
               FROM read_json_objects(?, format='newline_delimited', ignore_errors=true)
               QUALIFY row_number() OVER (PARTITION BY json->>'custom_id') = 1""",
            [inputs],
        )
        body, url, joined = "i.body", "i.url", "i.custom_id IS NOT NULL"
        join = "LEFT JOIN _batch_inputs i ON i.custom_id = r.custom_id"
    ctx.insert_requests(
        f"""SELECT
            coalesce(r.id, r.custom_id) AS request_id,
            r.line AS source_line,
            {oa.created('r.response.body')} AS ts,
            'openai' AS provider,
            coalesce(r.response.body.model, {body}->>'model') AS model_logged,
            norm_model(coalesce(r.response.body.model, {body}->>'model')) AS model,
            {oa.operation('r.response.body', url)} AS operation,
            {oa.input_messages(body)} AS input_messages,
            msg_text({oa.input_messages(body)}) AS input_text,
            {oa.output_text('r.response.body')} AS output_text,
            {oa.request_params(body)} AS request_params,
            {oa.usage_columns('r.response.body')},
            CASE WHEN r.response.status_code = 200 THEN 'ok' ELSE 'error' END AS status,
            coalesce(r.error.message, r.response.body.error.message,
                     'HTTP ' || nullif(r.response.status_code, 200)) AS error,
            true AS is_batch,
            json_object('custom_id', r.custom_id, 'batch_request_id', r.response.request_id,
                        'response_id', r.response.body.id, 'prompt_joined', {joined}) AS extra
        FROM {table} AS r {join}"""
    )

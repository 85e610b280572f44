"""OpenTelemetry spans with GenAI attributes: OTLP JSON (`resourceSpans[].scopeSpans[].spans[]`,
attributes as `[{key, value: {stringValue | intValue | ...}}]`, times as unix-nano strings or
numbers; one document, or one per line as the collector's file exporter writes), flat span lists
(attributes as a flat dict; times as OTel-JS HrTime `[seconds, nanos]`, unix nanos or ISO-8601),
and single flat attribute maps.

A span is a request when it carries `gen_ai.*` attributes (OTel GenAI conventions) or is a Vercel
AI SDK provider call (`ai.operationId` ...doGenerate / doStream / doEmbed, whose ai.usage.* it
reports); agent and tool spans (`gen_ai.operation.name` invoke_agent, create_agent,
execute_tool) and every other span are skipped and counted (the Vercel SDK's outer
ai.generateText spans repeat their inner call's usage: counting both would double it).

latency_ms = (end - start) from the span's nanosecond times; ttft_ms from
`ai.response.msToFirstChunk` or `gen_ai.server.time_to_first_token` (seconds). Tokens:
gen_ai.usage.input_tokens, which the conventions define as all input tokens, cached included.
"""

from __future__ import annotations

from analysis.ingest.context import LoadContext, skip_reason_sql
from analysis.ingest.sample import Sample

NAME = "otel"
DESCRIPTION = "OpenTelemetry spans with gen_ai.* attributes: OTLP JSON, flat span lists, attribute maps"
NOT_CALLS = ("execute_tool", "invoke_agent", "create_agent")
OPERATIONS = {"chat": "chat", "text_completion": "completion", "embeddings": "embedding",
              "generate_content": "chat", "responses": "responses"}
# An OTLP attribute list -> a flat JSON object {key: value} (first value of a repeated key).
MACROS = [
    """CREATE OR REPLACE TEMP MACRO otlp_entries(l) AS list_filter(list_transform(json_extract(l, '$[*]'), lambda a: {
        'k': a->>'key', 'v': coalesce(a->'$.value.stringValue', a->'$.value.intValue', a->'$.value.doubleValue',
                                      a->'$.value.boolValue', a->'$.value.arrayValue', a->'$.value.kvlistValue')}),
        lambda e: e.k IS NOT NULL)""",
    """CREATE OR REPLACE TEMP MACRO otlp_attrs(l) AS to_json(map_from_entries(list_filter(otlp_entries(l),
        lambda e, i: list_position(list_transform(otlp_entries(l), lambda x: x.k), e.k) = i)))""",
]


def _flat_genai(record: dict) -> bool:
    return any(k.startswith("gen_ai.") for k in record)


def detect(sample: Sample) -> bool:
    """resourceSpans (OTLP), a span with an attributes dict, or a flat map with gen_ai.* keys."""
    first = sample.first()
    if sample.kind not in ("json", "jsonl"):
        return False
    if "resourceSpans" in first:
        return True
    attributes = first.get("attributes")
    if isinstance(attributes, dict) and ("name" in first or "spanContext" in first or "context" in first):
        return True
    return _flat_genai(first)


def _attr(*keys: str) -> str:
    return "coalesce(" + ", ".join(f"""s.attrs->>'$."{k}"'""" for k in keys) + ")"


def _ns(span: str, prefix: str) -> str:
    """A span's start or end (`prefix` start | end) as unix nanoseconds."""
    return f"""CASE
        WHEN json_type({span}, '$.{prefix}TimeUnixNano') IS NOT NULL THEN try_cast({span}->>'{prefix}TimeUnixNano' AS HUGEINT)
        WHEN json_type({span}, '$.{prefix}Time') = 'ARRAY'
            THEN try_cast({span}->>'$.{prefix}Time[0]' AS HUGEINT) * 1000000000 + try_cast({span}->>'$.{prefix}Time[1]' AS HUGEINT)
        ELSE epoch_ns(ts_from_text(coalesce({span}->>'{prefix}Time', {span}->>'{prefix}_time'))) END"""


def _spans(ctx: LoadContext) -> None:
    """`_spans(line, span JSON, attrs JSON, resource JSON)`: every span of the file, attributes flat."""
    table = ctx.records()
    for macro in MACROS:
        ctx.con.execute(macro)
    ctx.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _spans AS
            WITH rs AS (SELECT r.line, unnest(json_extract(r.j, '$.resourceSpans[*]')) AS rs FROM {table} AS r
                        WHERE json_type(r.j, '$.resourceSpans') = 'ARRAY'),
                 ss AS (SELECT line, rs, unnest(json_extract(rs, '$.scopeSpans[*]')) AS ss FROM rs),
                 otlp AS (SELECT line, unnest(json_extract(ss, '$.spans[*]')) AS span,
                                 otlp_attrs(rs->'$.resource.attributes') AS resource FROM ss),
                 flat AS (SELECT r.line, r.j AS span, CAST(NULL AS JSON) AS resource FROM {table} AS r
                          WHERE json_type(r.j, '$.resourceSpans') IS NULL)
            SELECT line, span, CASE WHEN json_type(span, '$.attributes') = 'ARRAY' THEN otlp_attrs(span->'attributes')
                                    WHEN json_type(span, '$.attributes') = 'OBJECT' THEN span->'attributes'
                                    ELSE span END AS attrs, resource
            FROM (SELECT * FROM otlp UNION ALL SELECT * FROM flat)"""
    )
    is_call = (f"""(len(list_filter(json_keys(r.attrs), lambda k: starts_with(k, 'gen_ai.'))) > 0
                   OR regexp_matches(coalesce(r.attrs->>'$."ai.operationId"', ''), '\\.do(Generate|Stream|Embed)$'))
                  AND coalesce(r.attrs->>'$."gen_ai.operation.name"', '') NOT IN ({", ".join(f"'{o}'" for o in NOT_CALLS)})""")
    ctx.skip_where("_spans", f"NOT ({is_call})",
                   skip_reason_sql("""coalesce(r.attrs->>'$."gen_ai.operation.name"', r.span->>'name', '')"""))


def _messages(raw: str) -> str:
    """OTel GenAI messages (`parts` format, JSON held in a string) or Vercel's (role/content) as
    [{role, content}]: text parts joined, tool calls left out."""
    msgs = f"json_unwrap({raw})"
    return f"""CASE WHEN json_type({msgs}) = 'ARRAY' THEN to_json(list_transform(json_extract({msgs}, '$[*]'), lambda m:
        CASE WHEN json_type(m, '$.parts') = 'ARRAY'
             THEN json_object('role', m->>'role', 'content', array_to_string(list_filter(
                      json_extract_string(m, '$.parts[*].content'), lambda c: c IS NOT NULL), chr(10)))
             ELSE m END)) END"""


def load(ctx: LoadContext) -> None:
    """Skip spans that are no LLM calls, reject those without a model, insert the rest."""
    _spans(ctx)
    model = _attr("gen_ai.response.model", "ai.response.model", "gen_ai.request.model", "ai.model.id")
    ctx.reject_where("_spans", f"{model.replace('s.attrs', 'r.attrs')} IS NULL",
                     "'missing required field gen_ai.request.model (expected a GenAI client span)'")
    ops = "CASE " + " ".join(f"WHEN {_attr('gen_ai.operation.name')} = '{k}' THEN '{v}'" for k, v in OPERATIONS.items())
    operation = f"{ops} WHEN {_attr('ai.operationId')} LIKE '%.doEmbed' THEN 'embedding' ELSE 'chat' END"
    messages = f"coalesce({_messages(_attr('gen_ai.input.messages'))}, {_messages(_attr('ai.prompt.messages'))})"
    output = _messages(_attr("gen_ai.output.messages"))
    provider = _attr("gen_ai.provider.name", "gen_ai.system", "ai.model.provider")
    status = "coalesce(s.span->>'$.status.code', s.span->>'$.status.status_code', '')"
    ctx.insert_requests(
        f"""SELECT
            coalesce({_attr('gen_ai.response.id', 'ai.response.id')}, s.span->>'spanId', s.span->>'$.spanContext.spanId',
                     s.span->>'$.context.span_id', 'line-' || s.line || '-' || s.n) AS request_id,
            s.line AS source_line,
            ts_from_epoch_ns(s.start_ns) AS ts,
            lower(regexp_replace({provider}, '\\.(responses|chat|completions?|messages|embeddings?)$', '')) AS provider,
            {model} AS model_logged,
            norm_model({model}) AS model,
            {operation} AS operation,
            {messages} AS input_messages,
            msg_text({messages}) AS input_text,
            coalesce(nullif(array_to_string(list_transform(json_extract({output}, '$[*]'), lambda m: m->>'content'), chr(10)), ''),
                     {_attr('ai.response.text', 'ai.response.object')}) AS output_text,
            nullif(json_merge_patch('{{}}', json_object('temperature', try_cast({_attr('gen_ai.request.temperature')} AS DOUBLE),
                'max_tokens', try_cast({_attr('gen_ai.request.max_tokens')} AS BIGINT),
                'top_p', try_cast({_attr('gen_ai.request.top_p')} AS DOUBLE))), '{{}}') AS request_params,
            try_cast({_attr('gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens', 'ai.usage.inputTokens',
                            'ai.usage.promptTokens', 'ai.usage.tokens')} AS BIGINT) AS input_tokens,
            coalesce(try_cast({_attr('gen_ai.usage.cache_read.input_tokens', 'gen_ai.usage.cache_read_input_tokens',
                                     'ai.usage.cachedInputTokens')} AS BIGINT), 0) AS cached_input_tokens,
            coalesce(try_cast({_attr('gen_ai.usage.cache_creation.input_tokens',
                                     'gen_ai.usage.cache_creation_input_tokens')} AS BIGINT), 0) AS cache_write_tokens,
            coalesce(try_cast({_attr('gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens', 'ai.usage.outputTokens',
                                     'ai.usage.completionTokens')} AS BIGINT),
                     CASE WHEN {operation} = 'embedding' THEN 0 END) AS output_tokens,
            try_cast({_attr('gen_ai.usage.reasoning.output_tokens', 'ai.usage.reasoningTokens')} AS BIGINT) AS reasoning_tokens,
            (s.end_ns - s.start_ns) / 1e6 AS latency_ms,
            coalesce(try_cast({_attr('ai.response.msToFirstChunk')} AS DOUBLE),
                     try_cast({_attr('gen_ai.server.time_to_first_token')} AS DOUBLE) * 1000) AS ttft_ms,
            CASE WHEN {status} IN ('2', 'STATUS_CODE_ERROR', 'ERROR') OR {_attr('error.type')} IS NOT NULL
                 THEN 'error' ELSE 'ok' END AS status,
            CASE WHEN {status} IN ('2', 'STATUS_CODE_ERROR', 'ERROR') OR {_attr('error.type')} IS NOT NULL
                 THEN coalesce(nullif(s.span->>'$.status.message', ''), nullif(s.span->>'$.status.description', ''),
                               {_attr('error.type')}) END AS error,
            {_attr('user.id', 'enduser.id')} AS user_id,
            json_merge_patch('{{}}', json_object('span_name', s.span->>'name',
                'trace_id', coalesce(s.span->>'traceId', s.span->>'$.spanContext.traceId', s.span->>'$.context.trace_id'),
                'service', s.resource->>'$."service.name"', 'finish_reasons', {_attr('gen_ai.response.finish_reasons')},
                'function_id', {_attr('ai.telemetry.functionId')})) AS extra
        FROM (SELECT *, {_ns('span', 'start')} AS start_ns, {_ns('span', 'end')} AS end_ns,
                     row_number() OVER (PARTITION BY line) AS n FROM _spans) AS s"""
    )

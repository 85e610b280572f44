"""Langfuse observation exports (UI / API: camelCase, blob storage: snake_case; CSV, JSON, JSON
lines), traces with their `observations` nested, the UI's "download trace" JSON (`{"trace": {...},
"observations": [...]}`, no top-level id) and API pages (`{"data": [...], "meta": ...}`).

Only GENERATION and EMBEDDING observations are requests; spans, events, agents, tools... are
skipped (counted). Rules:
- latency_ms = endTime - startTime and ttft_ms = completionStartTime - startTime, derived from the
  timestamps: Langfuse's own `latency` fields are seconds or milliseconds depending on the export.
- Tokens from `usageDetails` / `usage_details`, whose `input` EXCLUDES cached tokens (Langfuse
  prices every usage key apart): input_tokens = the sum of every key but `total` and the output
  ones; cached = keys naming a cache read (`input_cached_tokens`, `cache_read_input_tokens`...);
  cache writes = `cache_creation*` / `cache_write*` keys; output_tokens = `output*` and
  reasoning keys. Older exports' `usage` {input, output} / promptTokens are taken as totals.
- Cost in USD: calculatedTotalCost / totalCost / total_cost / costDetails.total, `logged`; a zero
  cost on a call with tokens means Langfuse had no price for the model: it is left to genai-prices.
"""

from __future__ import annotations

from analysis.ingest.context import LoadContext
from analysis.ingest.sample import Sample

NAME = "langfuse"
DESCRIPTION = "Langfuse observations / traces exports (CSV, JSON, JSONL): generations become requests"
REQUEST_TYPES = ("GENERATION", "EMBEDDING")


def _is_observation(keys) -> bool:
    keys = set(keys)
    return "type" in keys and bool({"traceId", "trace_id"} & keys) and bool({"startTime", "start_time"} & keys)


def _is_trace(record: dict) -> bool:
    return isinstance(record.get("observations"), list) and ("timestamp" in record or "traceId" not in record) \
        and "id" in record and "type" not in record


def _is_trace_download(record: dict) -> bool:
    return isinstance(record.get("trace"), dict) and isinstance(record.get("observations"), list)


def detect(sample: Sample) -> bool:
    """Observations (type, traceId / trace_id, startTime / start_time), traces with observations,
    a trace download, or an API page of observations or traces."""
    if sample.kind in ("csv", "parquet"):
        return _is_observation(sample.columns)
    first = sample.first()
    if isinstance(first.get("data"), list) and "meta" in first and first["data"]:
        first = first["data"][0] if isinstance(first["data"][0], dict) else {}
    return sample.kind in ("json", "jsonl") and (_is_observation(first) or _is_trace(first) or _is_trace_download(first))


def _f(name: str) -> str:
    """A field in either spelling: camelCase (UI / API) or snake_case (blob storage)."""
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name)
    return f"coalesce(o.j->>'{name}', o.j->>'{snake}')" if snake != name else f"o.j->>'{name}'"


def _observations(ctx: LoadContext) -> None:
    """`_lf(line, j)`: one row per observation, trace context copied onto nested ones."""
    table = ctx.json_rows()
    ctx.reject_where(
        table, "json_type(r.j, '$.observations[0]') = 'VARCHAR'",
        "'a trace that lists only observation ids (expected the observations themselves: export "
        "observations / generations, or traces with their observations)'",
    )
    # The trace's context: the record itself, or its `trace` object in a trace download.
    tr = "coalesce(CASE WHEN json_type(t.j, '$.trace') = 'OBJECT' THEN t.j->'trace' END, t.j)"
    trace = f"json_object('userId', {tr}->>'userId', 'sessionId', {tr}->>'sessionId', 'tags', {tr}->'tags', 'traceName', {tr}->>'name')"
    ctx.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _lf AS
            WITH flat AS (
                SELECT r.line, unnest(json_extract(r.j, '$.data[*]')) AS j FROM {table} AS r
                WHERE json_type(r.j, '$.data') = 'ARRAY' AND json_type(r.j, '$.meta') IS NOT NULL
                UNION ALL
                SELECT r.line, r.j FROM {table} AS r
                WHERE NOT (json_type(r.j, '$.data') = 'ARRAY' AND json_type(r.j, '$.meta') IS NOT NULL))
            SELECT line, j FROM flat WHERE json_type(j, '$.observations') IS DISTINCT FROM 'ARRAY'
            UNION ALL
            SELECT line, json_merge_patch({trace}, json_merge_patch('{{}}', o)) FROM (
                SELECT t.line, t.j, unnest(json_extract(t.j, '$.observations[*]')) AS o FROM flat AS t
                WHERE json_type(t.j, '$.observations') = 'ARRAY') AS t
            WHERE json_type(o) = 'OBJECT'"""
    )
    types = ", ".join(f"'{t}'" for t in REQUEST_TYPES)
    ctx.skip_where("_lf", f"upper(coalesce(r.j->>'type', '')) NOT IN ({types})")


def _usage_sum(condition: str) -> str:
    return f"list_sum(list_transform(list_filter(map_entries(o.ud), lambda e: {condition}), lambda e: e.value))"


def load(ctx: LoadContext) -> None:
    """Skip non-generations, reject those without start time or model, insert the rest."""
    _observations(ctx)
    ctx.reject_where("_lf", "coalesce(r.j->>'startTime', r.j->>'start_time') IS NULL",
                     "'missing required field startTime (expected a Langfuse generation observation)'")
    ctx.reject_where("_lf", "nullif(coalesce(r.j->>'model', r.j->>'provided_model_name'), '') IS NULL",
                     "'missing required field model (expected a Langfuse generation observation)'")
    ctx.con.execute(
        """CREATE OR REPLACE TEMP TABLE _lf_obs AS
           SELECT line, j, try_cast(coalesce(json_unwrap(j->'usageDetails'), json_unwrap(j->'usage_details'))
                                    AS MAP(VARCHAR, DOUBLE)) AS ud,
                  json_unwrap(j->'usage') AS u, json_unwrap(j->'input') AS inp, json_unwrap(j->'output') AS outp,
                  coalesce(json_unwrap(j->'costDetails'), json_unwrap(j->'cost_details')) AS cd,
                  json_unwrap(j->'metadata') AS meta
           FROM _lf"""
    )
    output_key = "e.key LIKE 'output%' OR e.key LIKE '%reasoning%' OR e.key = 'completion'"
    detail_input = _usage_sum(f"e.key <> 'total' AND NOT ({output_key})")
    start, end, first = (f"ts_from_text({_f(k)})" for k in ("startTime", "endTime", "completionStartTime"))
    messages = """CASE WHEN json_type(o.inp) = 'ARRAY' AND json_type(o.inp, '$[0].role') IS NOT NULL THEN o.inp
                       WHEN json_type(o.inp, '$.messages') = 'ARRAY' THEN o.inp->'messages'
                       WHEN json_type(o.inp) IS DISTINCT FROM 'OBJECT' AND json_type(o.inp) IS DISTINCT FROM 'ARRAY'
                            AND nullif(o.j->>'input', '') IS NOT NULL
                       THEN json_array(json_object('role', 'user', 'content', coalesce(o.inp->>'$', o.j->>'input'))) END"""
    cost = f"""try_cast(coalesce({_f('calculatedTotalCost')}, {_f('totalCost')}, o.cd->>'total',
                                  o.u->>'totalCost') AS DOUBLE)"""
    tokens = f"coalesce({detail_input}, 0) + coalesce({_usage_sum(output_key)}, 0)"
    ctx.insert_requests(
        f"""SELECT
            o.j->>'id' AS request_id,
            o.line AS source_line,
            {start} AS ts,
            coalesce(o.meta->>'ls_provider', o.meta->>'provider', nullif(regexp_extract({_f('model')}, '^([^/]+)/', 1), '')) AS provider,
            coalesce(nullif(o.j->>'model', ''), o.j->>'provided_model_name') AS model_logged,
            norm_model(coalesce(nullif(o.j->>'model', ''), o.j->>'provided_model_name')) AS model,
            CASE WHEN upper(o.j->>'type') = 'EMBEDDING' THEN 'embedding' ELSE 'chat' END AS operation,
            {messages} AS input_messages,
            coalesce(msg_text({messages}), nullif(o.j->>'input', '')) AS input_text,
            CASE WHEN json_type(o.outp) = 'OBJECT'
                 THEN coalesce(o.outp->>'content', o.outp->>'text', o.outp->>'$.choices[0].message.content', o.outp::VARCHAR)
                 ELSE nullif(coalesce(o.outp->>'$', o.j->>'output'), '') END AS output_text,
            nullif(json_unwrap(coalesce(o.j->'modelParameters', o.j->'model_parameters')), '{{}}') AS request_params,
            try_cast(coalesce({detail_input}, try_cast(coalesce(o.u->>'input', o.u->>'promptTokens', {_f('promptTokens')}) AS DOUBLE))
                 AS BIGINT) AS input_tokens,
            try_cast(coalesce({_usage_sum("e.key LIKE '%cache_read%' OR e.key LIKE '%cached%' OR e.key LIKE '%cache_hit%'")},
                          0) AS BIGINT) AS cached_input_tokens,
            try_cast(coalesce({_usage_sum("e.key LIKE '%cache_creation%' OR e.key LIKE '%cache_write%'")}, 0) AS BIGINT)
                AS cache_write_tokens,
            try_cast(coalesce({_usage_sum(output_key)}, try_cast(coalesce(o.u->>'output', o.u->>'completionTokens',
                          {_f('completionTokens')}) AS DOUBLE)) AS BIGINT) AS output_tokens,
            try_cast({_usage_sum("e.key LIKE '%reasoning%'")} AS BIGINT) AS reasoning_tokens,
            ms_between({start}, {end}) AS latency_ms,
            ms_between({start}, {first}) AS ttft_ms,
            CASE WHEN upper(o.j->>'level') = 'ERROR' THEN 'error' ELSE 'ok' END AS status,
            CASE WHEN upper(o.j->>'level') = 'ERROR' THEN nullif({_f('statusMessage')}, '') END AS error,
            CASE WHEN {cost} = 0 AND {tokens} > 0 THEN NULL ELSE {cost} END AS cost_usd,
            CASE WHEN {cost} = 0 AND {tokens} > 0 OR {cost} IS NULL THEN 'unknown' ELSE 'logged' END AS cost_source,
            nullif({_f('userId')}, '') AS user_id,
            nullif(json_extract_string(json_unwrap(o.j->'tags'), '$[*]'), []) AS tags,
            json_merge_patch('{{}}', json_object('trace_id', {_f('traceId')}, 'name', o.j->>'name',
                'session_id', {_f('sessionId')}, 'environment', o.j->>'environment', 'type', o.j->>'type',
                'trace_name', {_f('traceName')}, 'prompt_name', {_f('promptName')})) AS extra
        FROM _lf_obs AS o"""
    )

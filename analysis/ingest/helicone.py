"""Helicone request exports: the `@helicone/export` tool's JSON lines / JSON / CSV, the REST API's
request objects, and `request_response_rmt` rows (HQL / ClickHouse).

Rules:
- Tokens: Helicone's `prompt_tokens` are the fresh (uncached) prompt tokens, priced apart from
  `prompt_cache_read_tokens` and `prompt_cache_write_tokens` (its costOfPrompt), so
  input_tokens = prompt_tokens + prompt_cache_read_tokens + prompt_cache_write_tokens.
- Latency in milliseconds: `delay_ms` or `latency`, else response_created_at - request_created_at;
  TTFT: `time_to_first_token` (ms).
- Cost: `costUSD` / `cost_usd` in USD. A bare `cost` column is USD x 1e9 (Helicone's ClickHouse
  unit) when the file's largest value exceeds COST_1E9_ABOVE (no single call costs that many
  dollars), else USD; options["cost_unit"] ("usd" | "usd_1e9" | "cents") overrides.
- Status: the HTTP status (`response_status` / `status`): 2xx is ok, anything else an error.
"""

from __future__ import annotations

from analysis.ingest.context import IngestError, LoadContext
from analysis.ingest.sample import Sample

NAME = "helicone"
DESCRIPTION = "Helicone request exports (JSONL, JSON, CSV; export tool, REST API or ClickHouse rows)"
COST_1E9_ABOVE = 1000.0
COST_DIVISORS = {"usd": 1.0, "cents": 100.0, "usd_1e9": 1e9}


def detect(sample: Sample) -> bool:
    """Columns or keys request_created_at and request_id or response_id."""
    keys = set(sample.columns or sample.first())
    return "request_created_at" in keys and bool({"request_id", "response_id"} & keys)


def _cost_divisor(ctx: LoadContext) -> float:
    unit = ctx.options.get("cost_unit")
    if unit is not None:
        if unit not in COST_DIVISORS:
            raise IngestError(f"{ctx.label}: cost_unit {unit!r} unknown; choose one of {', '.join(COST_DIVISORS)}")
        return COST_DIVISORS[unit]
    largest = ctx.con.execute("SELECT max(try_cast(j->>'cost' AS DOUBLE)) FROM _helicone").fetchall()[0][0]
    return 1e9 if largest is not None and largest > COST_1E9_ABOVE else 1.0


def load(ctx: LoadContext) -> None:
    """Reject rows without id, model or request time; insert the rest by the module's rules."""
    table = ctx.json_rows()
    ctx.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _helicone AS
            SELECT r.line, r.j, json_unwrap(r.j->'request_body') AS req, json_unwrap(r.j->'response_body') AS resp,
                   ts_from_text(r.j->>'request_created_at') AS t_req, ts_from_text(r.j->>'response_created_at') AS t_resp,
                   coalesce(nullif(r.j->>'model', ''), nullif(r.j->>'response_model', ''),
                            nullif(r.j->>'request_model', ''), nullif(r.j->>'model_override', '')) AS model,
                   try_cast(coalesce(r.j->>'response_status', r.j->>'status') AS INTEGER) AS http
            FROM {table} AS r"""
    )
    ctx.reject_where("_helicone", "coalesce(r.j->>'request_id', r.j->>'response_id') IS NULL",
                     "'missing required field request_id (expected a Helicone request export row)'")
    ctx.reject_where("_helicone", "r.model IS NULL",
                     "'missing required field model (expected a Helicone request export row)'")
    ctx.reject_where("_helicone", "r.t_req IS NULL",
                     "'missing or unreadable request_created_at (expected a Helicone request export row)'")
    divisor = _cost_divisor(ctx)
    tokens = {k: f"try_cast(h.j->>'{k}' AS BIGINT)" for k in
              ("prompt_tokens", "completion_tokens", "prompt_cache_read_tokens", "prompt_cache_write_tokens")}
    cost = f"coalesce(try_cast(coalesce(h.j->>'costUSD', h.j->>'cost_usd') AS DOUBLE), try_cast(h.j->>'cost' AS DOUBLE) / {divisor})"
    messages = """CASE WHEN json_type(h.req, '$.messages') = 'ARRAY' THEN
                      CASE WHEN json_type(h.req, '$.system') IN ('VARCHAR', 'ARRAY')
                           THEN to_json(list_prepend(json_object('role', 'system', 'content', h.req->'system'),
                                                     json_extract(h.req, '$.messages[*]')))
                           ELSE h.req->'messages' END
                      WHEN json_type(h.req, '$.input') = 'VARCHAR'
                      THEN json_array(json_object('role', 'user', 'content', h.req->>'input')) END"""
    ctx.insert_requests(
        f"""SELECT
            coalesce(h.j->>'request_id', h.j->>'response_id') AS request_id,
            h.line AS source_line,
            h.t_req AS ts,
            lower(nullif(h.j->>'provider', '')) AS provider,
            h.model AS model_logged,
            norm_model(h.model) AS model,
            CASE WHEN h.j->>'request_path' LIKE '%/messages%' OR h.j->>'target_url' LIKE '%/messages%' THEN 'messages'
                 WHEN h.j->>'request_path' LIKE '%/responses%' OR h.j->>'target_url' LIKE '%/responses%' THEN 'responses'
                 WHEN h.j->>'request_path' LIKE '%embeddings%' OR h.j->>'target_url' LIKE '%embeddings%' THEN 'embedding'
                 ELSE 'chat' END AS operation,
            {messages} AS input_messages,
            msg_text({messages}) AS input_text,
            coalesce(h.resp->>'$.choices[0].message.content', h.resp->>'$.choices[0].text', h.resp->>'$.output_text',
                     nullif(array_to_string(json_extract_string(h.resp, '$.content[*].text'), chr(10)), '')) AS output_text,
            CASE WHEN json_type(h.req) = 'OBJECT'
                 THEN json_merge_patch(h.req, '{{"messages": null, "system": null, "input": null}}') END AS request_params,
            {tokens['prompt_tokens']} + coalesce({tokens['prompt_cache_read_tokens']}, 0)
                + coalesce({tokens['prompt_cache_write_tokens']}, 0) AS input_tokens,
            coalesce({tokens['prompt_cache_read_tokens']}, 0) AS cached_input_tokens,
            coalesce({tokens['prompt_cache_write_tokens']}, 0) AS cache_write_tokens,
            {tokens['completion_tokens']} AS output_tokens,
            try_cast(h.j->>'reasoning_tokens' AS BIGINT) AS reasoning_tokens,
            coalesce(try_cast(coalesce(h.j->>'delay_ms', h.j->>'latency') AS DOUBLE), ms_between(h.t_req, h.t_resp))
                AS latency_ms,
            try_cast(h.j->>'time_to_first_token' AS DOUBLE) AS ttft_ms,
            CASE WHEN h.http BETWEEN 200 AND 299 OR h.http IS NULL THEN 'ok' ELSE 'error' END AS status,
            CASE WHEN NOT (h.http BETWEEN 200 AND 299) THEN coalesce(h.resp->>'$.error.message', 'HTTP ' || h.http) END
                AS error,
            {cost} AS cost_usd,
            CASE WHEN {cost} IS NOT NULL THEN 'logged' ELSE 'unknown' END AS cost_source,
            coalesce(nullif(h.j->>'request_user_id', ''), nullif(h.j->>'user_id', ''), nullif(h.j->>'helicone_user', ''))
                AS user_id,
            json_merge_patch('{{}}', json_object('response_id', h.j->>'response_id',
                'properties', coalesce(json_unwrap(h.j->'request_properties'), json_unwrap(h.j->'properties')),
                'cache_hit', h.j->>'cache_reference_id', 'target_url', h.j->>'target_url')) AS extra
        FROM _helicone AS h"""
    )

"""LiteLLM proxy logs: `LiteLLM_SpendLogs` rows (JSON, JSON lines or CSV; `metadata`, `messages`,
`response`, `request_tags` may be JSON held in strings) and StandardLoggingPayload objects (JSON or
JSON lines).

Rules:
- Cost: `spend` (spend logs) or `response_cost` (payloads), in USD, marked `logged`.
- Time: `startTime` / `endTime` / `completionStartTime` are epoch seconds (payloads) or timestamps
  (spend logs; without a zone taken as UTC). latency_ms = (endTime - startTime) in ms, else
  `response_time` (seconds) x 1000. TTFT = completionStartTime - startTime, only when it differs
  from endTime (LiteLLM sets it to endTime for calls that did not stream).
- Tokens: LiteLLM reports usage OpenAI-style: `prompt_tokens` includes cached tokens; cache reads
  and writes come from the usage object in `metadata` or `response`.
- `api_key` and every `user_api_key*` field are dropped: no key (hashed or not) is stored.
"""

from __future__ import annotations

from analysis.ingest.context import LoadContext
from analysis.ingest.sample import Sample

NAME = "litellm"
DESCRIPTION = "LiteLLM spend logs (JSON/JSONL/CSV) and StandardLoggingPayload objects"
OPERATIONS = {"completion": "chat", "acompletion": "chat", "text_completion": "completion",
              "atext_completion": "completion", "embedding": "embedding", "aembedding": "embedding",
              "responses": "responses", "aresponses": "responses", "anthropic_messages": "messages"}
EXTRA_KEYS = ("call_type", "model_group", "model_id", "cache_hit", "cache_key", "api_base", "session_id",
              "trace_id", "stream", "custom_llm_provider", "status")


def detect(sample: Sample) -> bool:
    """Columns or keys call_type, startTime and spend (spend logs) or response_cost (payloads)."""
    keys = set(sample.columns or sample.first())
    return "call_type" in keys and bool({"spend", "response_cost"} & keys) and "startTime" in keys


def _usage(path: str) -> str:
    """A usage field from the metadata's usage object, else the response's usage."""
    return f"coalesce(try_cast(x.meta->>'$.usage_object.{path}' AS BIGINT), try_cast(x.resp->>'$.usage.{path}' AS BIGINT))"


def load(ctx: LoadContext) -> None:
    """Reject rows without request id or model; insert the rest by the module's rules."""
    table = ctx.json_rows()
    ctx.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _litellm AS
            SELECT r.line, r.j, json_unwrap(r.j->'metadata') AS meta, json_unwrap(r.j->'response') AS resp,
                   json_unwrap(r.j->'messages') AS msgs, json_unwrap(r.j->'proxy_server_request') AS psr,
                   ts_from_text(r.j->>'startTime') AS t_start, ts_from_text(r.j->>'endTime') AS t_end,
                   ts_from_text(r.j->>'completionStartTime') AS t_first
            FROM {table} AS r"""
    )
    ctx.reject_where("_litellm", "coalesce(r.j->>'request_id', r.j->>'id') IS NULL",
                     "'missing required field request_id (expected a LiteLLM spend log row or logging payload)'")
    ctx.reject_where("_litellm", "nullif(r.j->>'model', '') IS NULL AND r.resp->>'model' IS NULL",
                     "'missing required field model (expected a LiteLLM spend log row or logging payload)'")
    operation = "CASE x.j->>'call_type' " + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in OPERATIONS.items()) + " ELSE 'chat' END"
    model = "coalesce(nullif(x.resp->>'model', ''), nullif(x.j->>'model', ''))"
    messages = """CASE WHEN json_type(x.msgs) = 'ARRAY' THEN x.msgs
                       WHEN json_type(x.psr, '$.messages') = 'ARRAY' THEN x.psr->'messages' END"""
    extra = ", ".join(f"'{k}', nullif(x.j->>'{k}', '')" for k in EXTRA_KEYS)
    ctx.insert_requests(
        f"""SELECT
            coalesce(x.j->>'request_id', x.j->>'id') AS request_id,
            x.line AS source_line,
            x.t_start AS ts,
            coalesce(nullif(x.j->>'custom_llm_provider', ''), nullif(regexp_extract({model}, '^([^/]+)/', 1), '')) AS provider,
            {model} AS model_logged,
            norm_model({model}) AS model,
            {operation} AS operation,
            {messages} AS input_messages,
            msg_text({messages}) AS input_text,
            coalesce(x.resp->>'$.choices[0].message.content', x.resp->>'$.choices[0].text') AS output_text,
            nullif(json_merge_patch('{{}}', coalesce(x.j->'model_parameters', '{{}}')), '{{}}') AS request_params,
            try_cast(x.j->>'prompt_tokens' AS BIGINT) AS input_tokens,
            coalesce({_usage('prompt_tokens_details.cached_tokens')}, {_usage('cache_read_input_tokens')}, 0)
                AS cached_input_tokens,
            coalesce({_usage('cache_creation_input_tokens')}, 0) AS cache_write_tokens,
            try_cast(x.j->>'completion_tokens' AS BIGINT) AS output_tokens,
            {_usage('completion_tokens_details.reasoning_tokens')} AS reasoning_tokens,
            coalesce(ms_between(x.t_start, x.t_end), try_cast(x.j->>'response_time' AS DOUBLE) * 1000) AS latency_ms,
            CASE WHEN x.t_first IS DISTINCT FROM x.t_end THEN ms_between(x.t_start, x.t_first) END AS ttft_ms,
            CASE WHEN lower(x.j->>'status') IN ('failure', 'error', 'failed')
                      OR nullif(x.j->>'error_str', '') IS NOT NULL THEN 'error' ELSE 'ok' END AS status,
            coalesce(nullif(x.j->>'error_str', ''), nullif(x.j->>'$.error_information.error_message', ''),
                     nullif(x.meta->>'$.error_information.error_message', '')) AS error,
            try_cast(coalesce(x.j->>'spend', x.j->>'response_cost') AS DOUBLE) AS cost_usd,
            CASE WHEN try_cast(coalesce(x.j->>'spend', x.j->>'response_cost') AS DOUBLE) IS NOT NULL
                 THEN 'logged' ELSE 'unknown' END AS cost_source,
            coalesce(nullif(x.j->>'user', ''), nullif(x.j->>'end_user', ''), nullif(x.meta->>'user_api_key_user_id', ''),
                     nullif(x.meta->>'user_api_key_end_user_id', '')) AS user_id,
            coalesce(nullif(x.j->>'team_id', ''), nullif(x.meta->>'user_api_key_team_alias', ''),
                     nullif(x.meta->>'user_api_key_team_id', '')) AS team,
            nullif(json_extract_string(json_unwrap(x.j->'request_tags'), '$[*]'), []) AS tags,
            json_merge_patch('{{}}', json_object({extra})) AS extra
        FROM _litellm AS x"""
    )

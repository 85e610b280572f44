"""Request+response pairs (`{"request": {...}, "response": {...}}`), as logged by proxies, SDK
wrappers and the cassette adapter: the key spellings accepted and the latency they carry.

Shared by the OpenAI chat / Responses adapter and the Anthropic one, which read a pair's request
and response bodies with their own SQL.
"""

from __future__ import annotations

import json

from analysis.ingest import streams

REQUEST_KEYS = ("request", "req", "request_body")
RESPONSE_KEYS = ("response", "resp", "response_body")
# Latency fields of a pair: milliseconds, seconds, or a start and an end time (ISO-8601 or epoch).
LATENCY_MS_KEYS = ("latency_ms", "duration_ms", "elapsed_ms", "response_ms")
LATENCY_S_KEYS = ("latency_s", "duration_s", "elapsed_s")
START_KEYS = ("start_time", "started_at", "request_time", "startTime", "request_timestamp")
END_KEYS = ("end_time", "ended_at", "response_time", "endTime", "response_timestamp")
TS_KEYS = ("timestamp", "ts", "created_at", "time")


def is_pair(record: dict) -> bool:
    """A record with a request key and a response key (any accepted spelling)."""
    return any(k in record for k in REQUEST_KEYS) and any(k in record for k in RESPONSE_KEYS)


def bodies(record: dict) -> tuple[dict, dict]:
    """A pair's (request, response) bodies as dicts: JSON held in strings is parsed; anything that is
    no JSON object reads as {} (for detection, which must never raise)."""
    def body(value) -> dict:
        if streams.as_events(value) is not None:
            value = streams.reassemble(value)[0]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                return {}
        return value if isinstance(value, dict) else {}

    return (body(next(record[k] for k in REQUEST_KEYS if k in record)),
            body(next(record[k] for k in RESPONSE_KEYS if k in record)))


def unstream(ctx, table: str) -> int:
    """Rewrite the pairs in `table(line, j JSON)` whose response is a stream (SSE text or a list of
    events): the response becomes the reassembled body (streams.reassemble) and `j._stream` holds
    {streamed: true, tokens: 'estimated' | null} for the reader's `extra`. Returns how many."""
    found = " OR ".join(
        f"""json_type(j, '$.{k}') = 'ARRAY' OR (json_type(j, '$.{k}') = 'VARCHAR'
            AND regexp_matches(j->>'{k}', '^[[:space:]]*(data|event):'))""" for k in RESPONSE_KEYS)
    rewritten = []
    for line, text in ctx.con.execute(f"SELECT line, j::VARCHAR FROM {table} WHERE {found}").fetchall():
        record = json.loads(text)
        key = next(k for k in RESPONSE_KEYS if k in record)
        request = bodies(record)[0]
        body, estimated = streams.reassemble(record[key], request)
        if body is None:
            continue
        record[key] = body
        record["_stream"] = {"streamed": True, "tokens": "estimated" if estimated else None}
        rewritten.append((line, json.dumps(record)))
    if rewritten:
        ctx.con.execute("CREATE OR REPLACE TEMP TABLE _unstreamed (line BIGINT, j JSON)")
        ctx.con.executemany("INSERT INTO _unstreamed VALUES (?, ?)", rewritten)
        ctx.con.execute(f"UPDATE {table} AS t SET j = u.j FROM _unstreamed AS u WHERE t.line = u.line")
    return len(rewritten)


def extra(j: str) -> str:
    """A pair's `extra` marks: streamed, and tokens 'estimated' (see unstream); NULL for none."""
    return f"CASE WHEN json_type({j}, '$._stream') = 'OBJECT' THEN json_merge_patch('{{}}', {j}->'_stream') END"


def _first(j: str, keys: tuple[str, ...], text: bool = True) -> str:
    op = "->>" if text else "->"
    return "coalesce(" + ", ".join(f"{j}{op}'{k}'" for k in keys) + ")"


def request(j: str) -> str:
    """The pair's request body as JSON (a JSON string holding it is unwrapped); NULL when none."""
    return "coalesce(" + ", ".join(f"json_unwrap({j}->'{k}')" for k in REQUEST_KEYS) + ")"


def response(j: str) -> str:
    """The pair's response body as JSON; a record that is no pair is itself the response."""
    present = " OR ".join(f"json_type({j}, '$.{k}') IS NOT NULL" for k in RESPONSE_KEYS)
    body = ", ".join(f"json_unwrap({j}->'{k}')" for k in RESPONSE_KEYS)
    return f"CASE WHEN {present} THEN coalesce({body}) ELSE {j} END"


def latency_ms(j: str) -> str:
    """Milliseconds from a pair's timing fields: *_ms as they are, *_s x 1000, else end - start."""
    return f"""coalesce(try_cast({_first(j, LATENCY_MS_KEYS)} AS DOUBLE),
        try_cast({_first(j, LATENCY_S_KEYS)} AS DOUBLE) * 1000,
        ms_between(ts_from_text({_first(j, START_KEYS)}), ts_from_text({_first(j, END_KEYS)})))"""


def timestamp(j: str) -> str:
    """When the pair's request was made, from its start time or timestamp field (naive UTC)."""
    return f"ts_from_text({_first(j, START_KEYS + TS_KEYS)})"


def status_code(j: str) -> str:
    """The pair's HTTP status (`status_code` or a numeric `status`), when logged."""
    return f"try_cast(coalesce({j}->>'status_code', {j}->>'status') AS INTEGER)"

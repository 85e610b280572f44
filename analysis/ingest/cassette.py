"""VCR cassettes (YAML `interactions:` of recorded HTTP requests and responses), as SDK test suites
and instrumentation libraries record them.

Interactions that hit /chat/completions, /responses or /completions (OpenAI-compatible) or
/v1/messages (Anthropic, and Bedrock runtime `invoke` calls of Anthropic models) become requests, read with the same SQL as OpenAI and Anthropic
request+response pairs; so do Bedrock's Converse / ConverseStream calls (`bedrock_converse`: translated
to Anthropic's shapes, provider aws) and Gemini's generateContent / streamGenerateContent calls on the
Gemini API or Vertex AI (`gemini`: translated to OpenAI's, provider google). Any other interaction is
skipped and counted with its reason (embeddings, moderation, token counting, an unsupported
provider's API such as Bedrock's invoke of a non-Anthropic model or Ollama's native API, not an LLM call). The YAML
container is unpacked in Python (it is small): bodies may be `!!binary` and gzip-compressed, under
`body` (`body.string`) or, as pydantic-ai records them, `parsed_body`.
`source_line` is the interaction's number (1-based). The provider comes from the URL's host,
the time from the body (`created`) or the response's Date header, and the latency from the
`openai-processing-ms` header (the server's processing time) when present. Streamed (SSE)
responses are reassembled into the body the call returns without streaming (streams.py); a stream
without usage gets estimated tokens, marked `extra.tokens = 'estimated'`.
"""

from __future__ import annotations

import gzip
import json
import re
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlparse

import yaml
import zstandard

from analysis.ingest import anthropic_shapes as an
from analysis.ingest import bedrock_converse, context, gemini, pairs, streams
from analysis.ingest.context import IngestError, LoadContext
from analysis.ingest.openai_chat import insert_pairs as insert_openai_pairs
from analysis.ingest.sample import Sample

NAME = "cassette"
DESCRIPTION = ("VCR cassettes (YAML) with OpenAI chat/responses, Anthropic messages, Bedrock Converse or Gemini "
               "generateContent calls")
OPENAI_PATHS = ("/chat/completions", "/responses", "/completions")
ANTHROPIC_PATHS = ("/v1/messages",)
UNSUPPORTED_PATHS = ("/invoke", "/invoke-with-response-stream", "/converse", "/converse-stream", "/api/chat",
                     "/api/generate")  # Bedrock runtime (but invoke of an Anthropic model), Ollama's native API
HOST_PROVIDERS = {"api.openai.com": "openai", "api.anthropic.com": "anthropic", "api.groq.com": "groq",
                  "api.mistral.ai": "mistral", "api.together.xyz": "together", "openrouter.ai": "openrouter",
                  "api.deepseek.com": "deepseek", "api.x.ai": "xai", "api.fireworks.ai": "fireworks"}


def detect(sample: Sample) -> bool:
    """YAML starting with `interactions:`."""
    return sample.kind == "yaml" and "interactions:" in sample.text


def read_text(path) -> str:
    """The file's text, gunzipped or zstd-decompressed by its magic bytes."""
    raw = path.read_bytes()
    if raw.startswith(b"\x1f\x8b"):
        raw = gzip.decompress(raw)
    elif raw.startswith(b"\x28\xb5\x2f\xfd"):
        raw = zstandard.ZstdDecompressor().stream_reader(raw).read()
    return raw.decode("utf-8")


def _headers(part: dict) -> dict[str, str]:
    """Lower-cased header names -> first value."""
    out = {}
    for name, value in (part.get("headers") or {}).items():
        out[str(name).lower()] = str(value[0] if isinstance(value, list) and value else value)
    return out


def _body(part: dict) -> str | None:
    """The body's text: `body` (a string or `{string: ...}`, maybe binary and gzipped), or
    `parsed_body` (the JSON itself, as pydantic-ai's cassettes keep it)."""
    if part.get("parsed_body") is not None:
        parsed = part["parsed_body"]
        return parsed if isinstance(parsed, str) else json.dumps(parsed)
    body = part.get("body")
    if isinstance(body, dict):
        body = body.get("string")
    if isinstance(body, bytes):
        if body.startswith(b"\x1f\x8b"):
            body = gzip.decompress(body)
        body = body.decode("utf-8", errors="replace")
    return body


def _provider(host: str) -> str:
    if host in HOST_PROVIDERS:
        return HOST_PROVIDERS[host]
    if host.endswith(".openai.azure.com"):
        return "azure"
    if host.endswith(gemini.HOSTS):
        return "google"
    if "bedrock-runtime" in host:
        return "aws"
    if host in ("localhost", "127.0.0.1", "0.0.0.0"):
        return "local"
    labels = host.split(".")
    return labels[-2] if len(labels) >= 2 else host


def bedrock_model(url) -> str | None:
    """The model id of a Bedrock runtime `invoke` call of an Anthropic model (its body is the
    Messages API's), else None."""
    match = re.fullmatch(r"/model/([^/]+)/invoke", url.path.rstrip("/"))
    if not match or "bedrock-runtime" not in (url.hostname or ""):
        return None
    model = unquote(match.group(1))
    return model if "anthropic." in model else None


def skip_reason(url, method: str) -> str | None:
    """Why an interaction is no call this reader reads (context.SKIP_REASONS), or None when it is one."""
    path = url.path.rstrip("/")
    if method.upper() == "POST" and (path.endswith(OPENAI_PATHS + ANTHROPIC_PATHS) or bedrock_model(url)
                                     or bedrock_converse.model_of(url) or gemini.model_of(url)):
        return None
    reason = context.skip_reason(path)
    if reason == context.NOT_LLM and method.upper() == "POST" and (
            "bedrock-runtime" in (url.hostname or "") or path.endswith(UNSUPPORTED_PATHS) or ":generatecontent" in path.lower()
            or ":streamgeneratecontent" in path.lower()):
        return context.UNSUPPORTED
    return reason


def convert(interaction: dict, number: int) -> dict:
    """One interaction as a pair record `{line, api, provider, url, request, response, status_code,
    latency_ms, ts, reject}`, or `{skip: reason}` when it is no LLM call this reader reads."""
    request, response = interaction.get("request") or {}, interaction.get("response") or {}
    url = urlparse(str(request.get("uri", "")))
    skip = skip_reason(url, str(request.get("method", "POST")))
    if skip:
        return {"skip": skip}
    bedrock, converse, google = bedrock_model(url), bedrock_converse.model_of(url), gemini.model_of(url)
    api = ("converse" if converse else "openai" if google
           else "anthropic" if bedrock or url.path.rstrip("/").endswith(ANTHROPIC_PATHS) else "openai")
    headers = _headers(response)
    record = {"line": number, "api": api, "provider": _provider(url.hostname or ""), "url": url.path,
              "status_code": (response.get("status") or {}).get("code")}
    try:
        record["ts"] = parsedate_to_datetime(headers["date"]).isoformat() if "date" in headers else None
    except (TypeError, ValueError):
        record["ts"] = None
    if "openai-processing-ms" in headers:
        record["latency_ms"], record["latency_from"] = headers["openai-processing-ms"], "openai-processing-ms"
    if converse and "eventstream" in headers.get("content-type", ""):
        return _converse_stream(record, request, response, converse[0])
    try:
        request_body, response_body = _body(request), _body(response)
    except (OSError, EOFError) as exc:
        return {**record, "reject": f"response body could not be decompressed ({exc})"}
    if converse or google:
        return _translated(record, request_body, response_body, converse or google, bool(converse))
    streamed = streams.is_stream(response_body, headers.get("content-type", ""))
    for key, body in (("request", request_body), ("response", None if streamed else response_body)):
        try:
            record[key] = json.loads(body) if body else None
        except json.JSONDecodeError:
            return {**record, key: body, "reject": f"{key} body is not JSON (expected an API body)"}
    if bedrock and isinstance(record.get("request"), dict):
        record["request"].setdefault("model", bedrock)  # the URL names it (model_ids normalises it)
    if streamed:
        return with_stream(record, response_body)
    return record


def _json_body(record: dict, key: str, body: str | None) -> dict | None:
    """A body as a JSON object (None when empty); the record's reject when it is not one."""
    try:
        value = json.loads(body) if body else None
    except json.JSONDecodeError:
        value = body
    if value is not None and not isinstance(value, dict):
        record["reject"] = f"{key} body is not a JSON object (expected an API body)"
        record[key] = body
        return None
    return value


def _translated(record: dict, request_body: str | None, response_body: str | None, model_streamed: tuple[str, bool],
                converse: bool) -> dict:
    """A Converse or Gemini call as the Anthropic or OpenAI pair it is read as (bedrock_converse,
    gemini); a streamed Gemini response is reassembled first."""
    model, streamed = model_streamed
    request = _json_body(record, "request", request_body)
    if converse:
        record["request"] = bedrock_converse.request(request or {}, model)
        response = _json_body(record, "response", response_body)
        if response is not None:
            record["response"] = bedrock_converse.response(response, model)
            if (latency := bedrock_converse.latency_ms(response)) is not None and "latency_ms" not in record:
                record["latency_ms"], record["latency_from"] = latency, bedrock_converse.LATENCY_FROM
        return record
    record["request"] = gemini.request(request or {}, model)
    if streamed and response_body:
        body = gemini.reassemble(response_body, model)
        if body is None:
            return {**record, "response": response_body[:200],
                    "reject": "streamed Gemini response without any GenerateContentResponse chunk"}
        return _estimated({**record, "response": body, "streamed": True}, ("prompt_tokens", "completion_tokens"))
    response = _json_body(record, "response", response_body)
    if response is not None:
        record["response"] = gemini.response(response, model)
    return record


def _converse_stream(record: dict, request: dict, response: dict, model: str) -> dict:
    """A ConverseStream call: its event-stream body decoded and reassembled (bedrock_converse)."""
    try:
        record["request"] = bedrock_converse.request(_json_body(record, "request", _body(request)) or {}, model)
        raw = response.get("body")
        raw = raw.get("string") if isinstance(raw, dict) else raw
        events = bedrock_converse.events_of(raw.encode("latin-1") if isinstance(raw, str) else raw)
    except (ValueError, UnicodeError, OSError, EOFError) as exc:
        return {**record, "reject": f"Bedrock event stream could not be read ({exc})"}
    if not events:
        return {**record, "reject": "Bedrock ConverseStream response without events"}
    body, latency = bedrock_converse.reassemble(events, model)
    if latency is not None and "latency_ms" not in record:
        record["latency_ms"], record["latency_from"] = latency, bedrock_converse.LATENCY_FROM
    return _estimated({**record, "response": body, "streamed": True}, ("input_tokens", "output_tokens"))


def _estimated(record: dict, keys: tuple[str, str]) -> dict:
    """A reassembled stream that carried no usage gets the streams' estimate (characters / 4 of
    the prompt's and of the answer's text), marked `tokens = 'estimated'`."""
    body = record["response"]
    if body.get("usage") or body.get("type") == "error" or "error" in body:
        return record
    message = (body.get("choices") or [{}])[0].get("message") or {}
    answer = streams.prompt_text({"content": body.get("content") or message.get("content") or ""})
    calls = json.dumps(message.get("tool_calls") or [b for b in body.get("content") or [] if b.get("type") == "tool_use"])
    body["usage"] = dict(zip(keys, (streams.estimate_tokens(streams.prompt_text(record.get("request"))),
                                    streams.estimate_tokens(answer + (calls if calls != "[]" else ""))), strict=True))
    return {**record, "tokens": "estimated"}


def with_stream(record: dict, text: str) -> dict:
    """`record` with the streamed body `text` reassembled as its response (or a reject)."""
    request = record.get("request") if isinstance(record.get("request"), dict) else None
    body, estimated = streams.reassemble(text, request)
    if body is None:
        return {**record, "response": text[:200],
                "reject": "streamed (SSE) response of no known API (expected OpenAI or Anthropic events)"}
    return {**record, "response": body, "streamed": True, "tokens": "estimated" if estimated else None}


def _records(ctx: LoadContext) -> list[dict]:
    try:
        document = yaml.load(read_text(ctx.path), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise IngestError(f"{ctx.label}: not a readable VCR cassette ({exc})") from exc
    interactions = document.get("interactions") if isinstance(document, dict) else None
    if not isinstance(interactions, list):
        raise IngestError(f"{ctx.label}: expected a VCR cassette with a list of `interactions:`")
    converted = [convert(i, n) if isinstance(i, dict) else {"skip": context.NOT_LLM} for n, i in enumerate(interactions, 1)]
    for record in converted:
        if "skip" in record:
            ctx.skip(record["skip"])
    return [c for c in converted if "skip" not in c]


def load(ctx: LoadContext) -> None:
    """Convert the LLM interactions to pairs, reject the unreadable ones, insert both APIs' pairs."""
    insert(ctx, _records(ctx))


def insert(ctx: LoadContext, records: list[dict]) -> None:
    """Insert converted interactions (see convert; also the HAR reader's), rejecting the unreadable."""
    ctx.con.execute(
        """CREATE OR REPLACE TEMP TABLE _cassette AS
           SELECT CAST(t.j->>'line' AS BIGINT) AS line, t.j FROM (SELECT unnest(?::VARCHAR[])::JSON AS j) AS t""",
        [[json.dumps(r, default=str) for r in records]],
    )
    ctx.con.execute("CREATE OR REPLACE TEMP TABLE _lines AS SELECT line, j::VARCHAR AS text FROM _cassette")
    ctx.reject_where("_cassette", "r.j->>'reject' IS NOT NULL", "r.j->>'reject'")
    columns = f"""line, {pairs.request('j')} AS req, {pairs.response('j')} AS resp, j->>'url' AS url,
        j->>'provider' AS provider, CAST(NULL AS VARCHAR) AS request_id, ts_from_text(j->>'ts') AS ts,
        try_cast(j->>'latency_ms' AS DOUBLE) AS latency_ms, {pairs.status_code('j')} AS status_code,
        CAST(NULL AS VARCHAR) AS status, CAST(NULL AS VARCHAR) AS error, false AS is_batch,
        json_merge_patch('{{}}', json_object('url', j->>'url', 'latency_from',
                         j->>'latency_from',
                         'streamed', CAST(j->>'streamed' AS BOOLEAN), 'tokens', j->>'tokens')) AS extra"""
    for api, table in (("openai", "_cassette_openai"), ("anthropic", "_cassette_anthropic"),
                       ("converse", "_cassette_converse")):
        ctx.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {columns} FROM _cassette WHERE j->>'api' = '{api}'")
    insert_openai_pairs(ctx, "_cassette_openai")
    an.insert_pairs(ctx, "_cassette_anthropic")
    an.insert_pairs(ctx, "_cassette_converse", provider="aws")

"""HAR files (HTTP Archive: a browser's "Save all as HAR", or a proxy's capture such as mitmproxy's
or Charles'): `{"log": {"entries": [...]}}`, one entry per HTTP exchange.

Each entry becomes a VCR-style interaction and goes through the cassette reader's rules
(cassette.convert): calls to /chat/completions, /responses, /completions or /v1/messages, Bedrock's
Converse and Gemini's generateContent become requests (streamed ones reassembled; a ConverseStream's
binary event stream needs the raw bytes, which a HAR's text may not keep), any other entry is skipped
with its reason. The time is the
entry's `startedDateTime`, the latency its `time` (milliseconds, the whole exchange as the client
saw it), and `source_line` the entry's number (1-based). Bodies are `postData.text` and
`content.text` (base64 when `content.encoding` says so).
"""

from __future__ import annotations

import base64
import binascii
import json

from analysis.ingest import cassette, context
from analysis.ingest.context import IngestError, LoadContext
from analysis.ingest.sample import Sample

NAME = "har"
DESCRIPTION = "HAR files (browser or proxy captures) of OpenAI, Anthropic, Bedrock Converse or Gemini API calls"


def detect(sample: Sample) -> bool:
    """A JSON document with `log.entries`."""
    log = sample.first().get("log") if sample.kind == "json" else None
    return isinstance(log, dict) and ("entries" in log or "creator" in log)


def _headers(items) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items or []:
        if isinstance(item, dict) and "name" in item:
            out.setdefault(str(item["name"]), []).append(str(item.get("value", "")))
    return out


def interaction(entry: dict) -> dict:
    """One HAR entry as a VCR interaction (what cassette.convert reads)."""
    request, response = entry.get("request") or {}, entry.get("response") or {}
    content = response.get("content") or {}
    text = content.get("text")
    if text is not None and content.get("encoding") == "base64":
        try:
            text = base64.b64decode(text).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            text = None
    return {
        "request": {"method": request.get("method", "GET"), "uri": request.get("url", ""),
                    "headers": _headers(request.get("headers")), "body": (request.get("postData") or {}).get("text")},
        "response": {"status": {"code": response.get("status")}, "body": {"string": text},
                     "headers": {k: v for k, v in _headers(response.get("headers")).items()
                                 if k.lower() not in ("content-encoding", "date")}},
    }


def load(ctx: LoadContext) -> None:
    try:
        document = json.loads(cassette.read_text(ctx.path))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IngestError(f"{ctx.label}: not a readable HAR file ({exc})") from exc
    entries = (document.get("log") or {}).get("entries") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise IngestError(f"{ctx.label}: expected a HAR file with a list of log.entries")
    records = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            ctx.skip(context.NOT_LLM)
            continue
        record = cassette.convert(interaction(entry), number)
        if "skip" in record:
            ctx.skip(record["skip"])
            continue
        record["ts"] = entry.get("startedDateTime")
        if isinstance(entry.get("time"), (int, float)) and entry["time"] >= 0:
            record["latency_ms"], record["latency_from"] = entry["time"], "har time"
        records.append(record)
    cassette.insert(ctx, records)

"""Amazon Bedrock's Converse API (`POST /model/{modelId}/converse` and `/converse-stream`) as the
cassette and HAR readers see it, translated into the Anthropic Messages shapes that
`anthropic_shapes` reads (the two APIs count tokens alike), inserted with provider `aws` (a Claude
model id still reads as `anthropic`, see `model_ids`).

Shapes, from the API reference (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html,
.../API_runtime_ConverseStream.html, .../API_runtime_ConverseStreamOutput.html, .../API_runtime_TokenUsage.html):
- request: `messages[].content[]` blocks (`text`, `toolUse`, `toolResult`, ...), `system[].text`,
  `inferenceConfig` {maxTokens, temperature, topP, stopSequences}, `toolConfig.tools[].toolSpec`
  {name, description, inputSchema.json}; the model id is in the URL.
- response: `output.message.content[]` (`text`, `toolUse` {name, input}, `reasoningContent`),
  `stopReason`, `usage` {inputTokens, outputTokens, cacheReadInputTokens, cacheWriteInputTokens},
  `metrics.latencyMs`. `inputTokens` excludes the cache reads and writes (totalTokens = all four),
  as Anthropic's `input_tokens` does, so they map one to one.
- stream: AWS event-stream frames (application/vnd.amazon.eventstream), each a JSON payload named
  by its `:event-type` header: `messageStart` {role}, `contentBlockStart` {start.toolUse {name}},
  `contentBlockDelta` {delta.text | delta.toolUse.input (a JSON fragment) | delta.reasoningContent},
  `contentBlockStop`, `messageStop` {stopReason}, `metadata` {usage, metrics}; an `exception`
  frame names its `:exception-type`. A logger's list of such events (`[{"messageStart": {...}},
  ...]`, boto3's shape) is read the same way.
"""

from __future__ import annotations

import json
import re
import struct
from urllib.parse import unquote

PATH = re.compile(r"/model/([^/]+)/(converse|converse-stream)")
LATENCY_FROM = "bedrock metrics.latencyMs"
EVENT_TYPES = ("messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata")
# Header value sizes of the event-stream encoding by type id (6: bytes, 7: string have a 2-byte length).
_FIXED = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}


def model_of(url) -> tuple[str, bool] | None:
    """(model id, streamed) of a Bedrock runtime Converse URL, else None."""
    match = PATH.fullmatch(url.path.rstrip("/"))
    if not match or "bedrock-runtime" not in (url.hostname or ""):
        return None
    return unquote(match.group(1)), match.group(2) == "converse-stream"


def _blocks(content) -> list[dict]:
    """Converse content blocks as Anthropic's (text, tool_use, tool_result, thinking)."""
    out = []
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            out.append({"type": "text", "text": block["text"]})
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            out.append({"type": "tool_use", "id": use.get("toolUseId"), "name": use.get("name"),
                        "input": use.get("input") if use.get("input") is not None else {}})
        elif isinstance(block.get("toolResult"), dict):
            result = block["toolResult"]
            out.append({"type": "tool_result", "tool_use_id": result.get("toolUseId"),
                        "content": _blocks(result.get("content"))})
        elif isinstance(block.get("reasoningContent"), dict):
            text = (block["reasoningContent"].get("reasoningText") or {}).get("text")
            out.append({"type": "thinking", "thinking": text or ""})
    return out


def request(body: dict, model: str) -> dict:
    """A Converse request body as a Messages request (module docstring)."""
    config = body.get("inferenceConfig") if isinstance(body.get("inferenceConfig"), dict) else {}
    out = {"model": model,
           "messages": [{"role": m.get("role"), "content": _blocks(m.get("content"))}
                        for m in body.get("messages") or () if isinstance(m, dict)]}
    system = "\n".join(s["text"] for s in body.get("system") or () if isinstance(s, dict) and isinstance(s.get("text"), str))
    if system:
        out["system"] = system
    for ours, theirs in (("max_tokens", "maxTokens"), ("temperature", "temperature"), ("top_p", "topP"),
                         ("stop_sequences", "stopSequences")):
        if config.get(theirs) is not None:
            out[ours] = config[theirs]
    tools = (body.get("toolConfig") or {}).get("tools") if isinstance(body.get("toolConfig"), dict) else None
    specs = [t["toolSpec"] for t in tools or () if isinstance(t, dict) and isinstance(t.get("toolSpec"), dict)]
    if specs:
        out["tools"] = [{"name": s.get("name"), "description": s.get("description"),
                         "input_schema": (s.get("inputSchema") or {}).get("json")} for s in specs]
    return out


def _usage(usage: dict | None) -> dict | None:
    if not isinstance(usage, dict):
        return None
    return {"input_tokens": usage.get("inputTokens"), "output_tokens": usage.get("outputTokens"),
            "cache_read_input_tokens": usage.get("cacheReadInputTokens"),
            "cache_creation_input_tokens": usage.get("cacheWriteInputTokens")}


def response(body: dict, model: str) -> dict:
    """A Converse response body (or its error body, `{"message": ...}`) as a Message or an
    Anthropic error body."""
    if "output" not in body and isinstance(body.get("message"), str):
        return {"type": "error", "error": {"type": body.get("__type") or "error", "message": body["message"]}}
    message = (body.get("output") or {}).get("message") or {}
    return {"type": "message", "role": "assistant", "model": model, "content": _blocks(message.get("content")),
            "stop_reason": body.get("stopReason"), "usage": _usage(body.get("usage"))}


def latency_ms(body: dict) -> float | None:
    """`metrics.latencyMs`: the call's latency as Bedrock measured it."""
    value = (body.get("metrics") or {}).get("latencyMs") if isinstance(body.get("metrics"), dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def decode_event_stream(raw: bytes) -> list[tuple[str, dict]]:
    """The (event type, JSON payload) of each frame of an AWS event stream: 4-byte total length,
    4-byte headers length, prelude CRC, headers (name, type, value), payload, message CRC. An
    exception frame gives ('exception', {"type": its :exception-type, **payload}). Raises
    ValueError on a truncated or malformed frame."""
    events, at = [], 0
    while at < len(raw):
        total, headers_length = struct.unpack_from(">II", raw, at) if len(raw) - at >= 16 else (0, 0)
        if total < 16 or at + total > len(raw) or headers_length > total - 16:
            raise ValueError(f"truncated or malformed event-stream frame at byte {at} "
                             f"({total} bytes claimed, {len(raw) - at} left)")
        headers, pos, end = {}, at + 12, at + 12 + headers_length
        while pos < end:
            name_length = raw[pos]
            name = raw[pos + 1:pos + 1 + name_length].decode("utf-8")
            kind, pos = raw[pos + 1 + name_length], pos + 2 + name_length
            if kind in (6, 7):
                (size,), pos = struct.unpack_from(">H", raw, pos), pos + 2
            elif kind in _FIXED:
                size = _FIXED[kind]
            else:
                raise ValueError(f"unknown event-stream header type {kind}")
            if kind == 7:
                headers[name] = raw[pos:pos + size].decode("utf-8")
            pos += size
        payload = json.loads(raw[end:at + total - 4] or b"{}")
        if headers.get(":message-type") == "exception":
            events.append(("exception", {"type": headers.get(":exception-type"), **payload}))
        else:
            events.append((headers.get(":event-type", ""), payload))
        at += total
    return events


def events_of(value) -> list[tuple[str, dict]] | None:
    """A logged ConverseStream response as (event type, payload) pairs: the raw event stream
    (bytes), or a list of one-key event objects (boto3's shape); None for anything else."""
    if isinstance(value, bytes):
        return decode_event_stream(value)
    if isinstance(value, list) and value and all(isinstance(e, dict) and len(e) == 1 for e in value) \
            and any(next(iter(e)) in EVENT_TYPES for e in value):
        return [(next(iter(e)), next(iter(e.values()))) for e in value]
    return None


def reassemble(events: list[tuple[str, dict]], model: str) -> tuple[dict, float | None]:
    """The Message a ConverseStream response stands for (text and tool input fragments joined per
    content block, the stop reason, the metadata event's usage), and its metrics.latencyMs."""
    blocks: dict[int, dict] = {}
    stop, usage, latency = None, None, None
    for kind, payload in events:
        if kind == "exception":
            return {"type": "error", "error": {"type": payload.get("type"), "message": payload.get("message")}}, None
        index = payload.get("contentBlockIndex", 0)
        if kind == "contentBlockStart" and isinstance((payload.get("start") or {}).get("toolUse"), dict):
            use = payload["start"]["toolUse"]
            blocks[index] = {"type": "tool_use", "id": use.get("toolUseId"), "name": use.get("name"), "_json": ""}
        elif kind == "contentBlockDelta":
            delta = payload.get("delta") or {}
            if isinstance(delta.get("text"), str):
                block = blocks.setdefault(index, {"type": "text", "text": ""})
                block["text"] = block.get("text", "") + delta["text"]
            elif isinstance(delta.get("toolUse"), dict):
                block = blocks.setdefault(index, {"type": "tool_use", "name": None, "_json": ""})
                block["_json"] += delta["toolUse"].get("input") or ""
            elif isinstance(delta.get("reasoningContent"), dict):
                block = blocks.setdefault(index, {"type": "thinking", "thinking": ""})
                block["thinking"] = block.get("thinking", "") + (delta["reasoningContent"].get("text") or "")
        elif kind == "messageStop":
            stop = payload.get("stopReason")
        elif kind == "metadata":
            usage = _usage(payload.get("usage"))
            latency = latency_ms(payload)
    for block in blocks.values():
        if "_json" in block:
            fragment = block.pop("_json")
            try:
                block["input"] = json.loads(fragment) if fragment.strip() else {}
            except json.JSONDecodeError:
                block["input"] = fragment
    return ({"type": "message", "role": "assistant", "model": model, "content": [blocks[i] for i in sorted(blocks)],
             "stop_reason": stop, "usage": usage}, latency)

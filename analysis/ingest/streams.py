"""Streamed (server-sent events) responses reassembled into the body the same call returns without
streaming, so that the OpenAI and Anthropic SQL (openai_shapes, anthropic_shapes) reads them as any
other response. Used by the readers that see raw HTTP bodies (cassette, har) and, for request+response
pairs whose response is SSE text or a list of events, by pairs.unstream (openai_chat, anthropic_batch).

- OpenAI Chat Completions: `chat.completion.chunk` objects; the text is the concatenated
  `delta.content`, tool calls are merged by index, and the usage is the chunk that carries it (the
  last one, with `stream_options: {"include_usage": true}`).
- OpenAI Responses API: the `response.completed` (or `.failed` / `.incomplete`) event holds the
  whole response, usage and output included.
- Anthropic Messages: `message_start` carries the message (id, model, input and cache usage),
  `content_block_start` / `content_block_delta` the blocks (text deltas, tool input JSON), and
  `message_delta` the stop reason and the final usage (it wins where both give a count).

A stream without usage gets estimated counts: ceil(characters / 4) of the prompt's text and of the
answer's text (ESTIMATE_RULE); the reader marks such a row `extra.tokens = 'estimated'`.
"""

from __future__ import annotations

import json
import math

ESTIMATE_RULE = "characters / 4, rounded up"
RESPONSES_DONE = ("response.completed", "response.failed", "response.incomplete")


def is_stream(body: str | None, content_type: str = "") -> bool:
    return "event-stream" in content_type or (body or "").lstrip().startswith(("data:", "event:"))


def events(text: str) -> list[dict]:
    """The JSON `data:` payloads of an SSE body, in order (`[DONE]` and non-JSON payloads left out);
    an `event:` name is kept as `type` where the payload has none."""
    out, name, data = [], None, []

    def flush() -> None:
        nonlocal name, data
        payload = "\n".join(data).strip()
        if payload and payload != "[DONE]":
            try:
                value = json.loads(payload)
            except json.JSONDecodeError:
                value = None
            if isinstance(value, dict):
                if name and "type" not in value:
                    value["type"] = name
                out.append(value)
        name, data = None, []

    for line in text.splitlines():
        if not line.strip():
            flush()
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    flush()
    return out


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _strings(value, keys=("content", "text", "input", "instructions", "system", "prompt")) -> list[str]:
    """The text a request sends: strings under its prompt fields, at any depth."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item, keys)]
    if isinstance(value, dict):
        return [s for k, v in value.items() if k in keys or k in ("messages",) for s in _strings(v, keys)]
    return []


def prompt_text(request: dict | None) -> str:
    return "\n".join(_strings(request or {}))


def _openai_chat(chunks: list[dict]) -> dict:
    first = chunks[0]
    text, finish, usage, calls = [], None, None, {}
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                text.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                merged = calls.setdefault(call.get("index", len(calls)), {"id": None, "type": "function",
                                                                       "function": {"name": "", "arguments": ""}})
                merged["id"] = call.get("id") or merged["id"]
                function = call.get("function") or {}
                merged["function"]["name"] += function.get("name") or ""
                merged["function"]["arguments"] += function.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    message = {"role": "assistant", "content": "".join(text) if text or not calls else None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    body = {"id": first.get("id"), "object": "chat.completion", "created": first.get("created"),
            "model": next((c["model"] for c in chunks if c.get("model")), None),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}]}
    if usage:
        body["usage"] = usage
    return body


def _openai_responses(stream: list[dict]) -> dict:
    done = [e["response"] for e in stream if e.get("type") in RESPONSES_DONE and isinstance(e.get("response"), dict)]
    if done:
        return done[-1]
    started = next((e["response"] for e in stream if isinstance(e.get("response"), dict)), {})
    text = "".join(e.get("delta") or "" for e in stream if e.get("type") == "response.output_text.delta")
    return {**started, "object": "response", "usage": None, "output_text": text}


def _anthropic(stream: list[dict]) -> dict:
    message, blocks, usage = {}, {}, {}
    for event in stream:
        kind = event.get("type")
        if kind == "error":
            return {"type": "error", "error": event.get("error")}
        if kind == "message_start":
            message = dict(event.get("message") or {})
            usage.update(message.get("usage") or {})
        elif kind == "content_block_start":
            block = dict(event.get("content_block") or {})
            if block.get("type") == "tool_use":
                block["input"], block["_json"] = block.get("input") or {}, ""
            blocks[event.get("index", len(blocks))] = block
        elif kind == "content_block_delta":
            block, delta = blocks.setdefault(event.get("index", 0), {"type": "text", "text": ""}), event.get("delta") or {}
            if delta.get("type") == "text_delta":
                block["text"] = (block.get("text") or "") + delta.get("text", "")
            elif delta.get("type") == "input_json_delta":
                block["_json"] = block.get("_json", "") + delta.get("partial_json", "")
            elif delta.get("type") == "thinking_delta":
                block["thinking"] = (block.get("thinking") or "") + delta.get("thinking", "")
        elif kind == "message_delta":
            message.update({k: v for k, v in (event.get("delta") or {}).items() if v is not None})
            usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
    for block in blocks.values():
        partial = block.pop("_json", None)
        if partial:
            try:
                block["input"] = json.loads(partial)
            except json.JSONDecodeError:
                block["input"] = partial
    message.update({"type": "message", "content": [blocks[i] for i in sorted(blocks)]})
    message["usage"] = usage or None
    return message


def as_events(value) -> list[dict] | None:
    """A logged streamed response as its events: SSE text, or a list of chunk / event objects
    (as some loggers keep them); None for anything else."""
    if isinstance(value, str) and is_stream(value):
        return events(value)
    if isinstance(value, list) and value and all(isinstance(e, dict) for e in value) and (
            any(e.get("object") == "chat.completion.chunk" for e in value)
            or any(str(e.get("type", "")).startswith(("response.", "message_", "content_block_")) for e in value)):
        return value
    return None


def reassemble(text: str | list, request: dict | None = None) -> tuple[dict | None, bool]:
    """The response body a streamed call (SSE text or its list of events) stands for, and whether
    its tokens are estimated (the stream carried no usage). None when the events are of no known API."""
    stream = as_events(text) if isinstance(text, list) else events(text)
    if not stream:
        return None, False
    if any(e.get("object") == "chat.completion.chunk" for e in stream) or all("choices" in e for e in stream):
        body = _openai_chat([e for e in stream if "choices" in e or "usage" in e])
        answer = (body["choices"][0]["message"].get("content") or "") + "".join(
            c["function"]["name"] + c["function"]["arguments"] for c in body["choices"][0]["message"].get("tool_calls", []))
        usage_keys = ("prompt_tokens", "completion_tokens")
    elif any(str(e.get("type", "")).startswith("response.") for e in stream):
        body = _openai_responses(stream)
        answer = body.get("output_text") or "\n".join(
            part.get("text") or "" for item in body.get("output") or [] for part in item.get("content") or [])
        usage_keys = ("input_tokens", "output_tokens")
    elif any(e.get("type") in ("message_start", "content_block_delta", "message_delta", "error") for e in stream):
        body = _anthropic(stream)
        if body.get("type") == "error":
            return body, False
        answer = "\n".join((b.get("name") or "") + json.dumps(b.get("input")) if b.get("type") == "tool_use"
                           else b.get("text") or "" for b in body["content"])
        usage_keys = ("input_tokens", "output_tokens")
    else:
        return None, False
    usage = body.get("usage")
    if usage and any(usage.get(k) is not None for k in usage_keys):
        return body, False
    body["usage"] = dict(zip(usage_keys, (estimate_tokens(prompt_text(request)), estimate_tokens(answer)), strict=True))
    if body.get("model") is None and request:
        body["model"] = request.get("model")
    return body, True

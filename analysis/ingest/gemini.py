"""Google's Gemini API (`POST .../models/{model}:generateContent` and `:streamGenerateContent`, on
generativelanguage.googleapis.com or Vertex AI's `.../publishers/google/models/{model}:...`) as the
cassette and HAR readers see it, translated into the OpenAI Chat Completions shapes that
`openai_shapes` reads, with provider `google`.

Shapes, from the API reference (https://ai.google.dev/api/generate-content, GenerateContentResponse
and UsageMetadata; https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/v1/GenerateContentResponse):
- request: `contents[]` {role: user | model, parts[]: text, functionCall {name, args},
  functionResponse}, `systemInstruction.parts[].text`, `generationConfig` {temperature,
  maxOutputTokens, topP, stopSequences}, `tools[].functionDeclarations[]` {name, description,
  parameters | parametersJsonSchema}.
- response: `candidates[0].content.parts[]` (text, `thought: true` parts, `functionCall`),
  `finishReason`, `modelVersion`, `responseId`, `usageMetadata`.
- tokens: promptTokenCount is the whole prompt (cachedContentTokenCount included), so
      input_tokens  = promptTokenCount + toolUsePromptTokenCount
      cached        = cachedContentTokenCount
      output_tokens = candidatesTokenCount + thoughtsTokenCount (thinking is billed as output)
      reasoning     = thoughtsTokenCount
- stream: a JSON array of GenerateContentResponse chunks, or (`?alt=sse`) SSE `data:` lines of
  them; the text and calls of every chunk are joined, the last chunk's usageMetadata counts (each
  chunk repeats the running totals).
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

from analysis.ingest import streams

PATH = re.compile(r"(?:.*/)?models/([^/:]+):(generateContent|streamGenerateContent)", re.IGNORECASE)
HOSTS = ("generativelanguage.googleapis.com", "aiplatform.googleapis.com")
FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
          "PROHIBITED_CONTENT": "content_filter", "BLOCKLIST": "content_filter", "SPII": "content_filter"}


def model_of(url) -> tuple[str, bool] | None:
    """(model, streamed) of a Gemini API or Vertex AI generateContent URL, else None; the model
    keeps a Vertex publisher path (`publishers/google/models/x`), which model_ids reads."""
    host = url.hostname or ""
    match = PATH.fullmatch(unquote(url.path).rstrip("/"))
    if not match or not host.endswith(HOSTS):
        return None
    publisher = re.search(r"publishers/([^/]+)/models/", url.path)
    model = match.group(1) if publisher is None else f"publishers/{publisher.group(1)}/models/{match.group(1)}"
    return model, match.group(2).lower() == "streamgeneratecontent"


def _text(parts) -> str:
    return "".join(p["text"] for p in parts or () if isinstance(p, dict) and isinstance(p.get("text"), str)
                   and not p.get("thought"))


def _calls(parts) -> list[dict]:
    return [{"type": "function", "function": {"name": p["functionCall"].get("name"),
                                              "arguments": json.dumps(p["functionCall"].get("args") or {})}}
            for p in parts or () if isinstance(p, dict) and isinstance(p.get("functionCall"), dict)]


def request(body: dict, model: str) -> dict:
    """A generateContent request body as a Chat Completions request (module docstring)."""
    messages = []
    system = _text((body.get("systemInstruction") or {}).get("parts")) if isinstance(body.get("systemInstruction"), dict) else ""
    if system:
        messages.append({"role": "system", "content": system})
    for content in body.get("contents") or ():
        if not isinstance(content, dict):
            continue
        parts = content.get("parts") or []
        role = "assistant" if content.get("role") == "model" else "user"
        if any(isinstance(p, dict) and "functionResponse" in p for p in parts):
            role = "tool"
        message = {"role": role, "content": _text(parts) or None}
        if calls := _calls(parts):
            message["tool_calls"] = calls
        if role == "tool":
            message["content"] = json.dumps([p["functionResponse"] for p in parts if "functionResponse" in p])
        messages.append(message)
    out = {"model": model, "messages": messages}
    config = body.get("generationConfig") if isinstance(body.get("generationConfig"), dict) else {}
    for ours, theirs in (("temperature", "temperature"), ("max_tokens", "maxOutputTokens"), ("top_p", "topP"),
                         ("stop", "stopSequences")):
        if config.get(theirs) is not None:
            out[ours] = config[theirs]
    declarations = [d for tool in body.get("tools") or () if isinstance(tool, dict)
                    for d in tool.get("functionDeclarations") or () if isinstance(d, dict)]
    if declarations:
        out["tools"] = [{"type": "function", "function": {
            "name": d.get("name"), "description": d.get("description"),
            "parameters": d.get("parameters") or d.get("parametersJsonSchema") or d.get("parameters_json_schema")}}
            for d in declarations]
    return out


def _usage(metadata) -> dict | None:
    if not isinstance(metadata, dict) or metadata.get("promptTokenCount") is None:
        return None
    thoughts = metadata.get("thoughtsTokenCount") or 0
    return {"prompt_tokens": metadata["promptTokenCount"] + (metadata.get("toolUsePromptTokenCount") or 0),
            "completion_tokens": (metadata.get("candidatesTokenCount") or 0) + thoughts,
            "prompt_tokens_details": {"cached_tokens": metadata.get("cachedContentTokenCount") or 0},
            "completion_tokens_details": {"reasoning_tokens": thoughts}}


def response(body: dict, model: str) -> dict:
    """A GenerateContentResponse (or an error body `{"error": {...}}`, already OpenAI's shape) as
    a chat.completion."""
    if isinstance(body.get("error"), dict):
        return body
    return _completion([body], model)


def _completion(chunks: list[dict], model: str) -> dict:
    parts, finish, usage, version, response_id = [], None, None, None, None
    for chunk in chunks:
        candidate = next(iter(chunk.get("candidates") or ()), None) or {}
        parts += (candidate.get("content") or {}).get("parts") or []
        finish = candidate.get("finishReason") or finish
        usage = _usage(chunk.get("usageMetadata")) or usage
        version = chunk.get("modelVersion") or version
        response_id = chunk.get("responseId") or response_id
    calls = _calls(parts)
    message = {"role": "assistant", "content": _text(parts) or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    body = {"id": response_id, "object": "chat.completion", "model": version or model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if calls else FINISH.get(finish, (finish or "").lower() or None)}]}
    if usage:
        body["usage"] = usage
    return body


def reassemble(text: str, model: str) -> dict | None:
    """The chat.completion a streamed response (a JSON array of chunks, or SSE) stands for; None
    when the body holds no GenerateContentResponse chunk."""
    if streams.is_stream(text):
        chunks = streams.events(text)
    else:
        try:
            chunks = json.loads(text)
        except json.JSONDecodeError:
            return None
    chunks = [c for c in chunks if isinstance(c, dict)] if isinstance(chunks, list) else []
    if chunks and isinstance(chunks[0].get("error"), dict):
        return chunks[0]
    if not any("candidates" in c or "usageMetadata" in c for c in chunks):
        return None
    return _completion(chunks, model)

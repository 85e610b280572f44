"""The Anthropic Messages API through the `anthropic` SDK (`messages.create(stream=True)`: raw
events, no snapshot accumulation).

- Key: explicit, else `ANTHROPIC_API_KEY` (via settings); base URL: the candidate's (a trailing
  `/v1` is dropped: the SDK appends `/v1/messages`), else the SDK's default. SDK retries are off.
- Messages: system messages are joined into `system`; consecutive turns of one role are merged.
- Usage: input tokens = `input_tokens + cache_creation_input_tokens + cache_read_input_tokens`
  from `message_start` (the whole prompt); output tokens from the last `message_delta`.
- Temperature: the SDK 2.x (API version 2026-10-21) has no sampling parameters and Anthropic's API
  rejects them, so none is sent to api.anthropic.com; to other hosts (llama.cpp's /v1/messages,
  proxies) it goes in `extra_body` unless `send_temperature` is False.
- `finish_reason` in OpenAI's words: end_turn/stop_sequence -> stop, max_tokens -> length,
  tool_use -> tool_calls (others as given).
- Tools: the request's, in Anthropic's form (`base.anthropic_tools`); `tool_use` blocks (name from
  `content_block_start`, input from the `input_json_delta` pieces) become the stored answer's
  tool calls (`base.with_tool_calls`).
- Constraints: JSON schema and label set via `output_config.format` (a JSON schema; labels come back
  as `{"label": ...}` and are unwrapped); a GBNF grammar is not supported.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import anthropic
import httpx2

from analysis.replay.providers.base import (
    Completion,
    CompletionRequest,
    FatalError,
    Provider,
    StreamMeter,
    anthropic_tools,
    label_schema,
    sdk_error,
    send_sdk,
)

FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


def to_anthropic(messages: list[dict]) -> tuple[str | None, list[dict]]:
    """(system, messages): system contents joined by blank lines; user/assistant turns with
    consecutive same-role turns merged (joined by blank lines)."""
    system, turns = [], []
    for message in messages:
        content = message.get("content") or ""
        if message["role"] == "system":
            system.append(content)
        elif turns and turns[-1]["role"] == message["role"]:
            turns[-1]["content"] += "\n\n" + content
        else:
            turns.append({"role": message["role"], "content": content})
    return ("\n\n".join(system) or None), turns


class AnthropicProvider(Provider):
    name = "anthropic"
    needs_key = True
    key_env_var = "ANTHROPIC_API_KEY"

    class Options(Provider.Options):
        send_temperature: bool | None = None  # None: only to hosts other than api.anthropic.com

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None, options=None):
        super().__init__(model, base_url, api_key, options)
        if self.base_url and self.base_url.endswith("/v1"):
            self.base_url = self.base_url[:-3]
        extra = {"base_url": self.base_url} if self.base_url else {}
        self._client = anthropic.Anthropic(api_key=api_key, max_retries=0, **extra)
        self._where = str(self._client.base_url).rstrip("/")
        send = self.options.send_temperature
        self._send_temperature = (send if send is not None
                                  else not (urlsplit(self._where).hostname or "").endswith("anthropic.com"))

    def close(self) -> None:
        self._client.close()

    def complete(self, request: CompletionRequest) -> Completion:
        system, messages = to_anthropic(request.messages)
        kwargs = {"model": self.model, "messages": messages, "max_tokens": request.max_tokens,
                  "stream": True, "timeout": request.timeout_s}
        if self._send_temperature:
            kwargs["extra_body"] = {"temperature": request.temperature}
        if system:
            kwargs["system"] = system
        if request.grammar is not None:
            raise FatalError("the Anthropic API takes no GBNF grammar: use a JSON schema or a label set")
        if request.json_schema is not None or request.labels is not None:
            schema = request.json_schema if request.json_schema is not None else label_schema(request.labels)
            kwargs["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        if tools := anthropic_tools(request.tools):
            kwargs["tools"] = tools
        meter = StreamMeter(request.timeout_s)
        input_tokens = output_tokens = finish = model = received = None
        try:
            with send_sdk(self._client.messages.create, kwargs, anthropic, httpx2) as stream:
                received = f"Content-Type {stream.response.headers.get('content-type')!r}"
                for event in stream:
                    if event.type == "content_block_delta":
                        meter.add(getattr(event.delta, "text", None))
                        if event.delta.type == "input_json_delta":
                            meter.add_tool_call(event.index, None, event.delta.partial_json)
                    elif event.type == "content_block_start" and event.content_block.type == "tool_use":
                        meter.add(None)
                        meter.add_tool_call(event.index, event.content_block.name, None)
                    elif event.type == "message_start":
                        model, usage = event.message.model, event.message.usage
                        input_tokens = (usage.input_tokens + (usage.cache_creation_input_tokens or 0)
                                        + (usage.cache_read_input_tokens or 0))
                    elif event.type == "message_delta":
                        output_tokens = event.usage.output_tokens if event.usage else output_tokens
                        reason = event.delta.stop_reason
                        finish = FINISH.get(reason, reason) if reason else finish
                    else:
                        meter.add(None)
        except Exception as exc:
            error = sdk_error(exc, anthropic, httpx2, self._where, request.timeout_s)
            if error is None:
                raise
            raise error from None
        return meter.finish(request, input_tokens, output_tokens, finish, model, self._where, received)

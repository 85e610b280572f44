"""The OpenAI API through the `openai` SDK (Chat Completions, streamed with usage).

- Key: explicit, else `OPENAI_API_KEY` (via settings); base URL: the candidate's, else the SDK's
  default (`OPENAI_BASE_URL` or api.openai.com). The SDK's own retries are off (`max_retries=0`):
  the replay engine retries, honouring Retry-After.
- `max_completion_tokens` carries the request's max tokens (reasoning models reject `max_tokens`);
  `omit_temperature` leaves the temperature out for models that only accept the default.
- Tools: the request's (`base.function_tools`) go as `tools`; streamed `delta.tool_calls` are
  gathered by index into the stored answer (`base.with_tool_calls`).
- Constraints: JSON schema and label set as strict `response_format` JSON schemas (a label comes
  back as `{"label": ...}` and is unwrapped); a GBNF grammar is not supported.
"""

from __future__ import annotations

import httpx2
import openai

from analysis.replay.providers.base import (
    Completion,
    CompletionRequest,
    FatalError,
    Provider,
    StreamMeter,
    function_tools,
    label_schema,
    sdk_error,
    send_sdk,
)
from analysis.replay.providers.openai_compat import schema_format


class OpenAIProvider(Provider):
    name = "openai"
    needs_key = True
    key_env_var = "OPENAI_API_KEY"

    class Options(Provider.Options):
        omit_temperature: bool = False

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None, options=None):
        super().__init__(model, base_url, api_key, options)
        extra = {"base_url": self.base_url} if self.base_url else {}
        self._client = openai.OpenAI(api_key=api_key, max_retries=0, **extra)
        self._where = str(self._client.base_url).rstrip("/")

    def close(self) -> None:
        self._client.close()

    def complete(self, request: CompletionRequest) -> Completion:
        kwargs = {"model": self.model, "messages": request.messages, "max_completion_tokens": request.max_tokens,
                  "stream": True, "stream_options": {"include_usage": True}, "timeout": request.timeout_s}
        if not self.options.omit_temperature:
            kwargs["temperature"] = request.temperature
        if request.grammar is not None:
            raise FatalError("the OpenAI API takes no GBNF grammar: use a JSON schema or a label set")
        if request.json_schema is not None or request.labels is not None:
            schema = request.json_schema if request.json_schema is not None else label_schema(request.labels)
            kwargs["response_format"] = schema_format(schema)
        if tools := function_tools(request.tools):
            kwargs["tools"] = tools
        meter = StreamMeter(request.timeout_s)
        usage, finish, model, received = None, None, None, None
        try:
            with send_sdk(self._client.chat.completions.create, kwargs, openai, httpx2) as stream:
                received = f"Content-Type {stream.response.headers.get('content-type')!r}"
                for chunk in stream:
                    model = chunk.model or model
                    usage = chunk.usage or usage
                    if not chunk.choices:
                        meter.add(None)
                    for choice in chunk.choices:
                        meter.add(choice.delta.content if choice.delta else None)
                        for call in (choice.delta.tool_calls if choice.delta else None) or ():
                            function = call.function
                            meter.add_tool_call(call.index, function.name if function else None,
                                                function.arguments if function else None)
                        finish = choice.finish_reason or finish
        except Exception as exc:
            error = sdk_error(exc, openai, httpx2, self._where, request.timeout_s)
            if error is None:
                raise
            raise error from None
        return meter.finish(request, usage.prompt_tokens if usage else None,
                            usage.completion_tokens if usage else None, finish, model, self._where, received)

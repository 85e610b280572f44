"""Any OpenAI-compatible `/chat/completions` endpoint (llama.cpp server, vLLM, Ollama's /v1,
LM Studio, TGI), spoken with one pooled `httpx.Client` and a minimal SSE reader (the leanest client,
so the replay engine's overhead stays within a few percent of a bare HTTP client).

- Streams with `stream_options.include_usage` to get token usage; servers that send none are
  reported as such (`usage_reported=False`).
- Tools: the request's (`base.function_tools`) go as `tools`; streamed `delta.tool_calls` are
  gathered by index into the stored answer (`base.with_tool_calls`).
- Constraints: a JSON schema goes as `response_format: {"type": "json_schema", ...}`. A label set
  goes, on llama.cpp, as a GBNF `grammar` (the bare label, fewest tokens), elsewhere as the JSON
  schema `{"label": enum}` that `apply_constraint` unwraps. A raw `grammar` needs llama.cpp.
- The dialect is `auto` by default: detected once per provider from `GET {base_url}/models`
  (llama.cpp lists its models with `owned_by: "llamacpp"`).
"""

from __future__ import annotations

import json
from typing import Literal

import httpx

from analysis.replay.providers.base import (
    Completion,
    CompletionRequest,
    FatalError,
    Provider,
    RetryableError,
    StreamMeter,
    error_for_status,
    function_tools,
    label_grammar,
    label_schema,
    malformed_stream,
    unreachable,
)

CONNECT_TIMEOUT_S = 10.0


def schema_format(schema: dict) -> dict:
    """OpenAI's `response_format` for a JSON schema (strict, as structured outputs expect)."""
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}


class OpenAICompatProvider(Provider):
    name = "openai-compat"
    is_local = True
    unreachable_hint = "is the server running?"

    class Options(Provider.Options):
        dialect: Literal["auto", "llama.cpp", "openai"] = "auto"
        api_key_env: str | None = None  # the NAME of the variable holding the key (read by the registry)

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None, options=None):
        super().__init__(model, base_url, api_key, options)
        if not self.base_url:
            raise FatalError(f"{self.name} needs a base URL, e.g. http://127.0.0.1:8000/v1")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=httpx.Timeout(60.0, connect=CONNECT_TIMEOUT_S))
        self._url = f"{self.base_url}/chat/completions"
        self._dialect = None if self.options.dialect == "auto" else self.options.dialect

    def close(self) -> None:
        self._client.close()

    def dialect(self) -> str:
        """'llama.cpp' or 'openai' (see the module docstring); detected once, then cached."""
        if self._dialect is None:
            try:
                response = self._client.get(f"{self.base_url}/models", timeout=CONNECT_TIMEOUT_S)
                owners = {m.get("owned_by") for m in response.json().get("data") or []}
                self._dialect = "llama.cpp" if "llamacpp" in owners else "openai"
            except httpx.TransportError as exc:
                raise self._transport_error(exc, CONNECT_TIMEOUT_S) from None
            except (ValueError, AttributeError, TypeError):
                self._dialect = "openai"
        return self._dialect

    def body(self, request: CompletionRequest) -> dict:
        """The JSON body of one streamed chat call."""
        body = {"model": self.model, "messages": request.messages, "max_tokens": request.max_tokens,
                "temperature": request.temperature, "stream": True, "stream_options": {"include_usage": True}}
        if tools := function_tools(request.tools):
            body["tools"] = tools
        if request.json_schema is not None:
            body["response_format"] = schema_format(request.json_schema)
        elif request.labels is not None:
            if self.dialect() == "llama.cpp":
                body["grammar"] = label_grammar(request.labels)
            else:
                body["response_format"] = schema_format(label_schema(request.labels))
        elif request.grammar is not None:
            if self.dialect() != "llama.cpp":
                raise FatalError(f"a GBNF grammar needs a llama.cpp server ({self.base_url} is not one): "
                                 "use a JSON schema or a label set")
            body["grammar"] = request.grammar
        return body

    def complete(self, request: CompletionRequest) -> Completion:
        return self._stream(self.body(request), request, stale_retries=1)

    def _stream(self, body: dict, request: CompletionRequest, stale_retries: int) -> Completion:
        timeout = httpx.Timeout(request.timeout_s, connect=min(request.timeout_s, CONNECT_TIMEOUT_S))
        meter = StreamMeter(request.timeout_s)
        usage, finish, model, answered, other = None, None, None, False, []
        try:
            with self._client.stream("POST", self._url, json=body, timeout=timeout) as response:
                answered = True
                if response.status_code >= 400:
                    response.read()
                    raise error_for_status(response.status_code, response.text, self.base_url, response.headers)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        if len(other) < 4 and line.strip():
                            other.append(line[:100])  # what came instead of a stream, for the error
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":  # read on to the end, so the connection can be reused
                        continue
                    chunk = json.loads(data)
                    if not isinstance(chunk, dict):
                        raise ValueError(f"an event that is not a JSON object: {data[:60]}")
                    meter.add(None)
                    if chunk.get("error"):
                        raise self._stream_error(chunk["error"])
                    model = chunk.get("model") or model
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        meter.add(delta.get("content"))
                        for position, call in enumerate(delta.get("tool_calls") or ()):
                            function = call.get("function") or {}
                            meter.add_tool_call(call.get("index", position), function.get("name"),
                                                function.get("arguments"))
                        finish = choice.get("finish_reason") or finish
        except httpx.TransportError as exc:
            if isinstance(exc, httpx.RemoteProtocolError) and not answered and stale_retries:
                return self._stream(body, request, stale_retries - 1)  # see base: stale connections
            raise self._transport_error(exc, request.timeout_s) from None
        except (ValueError, TypeError, AttributeError) as exc:  # events of the wrong shape
            raise malformed_stream(self.base_url, exc) from None
        return meter.finish(request, (usage or {}).get("prompt_tokens"), (usage or {}).get("completion_tokens"),
                            finish, model, self.base_url, " ".join(other))

    def _transport_error(self, exc: httpx.TransportError, timeout_s: float) -> RetryableError:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return unreachable(self.base_url, str(exc) or type(exc).__name__, self.unreachable_hint)
        if isinstance(exc, httpx.TimeoutException):
            return RetryableError(f"timed out after {timeout_s:g}s waiting for {self.base_url}")
        return RetryableError(f"connection to {self.base_url} failed: {type(exc).__name__}: {exc}")

    def _stream_error(self, error) -> Exception:
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message") or json.dumps(error)
        else:
            code, message = None, str(error)
        if isinstance(code, int) and code >= 400:
            return error_for_status(code, message, self.base_url)
        return RetryableError(f"error in the stream from {self.base_url}: {message}")


class LocalProvider(OpenAICompatProvider):
    """The embedded llama.cpp engine (`local:` specs): an OpenAI-compatible llama.cpp server on
    127.0.0.1 whose port comes from the engine's state file, else the settings. `stop`: strings
    that end an answer (a tuned model's end-of-turn marker, which it learned as text and cannot
    end with EOS; the registry reads it from the model's `.json`), sent as the request's `stop`.
    llama-server leaves a matched one out of the answer, and holds back streamed text that may
    begin one, so an answer cut by `max_tokens` inside the marker ends before it (measured:
    tests/test_fine_tuning.py)."""

    name = "local"
    unreachable_hint = "the embedded engine is not running: start it with `breakeven local-model start`"

    class Options(OpenAICompatProvider.Options):
        dialect: Literal["auto", "llama.cpp", "openai"] = "llama.cpp"
        stop: list[str] = []

    def body(self, request: CompletionRequest) -> dict:
        body = super().body(request)
        if self.options.stop:
            body["stop"] = self.options.stop
        return body

    @classmethod
    def default_base_url(cls, settings) -> str:
        from analysis.replay.providers import local_engine

        engine = local_engine.status(settings)
        return f"http://127.0.0.1:{engine.port or settings.local_engine_port}/v1"

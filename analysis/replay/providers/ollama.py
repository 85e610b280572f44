"""Ollama's native API through the `ollama` package: model discovery and streamed chat.

- `discover(host)`: every installed model (`/api/tags`) with its size, quantisation and parameter
  size, plus its context length from `/api/show` (`model_info["<architecture>.context_length"]`,
  the trained maximum; None when absent).
- Chat streams `/api/chat`; usage is `prompt_eval_count` / `eval_count` of the final chunk.
  `max_tokens` goes as `options.num_predict`; `num_ctx` sets the context window (Ollama's default
  window silently truncates long prompts). Constraints: a JSON schema, or the label schema
  `{"label": enum}` (unwrapped), go as `format`; a GBNF grammar is not supported.
- Errors: `ConnectionError` (nothing at the host) -> UnreachableError naming the host; HTTP
  errors by status; a `ResponseError` without a status (an error inside the stream) is fatal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import httpx
import ollama
from pydantic import ValidationError

from analysis.replay.providers.base import (
    Completion,
    CompletionRequest,
    FatalError,
    Provider,
    ProviderError,
    RetryableError,
    StreamMeter,
    error_for_status,
    label_schema,
    malformed_stream,
    unreachable,
)
from analysis.settings import get_settings

DISCOVERY_TIMEOUT_S = 10.0
HINT = "is Ollama running (`ollama serve`) and is the host right (BREAKEVEN_OLLAMA_HOST)?"


@dataclass(frozen=True)
class LocalModel:
    """One model installed on an Ollama host."""

    name: str
    size_bytes: int | None
    quantisation: str | None
    parameter_size: str | None
    context_length: int | None
    family: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _error(exc: Exception, host: str, timeout_s: float) -> ProviderError | None:
    if isinstance(exc, (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout)):
        return unreachable(host, "connection refused or host not found", HINT)
    if isinstance(exc, ollama.ResponseError):
        if exc.status_code and exc.status_code > 0:
            return error_for_status(exc.status_code, exc.error, host)
        return FatalError(f"Ollama at {host} failed: {exc.error}")
    if isinstance(exc, httpx.TimeoutException):
        return RetryableError(f"timed out after {timeout_s:g}s waiting for Ollama at {host}")
    if isinstance(exc, httpx.TransportError):
        return RetryableError(f"connection to Ollama at {host} failed: {type(exc).__name__}: {exc}")
    if isinstance(exc, (ValueError, TypeError, AttributeError)):  # a line that is not a chat chunk
        return malformed_stream(f"Ollama at {host}", exc)
    return None


def context_length(model_info: dict | None) -> int | None:
    """The first `*.context_length` entry of a model's `model_info`, as an int."""
    for key, value in (model_info or {}).items():
        if key.endswith(".context_length") and isinstance(value, int):
            return value
    return None


def discover(host: str | None = None, timeout_s: float = DISCOVERY_TIMEOUT_S) -> list[LocalModel]:
    """The models installed on the Ollama at `host` (default: settings.ollama_host), sorted by
    name. Raises UnreachableError when nothing answers there."""
    host = host or get_settings().ollama_host
    with ollama.Client(host=host, timeout=timeout_s) as client:
        try:
            listed = client.list().models
        except Exception as exc:
            error = _error(exc, host, timeout_s)
            if error is None:
                raise
            raise error from None
        models = []
        for entry in listed:
            try:
                info = client.show(entry.model).modelinfo
            except (ollama.ResponseError, ValidationError, httpx.HTTPError):
                info = None
            details = entry.details
            models.append(LocalModel(
                name=entry.model, size_bytes=int(entry.size) if entry.size is not None else None,
                quantisation=details.quantization_level if details else None,
                parameter_size=details.parameter_size if details else None,
                context_length=context_length(info), family=details.family if details else None))
    return sorted(models, key=lambda m: m.name)


class OllamaProvider(Provider):
    name = "ollama"
    is_local = True

    class Options(Provider.Options):
        num_ctx: int | None = None
        keep_alive: str | None = None

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None, options=None):
        super().__init__(model, base_url, api_key, options)
        if not self.base_url:
            raise FatalError("ollama needs a host, e.g. http://127.0.0.1:11434")
        self._clients: dict[float, ollama.Client] = {}  # one pooled client per timeout (one per run)

    @classmethod
    def default_base_url(cls, settings) -> str:
        return settings.ollama_host

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def _client(self, timeout_s: float) -> ollama.Client:
        client = self._clients.get(timeout_s)
        if client is None:
            client = self._clients.setdefault(timeout_s, ollama.Client(host=self.base_url, timeout=timeout_s))
        return client

    def complete(self, request: CompletionRequest) -> Completion:
        if request.grammar is not None:
            raise FatalError("Ollama takes no GBNF grammar: use a JSON schema or a label set")
        schema = request.json_schema if request.json_schema is not None else (
            label_schema(request.labels) if request.labels is not None else None)
        options = {"temperature": request.temperature, "num_predict": request.max_tokens}
        if self.options.num_ctx:
            options["num_ctx"] = self.options.num_ctx
        meter = StreamMeter(request.timeout_s)
        last = None
        try:
            stream = self._client(request.timeout_s).chat(
                self.model, request.messages, stream=True, format=schema, options=options,
                keep_alive=self.options.keep_alive)
            for chunk in stream:
                meter.add(chunk.message.content if chunk.message else None)
                last = chunk
        except Exception as exc:
            error = _error(exc, self.base_url, request.timeout_s)
            if error is None:
                raise
            raise error from None
        if last is None:
            raise RetryableError(f"Ollama at {self.base_url} closed the stream without an answer")
        if not last.done:
            raise RetryableError(f"Ollama at {self.base_url} closed the stream before its last chunk (done: true)")
        return meter.finish(request, last.prompt_eval_count, last.eval_count, last.done_reason, last.model)

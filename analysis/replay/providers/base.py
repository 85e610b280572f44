"""The provider protocol: one request in, one measured `Completion` out, typed errors.

- `Provider.complete(request)` is synchronous and thread-safe: each provider instance holds one
  HTTP client (connection pool) that every call reuses, so the replay engine runs calls in threads
  with no per-call client construction.
- Every call streams, to measure: latency_ms = end of stream - send; ttft_ms = first non-empty
  text chunk - send; output_tokens_per_s = (output_tokens - 1) / (end - first chunk) when more than
  one token was produced (the decode rate, as 1 / time-per-output-token), else
  output_tokens / latency; None when the server reported no usage.
- Tool calls: `CompletionRequest.tools` (the logged request's, OpenAI's `{"type": "function",
  "function": {name, description, parameters}}` or Anthropic's `{name, description, input_schema}`,
  see `function_tools`) are offered to the model; an answer that calls tools is stored as ingest
  stores a logged one, JSON `{"content": text or null, "tool_calls": [{"name", "arguments"}]}`
  (arguments parsed as JSON when they are, else the text), so the scorers compare the calls
  (`analysis.quality.scoring.tool_calls`). The first tool-call fragment counts as the first token.
- Output constraints: `json_schema` (the answer must be JSON of that schema), `labels` (the answer
  must be exactly one label; providers that send it as a JSON schema `{"label": enum}` unwrap it, so
  `Completion.text` is the bare label), `grammar` (a llama.cpp GBNF grammar, llama.cpp only).
- A request whose kept-alive connection the server closed before any answer (llama-server does
  this after roughly 1 in 7 streamed responses) is re-sent once, at once: the server never read it.
- Errors: `RetryableError` (408, 429, 5xx, timeouts, dropped connections; `retry_after_s` from
  `retry-after-ms` or `Retry-After` in seconds or an HTTP date), its subclass `UnreachableError`
  (connection refused, DNS failure, connect timeout: the message names the base URL), and
  `FatalError` (other 4xx: auth, unknown model, bad request; retrying cannot help).
- An answer that is not what was asked fails that call, never the run: a `200` without a single
  stream event (a plain JSON body, an HTML page, any non-stream text) is a `FatalError` for that
  request (`not_a_stream`); a stream that breaks off mid-way or whose events do not parse is a
  `RetryableError` (`malformed_stream`). Neither is ever stored as an empty answer, nor charged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from analysis.errors import UserError
from analysis.redact import redact

CHARS_PER_TOKEN = 4  # for estimating token counts a server did not report
LABEL_KEY = "label"
RETRYABLE_STATUS = frozenset({408, 429})


class ProviderError(Exception):
    """A call that produced no completion. `status_code` is the HTTP status when there was one.
    Not a UserError: it is what a call gave, recorded with the result."""

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class RetryableError(ProviderError):
    """Worth retrying later (429, 5xx, timeouts, connection errors); `retry_after_s` is the
    server's own hint, when it gave one."""

    def __init__(self, message: str, status_code: int | None = None, retry_after_s: float | None = None):
        super().__init__(message, status_code)
        self.retry_after_s = retry_after_s


class UnreachableError(RetryableError):
    """Nothing answers at the base URL (connection refused, unknown host, connect timeout)."""


class FatalError(ProviderError):
    """Retrying cannot help: bad request, authentication, unknown model, unsupported constraint."""


@dataclass(slots=True)
class CompletionRequest:
    """One chat call. `messages` are `{"role": "system"|"user"|"assistant", "content": str}`;
    at most one output constraint (json_schema, labels or grammar) may be set."""

    messages: list[dict[str, Any]]
    max_tokens: int = 256
    temperature: float = 0.0
    timeout_s: float = 60.0
    json_schema: dict | None = None
    labels: list[str] | None = None
    grammar: str | None = None
    tools: list[dict] | None = None

    def __post_init__(self):
        if sum(x is not None for x in (self.json_schema, self.labels, self.grammar)) > 1:
            raise UserError("give at most one output constraint: json_schema, labels or grammar")
        if self.labels is not None and not self.labels:
            raise UserError("a label set needs at least one label")


@dataclass(slots=True)
class Completion:
    """A finished answer and its measurements (see the module docstring for the formulas).
    `usage_reported` is False when the server gave no token counts (then both are None);
    `finish_reason` uses OpenAI's words (stop, length, ...); `raw_error` notes a problem with an
    otherwise finished answer (output outside the label set, invalid JSON), else None."""

    text: str
    input_tokens: int | None
    output_tokens: int | None
    usage_reported: bool
    latency_ms: float
    ttft_ms: float | None
    output_tokens_per_s: float | None
    finish_reason: str | None
    model: str | None
    raw_error: str | None = None

    @property
    def output_tokens_or_estimate(self) -> int:
        """Reported output tokens, else the answer's characters / CHARS_PER_TOKEN."""
        return self.output_tokens if self.output_tokens is not None else len(self.text or "") // CHARS_PER_TOKEN

    def to_dict(self) -> dict:
        return asdict(self)


class Provider:
    """Base class: subclasses set the class attributes, an `Options` model, and `complete`."""

    name: ClassVar[str] = ""
    needs_key: ClassVar[bool] = False
    key_env_var: ClassVar[str | None] = None
    is_local: ClassVar[bool] = False  # self-hosted: costs nothing per call (priced as GPU time)

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 options: BaseModel | Mapping[str, Any] | None = None):
        if self.needs_key and not api_key:
            raise FatalError(f"{self.name} needs an API key: set {self.key_env_var}")
        self.model = model
        self.base_url = base_url.rstrip("/") if base_url else None
        self.options = options if isinstance(options, self.Options) else self.Options(**dict(options or {}))

    @classmethod
    def default_base_url(cls, settings) -> str | None:
        """The base URL when a candidate names none (None: the SDK's own default)."""
        return None

    def complete(self, request: CompletionRequest) -> Completion:
        raise NotImplementedError

    def close(self) -> None:
        """Release the HTTP client."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class StreamMeter:
    """Collects the text chunks of one streamed call with their timing."""

    __slots__ = ("start", "first", "parts", "timeout_s", "events", "calls")

    def __init__(self, timeout_s: float):
        self.start = time.perf_counter()
        self.first: float | None = None
        self.parts: list[str] = []
        self.timeout_s = timeout_s
        self.events = 0  # stream events received (`finish` refuses an answer without any)
        self.calls: dict[int, list[str]] = {}  # tool call index -> [name, arguments so far]

    def add_tool_call(self, index: int, name: str | None, arguments: str | None) -> None:
        """A fragment of tool call `index` (part of an event already counted by `add`): its name
        when it comes, and the next piece of its JSON arguments."""
        if self.first is None:
            self.first = time.perf_counter()
        call = self.calls.setdefault(index, ["", ""])
        call[0] = name or call[0]
        call[1] += arguments or ""

    def add(self, text: str | None) -> None:
        """One stream event, with its text when it carries some (call it for every event)."""
        self.events += 1
        if text:
            if self.first is None:
                self.first = time.perf_counter()
            self.parts.append(text)
        if time.perf_counter() - self.start > self.timeout_s:
            raise RetryableError(f"timed out after {self.timeout_s:g}s (stream still running)")

    def finish(self, request: CompletionRequest, input_tokens: int | None, output_tokens: int | None,
               finish_reason: str | None, model: str | None, where: str | None = None,
               received: str | None = None) -> Completion:
        """The measured completion; raises `not_a_stream` when no stream event came (`received`:
        what came instead, e.g. its Content-Type or its first characters)."""
        if not self.events:
            raise not_a_stream(where, received)
        end = time.perf_counter()
        latency = (end - self.start) * 1000
        ttft = (self.first - self.start) * 1000 if self.first is not None else None
        rate = None
        if output_tokens and self.first is not None:
            decode_s = end - self.first
            rate = ((output_tokens - 1) / decode_s if output_tokens > 1 and decode_s > 0
                    else output_tokens / (end - self.start))
        text, problem = apply_constraint(request, "".join(self.parts))
        if self.calls:
            text, problem = with_tool_calls(text, [self.calls[i] for i in sorted(self.calls)]), None
        return Completion(text, input_tokens, output_tokens, output_tokens is not None, latency, ttft, rate,
                          finish_reason, model, problem)


def with_tool_calls(text: str, calls: list[list[str]]) -> str:
    """The stored answer of a call that called tools (module docstring): JSON {"content": text or
    null, "tool_calls": [{"name", "arguments"}]}, the shape ingest stores."""
    def arguments(raw: str):
        try:
            return json.loads(raw) if raw.strip() else {}
        except ValueError:
            return raw.strip()
    return json.dumps({"content": text or None,
                       "tool_calls": [{"name": name, "arguments": arguments(raw)} for name, raw in calls]})


def function_tools(tools: list[dict] | None) -> list[dict] | None:
    """Tools in OpenAI's Chat Completions form, {"type": "function", "function": {name,
    description, parameters}}, from that form, the Responses API's flat {"type": "function", name,
    parameters} or Anthropic's {name, description, input_schema}; tools of other kinds (built-in
    web search, code interpreter) are left out; None when none is left."""
    found = []
    for tool in tools or ():
        if not isinstance(tool, dict):
            continue
        function = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        name = function.get("name")
        if not isinstance(name, str) or tool.get("type", "function") not in ("function", "custom"):
            continue
        parameters = function.get("parameters") or function.get("input_schema") or {"type": "object"}
        entry = {"name": name, "parameters": parameters}
        if function.get("description"):
            entry["description"] = function["description"]
        found.append({"type": "function", "function": entry})
    return found or None


def anthropic_tools(tools: list[dict] | None) -> list[dict] | None:
    """`function_tools` in Anthropic's form: {name, description, input_schema}."""
    return [{"name": t["function"]["name"], "input_schema": t["function"]["parameters"],
             **({"description": t["function"]["description"]} if "description" in t["function"] else {})}
            for t in function_tools(tools) or ()] or None


def label_schema(labels: list[str]) -> dict:
    """The JSON schema that holds one label: `{"label": <one of labels>}` (an object root, as
    OpenAI's strict structured outputs require)."""
    return {"type": "object", "properties": {LABEL_KEY: {"type": "string", "enum": list(labels)}},
            "required": [LABEL_KEY], "additionalProperties": False}


def label_grammar(labels: list[str]) -> str:
    """A GBNF grammar whose only sentences are the labels: `root ::= "a" | "b"`."""
    def literal(label: str) -> str:
        escaped = label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
        return f'"{escaped}"'
    return "root ::= " + " | ".join(literal(label) for label in labels)


def apply_constraint(request: CompletionRequest, text: str) -> tuple[str, str | None]:
    """(text, problem): a label answer sent as JSON (`{"label": x}` or `"x"`) becomes the bare
    label; a problem is noted when the answer is not one of the labels or not valid JSON."""
    if request.labels is not None:
        label = text.strip()
        try:
            value = json.loads(label)
        except ValueError:
            value = None
        if isinstance(value, dict):
            value = value.get(LABEL_KEY)
        if isinstance(value, str):
            label = value
        if label in request.labels:
            return label, None
        return text, f"output is not one of the {len(request.labels)} labels"
    if request.json_schema is not None:
        try:
            json.loads(text)
        except ValueError as exc:
            return text, f"output is not valid JSON: {exc}"
    return text, None


def parse_retry_after(headers: Mapping[str, str] | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, else `Retry-After` (seconds or an HTTP date); None
    when absent or unreadable; never negative."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def error_for_status(status: int, body: Any, base_url: str | None,
                     headers: Mapping[str, str] | None = None) -> ProviderError:
    """The typed error for an HTTP error status: 408, 429 and 5xx are retryable (with Retry-After),
    everything else is fatal."""
    text = body if isinstance(body, str) else json.dumps(body)
    detail = redact(" ".join((text or "").split()))[:300]  # a 401 body may quote part of the key
    where = base_url or "the API"
    if status in RETRYABLE_STATUS or status >= 500:
        return RetryableError(f"HTTP {status} from {where}: {detail}", status, parse_retry_after(headers))
    hint = {401: "authentication failed (check the API key)", 403: "permission denied",
            404: "model or endpoint not found"}.get(status, "request refused")
    return FatalError(f"HTTP {status} from {where}: {hint}: {detail}", status)


def not_a_stream(base_url: str | None, received: str | None = None) -> FatalError:
    """A `200` answer without a single stream event: the call fails (retrying an endpoint that
    ignores `stream` cannot help), the run goes on (status 200 never gives a candidate up)."""
    what = f": got {redact(' '.join(received.split()))[:200]}" if received and received.strip() else ""
    return FatalError(f"the answer from {base_url or 'the API'} is not a stream (a stream was asked for){what}", 200)


def malformed_stream(base_url: str | None, exc: Exception) -> RetryableError:
    """A stream that breaks off or whose events do not parse (bad JSON, events of the wrong shape)."""
    detail = redact(" ".join(str(exc).split()))[:200]
    return RetryableError(f"malformed stream from {base_url or 'the API'}: {type(exc).__name__}: {detail}")


def unreachable(base_url: str | None, detail: str, hint: str = "is the server running?") -> UnreachableError:
    return UnreachableError(f"cannot reach {base_url or 'the API'} ({detail}): {hint}")


def sdk_error(exc: Exception, sdk, http, base_url: str | None, timeout_s: float) -> ProviderError | None:
    """The typed error for an exception from the `openai` or `anthropic` SDK (`sdk` is the module,
    `http` its HTTP library, httpx2); None when `exc` is not an SDK or transport error."""
    if isinstance(exc, sdk.APIStatusError):
        return error_for_status(exc.status_code, str(exc.message), base_url, exc.response.headers)
    cause = exc.__cause__ if isinstance(exc, sdk.APIConnectionError) and exc.__cause__ else exc
    if isinstance(cause, (http.ConnectError, http.ConnectTimeout)):
        return unreachable(base_url, str(cause) or type(cause).__name__, "check the base URL and the network")
    if isinstance(exc, sdk.APITimeoutError) or isinstance(cause, http.TimeoutException):
        return RetryableError(f"timed out after {timeout_s:g}s waiting for {base_url}")
    if isinstance(exc, sdk.APIConnectionError) or isinstance(cause, http.TransportError):
        return RetryableError(f"connection to {base_url} failed: {type(cause).__name__}: {cause}")
    if isinstance(exc, sdk.APIError):  # an error event inside the stream
        return RetryableError(f"error in the stream from {base_url}: {redact(str(exc))}")
    if isinstance(exc, (ValueError, TypeError, AttributeError)):  # the SDK read an event it cannot parse
        return malformed_stream(base_url, exc)
    return None


def _stale_connection(exc: Exception, sdk, http) -> bool:
    """Whether an SDK call failed because the server closed a kept-alive connection before
    answering (the SDK raises APIConnectionError only before a response)."""
    return (isinstance(exc, sdk.APIConnectionError) and not isinstance(exc, sdk.APITimeoutError)
            and isinstance(exc.__cause__, http.RemoteProtocolError))



def send_sdk(create, kwargs: dict, sdk, http):
    """`create(**kwargs)` through the `openai` or `anthropic` SDK, sent once more at once when the
    server had closed the kept-alive connection before answering (nothing was processed)."""
    try:
        return create(**kwargs)
    except sdk.APIConnectionError as exc:
        if not _stale_connection(exc, sdk, http):
            raise
        return create(**kwargs)

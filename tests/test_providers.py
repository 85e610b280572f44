"""Providers end to end against the real llama.cpp server (session fixture `llama_server`), error
classification against a tiny misbehaving HTTP server, Ollama discovery against a fake Ollama that
serves the documented /api shapes, and candidate specs."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from local_http import FakeOllama, QuietHandler, serve

from analysis.errors import UserError
from analysis.replay.providers import ollama as ollama_provider
from analysis.replay.providers import registry
from analysis.replay.providers.anthropic import AnthropicProvider
from analysis.replay.providers.base import (
    CompletionRequest,
    FatalError,
    RetryableError,
    UnreachableError,
    label_grammar,
    parse_retry_after,
)
from analysis.replay.providers.ollama import OllamaProvider
from analysis.replay.providers.openai import OpenAIProvider
from analysis.replay.providers.openai_compat import OpenAICompatProvider
from analysis.settings import Settings

QUESTION = [{"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "Is the sky blue? Answer yes or no."}]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def providers(server):
    """The three protocols of the llama.cpp server, each through its own provider."""
    return {
        "openai-compat": OpenAICompatProvider(server.model, f"{server.base_url}/v1"),
        "openai": OpenAIProvider(server.model, f"{server.base_url}/v1", api_key="sk-local"),
        "anthropic": AnthropicProvider(server.model, server.base_url, api_key="sk-local"),
    }


def assert_sane(completion, max_tokens):
    assert completion.usage_reported and completion.input_tokens > 0
    assert 0 < completion.output_tokens <= max_tokens
    assert 0 < completion.ttft_ms < completion.latency_ms
    assert completion.output_tokens_per_s > 0
    assert completion.finish_reason in ("stop", "length")
    assert completion.model == "gemma-3-270m"


@pytest.mark.parametrize("name", ["openai-compat", "openai", "anthropic"])
def test_protocols_stream_with_metrics(llama_server, name):
    with providers(llama_server)[name] as provider:
        completion = provider.complete(CompletionRequest(QUESTION, max_tokens=8))
    assert completion.text
    assert completion.raw_error is None
    assert_sane(completion, 8)


@pytest.mark.parametrize("name", ["openai-compat", "openai"])
def test_label_set_constraint(llama_server, name):
    labels = ["yes", "no", 'say "maybe"']  # a quote checks the grammar's escaping
    with providers(llama_server)[name] as provider:
        completion = provider.complete(CompletionRequest(QUESTION, max_tokens=16, labels=labels))
    assert completion.text in labels
    assert completion.raw_error is None


def test_label_set_goes_as_grammar_to_llama_cpp(llama_server):
    with OpenAICompatProvider(llama_server.model, f"{llama_server.base_url}/v1") as provider:
        assert provider.dialect() == "llama.cpp"
        body = provider.body(CompletionRequest(QUESTION, labels=["a", "b"]))
    assert body["grammar"] == 'root ::= "a" | "b"' and "response_format" not in body


@pytest.mark.parametrize("name", ["openai-compat", "openai"])
def test_json_schema_constraint(llama_server, name):
    schema = {"type": "object", "properties": {"answer": {"type": "string", "enum": ["yes", "no"]},
                                               "sure": {"type": "boolean"}},
              "required": ["answer", "sure"], "additionalProperties": False}
    with providers(llama_server)[name] as provider:
        completion = provider.complete(CompletionRequest(QUESTION, max_tokens=40, json_schema=schema))
    value = json.loads(completion.text)
    assert value["answer"] in ("yes", "no") and isinstance(value["sure"], bool)


def test_grammar_constraint(llama_server):
    with OpenAICompatProvider(llama_server.model, f"{llama_server.base_url}/v1") as provider:
        completion = provider.complete(CompletionRequest(QUESTION, max_tokens=8, grammar='root ::= [0-9] [0-9]'))
    assert len(completion.text) == 2 and completion.text.isdigit()


def test_local_spec_and_concurrent_calls(llama_server, monkeypatch):
    monkeypatch.setenv("BREAKEVEN_LOCAL_ENGINE_PORT", str(llama_server.port))
    candidate = registry.parse_candidate_spec("local")
    assert candidate.is_local and candidate.spec == "local:gemma-3-270m"
    with registry.build_provider(candidate) as provider:
        assert provider.base_url == f"{llama_server.base_url}/v1"
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(provider.complete, [CompletionRequest(QUESTION, max_tokens=4)] * 4))
    for completion in results:
        assert_sane(completion, 4)


@pytest.mark.parametrize("name", ["openai-compat", "openai", "anthropic"])
def test_back_to_back_calls_survive_closed_keep_alive(llama_server, name):
    """llama-server closes the connection after some streamed responses; the next call on it must
    be re-sent, not fail (about 1 in 7 here, so 25 calls all but surely meet one)."""
    with providers(llama_server)[name] as provider:
        for _ in range(25):
            assert provider.complete(CompletionRequest(QUESTION, max_tokens=1)).output_tokens == 1


@pytest.mark.parametrize("cls", [OpenAICompatProvider, OpenAIProvider, AnthropicProvider, OllamaProvider])
def test_unreachable_endpoint(cls):
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    provider = cls("some-model", base_url, api_key="sk-none")
    with pytest.raises(UnreachableError) as info:
        provider.complete(CompletionRequest(QUESTION, max_tokens=4, timeout_s=5))
    assert "cannot reach http://127.0.0.1:" in str(info.value)
    assert isinstance(info.value, RetryableError)


def test_unreachable_local_engine_says_how_to_start_it(monkeypatch):
    monkeypatch.setenv("BREAKEVEN_LOCAL_ENGINE_PORT", str(free_port()))
    with (registry.build_provider(registry.parse_candidate_spec("local:gemma-3-270m")) as provider,
          pytest.raises(UnreachableError, match="breakeven local-model start")):
        provider.complete(CompletionRequest(QUESTION, max_tokens=4))


class Misbehaving(QuietHandler):
    """The first path segment says how to fail: 429 (Retry-After: 7), 503 (retry-after-ms: 1500),
    500 (no hint), 400, 401, or slow (answers after 2 s)."""

    def do_GET(self):
        self._fail()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self._fail()

    def _fail(self):
        how = self.path.strip("/").split("/")[0]
        if how == "slow":
            time.sleep(2)
        status = {"slow": 200}.get(how) or int(how)
        body = json.dumps({"error": {"message": f"simulated {how}", "type": "test"}}).encode()
        try:
            self.send_response(status)
            if how == "429":
                self.send_header("Retry-After", "7")
            if how == "503":
                self.send_header("retry-after-ms", "1500")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass


@pytest.fixture(scope="module")
def misbehaving():
    with serve(Misbehaving) as url:
        yield url


def make(cls, root: str, how: str):
    base = f"{root}/{how}" if cls in (AnthropicProvider, OllamaProvider) else f"{root}/{how}/v1"
    return cls("some-model", base, api_key="sk-none")


@pytest.mark.parametrize("cls", [OpenAICompatProvider, OpenAIProvider, AnthropicProvider])
@pytest.mark.parametrize("how, retry_after", [("429", 7.0), ("503", 1.5), ("500", None)])
def test_retryable_statuses_carry_retry_after(misbehaving, cls, how, retry_after):
    with pytest.raises(RetryableError) as info:
        make(cls, misbehaving, how).complete(CompletionRequest(QUESTION, timeout_s=5))
    assert not isinstance(info.value, UnreachableError)
    assert info.value.status_code == int(how) and info.value.retry_after_s == retry_after


@pytest.mark.parametrize("cls", [OpenAICompatProvider, OpenAIProvider, AnthropicProvider, OllamaProvider])
@pytest.mark.parametrize("how", ["400", "401"])
def test_client_errors_are_fatal(misbehaving, cls, how):
    with pytest.raises(FatalError) as info:
        make(cls, misbehaving, how).complete(CompletionRequest(QUESTION, timeout_s=5))
    assert info.value.status_code == int(how)


@pytest.mark.parametrize("cls", [OpenAICompatProvider, OpenAIProvider, AnthropicProvider, OllamaProvider])
def test_timeouts_are_retryable(misbehaving, cls):
    with pytest.raises(RetryableError, match="timed out"):
        make(cls, misbehaving, "slow").complete(CompletionRequest(QUESTION, timeout_s=0.3))


def test_ollama_errors_are_classified(misbehaving):
    with pytest.raises(RetryableError) as info:
        make(OllamaProvider, misbehaving, "500").complete(CompletionRequest(QUESTION, timeout_s=5))
    assert info.value.status_code == 500


def test_parse_retry_after():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}, now) == 30.0
    assert parse_retry_after({"retry-after": "Thu, 01 Jan 2026 11:00:00 GMT"}, now) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None and parse_retry_after({}) is None


def test_label_grammar_escapes():
    assert label_grammar(['a "b"', "c\\d"]) == 'root ::= "a \\"b\\"" | "c\\\\d"'


def test_one_constraint_at_most():
    with pytest.raises(UserError):
        CompletionRequest(QUESTION, labels=["a"], json_schema={"type": "object"})


def test_ollama_discovery(fake_ollama):
    models = ollama_provider.discover(fake_ollama)
    assert [m.name for m in models] == ["llama3.2:3b", "qwen2.5:0.5b"]
    llama = models[0]
    assert (llama.size_bytes, llama.quantisation, llama.parameter_size, llama.context_length) == (
        2019393189, "Q4_K_M", "3.2B", 131072)
    assert models[1].context_length == 32768
    json.dumps([m.to_dict() for m in models])


def test_ollama_discovery_without_ollama():
    host = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UnreachableError, match=f"cannot reach {host}.*ollama serve"):
        ollama_provider.discover(host)


def test_ollama_chat_sends_schema_and_reads_usage(fake_ollama):
    candidate = registry.parse_candidate_spec(f"ollama:{fake_ollama}:llama3.2:3b")
    with registry.build_provider(candidate) as provider:
        completion = provider.complete(CompletionRequest(QUESTION, max_tokens=7, labels=["yes", "no"]))
    sent = FakeOllama.requests[-1]
    assert sent["model"] == "llama3.2:3b" and sent["options"]["num_predict"] == 7
    assert sent["format"]["properties"]["label"]["enum"] == ["yes", "no"]
    assert (completion.text, completion.input_tokens, completion.output_tokens) == ("yes", 26, 6)
    assert completion.finish_reason == "stop" and 0 < completion.ttft_ms < completion.latency_ms


ROUND_TRIPS = [
    ("openai-compat:http://127.0.0.1:8091/v1:gemma-3-270m", "openai-compat", "http://127.0.0.1:8091/v1", "gemma-3-270m"),
    ("openai-compat:http://127.0.0.1:11434/v1:llama3.2:3b", "openai-compat", "http://127.0.0.1:11434/v1", "llama3.2:3b"),
    ("openai-compat:https://[::1]:8000/v1:meta-llama/Llama-3.1-8B", "openai-compat", "https://[::1]:8000/v1",
     "meta-llama/Llama-3.1-8B"),
    ("openai-compat:http://gpu-box:7b", "openai-compat", "http://gpu-box", "7b"),
    ("ollama:llama3.2:3b", "ollama", None, "llama3.2:3b"),
    ("ollama:http://gpu-box:11434:qwen2.5:7b", "ollama", "http://gpu-box:11434", "qwen2.5:7b"),
    ("openai:gpt-4o-mini", "openai", None, "gpt-4o-mini"),
    ("openai:https://api.example.com/v1:gpt-4o", "openai", "https://api.example.com/v1", "gpt-4o"),
    ("anthropic:claude-3-5-haiku-latest", "anthropic", None, "claude-3-5-haiku-latest"),
    ("local:gemma-3-270m", "local", None, "gemma-3-270m"),
]


@pytest.mark.parametrize("spec, provider, base_url, model", ROUND_TRIPS)
def test_spec_round_trip(spec, provider, base_url, model):
    candidate = registry.parse_candidate_spec(spec)
    assert (candidate.provider, candidate.base_url, candidate.model) == (provider, base_url, model)
    assert candidate.spec == spec
    assert registry.Candidate(**json.loads(json.dumps(candidate.model_dump()))) == candidate
    assert candidate.is_local == (provider in ("openai-compat", "ollama", "local"))


@pytest.mark.parametrize("spec", ["foo:bar", "openai-compat:gpt-4o", "openai:", "openai-compat:http://h:8000/v1:",
                                  "openai-compat:http://user:pw@h/v1:m", "openai-compat:http://h/v1?key=abc:m"])
def test_bad_specs(spec):
    with pytest.raises(UserError):
        registry.parse_candidate_spec(spec)


def test_candidates_never_hold_keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
    candidate = registry.parse_candidate_spec("openai:gpt-4o-mini")
    assert "sk-secret-123" not in json.dumps(candidate.model_dump())
    with registry.build_provider(candidate) as provider:
        assert provider._client.api_key == "sk-secret-123"
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(FatalError, match="OPENAI_API_KEY"):
        registry.build_provider(candidate, Settings(_env_file=None))


def test_options_are_validated():
    with pytest.raises(ValueError):
        registry.Candidate(provider="openai-compat", base_url="http://h/v1", model="m", options={"nope": 1})
    endpoint_key = registry.Candidate(provider="openai-compat", base_url="http://h/v1", model="m",
                                      options={"api_key_env": "MY_KEY"})
    assert endpoint_key.options == {"api_key_env": "MY_KEY"}


class WrongAnswers(QuietHandler):
    """Answers 200 with what was not asked for, chosen by the first path segment: `json` (a whole
    chat completion as plain JSON where a stream was asked), `text` (non-JSON text), `html` (a
    page), `broken` (a stream whose event breaks off: unterminated JSON), `array` (an event that
    is not a JSON object)."""

    BODIES = {
        "json": ("application/json", json.dumps({
            "id": "c1", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}})),
        "text": ("text/plain", "all good, no stream here"),
        "html": ("text/html", "<html><body>Service moved</body></html>"),
        "broken": ("text/event-stream",  # the event names are Anthropic's (OpenAI streams name none)
                   'event: content_block_delta\ndata: {"id": "c1", "choices": [{"index": 0, "delta": {"content": "unter\n\n'),
        "array": ("text/event-stream", "event: message_start\ndata: [1, 2]\n\ndata: [DONE]\n\n"),
    }

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        kind, body = self.BODIES[self.path.strip("/").split("/")[0]]
        self.reply(kind, body.encode())


@pytest.fixture(scope="module")
def wrong_answers():
    with serve(WrongAnswers) as url:
        yield url


@pytest.mark.parametrize("cls", [OpenAICompatProvider, OpenAIProvider, AnthropicProvider])
@pytest.mark.parametrize("how", ["json", "text", "html"])
def test_a_200_that_is_not_a_stream_fails_the_call(wrong_answers, cls, how):
    with pytest.raises(FatalError, match="is not a stream") as info:
        make(cls, wrong_answers, how).complete(CompletionRequest(QUESTION, timeout_s=5))
    assert info.value.status_code == 200  # fails this call only: never a candidate's give-up status


@pytest.mark.parametrize("cls", [OpenAICompatProvider, OpenAIProvider, AnthropicProvider, OllamaProvider])
@pytest.mark.parametrize("how", ["broken", "array"])
def test_a_malformed_stream_is_a_retryable_error(wrong_answers, cls, how):
    with pytest.raises(RetryableError, match="malformed stream|closed the stream"):
        make(cls, wrong_answers, how).complete(CompletionRequest(QUESTION, timeout_s=5))


@pytest.mark.parametrize("how", ["json", "text", "html"])
def test_ollama_a_200_that_is_not_its_stream_fails_the_call(wrong_answers, how):
    with pytest.raises(RetryableError, match="malformed stream|closed the stream"):
        make(OllamaProvider, wrong_answers, how).complete(CompletionRequest(QUESTION, timeout_s=5))

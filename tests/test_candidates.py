"""Candidate discovery (analysis.replay.candidates) against real things: the llama.cpp server as the
embedded engine and as a configured endpoint, Ollama's documented API from a tiny local server,
and nothing at all on a free port."""

import json
import socket

import pytest

from analysis.replay import candidates
from analysis.settings import Endpoint, Settings

FAKE_KEY = "sk-test-not-a-real-key-123"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def nowhere() -> str:
    return f"http://127.0.0.1:{_free_port()}"


@pytest.fixture
def bare(tmp_path, nowhere, monkeypatch) -> Settings:
    """No Ollama, no endpoint, no key, the engine not running."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "BREAKEVEN_OPENAI_API_KEY", "BREAKEVEN_ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return Settings(_env_file=None, data_dir=tmp_path / "data", ollama_host=nowhere, local_engine_port=_free_port())


def _by_kind(options, kind):
    return [o for o in options if o.kind == kind]


def test_nothing_reachable_says_what_to_do(bare, nowhere):
    options = candidates.available_candidates(bare)
    (ollama,) = _by_kind(options, "ollama")
    assert not ollama.ready and ollama.spec is None
    assert nowhere in ollama.why_not and "embedded local engine" in ollama.why_not
    local, smollm2 = _by_kind(options, "local")  # no tuned model in this data directory
    assert local.spec == "local:gemma-3-270m" and not local.ready
    assert local.why_not == candidates.ENGINE_HINTS["stopped"]  # the [local] extra is installed here
    assert smollm2.spec == "local:smollm2-135m-instruct" and not smollm2.ready
    assert smollm2.why_not == "start its engine: breakeven local-model start --model smollm2-135m-instruct"


def test_ollama_models_are_offered(bare, fake_ollama):
    options = candidates.available_candidates(bare.model_copy(update={"ollama_host": fake_ollama}))
    found = _by_kind(options, "ollama")
    assert [o.spec for o in found] == ["ollama:llama3.2:3b", "ollama:qwen2.5:0.5b"]
    assert all(o.ready for o in found) and "3.2B" in found[0].label and "Q4_K_M" in found[0].label


def test_running_engine_is_ready(bare, llama_server):
    settings = bare.model_copy(update={"data_dir": llama_server.data_dir, "local_engine_port": llama_server.port})
    local, smollm2 = _by_kind(candidates.available_candidates(settings), "local")
    assert local.ready and local.why_not == "" and local.spec == f"local:{llama_server.model}"
    assert not smollm2.ready  # its own engine, not Gemma's


def test_endpoints_list_their_models_or_say_they_are_down(bare, llama_server, nowhere):
    settings = bare.model_copy(update={"endpoints": [
        Endpoint(name="llama", base_url=f"{llama_server.base_url}/v1/"),
        Endpoint(name="pinned", base_url=f"{llama_server.base_url}/v1", model="other-alias"),
        Endpoint(name="down", base_url=f"{nowhere}/v1", model="m"),
        Endpoint(name="down-unnamed", base_url=f"{nowhere}/v1")]})
    found = _by_kind(candidates.available_candidates(settings), "endpoint")
    specs = {o.label: o for o in found}
    listed = specs[f"{llama_server.model} (llama)"]
    assert listed.ready and listed.spec == f"openai-compat:{llama_server.base_url}/v1:{llama_server.model}"
    assert specs["other-alias (pinned)"].ready
    down = specs["m (down)"]
    assert not down.ready and f"{nowhere}/v1/models did not answer" in down.why_not
    unnamed = specs[f"down-unnamed ({nowhere}/v1)"]
    assert unnamed.spec is None and not unnamed.ready


def test_api_models_need_a_key_and_a_price_and_never_show_the_key(bare, monkeypatch):
    models = [("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku-20241022"), ("openai", "no-such-model-xyz")]
    before = {o.spec: o for o in _by_kind(candidates.available_candidates(bare, models), "api")}
    assert not before["openai:gpt-4o-mini"].ready
    assert before["openai:gpt-4o-mini"].why_not == "OPENAI_API_KEY is not set"
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    after = {o.spec: o for o in _by_kind(candidates.available_candidates(bare, models), "api")}
    assert after["openai:gpt-4o-mini"].ready
    assert not after["anthropic:claude-3-5-haiku-20241022"].ready  # its key is still missing
    assert not after["openai:no-such-model-xyz"].ready and "no price" in after["openai:no-such-model-xyz"].why_not
    assert FAKE_KEY not in json.dumps([o.__dict__ for o in after.values()])


def test_logged_api_models_are_the_incumbents(con):
    for i, (provider, model) in enumerate([("openai", "gpt-4o-mini")] * 3 + [("anthropic", "claude-3-5-haiku-20241022")]
                                          + [("self", "llama")]):
        con.execute("INSERT INTO requests (request_id, source_id, status, provider, model) VALUES (?, 's', 'ok', ?, ?)",
                    [f"r{i}", provider, model])
    assert candidates.logged_api_models(con) == [("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku-20241022")]


def test_custom_spec():
    good = candidates.custom_candidate(" openai-compat:http://127.0.0.1:8000/v1:my-model ")
    assert good.ready and good.spec == "openai-compat:http://127.0.0.1:8000/v1:my-model"
    bad = candidates.custom_candidate("openai-compat:my-model")
    assert not bad.ready and bad.spec is None and "needs a base URL" in bad.why_not
    with_credentials = candidates.custom_candidate("openai-compat:https://u:sk-secret-123456@h/v1:m")
    assert not with_credentials.ready and with_credentials.why_not.startswith("a base URL must not carry credentials")
    assert "sk-secret" not in with_credentials.why_not

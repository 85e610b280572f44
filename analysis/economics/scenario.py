"""The Scenario: every assumption behind an economics answer in one validated model, with compact
JSON (schema version "v") and short-key URL query parameters. It never holds an API key or any
prompt text; unknown fields are refused."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from analysis.economics import catalogue
from analysis.economics.cost_model import CostInputs

SCHEMA_VERSION = 1
DEFAULT_GPU = "L4"
# Fields that describe the GPU: when a partial scenario names another GPU, defaults for these
# belong to the old GPU and are re-read from the catalogue instead.
_GPU_DERIVED = ("gpu_hourly_usd", "capacity_rps_per_gpu", "capacity_source")


class ScenarioError(ValueError):
    """A scenario that can't be read: bad JSON, an unknown schema version or invalid values."""


class TaskCost(BaseModel):
    """One task type's share of requests and its API cost per request (USD)."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    share: float = Field(ge=0, description="share of requests (shares need not sum to 1)")
    cost_per_request: float = Field(ge=0, description="API cost per request, USD")


class Scenario(BaseModel):
    """Every assumption of the API-vs-self-hosting comparison. GPU price and capacity default to
    the catalogue entry of `gpu` (capacity_source 'catalogue'); a capacity given without a source
    counts as 'user'."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_day: float = Field(10_000, ge=0, le=1e12, description="requests per day today")
    growth_per_month: float = Field(
        0.0, gt=-1, le=10, description="compound monthly volume growth, 0.05 = 5%")
    peak_to_average: float = Field(
        2.0, ge=1, le=1000, description="busiest hour's rate / the day's average rate, >= 1")
    api_cost_per_request: float = Field(0.001, ge=0, le=100, description="API cost per request, USD")
    api_cost_by_task: dict[str, TaskCost] | None = Field(
        None, description="per task type share and API cost; replaces api_cost_per_request when set")
    batch_discount: bool = Field(False, description="price the API at its Batch API rate")
    batch_price_ratio: float = Field(
        0.5, gt=0, le=1, description="Batch API price / standard price (OpenAI, Anthropic, Google: 0.5)")
    candidate_model: str = Field(
        "llama-3.1-8b-instruct", min_length=1, max_length=200, description="the model to self-host")
    gpu: str = Field(DEFAULT_GPU, description="GPU name from the catalogue")
    gpu_hourly_usd: float = Field(ge=0, le=1000, description="price of one GPU per hour, USD")
    gpu_count: int | None = Field(
        None, ge=1, le=100_000, description="fixed GPU count; None sizes it automatically")
    mode: Literal["dedicated", "scheduled", "serverless"] = Field(
        "dedicated", description="deployment mode")
    capacity_rps_per_gpu: float = Field(gt=0, le=1e6, description="requests per second one GPU serves")
    capacity_source: Literal["probe", "catalogue", "user"] = Field(
        description="where the capacity comes from")
    target_utilisation: float = Field(
        0.7, gt=0, le=1, description="share of a GPU's capacity to plan on, in (0, 1]")
    ops_usd_per_month: float = Field(0.0, ge=0, le=1e9, description="operations cost per month, USD")
    fine_tuning_usd: float = Field(0.0, ge=0, le=1e9, description="one-off fine-tuning cost, USD")
    amortisation_months: int = Field(
        12, ge=1, le=120, description="months over which fine-tuning is paid off")
    quality_target: float | None = Field(
        None, ge=0, le=1, description="overall quality to reach, 0-1; None: non-inferiority only")
    noninferiority_margin: float = Field(
        0.02, ge=0, le=0.5, description="largest quality loss accepted per segment, 0-0.5")
    cold_starts_per_day: float = Field(
        24.0, ge=0, le=86_400, description="serverless cold starts per day")
    cold_start_seconds: float = Field(
        30.0, ge=0, le=3600, description="seconds billed per serverless cold start")

    @model_validator(mode="before")
    @classmethod
    def _catalogue_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("gpu", DEFAULT_GPU), str):
            return data
        entry = catalogue.gpu(data.get("gpu", DEFAULT_GPU))
        data = dict(data)
        data.setdefault("gpu_hourly_usd", entry.hourly_usd)
        if "capacity_rps_per_gpu" not in data:
            if data.get("capacity_source", "catalogue") != "catalogue":
                raise ValueError(f"capacity_source {data['capacity_source']!r} needs capacity_rps_per_gpu")
            data["capacity_rps_per_gpu"] = entry.throughput_rps_7b
            data["capacity_source"] = "catalogue"
        data.setdefault("capacity_source", "user")
        return data

    @field_validator("gpu")
    @classmethod
    def _known_gpu(cls, name: str) -> str:
        return catalogue.gpu(name).name

    @field_validator("api_cost_by_task")
    @classmethod
    def _some_share(cls, mix: dict[str, TaskCost] | None) -> dict[str, TaskCost] | None:
        if mix is not None and sum(t.share for t in mix.values()) <= 0:
            raise ValueError("needs at least one task type with a share > 0")
        return mix

    # --- economics -----------------------------------------------------------------------

    def to_cost_inputs(self) -> CostInputs:
        """The economics inputs. API costs per request × batch_price_ratio when batch_discount; the
        per-task mix, when set, replaces the flat api_cost_per_request."""
        ratio = self.batch_price_ratio if self.batch_discount else 1.0
        if self.api_cost_by_task:
            tasks = sorted(self.api_cost_by_task.items())
            mix = tuple((t.share, t.cost_per_request * ratio) for _, t in tasks)
        else:
            mix = ((1.0, self.api_cost_per_request * ratio),)
        return CostInputs(
            requests_per_day=self.requests_per_day,
            api_mix=mix,
            gpu_hourly_usd=self.gpu_hourly_usd,
            capacity_rps_per_gpu=self.capacity_rps_per_gpu,
            target_utilisation=self.target_utilisation,
            peak_to_average=self.peak_to_average,
            mode=self.mode,
            gpu_count=self.gpu_count,
            ops_usd_per_month=self.ops_usd_per_month,
            fine_tuning_usd=self.fine_tuning_usd,
            amortisation_months=self.amortisation_months,
            growth_per_month=self.growth_per_month,
            cold_starts_per_day=self.cold_starts_per_day,
            cold_start_seconds=self.cold_start_seconds,
        )

    # --- JSON --------------------------------------------------------------------------

    def to_json(self) -> str:
        """Compact JSON: {"v": SCHEMA_VERSION, <every field>}."""
        return json.dumps({"v": SCHEMA_VERSION, **self.model_dump(mode="json")}, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], defaults: Scenario | None = None) -> Scenario:
        """A scenario from a possibly partial mapping: fields left out come from `defaults` (else
        the model's defaults). A missing "v" means the current version (hand-written files); naming
        another GPU than `defaults` re-reads its price and capacity from the catalogue unless given;
        a flat api_cost_per_request without api_cost_by_task replaces the defaults' per-task mix.
        ScenarioError on an unknown version or invalid values."""
        data = dict(data)
        version = data.pop("v", SCHEMA_VERSION)
        if isinstance(version, bool) or version != SCHEMA_VERSION:
            raise ScenarioError(
                f"unsupported scenario version {version!r}: this tool reads version {SCHEMA_VERSION}")
        merged: dict[str, Any] = {}
        if defaults is not None:
            merged = defaults.model_dump()
            if str(data.get("gpu", defaults.gpu)).strip().casefold() != defaults.gpu.casefold():
                for key in _GPU_DERIVED:
                    merged.pop(key)
            if "capacity_rps_per_gpu" in data and "capacity_source" not in data:
                merged.pop("capacity_source", None)
            if "api_cost_per_request" in data and "api_cost_by_task" not in data:
                merged.pop("api_cost_by_task", None)  # a flat price given replaces the per-task mix
        merged.update(data)
        try:
            return cls.model_validate(merged)
        except ValidationError as error:
            raise ScenarioError(_describe(error)) from None

    @classmethod
    def from_json(cls, text: str, defaults: Scenario | None = None) -> Scenario:
        """Parse `to_json` output or a partial JSON object (see `from_dict`); ScenarioError on bad
        JSON, a non-object, an unknown version or invalid values."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ScenarioError(f"scenario is not valid JSON: {error.msg} (line {error.lineno}, "
                                f"column {error.colno})") from None
        if not isinstance(data, dict):
            raise ScenarioError(f"a scenario is a JSON object, got {type(data).__name__}")
        return cls.from_dict(data, defaults)

    # --- URL state -----------------------------------------------------------------------

    def to_query_params(self) -> dict[str, str]:
        """Flat {short key: string} for a URL: numbers as written by repr (integers without '.0'),
        booleans '1'/'0', None as '', the per-task mix as compact JSON; plus "v"."""
        params = {"v": str(SCHEMA_VERSION)}
        for name, key in QUERY_KEYS.items():
            params[key] = _encode(getattr(self, name))
        return params

    @classmethod
    def from_query_params(cls, params: Mapping[str, str], defaults: Scenario | None = None) -> Scenario:
        """Inverse of `to_query_params`; keys it doesn't know are ignored (the URL also carries
        other state), keys left out come from `defaults`. ScenarioError on invalid values."""
        by_key = {key: name for name, key in QUERY_KEYS.items()}
        data: dict[str, Any] = {}
        for key, value in params.items():
            if key == "v":
                data["v"] = int(value) if value.strip().isdigit() else value
            elif key in by_key:
                data[by_key[key]] = _decode(by_key[key], value)
        return cls.from_dict(data, defaults)


QUERY_KEYS: dict[str, str] = {
    "requests_per_day": "rpd", "growth_per_month": "gr", "peak_to_average": "pk",
    "api_cost_per_request": "api", "api_cost_by_task": "tt", "batch_discount": "bd",
    "batch_price_ratio": "br", "candidate_model": "cm", "gpu": "g", "gpu_hourly_usd": "gh",
    "gpu_count": "gc", "mode": "md", "capacity_rps_per_gpu": "cap", "capacity_source": "cs",
    "target_utilisation": "u", "ops_usd_per_month": "ops", "fine_tuning_usd": "ft",
    "amortisation_months": "am", "quality_target": "qt", "noninferiority_margin": "nim",
    "cold_starts_per_day": "csd", "cold_start_seconds": "css",
}


def _encode(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dict):
        return json.dumps({k: [t.share, t.cost_per_request] for k, t in value.items()}, separators=(",", ":"))
    return str(value)


def _decode(name: str, value: str) -> Any:
    if value == "":
        return None
    if name == "api_cost_by_task":
        try:
            mix = json.loads(value)
            return {k: {"share": s, "cost_per_request": c} for k, (s, c) in mix.items()}
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
            raise ScenarioError(
                f"api_cost_by_task: expected {{task: [share, cost]}} JSON, got {value!r}") from None
    return value


def _describe(error: ValidationError) -> str:
    """'invalid scenario: <field>: <problem> (got <value>) — <what the field means>; ...'."""
    parts = []
    for e in error.errors():
        loc = [str(p) for p in e["loc"]]
        where = ".".join(loc)
        message = "unknown field (a scenario holds assumptions only)" if e["type"] == "extra_forbidden" \
            else e["msg"].removeprefix("Value error, ")
        if e["type"] not in ("missing", "extra_forbidden") and not isinstance(e.get("input"), dict):
            message += f" (got {e['input']!r})"
        field = Scenario.model_fields.get(loc[0]) if loc else None
        if field is not None and field.description:
            message += f" — {field.description}"
        parts.append(f"{where}: {message}" if loc else message)
    return "invalid scenario: " + "; ".join(parts)

"""The Scenario: every assumption behind an economics answer in one validated model, with compact
JSON (schema version "v") and short-key URL query parameters. It never holds an API key or any
prompt text; unknown fields are refused."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from analysis.economics import catalogue
from analysis.economics.cost_model import CostInputs, OwnedHardware, default_owned_hardware
from analysis.economics.models import find_model
from analysis.economics.serverless import default_provider, priced_gpus, serverless_price
from analysis.economics.sizing import TENSOR_PARALLEL_DEGREES, LatencyTargets, Sizing, TokenShape, size
from analysis.economics.traffic_kind import TrafficSplit, api_price_factor, sized_peak_to_average, traffic_split
from analysis.errors import NotFound, UserError

SCHEMA_VERSION = 2
"""2: capacity from the sizing model (model, quantisation, tensor parallel, token shape, latency
targets) instead of the catalogue's one figure per GPU; owned hardware. Version-1 links still open:
their catalogue capacity becomes the sizing model's (`_migrate`)."""
DEFAULT_GPU = "L4"
# Fields that describe the GPU: when a partial scenario names another GPU, defaults for these
# belong to the old GPU and are re-read from the catalogue instead (a probe measured one GPU).
_GPU_DERIVED = ("gpu_hourly_usd", "capacity_rps_per_gpu", "capacity_source", "serverless_usd_per_second")
# Fields the capacity depends on: a measured or typed capacity belongs to the old values, so
# changing one of them sizes the capacity again.
_CAPACITY_INPUTS = ("candidate_model", "quantisation", "tensor_parallel")
Quantisation = Literal["bf16", "fp16", "fp8", "int8", "int4", "mxfp4"]
# Bounds on what a file or link may hold, checked before any parsing (a scenario is a few hundred bytes).
MAX_JSON_CHARS = 100_000
MAX_JSON_DEPTH = 8  # a scenario object > api_cost_by_task > a task > its fields is 3 deep
MAX_TASK_TYPES = 1_000
MAX_TASK_NAME_CHARS = 200


class ScenarioError(UserError):
    """A scenario that can't be read: bad JSON, an unknown schema version or invalid values."""


class TaskCost(BaseModel):
    """One task type's share of requests and its API cost per request (USD)."""
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    share: float = Field(ge=0, le=1e9, description="share of requests (shares need not sum to 1)")
    cost_per_request: float = Field(ge=0, le=100, description="API cost per request, USD")


def parse_json_object(text: str, what: str = "scenario") -> dict[str, Any]:
    """`text` parsed as one JSON object, within MAX_JSON_CHARS and MAX_JSON_DEPTH (checked before
    parsing) and without NaN or Infinity; ScenarioError with one line otherwise."""
    if len(text) > MAX_JSON_CHARS:
        raise ScenarioError(f"{what} is {len(text):,} characters; at most {MAX_JSON_CHARS:,} are read")
    if (depth := _json_depth(text)) > MAX_JSON_DEPTH:
        raise ScenarioError(f"{what} nests {depth} levels deep; at most {MAX_JSON_DEPTH} are read")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise ScenarioError(f"{what} is not valid JSON: {error.msg} (line {error.lineno}, "
                            f"column {error.colno})") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"a {what} is a JSON object, got {type(data).__name__}")
    return data


def _no_constant(name: str) -> Any:
    raise ScenarioError(f"{name} is not a number a scenario can hold")


def _json_depth(text: str) -> int:
    """The deepest nesting of [ and { in `text`, outside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


class Scenario(BaseModel):
    """Every assumption of the API-vs-self-hosting comparison. The GPU price defaults to the
    catalogue entry of `gpu`; the capacity per GPU to the sizing model (`analysis.economics.sizing`)
    of `candidate_model` at `quantisation` on `gpu` for the token shape and latency targets
    (capacity_source 'sizing', recomputed whenever they change); a capacity given without a source
    counts as 'user'; 'probe' is a measurement of the user's own endpoint on this GPU."""
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    requests_per_day: float = Field(10_000, ge=0, le=1e12, description="requests per day today")
    growth_per_month: float = Field(
        0.0, gt=-1, le=10, description="compound monthly volume growth, 0.05 = 5%")
    peak_to_average: float = Field(
        2.0, ge=1, le=1000, description="interactive traffic's busiest hour's rate / the day's average rate, >= 1")
    api_cost_per_request: float = Field(0.001, ge=0, le=100, description="API cost per request, USD")
    api_cost_by_task: dict[str, TaskCost] | None = Field(
        None, description="per task type share and API cost; replaces api_cost_per_request when set")
    batch_discount: bool = Field(False, description="price all API traffic at its Batch API rate")
    batch_share: float = Field(
        0.0, ge=0, le=1, description="share of requests sent through a Batch API: scheduled work without a "
        "peak factor, priced at the Batch rate (analysis.economics.traffic_kind)")
    batch_price_ratio: float = Field(
        0.5, gt=0, le=1, description="Batch API price / standard price (OpenAI, Anthropic, Google: 0.5)")
    candidate_model: str = Field(
        "llama-3.1-8b-instruct", min_length=1, max_length=200,
        description="the model to self-host (a name of the model catalogue, data/models.json)")
    quantisation: Quantisation | None = Field(
        None, description="weights' precision; None: the model's published precision")
    tensor_parallel: int | None = Field(
        None, description="GPUs per replica, 1, 2, 4 or 8; None: the fewest that hold the model")
    input_length: float = Field(500, gt=0, le=2_000_000, description="mean input (prompt) length per request, tokens")
    output_length: float = Field(200, ge=1, le=200_000, description="mean output (answer) length per request, tokens")
    input_length_p95: float | None = Field(
        None, gt=0, le=2_000_000, description="p95 input length, tokens (sizes the KV cache); None: the mean")
    output_length_p95: float | None = Field(
        None, ge=1, le=200_000, description="p95 output length, tokens (sizes the KV cache and latency); None: the mean")
    cached_share: float = Field(0.0, ge=0, le=1, description="share of prompt tokens read from a prefix cache")
    ttft_p95_ms: float | None = Field(
        2000.0, gt=0, le=3_600_000, description="time-to-first-token target, p95 ms; None: no target")
    latency_p95_ms: float | None = Field(
        30000.0, gt=0, le=3_600_000, description="end-to-end latency target, p95 ms; None: no target")
    gpu: str = Field(DEFAULT_GPU, description="GPU name from the catalogue")
    gpu_hourly_usd: float = Field(ge=0, le=1000, description="price of one GPU per hour, USD")
    gpu_count: int | None = Field(
        None, ge=1, le=100_000, description="fixed GPU count; None sizes it automatically")
    mode: Literal["dedicated", "scheduled", "serverless", "owned"] = Field(
        "dedicated", description="deployment mode")
    capacity_rps_per_gpu: float | None = Field(
        None, ge=1e-3, le=1e6, description="requests per second one GPU serves (filled by the sizing model)")
    capacity_source: Literal["sizing", "probe", "user"] = Field(
        "sizing", description="where the capacity comes from")
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
    serverless_usd_per_second: float | None = Field(
        None, ge=0, le=1, description="serverless mode: price of one GPU-second, USD; None: the cited "
        "serverless price of the GPU (data/serverless_prices.json)")
    serverless_idle_timeout_s: float | None = Field(
        None, ge=0, le=86_400, description="serverless mode: seconds a container stays up, billed, after "
        "its last request; None: the GPU's serverless provider's default")
    owned_server_usd: float | None = Field(
        None, ge=0, le=1e8, description="owned mode: price of one GPU server, USD; None: the cited default")
    owned_gpus_per_server: int | None = Field(
        None, ge=1, le=64, description="owned mode: GPUs per server; None: the cited default")
    owned_depreciation_months: float | None = Field(
        None, gt=0, le=240, description="owned mode: months over which a server is written off")
    owned_power_kw_per_gpu: float | None = Field(
        None, ge=0, le=10, description="owned mode: power per GPU at full load, kW")
    owned_pue: float | None = Field(
        None, ge=1, le=5, description="owned mode: power usage effectiveness of the facility, >= 1")
    owned_electricity_usd_per_kwh: float | None = Field(
        None, ge=0, le=10, description="owned mode: electricity price, USD per kWh")
    owned_colocation_usd_per_server_month: float | None = Field(
        None, ge=0, le=1e6, description="owned mode: colocation / rack cost per server and month, USD")

    @model_validator(mode="before")
    @classmethod
    def _catalogue_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("gpu", DEFAULT_GPU), str):
            return data
        try:
            entry = catalogue.gpu(data.get("gpu", DEFAULT_GPU))
        except NotFound:
            return data  # the gpu field's validator names the problem
        data = dict(data)
        data.setdefault("gpu_hourly_usd", entry.hourly_usd)
        if data.get("capacity_rps_per_gpu") is not None:
            data.setdefault("capacity_source", "user")
        elif data.get("capacity_source", "sizing") != "sizing":
            raise ValueError(f"capacity_source {data['capacity_source']!r} needs capacity_rps_per_gpu")
        return data

    @model_validator(mode="after")
    def _sized_capacity(self) -> Scenario:
        """With capacity_source 'sizing' the capacity is the sizing model's requests/s per GPU, so
        it always follows the model, GPU, shape and targets; a model that does not fit is refused
        here with the sizing model's reason."""
        if self.capacity_source != "sizing":
            return self
        try:
            capacity = self.sizing().requests_per_s_per_gpu
        except UserError as error:
            raise ValueError(str(error)) from None
        self.__dict__["capacity_rps_per_gpu"] = capacity  # frozen: set once, while validating
        return self

    @field_validator("tensor_parallel")
    @classmethod
    def _tensor_parallel_degree(cls, degree: int | None) -> int | None:
        if degree is not None and degree not in TENSOR_PARALLEL_DEGREES:
            raise ValueError(f"must be one of {', '.join(map(str, TENSOR_PARALLEL_DEGREES))}")
        return degree

    @field_validator("gpu")
    @classmethod
    def _known_gpu(cls, name: str) -> str:
        try:
            return catalogue.gpu(name).name
        except NotFound as error:
            raise ValueError(str(error)) from None

    @field_validator("api_cost_by_task", mode="before")
    @classmethod
    def _few_task_types(cls, mix: Any) -> Any:
        if isinstance(mix, Mapping):
            if len(mix) > MAX_TASK_TYPES:
                raise ValueError(f"{len(mix):,} task types; at most {MAX_TASK_TYPES:,}")
            if any(not isinstance(k, str) or len(k) > MAX_TASK_NAME_CHARS for k in mix):
                raise ValueError(f"a task type name is text of at most {MAX_TASK_NAME_CHARS} characters")
        return mix

    @field_validator("api_cost_by_task")
    @classmethod
    def _some_share(cls, mix: dict[str, TaskCost] | None) -> dict[str, TaskCost] | None:
        if mix is not None and sum(t.share for t in mix.values()) <= 0:
            raise ValueError("needs at least one task type with a share > 0")
        return mix

    # --- capacity ------------------------------------------------------------------------

    @property
    def token_shape(self) -> TokenShape:
        """The mean request: input and output tokens, prefix-cache share."""
        return TokenShape(input_tokens=self.input_length, output_tokens=self.output_length,
                          cached_share=self.cached_share)

    @property
    def token_shape_p95(self) -> TokenShape:
        """The p95 request (the mean where no p95 is given)."""
        return TokenShape(input_tokens=self.input_length_p95 or self.input_length,
                          output_tokens=self.output_length_p95 or self.output_length,
                          cached_share=self.cached_share)

    @property
    def latency_targets(self) -> LatencyTargets:
        return LatencyTargets(ttft_p95_ms=self.ttft_p95_ms, latency_p95_ms=self.latency_p95_ms)

    def resolved_quantisation(self) -> str:
        """`quantisation`, else the model's published precision (bf16 for an unknown model)."""
        if self.quantisation:
            return self.quantisation
        card = find_model(self.candidate_model)
        return card.native_quant if card else "bf16"

    def sizing(self) -> Sizing:
        """The sizing model's answer for this scenario (UserError when the model is unknown or
        does not fit on 8 GPUs); cached by `analysis.economics.sizing.size`."""
        return size(self.candidate_model, self.gpu, self.resolved_quantisation(), self.tensor_parallel,
                    self.token_shape, self.latency_targets, self.token_shape_p95)

    def gpus_per_replica(self) -> int:
        """GPUs per serving replica: the sizing's tensor-parallel degree, or `tensor_parallel`
        (else 1) for a probed or typed capacity."""
        return self.sizing().tp if self.capacity_source == "sizing" else (self.tensor_parallel or 1)

    def owned_hardware(self) -> OwnedHardware:
        """The owned_* fields over the cited defaults of data/owned_hardware.json."""
        default = default_owned_hardware()
        given = {"server_price_usd": self.owned_server_usd, "gpus_per_server": self.owned_gpus_per_server,
                 "depreciation_months": self.owned_depreciation_months,
                 "power_kw_per_gpu": self.owned_power_kw_per_gpu, "pue": self.owned_pue,
                 "electricity_usd_per_kwh": self.owned_electricity_usd_per_kwh,
                 "colocation_usd_per_server_month": self.owned_colocation_usd_per_server_month}
        return replace(default, **{name: value for name, value in given.items() if value is not None})

    # --- economics -----------------------------------------------------------------------

    def traffic_split(self) -> TrafficSplit:
        """requests_per_day as its interactive and Batch parts (`traffic_kind.traffic_split`)."""
        return traffic_split(self.requests_per_day, self.batch_share, self.peak_to_average)

    def to_cost_inputs(self) -> CostInputs:
        """The economics inputs. API costs per request × batch_price_ratio when batch_discount, else ×
        `traffic_kind.api_price_factor(batch_share, batch_price_ratio)`; the peak-to-average the fleet is
        sized for is `traffic_kind.sized_peak_to_average(peak_to_average, batch_share)`; the
        per-task mix, when set, replaces the flat api_cost_per_request. Serverless price and idle
        timeout: the fields, else the cited offer for the GPU and its provider's default idle timeout
        (data/serverless_prices.json); a GPU without a cited offer takes the default provider's
        idle timeout, and mode 'serverless' on it needs serverless_usd_per_second (ScenarioError)."""
        ratio = (self.batch_price_ratio if self.batch_discount
                 else api_price_factor(self.batch_share, self.batch_price_ratio))
        if self.api_cost_by_task:
            tasks = sorted(self.api_cost_by_task.items())
            mix = tuple((t.share, t.cost_per_request * ratio) for _, t in tasks)
        else:
            mix = ((1.0, self.api_cost_per_request * ratio),)
        offer = serverless_price(self.gpu)
        serverless_usd = self.serverless_usd_per_second
        if serverless_usd is None and offer is not None:
            serverless_usd = offer.usd_per_second
        if serverless_usd is None and self.mode == "serverless":
            raise ScenarioError(
                f"mode 'serverless' on {self.gpu}: no serverless offer for this GPU in data/serverless_prices.json "
                f"(priced: {', '.join(priced_gpus())}); set serverless_usd_per_second to your provider's price "
                "per GPU-second, or choose another GPU or mode")
        idle = self.serverless_idle_timeout_s
        if idle is None:
            idle = (offer.provider if offer is not None else default_provider()).idle_timeout_s
        return CostInputs(
            requests_per_day=self.requests_per_day,
            api_mix=mix,
            gpu_hourly_usd=self.gpu_hourly_usd,
            capacity_rps_per_gpu=self.capacity_rps_per_gpu,
            gpus_per_replica=self.gpus_per_replica(),
            owned=self.owned_hardware() if self.mode == "owned" else None,
            target_utilisation=self.target_utilisation,
            peak_to_average=sized_peak_to_average(self.peak_to_average, self.batch_share),
            mode=self.mode,
            gpu_count=self.gpu_count,
            ops_usd_per_month=self.ops_usd_per_month,
            fine_tuning_usd=self.fine_tuning_usd,
            amortisation_months=self.amortisation_months,
            growth_per_month=self.growth_per_month,
            cold_starts_per_day=self.cold_starts_per_day,
            cold_start_seconds=self.cold_start_seconds,
            serverless_usd_per_second=serverless_usd,
            serverless_idle_timeout_s=idle,
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
        if isinstance(version, bool) or version not in (1, SCHEMA_VERSION):
            raise ScenarioError(
                f"unsupported scenario version {version!r}: this tool reads versions 1 and {SCHEMA_VERSION}")
        if version == 1:
            data = _migrate_v1(data)
        merged: dict[str, Any] = {}
        if defaults is not None:
            merged = defaults.model_dump()
            if str(data.get("gpu", defaults.gpu)).strip().casefold() != defaults.gpu.casefold():
                for key in _GPU_DERIVED:
                    merged.pop(key)
            if any(name in data and data[name] != merged.get(name) for name in _CAPACITY_INPUTS):
                merged.pop("capacity_rps_per_gpu", None)
                merged.pop("capacity_source", None)
            if merged.get("capacity_source") == "sizing":
                merged.pop("capacity_rps_per_gpu", None)  # recomputed from the merged values
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
        return cls.from_dict(parse_json_object(text), defaults)

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
                data["v"] = int(value) if value.strip().isdigit() and len(value) < 10 else value[:20]
            elif key in by_key:
                data[by_key[key]] = _decode(by_key[key], value)
        return cls.from_dict(data, defaults)


QUERY_KEYS: dict[str, str] = {
    "requests_per_day": "rpd", "growth_per_month": "gr", "peak_to_average": "pk",
    "api_cost_per_request": "api", "api_cost_by_task": "tt", "batch_discount": "bd", "batch_share": "bs",
    "batch_price_ratio": "br", "candidate_model": "cm", "gpu": "g", "gpu_hourly_usd": "gh",
    "gpu_count": "gc", "mode": "md", "capacity_rps_per_gpu": "cap", "capacity_source": "cs",
    "target_utilisation": "u", "ops_usd_per_month": "ops", "fine_tuning_usd": "ft",
    "amortisation_months": "am", "quality_target": "qt", "noninferiority_margin": "nim",
    "cold_starts_per_day": "csd", "cold_start_seconds": "css", "quantisation": "q", "tensor_parallel": "tp",
    "input_length": "il", "output_length": "ol", "input_length_p95": "i95", "output_length_p95": "o95",
    "cached_share": "cch", "ttft_p95_ms": "ttf", "latency_p95_ms": "lat", "owned_server_usd": "osv",
    "owned_gpus_per_server": "ogs", "owned_depreciation_months": "odm", "owned_power_kw_per_gpu": "okw",
    "owned_pue": "opu", "owned_electricity_usd_per_kwh": "oel", "owned_colocation_usd_per_server_month": "oco",
    "serverless_usd_per_second": "sps", "serverless_idle_timeout_s": "sit",
}


def _migrate_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 -> 2: a capacity from the catalogue (one rough figure per GPU for a 7-8B model)
    becomes the sizing model's for the scenario's model and GPU; every other field is unchanged."""
    if data.get("capacity_source") == "catalogue":
        data = {k: v for k, v in data.items() if k not in ("capacity_source", "capacity_rps_per_gpu")}
    return data


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
            mix = parse_json_object(value, "api_cost_by_task")
            return {k: {"share": s, "cost_per_request": c} for k, (s, c) in mix.items()}
        except (ScenarioError, AttributeError, TypeError, ValueError):
            raise ScenarioError(
                f"api_cost_by_task: expected {{task: [share, cost]}} JSON, got {_short(value)}") from None
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
            message += f" (got {_short(e['input'])})"
        field = Scenario.model_fields.get(loc[0]) if loc else None
        if field is not None and field.description:
            message += f" — {field.description}"
        parts.append(f"{where}: {message}" if loc else message)
    return "invalid scenario: " + "; ".join(parts)


def _short(value: Any) -> str:
    """`repr(value)`, cut to 60 characters (an error line quotes what it refuses, never all of it)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

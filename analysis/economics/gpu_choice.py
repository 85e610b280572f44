"""Which GPU: every catalogue GPU x deployment mode priced for one scenario, and the cheapest
feasible one, so a user never has to try eight GPUs one by one.

Rules, per GPU x mode (the scenario with that GPU and mode; its capacity sized again, except a
probe of that same GPU; its price the catalogue's):
- fits: the sizing model holds the model on at most 8 of that GPU (else the reason);
- meets latency: even one request at a time meets the scenario's p95 targets (`Sizing.meets_targets`);
- mode allowed: 'scheduled' only for work without latency targets (batch windows make requests
  wait); 'owned' only where its server figures describe that GPU (the cited default server is an
  8x H100 one, `data/owned_hardware.json`) or the scenario sets its own server price;
- feasible = fits, meets latency and mode allowed;
- cost at today's volume = `cost_model.self_host_cost(...).total_usd` (over-capacity volume on the
  API), with the GPU count and the first volume where self-hosting is no dearer than the API.
The recommendation is the feasible option with the lowest cost at today's volume (ties: fewer GPUs,
then catalogue order)."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.economics import catalogue, comparison
from analysis.economics import cost_model as economics
from analysis.economics.scenario import Scenario, ScenarioError
from analysis.errors import UserError

MODES: tuple[economics.Mode, ...] = ("dedicated", "scheduled", "serverless", "owned")
OWNED_DEFAULT_GPU = "H100 80GB"
"""The GPU of the cited default owned server (an 8x H100 of the DGX H100 class)."""


@dataclass(frozen=True)
class GpuOption:
    """One GPU x mode for the scenario (module rules); money fields None when it does not fit."""
    gpu: str
    mode: economics.Mode
    feasible: bool
    reason: str
    gpus: int | None = None
    gpus_per_replica: int | None = None
    capacity_rps_per_gpu: float | None = None
    monthly_usd: float | None = None
    savings_usd: float | None = None
    first_cheaper_at: float | None = None
    meets_latency: bool = False


def _option(scenario: Scenario, gpu: str, mode: economics.Mode) -> GpuOption:
    try:
        variant = Scenario.from_dict({"gpu": gpu, "mode": mode}, scenario)
    except ScenarioError as error:
        return GpuOption(gpu=gpu, mode=mode, feasible=False, reason=str(error).removeprefix("invalid scenario: "))
    try:
        result = comparison.evaluate(variant.to_cost_inputs())
    except UserError as error:  # e.g. a fixed GPU count that is not whole replicas of this GPU
        return GpuOption(gpu=gpu, mode=mode, feasible=False, reason=str(error))
    meets = variant.capacity_source != "sizing" or variant.sizing().meets_targets
    interactive = variant.ttft_p95_ms is not None or variant.latency_p95_ms is not None
    problems = [problem for bad, problem in (
        (not meets, "misses the latency target even one request at a time"),
        (mode == "scheduled" and interactive, "batch windows only suit work without a latency target"),
        (mode == "owned" and gpu != OWNED_DEFAULT_GPU and variant.owned_server_usd is None,
         f"the cited server price is for {OWNED_DEFAULT_GPU} servers: set your own"),
    ) if bad]
    return GpuOption(gpu=gpu, mode=mode, feasible=not problems, reason="; ".join(problems) or "feasible",
                     gpus=result.self_host.gpus, gpus_per_replica=variant.gpus_per_replica(),
                     capacity_rps_per_gpu=variant.capacity_rps_per_gpu, monthly_usd=result.self_host.total_usd,
                     savings_usd=result.savings_monthly_usd, first_cheaper_at=result.breakeven.requests_per_day,
                     meets_latency=meets)


def gpu_options(scenario: Scenario, modes: tuple[economics.Mode, ...] = MODES) -> list[GpuOption]:
    """Every catalogue GPU x mode, in catalogue order (module rules)."""
    return [_option(scenario, gpu.name, mode) for gpu in catalogue.gpus() for mode in modes]


def recommended(options: list[GpuOption]) -> GpuOption | None:
    """The feasible option cheapest at today's volume (ties: fewer GPUs, then the list's order)."""
    feasible = [(o.monthly_usd, o.gpus or 0, i, o) for i, o in enumerate(options) if o.feasible]
    return min(feasible)[3] if feasible else None

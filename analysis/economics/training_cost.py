"""The one-off cost of fine-tuning a candidate, estimated for a rented GPU or measured for a job
that ran on this machine's CPU, and carried into the scenario's `fine_tuning_usd` so that the
payback (`cost_model.payback_months`) follows it.

GPU estimate (every factor a range read from `data/fine_tuning.json`, with its source):
    FLOPs   = factor x 6 x N x D x epochs      (6ND: Kaplan et al. 2020; factor: LoRA ~2/3..0.8, full 1)
    seconds = FLOPs / (dense bf16 peak of the GPU x MFU)
    USD     = seconds / 3600 x the GPU's catalogue hourly price
N is the parameters one token runs through (a mixture of experts' active parameters), D the
tokens of the training set (prompts and answers: both go through forward and backward). The low
end pairs the low factor with the high MFU, the high end the reverse.

CPU measurement: USD = train seconds / 3600 x vCPUs x a cited on-demand price per vCPU-hour, an
equivalent rental price for the user's own machine (whose real marginal cost is electricity)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import duckdb

from analysis.economics import catalogue
from analysis.economics.models import ModelCard, model_card
from analysis.economics.scenario import Scenario
from analysis.errors import NotFound, UserError
from analysis.reference import read_json
from analysis.store.database import rows

Method = Literal["lora", "full"]
SECONDS_PER_HOUR = 3600
# A recipe trains on one GPU: the bf16 weights must fit with room left for activations and the
# adapter's optimiser state. 0.8 of the memory is this module's stated rule of thumb, not a citation.
WEIGHT_SHARE_OF_MEMORY = 0.8
BYTES_PER_BF16_PARAMETER = 2


class TrainingCostError(UserError):
    """A training cost that can't be estimated: no tokens, a model that doesn't fit, no finished job."""


@dataclass(frozen=True)
class Figure:
    """One cited figure of data/fine_tuning.json: a value, or a (low, high) range."""
    low: float
    high: float
    source: str
    url: str
    as_of: str
    note: str | None = None


@lru_cache(maxsize=1)
def figures() -> dict[str, Figure]:
    """data/fine_tuning.json's figures by name; a single value has low == high."""
    out = {}
    for name, entry in read_json("fine_tuning.json")["figures"].items():
        low = entry.get("low", entry.get("value"))
        high = entry.get("high", entry.get("value"))
        out[name] = Figure(low=float(low), high=float(high), source=entry["source"], url=entry["url"],
                           as_of=entry["as_of"], note=entry.get("note"))
    return out


@dataclass(frozen=True)
class TrainingCost:
    """A one-off training cost as a range. `kind` 'gpu-estimate' (from the formula) or
    'cpu-measured' (a finished local job: low == high); `source` is the one line the scenario's
    pages show for where `fine_tuning_usd` came from; `formula` states the arithmetic."""
    kind: Literal["gpu-estimate", "cpu-measured"]
    usd_low: float
    usd_high: float
    hours_low: float
    hours_high: float
    training_tokens: int
    epochs: float
    hourly_usd: float
    source: str
    formula: str
    model: str | None = None
    gpu: str | None = None
    method: Method | None = None
    flops_low: float | None = None
    flops_high: float | None = None

    @property
    def usd(self) -> float:
        """The figure carried into a scenario: the high (conservative) end, so the payback shown
        is the later one."""
        return self.usd_high

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields plus `usd`."""
        return {**self.__dict__, "usd": self.usd}


def hours_text(hours: float) -> str:
    """A duration given in hours, readable at any size: 0.005 -> '18 s', 0.25 -> '15.0 min', 3.456 -> '3.5 h'."""
    if hours < 1 / 60:
        return f"{hours * SECONDS_PER_HOUR:,.0f} s"
    return f"{hours * 60:,.1f} min" if hours < 1 else f"{hours:,.1f} h"


def gpu_training_estimate(model: str | ModelCard, gpu: str, training_tokens: int, epochs: float = 1.0,
                          method: Method = "lora") -> TrainingCost:
    """The GPU-hours and USD of fine-tuning `model` on one `gpu` over `training_tokens` x `epochs`,
    by the module's formula. TrainingCostError without tokens or epochs, when the GPU has no bf16
    figure, or when the model's bf16 weights take more than WEIGHT_SHARE_OF_MEMORY of its memory."""
    card = model if isinstance(model, ModelCard) else model_card(model)
    entry = catalogue.gpu(gpu)
    if training_tokens <= 0 or epochs <= 0:
        raise TrainingCostError(f"a training estimate needs tokens and epochs > 0, got {training_tokens:,} tokens "
                                f"x {epochs} epochs (is the export empty?)")
    if not entry.bf16_tflops:
        raise TrainingCostError(f"{entry.name} has no bf16 peak in data/gpus.json; choose another GPU")
    weights_gb = card.params_total_b * BYTES_PER_BF16_PARAMETER
    if weights_gb > WEIGHT_SHARE_OF_MEMORY * entry.memory_gb:
        raise TrainingCostError(
            f"{card.name}'s bf16 weights take {weights_gb:,.0f} GB, more than {WEIGHT_SHARE_OF_MEMORY:.0%} of one "
            f"{entry.name}'s {entry.memory_gb:,.0f} GB: choose a GPU with more memory or a smaller base model")
    data = figures()
    six, mfu = data["flops_per_parameter_token"].low, data["mfu"]
    factor_low, factor_high = (data["lora_factor"].low, data["lora_factor"].high) if method == "lora" else (1.0, 1.0)
    base = six * card.params_active_b * 1e9 * training_tokens * epochs
    peak = entry.bf16_tflops * 1e12
    flops_low, flops_high = factor_low * base, factor_high * base
    hours_low = flops_low / (peak * mfu.high) / SECONDS_PER_HOUR
    hours_high = flops_high / (peak * mfu.low) / SECONDS_PER_HOUR
    formula = (f"{factor_low:g}..{factor_high:g} x 6 x {card.params_active_b:g}B params x {training_tokens:,} tokens x "
               f"{epochs:g} epochs / ({entry.bf16_tflops:g} TFLOPS bf16 x MFU {mfu.low:g}..{mfu.high:g}) "
               f"x ${entry.hourly_usd:g}/h")
    source = (f"GPU estimate: {method} fine-tune of {card.name} on one {entry.name}, {training_tokens:,} tokens x "
              f"{epochs:g} epochs, {hours_text(hours_low)} to {hours_text(hours_high)} at ${entry.hourly_usd:g}/h "
              f"({entry.price_citation})")
    return TrainingCost(
        kind="gpu-estimate", usd_low=hours_low * entry.hourly_usd, usd_high=hours_high * entry.hourly_usd,
        hours_low=hours_low, hours_high=hours_high, training_tokens=training_tokens, epochs=epochs,
        hourly_usd=entry.hourly_usd, source=source, formula=formula, model=card.name, gpu=entry.name,
        method=method, flops_low=flops_low, flops_high=flops_high)


def cpu_training_cost(train_seconds: float, vcpus: int, training_tokens: int = 0, epochs: float = 0.0,
                      usd_per_vcpu_hour: float | None = None, model: str | None = None) -> TrainingCost:
    """A measured local job: train_seconds / 3600 x vcpus x usd_per_vcpu_hour (default: the cited
    on-demand price of data/fine_tuning.json), stated as the rental equivalent of the user's own
    machine."""
    if train_seconds < 0 or vcpus < 1:
        raise TrainingCostError(f"need train seconds >= 0 and at least one vCPU, got {train_seconds} s, {vcpus}")
    price = figures()["cpu_usd_per_vcpu_hour"].low if usd_per_vcpu_hour is None else usd_per_vcpu_hour
    hours = train_seconds / SECONDS_PER_HOUR
    usd = hours * vcpus * price
    source = (f"measured on this machine: {train_seconds:,.0f} s of CPU training on {vcpus} vCPUs x ${price:g} per "
              f"vCPU-hour (an on-demand cloud price for the same hours; your own machine only spends electricity)")
    return TrainingCost(
        kind="cpu-measured", usd_low=usd, usd_high=usd, hours_low=hours, hours_high=hours,
        training_tokens=training_tokens, epochs=epochs, hourly_usd=vcpus * price, source=source,
        formula=f"{train_seconds:,.0f} s / 3600 x {vcpus} vCPUs x ${price:g}", model=model)


def measured_jobs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The ids of the workspace's finished fine-tuning jobs with a measured train time, newest first."""
    return [r[0] for r in rows(con, """SELECT job_id FROM fine_tune_jobs WHERE status = 'done' AND train_seconds IS NOT NULL
                                       ORDER BY created_at DESC, job_id""")]


def measured_job_cost(con: duckdb.DuckDBPyConnection, job_id: str, usd_per_vcpu_hour: float | None = None) -> TrainingCost:
    """`cpu_training_cost` of a finished row of `fine_tune_jobs`; vCPUs from its settings' `threads`
    (else this machine's count). TrainingCostError when the job is unknown or has no train_seconds."""
    found = rows(con, """SELECT base_model, status, settings, training_tokens, epochs_done, train_seconds
                         FROM fine_tune_jobs WHERE job_id = ?""", [job_id])
    if not found:
        known = [r[0] for r in rows(con, "SELECT job_id FROM fine_tune_jobs ORDER BY created_at DESC LIMIT 5")]
        raise NotFound(f"no fine-tuning job {job_id!r}; latest: {', '.join(known) or 'none'}")
    base_model, status, settings, tokens, epochs, seconds = found[0]
    if seconds is None:
        raise TrainingCostError(f"fine-tuning job {job_id} ({status}) has no measured train time yet")
    settings = json.loads(settings) if isinstance(settings, str) else (settings or {})
    threads = settings.get("threads") if isinstance(settings, dict) else None
    vcpus = int(threads) if isinstance(threads, int) and threads > 0 else (os.cpu_count() or 1)
    return cpu_training_cost(float(seconds), vcpus, int(tokens or 0), float(epochs or 0), usd_per_vcpu_hour, base_model)


def apply_to_scenario(scenario: Scenario, cost: TrainingCost) -> Scenario:
    """`scenario` with fine_tuning_usd = cost.usd (the range's high end), validated like any edit,
    so the fixed monthly cost (fine-tuning / amortisation months) and the payback follow."""
    return Scenario.from_dict({"fine_tuning_usd": cost.usd}, defaults=scenario)

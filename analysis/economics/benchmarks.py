"""Published serving benchmarks (`data/benchmarks.json`) and the calibration of the sizing model's
efficiency factors on them.

Prediction of a point: its model card, its GPU entry (with `gpu_overrides` for the variant measured,
e.g. an H100 SXM5 where the catalogue lists the PCIe card), its tp, quant and mean shape; then
- single_stream_tokens_per_s: `sizing.single_stream_tokens_per_s`;
- requests_per_s / output_tokens_per_s / ttft_ms: `sizing.performance` at
  min(point's concurrency, the replica's KV and engine cap), without latency targets (a benchmark
  run is not held to any); output tokens/s = requests/s x output tokens.

Fit (`fit_efficiency`), one regime at a time: each factor is solved by bisection so that the median
of log(measured / predicted) over its regime's points is 0 (half the points above, half below):
1. bandwidth efficiency: single-stream points (concurrency 1: the decode step is memory-bound);
2. prefill compute efficiency: prefill-heavy batched points (input >= 10 x output tokens), with (1)
   fixed and the decode compute factor from (3) (equal to this one on the first round);
3. decode compute efficiency: the other batched points, with (1) and (2) fixed;
(2) and (3) alternate FIT_ROUNDS times, as each regime's prediction depends a little on the other.
Rounded to 2 decimals; `sizing.CALIBRATED` holds the result (a test checks it still matches)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

from analysis.economics import sizing
from analysis.economics.catalogue import Gpu, gpu
from analysis.economics.models import model_card
from analysis.reference import read_json

METRICS = ("output_tokens_per_s", "requests_per_s", "single_stream_tokens_per_s", "ttft_ms")
PREFILL_HEAVY_RATIO = 10
"""A point is prefill-heavy when its input is at least this many times its output."""
FIT_ROUNDS = 2
"""Alternations of the prefill and decode fits: the rounded factors do not move in the second."""


@dataclass(frozen=True)
class BenchmarkPoint:
    """One published measurement (fields as in data/benchmarks.json's _doc). `concurrency` is the
    number of requests in flight, or None for 'max throughput' without a stated number."""
    id: str
    source: str
    published: str
    engine: str
    engine_version: str
    model: str
    gpu: str
    tp: int
    quant: str
    shape: sizing.TokenShape
    concurrency: int | None
    metric: str
    value: float
    note: str
    gpu_variant: str | None = None
    gpu_overrides: tuple[tuple[str, float], ...] = ()
    gpu_overrides_source: str | None = None

    @property
    def regime(self) -> str:
        """'single stream', 'prefill-heavy' or 'batched decode' (which factor the point fits)."""
        if self.metric == "single_stream_tokens_per_s" or self.concurrency == 1:
            return "single stream"
        if self.shape.input_tokens >= PREFILL_HEAVY_RATIO * self.shape.output_tokens:
            return "prefill-heavy"
        return "batched decode"


@lru_cache(maxsize=1)
def benchmark_points() -> tuple[BenchmarkPoint, ...]:
    """Every point of data/benchmarks.json, in file order."""
    points = []
    for entry in read_json("benchmarks.json")["points"]:
        concurrency = entry["concurrency"]
        points.append(BenchmarkPoint(
            id=entry["id"], source=entry["source"], published=entry["published"], engine=entry["engine"],
            engine_version=entry["engine_version"], model=entry["model"], gpu=entry["gpu"], tp=int(entry["tp"]),
            quant=entry["quant"],
            shape=sizing.TokenShape(input_tokens=float(entry["shape"]["input_tokens"]),
                                    output_tokens=float(entry["shape"]["output_tokens"])),
            concurrency=None if concurrency == "max throughput" else int(concurrency),
            metric=entry["metric"], value=float(entry["value"]), note=entry["note"],
            gpu_variant=entry.get("gpu_variant"),
            gpu_overrides=tuple(sorted((key, float(value)) for key, value in entry.get("gpu_overrides", {}).items())),
            gpu_overrides_source=entry.get("gpu_overrides_source"),
        ))
    return tuple(points)


def measured_gpu(point: BenchmarkPoint) -> Gpu:
    """The catalogue GPU with the point's overrides for the variant it was measured on."""
    return replace(gpu(point.gpu), **dict(point.gpu_overrides))


def predicted(point: BenchmarkPoint, efficiency: sizing.Efficiency = sizing.CALIBRATED) -> float:
    """The sizing model's value for the point's metric (module docstring)."""
    card, entry = model_card(point.model), measured_gpu(point)
    if point.metric == "single_stream_tokens_per_s":
        return sizing.single_stream_tokens_per_s(card, entry, point.quant, point.tp, point.shape, efficiency)
    cap = sizing.max_concurrency(card, entry, point.quant, point.tp, point.shape)
    batch = min(point.concurrency or cap, cap)
    result = sizing.performance(card, entry, point.quant, point.tp, point.shape, batch, efficiency=efficiency)
    return {
        "requests_per_s": result.requests_per_s,
        "output_tokens_per_s": result.requests_per_s * point.shape.output_tokens,
        "ttft_ms": result.ttft_ms,
    }[point.metric]


def _log_error(point: BenchmarkPoint, efficiency: sizing.Efficiency) -> float:
    """log(measured / predicted), sign flipped for ttft (a larger efficiency lowers it)."""
    error = math.log(point.value / predicted(point, efficiency))
    return -error if point.metric == "ttft_ms" else error


def _solve(points: list[BenchmarkPoint], make: Callable[[float], sizing.Efficiency]) -> float:
    """The factor in (0.01, 1] where the median log error of `points` under make(factor) is 0
    (bisection on a median that falls as the factor grows)."""
    low, high = 0.01, 1.0
    for _ in range(40):
        middle = (low + high) / 2
        if statistics.median(_log_error(p, make(middle)) for p in points) > 0:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def fit_efficiency(points: tuple[BenchmarkPoint, ...] | None = None) -> sizing.Efficiency:
    """The three efficiency factors fitted on `points` (all published points by default), module
    docstring's method, rounded to 2 decimals."""
    points = points or benchmark_points()
    ideal = sizing.Efficiency(bandwidth=1.0, prefill_compute=1.0, decode_compute=1.0)
    by_regime = {regime: [p for p in points if p.regime == regime]
                 for regime in ("single stream", "prefill-heavy", "batched decode")}
    bandwidth = round(_solve(by_regime["single stream"], lambda f: replace(ideal, bandwidth=f)), 2)
    decode: float | None = None
    for _ in range(FIT_ROUNDS):
        prefill = round(_solve(by_regime["prefill-heavy"], lambda f, decode=decode: sizing.Efficiency(
            bandwidth=bandwidth, prefill_compute=f, decode_compute=decode or f)), 2)
        decode = round(_solve(by_regime["batched decode"], lambda f, prefill=prefill: sizing.Efficiency(
            bandwidth=bandwidth, prefill_compute=prefill, decode_compute=f)), 2)
    return sizing.Efficiency(bandwidth=bandwidth, prefill_compute=prefill, decode_compute=decode)

"""The GPU catalogue (`data/gpus.json`: memory, cited on-demand price, rough 7-8B throughput, and
the datasheet figures a sizing model needs: memory bandwidth, dense bf16/fp8/int8 tensor peaks and
the interconnect) and the rule for which model sizes fit on one GPU (`data/model_fit.json`). Every
number lives in those files, each with its source; this module only reads them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from analysis.errors import NotFound
from analysis.reference import read_json


@dataclass(frozen=True)
class PriceSource:
    """Where an hourly price was read: provider, what was looked at, and when (YYYY-MM)."""
    provider: str
    citation: str
    as_listed: str


@dataclass(frozen=True)
class Gpu:
    """One catalogue entry. `throughput_rps_7b` is a rough default for a 7-8B model (cited by
    `throughput_source`), to be replaced by the probe's measurement when one exists.

    The datasheet fields (read from `spec_source`, published `spec_as_of`) are what decode and
    prefill speed follow: `memory_bandwidth_gbs` (GB/s), DENSE tensor peaks `bf16_tflops`,
    `fp8_tflops` (None where the GPU has no fp8) and `int8_tops`, and the GPU-to-GPU link
    (`interconnect`, `interconnect_gbs`, the host PCIe link where there is none). `spec_note` says
    which variant the figures describe (e.g. the PCIe H100 the price is for)."""
    name: str
    memory_gb: float
    hourly_usd: float
    price_source: PriceSource
    throughput_rps_7b: float
    throughput_source: str
    throughput_note: str | None = None
    memory_bandwidth_gbs: float | None = None
    bf16_tflops: float | None = None
    fp8_tflops: float | None = None
    int8_tops: float | None = None
    interconnect: str | None = None
    interconnect_gbs: float | None = None
    spec_source: str | None = None
    spec_as_of: str | None = None
    spec_note: str | None = None

    @property
    def price_citation(self) -> str:
        """'<provider>, <citation>, as listed on <date>'."""
        s = self.price_source
        return f"{s.provider}, {s.citation}, as listed on {s.as_listed}"


@dataclass(frozen=True)
class ModelSize:
    """A model size of the fit table: its label ('7-8B') and the parameter count used (8)."""
    size: str
    params_b: float


@lru_cache(maxsize=1)
def gpus() -> tuple[Gpu, ...]:
    """Every GPU of `data/gpus.json`, in file order."""
    data = read_json("gpus.json")
    return tuple(
        Gpu(
            name=g["name"],
            memory_gb=float(g["memory_gb"]),
            hourly_usd=float(g["hourly_usd"]),
            price_source=PriceSource(**g["price_source"]),
            throughput_rps_7b=float(g["throughput_rps_7b"]),
            throughput_source=data["throughput_source"],
            throughput_note=g.get("throughput_note"),
            memory_bandwidth_gbs=_number(g.get("memory_bandwidth_gbs")),
            bf16_tflops=_number(g.get("bf16_tflops")),
            fp8_tflops=_number(g.get("fp8_tflops")),
            int8_tops=_number(g.get("int8_tops")),
            interconnect=g.get("interconnect"),
            interconnect_gbs=_number(g.get("interconnect_gbs")),
            spec_source=g.get("spec_source"),
            spec_as_of=g.get("spec_as_of"),
            spec_note=g.get("spec_note"),
        )
        for g in data["gpus"]
    )


def _number(value: float | int | None) -> float | None:
    """A JSON number as float; None (absent or null: the GPU has no such figure) stays None."""
    return None if value is None else float(value)


def gpu(name: str) -> Gpu:
    """The catalogue entry called `name` (case and surrounding spaces ignored); NotFound listing
    the known names otherwise."""
    wanted = name.strip().casefold()
    for entry in gpus():
        if entry.name.casefold() == wanted:
            return entry
    known = ", ".join(g.name for g in gpus())
    raise NotFound(f"unknown GPU {name!r}; the catalogue has: {known}")


@lru_cache(maxsize=1)
def _fit() -> dict[str, Any]:
    return read_json("model_fit.json")


def quantisations() -> tuple[str, ...]:
    """The quantisations the fit rule knows (e.g. fp16, int8, q4)."""
    return tuple(_fit()["rule"]["bytes_per_param"])


def model_sizes() -> tuple[ModelSize, ...]:
    """The model sizes of the fit table (1B ... 70B)."""
    return tuple(ModelSize(row["size"], float(row["params_b"])) for row in _fit()["table"])


def required_gb(model_params_b: float, quant: str) -> float:
    """GPU memory a model needs: params (billions) x bytes per parameter[quant] x overhead, the
    overhead (~1.2) leaving room for the KV cache and runtime buffers."""
    rule = _fit()["rule"]
    if quant not in rule["bytes_per_param"]:
        raise ValueError(f"unknown quantisation {quant!r}; known: {', '.join(quantisations())}")
    if model_params_b <= 0:
        raise ValueError(f"model size must be > 0 billion parameters, got {model_params_b}")
    return model_params_b * rule["bytes_per_param"][quant] * rule["overhead"]


def fits(model_params_b: float, quant: str, gpu_or_name: Gpu | str) -> bool:
    """True when required_gb(model_params_b, quant) <= the GPU's memory (one GPU, no sharding)."""
    entry = gpu(gpu_or_name) if isinstance(gpu_or_name, str) else gpu_or_name
    return required_gb(model_params_b, quant) <= entry.memory_gb


def fit_table() -> dict[str, dict[str, list[str]]]:
    """{size label: {quant: [names of GPUs it fits on]}} for every size and quantisation, computed
    from the rule and the catalogue (the table in model_fit.json is this, written out for readers)."""
    return {
        size.size: {q: [g.name for g in gpus() if fits(size.params_b, q, g)] for q in quantisations()}
        for size in model_sizes()
    }

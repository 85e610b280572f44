"""The GPU catalogue (`data/gpus.json`: memory, cited on-demand price, and the datasheet figures the
sizing model needs: memory bandwidth, dense bf16/fp8/int8 tensor peaks and the interconnect). Every
number lives in that file, each with its source; this module only reads it. Which models fit on
which GPUs is the sizing model's answer (`analysis.economics.sizing`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

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
    """One catalogue entry. The datasheet fields (read from `spec_source`, published `spec_as_of`) are what decode and
    prefill speed follow: `memory_bandwidth_gbs` (GB/s), DENSE tensor peaks `bf16_tflops`,
    `fp8_tflops` (None where the GPU has no fp8) and `int8_tops`, and the GPU-to-GPU link
    (`interconnect`, `interconnect_gbs`, the host PCIe link where there is none). `spec_note` says
    which variant the figures describe (e.g. the PCIe H100 the price is for)."""
    name: str
    memory_gb: float
    hourly_usd: float
    price_source: PriceSource
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

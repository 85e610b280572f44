"""Serverless GPU prices (`data/serverless_prices.json`): per catalogue GPU, the cited per-second
price of one provider's scale-to-zero offer, with other providers' offers as alternatives, and per
provider the billing rules the cost model needs (the idle timeout a container stays billed after
its last request) or records (minimum billing, cold start). Every number lives in the data file
with its source and date; this module only reads it."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from analysis.reference import read_json


@dataclass(frozen=True)
class ServerlessProvider:
    """One provider's billing rules: `idle_timeout_s` is the default time a container stays up,
    and billed, after its last request; `minimum_billed_s` the least billed per start (None: none
    published); `cold_start_s` the published typical start time (None: none published). The
    `*_source` fields cite each."""
    name: str
    pricing_url: str
    billing: str
    idle_timeout_s: float
    idle_timeout_source: str
    minimum_billed_s: float | None
    minimum_billed_source: str
    cold_start_s: float | None
    cold_start_source: str


@dataclass(frozen=True)
class ServerlessOffer:
    """Another provider's per-second price for the same GPU."""
    provider: str
    offer: str
    usd_per_second: float
    source: str
    as_of: str


@dataclass(frozen=True)
class ServerlessPrice:
    """The cited serverless price of one catalogue GPU: `provider`'s `offer` at `usd_per_second`
    per GPU-second (read at `source`, referring to `as_of`, YYYY-MM); `alternatives` are other
    providers' prices for the card."""
    gpu: str
    provider: ServerlessProvider
    offer: str
    usd_per_second: float
    source: str
    as_of: str
    citation: str
    note: str | None
    alternatives: tuple[ServerlessOffer, ...]

    @property
    def usd_per_hour(self) -> float:
        """usd_per_second × 3600, to compare with an hourly rental."""
        return self.usd_per_second * 3600

    @property
    def idle_timeout_s(self) -> float:
        """The provider's default idle timeout."""
        return self.provider.idle_timeout_s

    @property
    def citation_line(self) -> str:
        """'Modal, Nvidia H100, $0.001097/s (https://modal.com/pricing, 2026-07)'."""
        return f"{self.provider.name}, {self.offer}, ${self.usd_per_second:.6f}/s ({self.source}, {self.as_of})"


@functools.cache
def providers() -> dict[str, ServerlessProvider]:
    """Every provider of the data file by name."""
    out = {}
    for name, p in read_json("serverless_prices.json")["providers"].items():
        idle, minimum, cold = p["idle_timeout_s"], p["minimum_billed_s"], p["cold_start_s"]
        out[name] = ServerlessProvider(
            name=name, pricing_url=p["pricing_url"], billing=p["billing"],
            idle_timeout_s=float(idle["value"]), idle_timeout_source=f"{idle['source']} ({idle['url']}, {idle['as_of']})",
            minimum_billed_s=_number(minimum["value"]),
            minimum_billed_source=f"{minimum['source']} ({minimum['url']}, {minimum['as_of']})",
            cold_start_s=_number(cold["value"]), cold_start_source=f"{cold['source']} ({cold['url']}, {cold['as_of']})",
        )
    return out


def default_provider() -> ServerlessProvider:
    """The provider that prices most GPUs (`default_provider` in the data file): its idle timeout
    is the default for a GPU priced by hand."""
    return providers()[read_json("serverless_prices.json")["default_provider"]]


@functools.cache
def _prices() -> dict[str, ServerlessPrice]:
    by_name = providers()
    out = {}
    for g in read_json("serverless_prices.json")["gpus"]:
        out[g["gpu"].casefold()] = ServerlessPrice(
            gpu=g["gpu"], provider=by_name[g["provider"]], offer=g["offer"],
            usd_per_second=float(g["usd_per_second"]), source=g["source"], as_of=g["as_of"],
            citation=g["citation"], note=g.get("note"),
            alternatives=tuple(ServerlessOffer(a["provider"], a["offer"], float(a["usd_per_second"]), a["source"],
                                               a["as_of"]) for a in g.get("alternatives", ())),
        )
    return out


def serverless_price(gpu_name: str) -> ServerlessPrice | None:
    """The cited serverless price of the catalogue GPU `gpu_name` (case and surrounding spaces
    ignored); None when no source offers that GPU serverless (e.g. MI300X) or the name is unknown."""
    return _prices().get(gpu_name.strip().casefold())


def priced_gpus() -> tuple[str, ...]:
    """The GPUs with a cited serverless price, in file order."""
    return tuple(p.gpu for p in _prices().values())


def _number(value: float | int | None) -> float | None:
    return None if value is None else float(value)

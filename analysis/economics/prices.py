"""API prices from `genai-prices` (works offline), as per-token unit prices that SQL can use.

Cost of one request (tokens as stored in `requests`, see db.m001_initial):

    cost = (input_tokens - cached_input_tokens - cache_write_tokens) x input price
         + cached_input_tokens x cache-read price
         + cache_write_tokens x cache-write price
         + output_tokens x output price

with the batch variant of every price when the request went through a Batch API. Unit prices are
derived by pricing a thousand tokens of each kind with `genai_prices.calc_price`, so tiered
(long-context) prices are taken at their base tier. genai-prices models batch prices only from
the date it started tracking them; for a batch request logged before that, each standard price in
force then is scaled by today's batch/standard ratio for that model (e.g. OpenAI's 50%).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import duckdb
from genai_prices import Usage, calc_price

PROBE_TOKENS = 1000  # small enough to stay in every model's base price tier
PROVIDER_IDS = {"openai": "openai", "anthropic": "anthropic", "azure": "azure", "google": "google", "aws": "aws"}


@dataclass(frozen=True)
class UnitPrices:
    """USD per token of each kind, for one model at one time."""

    model: str
    provider: str
    input: float
    cache_read: float
    cache_write: float
    output: float

    def cost(self, input_tokens: int, output_tokens: int, cached: int = 0, cache_write: int = 0) -> float:
        """The module formula for one request."""
        uncached = max(input_tokens - cached - cache_write, 0)
        return (
            uncached * self.input
            + cached * self.cache_read
            + cache_write * self.cache_write
            + output_tokens * self.output
        )


def _prices(model: str, provider_id: str | None, when: datetime, batch: bool) -> tuple[float, ...] | None:
    """(input, cache_read, cache_write, output) USD per token, or None for an unknown model."""
    context = {"processing": "batch"} if batch else None

    def price(**usage: int) -> float:
        total = calc_price(
            Usage(**usage), model, provider_id=provider_id, genai_request_timestamp=when,
            price_context=context,
        ).total_price
        return float(total) / PROBE_TOKENS

    n = PROBE_TOKENS
    try:
        return (
            price(input_tokens=n),
            price(input_tokens=n, cache_read_tokens=n),
            price(input_tokens=n, cache_write_tokens=n),
            price(output_tokens=n),
        )
    except LookupError:
        return None


@lru_cache(maxsize=1024)
def unit_prices(
    model: str, provider: str | None = None, when: datetime | None = None, batch: bool = False
) -> UnitPrices | None:
    """Per-token prices of `model` (as logged, e.g. "gpt-4o-2024-08-06") or None when
    genai-prices does not know it. `when` picks the price in force then (default: now)."""
    now = datetime.now(UTC)
    when = (when or now) if (when is None or when.tzinfo) else when.replace(tzinfo=UTC)
    provider_id = PROVIDER_IDS.get((provider or "").lower())
    prices = _prices(model, provider_id, when, batch)
    if prices is None:
        return None
    if batch and prices == _prices(model, provider_id, when, False):
        standard_now, batch_now = _prices(model, provider_id, now, False), _prices(model, provider_id, now, True)
        prices = tuple(
            p * (b / s) if s else p for p, s, b in zip(prices, standard_now, batch_now, strict=True)
        )
    return UnitPrices(model, provider or "", *prices)


def create_price_table(
    con: duckdb.DuckDBPyConnection, keys: list[tuple[str, str | None, datetime | None, bool]], table: str = "_prices"
) -> int:
    """(Re)create a TEMP table `table(model, provider, is_batch, input, cache_read, cache_write, output)`
    with the unit prices of each (model, provider, when, is_batch) key that genai-prices knows.
    Returns how many keys were priced."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} (model VARCHAR, provider VARCHAR, is_batch BOOLEAN, "
        "input DOUBLE, cache_read DOUBLE, cache_write DOUBLE, output DOUBLE)"
    )
    return add_prices(con, keys, table)


def add_prices(
    con: duckdb.DuckDBPyConnection, keys: list[tuple[str, str | None, datetime | None, bool]], table: str = "_prices"
) -> int:
    """Add to a table made by create_price_table the unit prices of each key that genai-prices
    knows; returns how many keys were priced."""
    priced = []
    for model, provider, when, batch in keys:
        p = unit_prices(model, provider, when, batch)
        if p is not None:
            priced.append([model, provider or "", batch, p.input, p.cache_read, p.cache_write, p.output])
    if priced:
        con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?)", priced).fetchall()
    return len(priced)


COST_SQL = """(greatest(coalesce({r}.input_tokens, 0) - coalesce({r}.cached_input_tokens, 0)
               - coalesce({r}.cache_write_tokens, 0), 0) * {p}.input
          + coalesce({r}.cached_input_tokens, 0) * {p}.cache_read
          + coalesce({r}.cache_write_tokens, 0) * {p}.cache_write
          + coalesce({r}.output_tokens, 0) * {p}.output)"""
"""The module formula as a SQL expression over a requests alias `r` and a price-table alias `p`."""


def cost_sql(requests_alias: str = "r", prices_alias: str = "p") -> str:
    """The cost formula as SQL, for a join of requests with a table made by create_price_table."""
    return COST_SQL.format(r=requests_alias, p=prices_alias)

"""Scenario defaults from a workspace's logs. Every number is one SQL aggregate over the logged
traffic (the `traffic` view: requests without labelled dataset rows; fast on 10M rows); a value the logs cannot give keeps the base scenario's.

- requests_per_day: `analysis.store.summary`'s definition, requests / whole UTC days covered.
- growth_per_month: with >= MIN_GROWTH_DAYS days covered, the first and last logged days (usually
  partial) are dropped, the interior days (zero-request days included) are summed over trailing
  7-day windows (a whole week, so a weekly rhythm cancels), and the least-squares slope b of
  ln(window sum) against the day number gives growth = exp(b × 30.4167) − 1, clamped to
  [−0.99, 10]. Fewer days, a 7-day window without requests, or fewer than
  MIN_GROWTH_WEEKLY_REQUESTS requests a week on average: 0 (too little to tell growth from noise;
  fitting only the weeks that have requests would read sparse, falling traffic as growth).
- peak_to_average: the hour-of-day profile of the interactive requests (Batch API requests have no
  busy hour to size for, see batch_share): requests in each UTC hour of the day, summed over all
  days (i.e. averaged by hour of day), busiest hour × 24 / all of them = the mean rate in the
  busiest hour of the day / the mean hourly rate. Weekdays and weekends are averaged together.
  Interactive logs spanning less than 24 hours give no profile (a single hour's burst would read
  as a peak of 24): the base scenario's value stays.
- api_cost_per_request / api_cost_by_task: per task type (NULL: '(untyped)') and model, the mean
  API cost per request at the standard (non-batch) rate: the logged or computed cost_usd, a Batch
  API request's divided by batch_price_ratio; an ok request without cost is priced with
  genai-prices (today's prices, `analysis.economics.prices`) from its token sums; one with neither is left
  out of the mean; a failed request without a logged cost costs $0 (APIs don't bill failed calls)
  where its group (task type x model x batch) has a price, else it is left out too. So, without
  Batch requests and with every ok request priced at ingest, this mean × requests/day is the
  Overview's monthly spend. Shares are request counts.
- input/output length (mean and p95) and cached_share: the workload's token shape
  (`analysis.economics.token_shape.workload_shape`), which the sizing model turns into capacity.
- candidate_model: the replayed candidate the decision uses, when the catalogue knows its model
  (`replayed_model`), so the model priced is the one measured; a probe's model wins over it.
- batch_share: the share of requests that went through a Batch API. A mixed workspace keeps the
  interactive part's peak, latency targets and serving mode, and the scenario sizes the fleet for
  max(interactive peak, all work spread over the day) and prices the Batch part at the Batch rate
  (`analysis.economics.traffic_kind`). All traffic through a Batch API: batch_discount and
  BATCH_TRAFFIC (scheduled mode, no peak factor, no latency target).
- capacity_rps_per_gpu: the newest probe that measured a catalogue model on a catalogue GPU
  (`breakeven probe --gpu NAME`, see `probe_on_catalogue_gpu`), with that model and GPU,
  capacity_source 'probe'; else the sizing model's, on the GPU and deployment mode that
  `analysis.economics.gpu_choice` recommends for the base scenario's model (the cheapest feasible
  at today's volume; the base's when none is feasible or the base scenario sets its GPU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

import duckdb

from analysis.economics import catalogue
from analysis.economics.cost_model import DAYS_PER_MONTH
from analysis.economics.gpu_choice import gpu_options, recommended
from analysis.economics.models import find_model
from analysis.economics.prices import unit_prices
from analysis.economics.scenario import Scenario
from analysis.economics.sizing import LatencyTargets, Sizing, size
from analysis.economics.token_shape import workload_shape
from analysis.errors import UserError
from analysis.quality.candidate_choice import best_candidate
from analysis.store.database import rows, scalar
from analysis.store.summary import summarise

BATCH_TRAFFIC = {"mode": "scheduled", "peak_to_average": 1.0, "ttft_p95_ms": None, "latency_p95_ms": None}
"""Defaults for Batch API traffic: work that waits up to a day has no busy hour to size for and no
latency target, so it runs in scheduled windows at the fleet's full throughput."""
MIN_GROWTH_DAYS = 14
MIN_GROWTH_WEEKLY_REQUESTS = 20  # sparser logs say too little about growth

# Per group: logged cost, the token sums of the ok requests without one (priced in Python), and
# the failed requests without one: $0 (APIs don't bill failed calls; ingest leaves them unpriced
# for the same reason), see group_cost.
_UNPRICED_OK = "cost_usd IS NULL AND status = 'ok'"
COST_COLUMNS_SQL = f"""count(*) AS n, coalesce(sum(cost_usd), 0) AS logged_usd,
    count(*) FILTER (WHERE {_UNPRICED_OK} AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)) AS to_price,
    coalesce(sum(input_tokens) FILTER (WHERE {_UNPRICED_OK}), 0) AS input_tokens,
    coalesce(sum(cached_input_tokens) FILTER (WHERE {_UNPRICED_OK}), 0) AS cached_tokens,
    coalesce(sum(cache_write_tokens) FILTER (WHERE {_UNPRICED_OK}), 0) AS write_tokens,
    coalesce(sum(output_tokens) FILTER (WHERE {_UNPRICED_OK}), 0) AS output_tokens,
    count(cost_usd) AS logged_n,
    count(*) FILTER (WHERE cost_usd IS NULL AND status <> 'ok') AS failed_free"""


def group_cost(model: str | None, provider: str | None, is_batch: bool, logged_usd: float, logged_n: int,
               to_price: int, tokens: tuple[int, int, int, int], failed_free: int = 0) -> tuple[float, int]:
    """(USD, requests with a cost) of one group of COST_COLUMNS_SQL: the logged cost plus the
    genai-prices cost of the unpriced ok requests' token sums (input, cached, cache write, output),
    at the group's batch rate; those stay unpriced when genai-prices doesn't know the model. The
    failed requests without a cost count as priced at $0, but only beside a real price: a group
    of unknown prices must not read as free."""
    prices = unit_prices(model, provider, batch=bool(is_batch)) if to_price and model else None
    usd, priced = float(logged_usd), int(logged_n)
    if prices is not None:
        inp, cached, write, out = tokens
        usd, priced = usd + prices.cost(inp, out, cached, write), priced + int(to_price)
    return usd, (priced + int(failed_free) if priced else 0)


@dataclass(frozen=True)
class ApiCost:
    """One task type x model: requests, how many have a cost, and their cost at the standard rate."""
    task_type: str
    model: str | None
    requests: int
    priced: int
    cost_usd: float

    @property
    def cost_per_request(self) -> float | None:
        """cost_usd / priced; None when nothing was priced."""
        return self.cost_usd / self.priced if self.priced else None


def api_costs(con: duckdb.DuckDBPyConnection, batch_price_ratio: float = 0.5) -> list[ApiCost]:
    """Per task type and model, the API cost at the standard rate (module rule)."""
    found = rows(con, f"""SELECT coalesce(task_type, '(untyped)'), model, any_value(provider), is_batch,
                                 {COST_COLUMNS_SQL}
                          FROM traffic GROUP BY 1, 2, 4 ORDER BY 1, 2 NULLS LAST, 4""")
    merged: dict[tuple[str, str | None], list] = {}
    for task, model, provider, batch, n, logged, to_price, inp, cached, write, out, logged_n, free in found:
        usd, priced = group_cost(model, provider, batch, logged, logged_n, to_price, (inp, cached, write, out), free)
        cell = merged.setdefault((task, model), [0, 0, 0.0])
        cell[0] += n
        cell[1] += priced
        cell[2] += usd / batch_price_ratio if batch else usd
    return [ApiCost(t, m, n, p, c) for (t, m), (n, p, c) in merged.items()]


def growth_per_month(con: duckdb.DuckDBPyConnection) -> float | None:
    """Compound monthly growth from the log-linear fit of the module rule; None with fewer than
    MIN_GROWTH_DAYS days covered, fewer than two whole weeks, a week without requests or too few
    requests a week."""
    slope, windows, days, empty_weeks, mean_week = rows(con, """
        WITH b AS (SELECT min(ts)::DATE AS lo, max(ts)::DATE AS hi FROM traffic),
        cal AS (SELECT unnest(generate_series(lo + 1, hi - 1, INTERVAL 1 DAY))::DATE AS d FROM b),
        n AS (SELECT ts::DATE AS d, count(*) AS n FROM traffic WHERE ts IS NOT NULL GROUP BY 1),
        w AS (SELECT cal.d, sum(coalesce(n.n, 0)) OVER win AS total, count(*) OVER win AS k
              FROM cal LEFT JOIN n USING (d) WINDOW win AS (ORDER BY cal.d ROWS 6 PRECEDING))
        SELECT regr_slope(ln(greatest(total, 1)), date_diff('day', (SELECT lo FROM b), d)) FILTER (WHERE total > 0),
               count(*), (SELECT date_diff('day', lo, hi) + 1 FROM b), count(*) FILTER (WHERE total = 0), avg(total)
        FROM w WHERE k = 7""")[0]
    if (days is None or days < MIN_GROWTH_DAYS or windows < 2 or slope is None or empty_weeks
            or mean_week < MIN_GROWTH_WEEKLY_REQUESTS):
        return None
    return min(10.0, max(-0.99, math.exp(slope * DAYS_PER_MONTH) - 1))


def peak_to_average(con: duckdb.DuckDBPyConnection) -> float | None:
    """The interactive requests' busiest hour-of-day's requests × 24 / all of them (module rule), at
    least 1; None without interactive timestamps or when they span less than 24 hours."""
    peak, total = rows(con, """SELECT max(n), sum(n) FROM (SELECT hour(ts) AS h, count(*) AS n FROM traffic
                               WHERE ts IS NOT NULL AND NOT is_batch GROUP BY 1)
                               WHERE (SELECT max(ts) - min(ts) FROM traffic WHERE NOT is_batch) >= INTERVAL 1 DAY
                               """)[0]
    return max(1.0, min(1000.0, peak * 24 / total)) if total else None


@dataclass(frozen=True)
class ProbeMeasurement:
    """One capacity probe (`analysis.replay.probe`): its best within-target requests/s (None when no
    level kept p95 under the target), the model it measured and the hardware it ran on."""
    probe_id: str
    measured_at: datetime
    model: str
    candidate: str
    hardware: str | None
    capacity_rps: float | None
    p95_target_ms: float
    max_tokens: int


def probe_measurements(con: duckdb.DuckDBPyConnection) -> list[ProbeMeasurement]:
    """Every probe, newest first; [] without the table."""
    if not scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'probe_results'"):
        return []
    found = rows(con, """
        SELECT probe_id, max(measured_at), any_value(model), any_value(candidate), any_value(hardware),
               max(capacity_rps) FILTER (WHERE within_target), any_value(p95_target_ms), any_value(max_tokens)
        FROM probe_results GROUP BY probe_id ORDER BY 2 DESC""")
    return [ProbeMeasurement(probe_id=probe_id, measured_at=at, model=model, candidate=candidate, hardware=hardware,
                             capacity_rps=None if best is None else float(best), p95_target_ms=float(target),
                             max_tokens=int(tokens))
            for probe_id, at, model, candidate, hardware, best, target, tokens in found]


def probe_on_catalogue_gpu(con: duckdb.DuckDBPyConnection) -> tuple[ProbeMeasurement, str, str] | None:
    """The newest probe with a within-target capacity that measured a catalogue model on a catalogue
    GPU, with those two names: the only measurement that can stand for a GPU's capacity. A probe
    of this computer's CPU, of unknown hardware or of a model outside the catalogue calibrates
    nothing here (the pages show it beside the sizing model's figure)."""
    gpu_names = {g.name.casefold(): g.name for g in catalogue.gpus()}
    for probe in probe_measurements(con):
        card = find_model(probe.model) or find_model(probe.candidate)
        gpu = gpu_names.get((probe.hardware or "").casefold())
        if probe.capacity_rps is not None and card is not None and gpu is not None:
            return probe, card.name, gpu
    return None


def replayed_model(con: duckdb.DuckDBPyConnection) -> str | None:
    """The catalogue name of the model whose quality the decision uses by default
    (`candidate_choice.best_candidate`), so the model priced is the model measured; None when it is
    not in the catalogue or nothing is scored."""
    best = best_candidate(con)
    card = find_model(best.candidate) if best else None
    return card.name if card else None


def probe_prediction(probe: ProbeMeasurement, scenario: Scenario) -> Sizing | None:
    """The sizing model's answer for what the probe measured, to set beside the measurement: its
    model at its published precision on the probed catalogue GPU, the scenario's request shape with
    answers cut at the probe's max_tokens, and the probe's p95 target as the end-to-end target.
    None when the probe ran on no catalogue GPU, measured a model outside the catalogue, or the
    model does not fit there."""
    card = find_model(probe.model) or find_model(probe.candidate)
    gpu = {g.name.casefold(): g for g in catalogue.gpus()}.get((probe.hardware or "").casefold())
    if card is None or gpu is None:
        return None
    shape, p95 = scenario.token_shape, scenario.token_shape_p95
    try:
        return size(card, gpu, card.native_quant, None,
                    replace(shape, output_tokens=min(shape.output_tokens, probe.max_tokens)),
                    LatencyTargets(ttft_p95_ms=None, latency_p95_ms=probe.p95_target_ms),
                    replace(p95, output_tokens=min(p95.output_tokens, probe.max_tokens)))
    except UserError:
        return None


def scenario_defaults(con: duckdb.DuckDBPyConnection, base: Scenario | None = None) -> Scenario:
    """`base` (default: Scenario()) with the fields the logs can give replaced by the module's
    rules; the GPU and mode are the recommended ones unless `base` sets its GPU. An empty workspace
    returns `base` unchanged."""
    base = base or Scenario()
    choose_gpu = "gpu" not in base.model_fields_set
    summary = summarise(con, by_day_limit=1)
    if not summary.requests:
        return base
    data: dict = {} if summary.requests_per_day is None else {"requests_per_day": summary.requests_per_day}
    for name, value in (("growth_per_month", growth_per_month(con)), ("peak_to_average", peak_to_average(con))):
        if value is not None:
            data[name] = value
    costs = api_costs(con, base.batch_price_ratio)
    priced = sum(c.priced for c in costs)
    if priced:
        overall = sum(c.cost_usd for c in costs) / priced
        data["api_cost_per_request"] = overall
        by_task: dict[str, list] = {}
        for c in costs:
            cell = by_task.setdefault(c.task_type, [0, 0, 0.0])
            cell[0], cell[1], cell[2] = cell[0] + c.requests, cell[1] + c.priced, cell[2] + c.cost_usd
        data["api_cost_by_task"] = {
            task: {"share": n / summary.requests, "cost_per_request": usd / p if p else overall}
            for task, (n, p, usd) in sorted(by_task.items())}
    shape = workload_shape(con)
    if shape is not None:
        data |= {"input_length": max(1.0, shape.input_tokens_mean), "output_length": max(1.0, shape.output_tokens_mean),
                 "input_length_p95": max(1.0, shape.input_tokens_p95),
                 "output_length_p95": max(1.0, shape.output_tokens_p95), "cached_share": shape.cached_share}
    batch = scalar(con, "SELECT avg(is_batch::INT) FROM traffic") or 0.0
    data |= {"batch_share": batch, "batch_discount": batch >= 1}
    if batch >= 1:
        data |= BATCH_TRAFFIC
    replayed = replayed_model(con)
    if replayed is not None:
        data["candidate_model"] = replayed
    probed = probe_on_catalogue_gpu(con)
    if probed is not None:
        probe, model, gpu = probed
        data |= {"candidate_model": model, "gpu": gpu, "capacity_rps_per_gpu": probe.capacity_rps,
                 "capacity_source": "probe"}
        return Scenario.from_dict(data, defaults=base)
    scenario = Scenario.from_dict(data, defaults=base)
    best = recommended(gpu_options(scenario)) if choose_gpu else None
    return scenario if best is None else Scenario.from_dict({"gpu": best.gpu, "mode": best.mode}, scenario)

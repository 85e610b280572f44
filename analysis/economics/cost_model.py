"""The cost model: API vs self-hosting per month, where self-hosting is cheaper, cost curves, growth
and sensitivity. Pure functions over a `CostInputs`. Money in USD; a month is 730 hours = 30.4167
days.

Self-hosting with a fixed GPU count serves at most `capacity_requests_per_day`; volume above that
is "over capacity" and is priced as staying on the API, so both sides always serve every request.
A fleet sized for the peak grows in whole replicas (`gpus_per_replica` GPUs each), so its cost is
a staircase and self-hosting can win on a set of volume intervals rather than above one point:
`cheaper_regions` lists them exactly."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from analysis.errors import UserError
from analysis.present.formatting import compact, usd
from analysis.reference import read_json

HOURS_PER_MONTH = 730.0
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
SECONDS_PER_DAY = 86_400.0
# Regions are listed up to this volume (the cost curve's default range), or today's if higher.
HORIZON_REQUESTS_PER_DAY = 1e8
# Steps examined one by one where winning is intermittent; the rest is solved in closed form.
MAX_LISTED_STEPS = 200

Mode = Literal["dedicated", "scheduled", "serverless", "owned"]
MODE_NOTES: dict[Mode, str] = {
    "dedicated": "Dedicated GPUs running 24/7, sized for the peak hour.",
    "scheduled": "Scheduled batch windows: only valid for work that can wait for the next window "
    "(no interactive latency).",
    "serverless": "Serverless per-second GPU billing at the provider's serverless price: busy GPU-seconds, "
    "plus the idle window each container stays billed after its last request, plus cold starts; requests "
    "after an idle spell wait for a cold start.",
    "owned": "Owned GPU servers (on premises or in colocation, e.g. for data sovereignty), sized for "
    "the peak hour: depreciation and colocation per server plus energy at full rated power 24/7 x PUE; "
    "the GPU hourly price is not used.",
}


class CostInputError(UserError, ValueError):
    """Cost-model inputs that can't be used; a ValueError too, for callers that catch that."""


@dataclass(frozen=True)
class OwnedHardware:
    """Bought GPU servers. Energy is charged at full rated power 24/7: a fleet sized for the peak
    idles below it (an H100 idles far under 700 W), but colocation contracts bill the provisioned
    power, the energy line is small next to depreciation (about a sixth with the defaults), and a
    constant draw keeps the bill a pure step function of the fleet, so an upper bound is the
    honest simple rule."""
    server_price_usd: float
    gpus_per_server: int
    depreciation_months: float
    power_kw_per_gpu: float
    power_kw_per_server_base: float
    pue: float
    electricity_usd_per_kwh: float
    colocation_usd_per_server_month: float

    def __post_init__(self) -> None:
        checks = [
            (isinstance(self.gpus_per_server, int) and self.gpus_per_server >= 1, "gpus_per_server must be an integer >= 1"),
            (self.depreciation_months > 0, "depreciation_months must be > 0"),
            (self.pue >= 1, "pue must be >= 1 (a facility never uses less than its IT load)"),
            (min(self.server_price_usd, self.power_kw_per_gpu, self.power_kw_per_server_base,
                 self.electricity_usd_per_kwh, self.colocation_usd_per_server_month) >= 0,
             "owned hardware prices and powers must be >= 0"),
        ]
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise CostInputError("; ".join(problems))

    def servers(self, gpus: int) -> int:
        """ceil(GPUs / GPUs per server)."""
        return -(-gpus // self.gpus_per_server)

    @property
    def energy_usd_per_kw_month(self) -> float:
        """PUE × 730 h × electricity price: one kW of IT load for a month, cooling included."""
        return self.pue * HOURS_PER_MONTH * self.electricity_usd_per_kwh

    @property
    def gpu_monthly_usd(self) -> float:
        """Each GPU's energy per month: kW per GPU × energy per kW-month."""
        return self.power_kw_per_gpu * self.energy_usd_per_kw_month

    @property
    def server_monthly_usd(self) -> float:
        """What each server costs per month before its GPUs draw power: price / depreciation
        months + colocation + base kW × energy per kW-month."""
        return (self.server_price_usd / self.depreciation_months + self.colocation_usd_per_server_month
                + self.power_kw_per_server_base * self.energy_usd_per_kw_month)

    def monthly_usd(self, gpus: int) -> float:
        """servers × (price / depreciation months + colocation) + (GPUs × kW per GPU + servers ×
        base kW) × PUE × 730 h × electricity price, servers = ceil(GPUs / GPUs per server)."""
        return self.servers(gpus) * self.server_monthly_usd + gpus * self.gpu_monthly_usd


@functools.cache
def default_owned_hardware() -> OwnedHardware:
    """The cited defaults of data/owned_hardware.json (an 8x H100 server of the DGX H100 class):
    base kW per server = server maximum kW − GPUs × kW per GPU; colocation per server = colocation
    USD per kW-month × server maximum kW."""
    figures = {name: entry["value"] for name, entry in read_json("owned_hardware.json")["figures"].items()}
    server_kw = figures["server_max_power_kw"]
    return OwnedHardware(
        server_price_usd=figures["server_price_usd"],
        gpus_per_server=figures["gpus_per_server"],
        depreciation_months=figures["depreciation_months"],
        power_kw_per_gpu=figures["power_kw_per_gpu"],
        power_kw_per_server_base=server_kw - figures["gpus_per_server"] * figures["power_kw_per_gpu"],
        pue=figures["pue"],
        electricity_usd_per_kwh=figures["electricity_usd_per_kwh"],
        colocation_usd_per_server_month=figures["colocation_usd_per_kw_month"] * server_kw,
    )


@dataclass(frozen=True)
class CostInputs:
    """Every number the cost model needs. `api_mix` is ((share, USD per request), ...), one pair per
    task type (shares need not sum to 1); `gpu_count` None sizes the fleet automatically, in whole
    replicas of `gpus_per_replica` GPUs (tensor parallelism; capacity stays per GPU, so a replica
    serves gpus_per_replica × capacity_rps_per_gpu); `owned` prices mode "owned". Mode
    "serverless" bills `serverless_usd_per_second` per GPU-second (None: gpu_hourly_usd / 3600, an
    on-demand rate and not a serverless price, which `SelfHostCost.note` then says) and keeps each
    container billed `serverless_idle_timeout_s` after its last request (see
    `serverless_billed_seconds_per_day`; 0: busy seconds only)."""
    requests_per_day: float
    api_mix: tuple[tuple[float, float], ...]
    gpu_hourly_usd: float
    capacity_rps_per_gpu: float
    target_utilisation: float = 1.0
    peak_to_average: float = 1.0
    mode: Mode = "dedicated"
    gpu_count: int | None = None
    gpus_per_replica: int = 1
    owned: OwnedHardware | None = None
    ops_usd_per_month: float = 0.0
    fine_tuning_usd: float = 0.0
    amortisation_months: float = 12.0
    growth_per_month: float = 0.0
    cold_starts_per_day: float = 0.0
    cold_start_seconds: float = 0.0
    serverless_usd_per_second: float | None = None
    serverless_idle_timeout_s: float = 0.0

    def __post_init__(self) -> None:
        mix, replica = self.api_mix, self.gpus_per_replica
        whole_replica = isinstance(replica, int) and replica >= 1
        checks = [
            (self.requests_per_day >= 0, "requests_per_day must be >= 0"),
            (bool(mix) and all(s >= 0 and c >= 0 for s, c in mix), "api_mix needs (share, cost) pairs >= 0"),
            (sum(s for s, _ in mix) > 0, "api_mix shares must not all be 0"),
            (self.capacity_rps_per_gpu > 0, "capacity_rps_per_gpu must be > 0"),
            (0 < self.target_utilisation <= 1, "target_utilisation must be in (0, 1]"),
            (self.peak_to_average >= 1, "peak_to_average must be >= 1 (a peak is never below the mean)"),
            (self.mode in MODE_NOTES, f"mode must be one of {', '.join(MODE_NOTES)}"),
            (whole_replica, "gpus_per_replica must be an integer >= 1"),
            (self.gpu_count is None or self.gpu_count >= 1, "gpu_count must be >= 1 or None (auto)"),
            (self.gpu_count is None or not whole_replica or self.gpu_count % replica == 0,
             f"gpu_count must be a multiple of gpus_per_replica ({replica}): the fleet is whole replicas"),
            (self.mode != "owned" or self.owned is not None, "mode 'owned' needs `owned` (OwnedHardware)"),
            (min(self.gpu_hourly_usd, self.ops_usd_per_month, self.fine_tuning_usd, self.cold_starts_per_day,
                 self.cold_start_seconds) >= 0, "prices, costs and cold starts must be >= 0"),
            (self.serverless_usd_per_second is None or self.serverless_usd_per_second >= 0,
             "serverless_usd_per_second must be >= 0 or None (the hourly price / 3600)"),
            (self.serverless_idle_timeout_s >= 0, "serverless_idle_timeout_s must be >= 0"),
            (self.amortisation_months > 0, "amortisation_months must be > 0"),
            (self.growth_per_month > -1, "growth_per_month must be > -1"),
        ]
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise CostInputError("; ".join(problems))

    @property
    def api_cost_per_request(self) -> float:
        """The blended API cost per request of `api_mix`."""
        return blended_cost_per_request(self.api_mix)


def blended_cost_per_request(mix: Sequence[tuple[float, float]]) -> float:
    """Σ shareᵢ × costᵢ / Σ shareᵢ over (share, cost per request) pairs."""
    return sum(s * c for s, c in mix) / sum(s for s, _ in mix)


def api_monthly_cost(requests_per_day: float, cost_per_request: float) -> float:
    """requests/day × DAYS_PER_MONTH × cost per request."""
    return requests_per_day * DAYS_PER_MONTH * cost_per_request


def peak_requests_per_second(requests_per_day: float, peak_to_average: float) -> float:
    """requests/day / 86,400 × peak-to-average."""
    return requests_per_day / SECONDS_PER_DAY * peak_to_average


def gpus_needed(requests_per_day: float, capacity_rps_per_gpu: float, utilisation: float,
                peak_to_average: float, gpus_per_replica: int = 1) -> int:
    """Whole replicas for the peak, in GPUs: gpus_per_replica × max(1, ceil(peak requests/s /
    (gpus_per_replica × capacity per GPU × utilisation)))."""
    replicas = (peak_requests_per_second(requests_per_day, peak_to_average)
                / (gpus_per_replica * capacity_rps_per_gpu * utilisation))
    # A volume computed back from a step edge lands a hair above the integer: no extra replica for that.
    return gpus_per_replica * max(1, math.ceil(replicas - 1e-9))


def requests_per_day_served(gpus: int, capacity_rps_per_gpu: float, utilisation: float,
                            peak_to_average: float) -> float:
    """The most requests/day `gpus` serve at the peak: gpus × capacity × utilisation × 86,400 /
    peak-to-average (the inverse of `gpus_needed`)."""
    return gpus * capacity_rps_per_gpu * utilisation * SECONDS_PER_DAY / peak_to_average


def fixed_monthly_cost(ops_usd_per_month: float, fine_tuning_usd: float, amortisation_months: float) -> float:
    """ops + fine-tuning / amortisation months."""
    return ops_usd_per_month + fine_tuning_usd / amortisation_months


def dedicated_monthly_cost(gpus: int, gpu_hourly_usd: float, fixed_usd: float) -> float:
    """GPUs × hourly price × 730 + fixed (ops + amortised fine-tuning)."""
    return gpus * gpu_hourly_usd * HOURS_PER_MONTH + fixed_usd


def gpu_hours_per_month(requests_per_day: float, capacity_rps_per_gpu: float, utilisation: float) -> float:
    """Busy GPU-hours: monthly requests / (capacity × 3600 × utilisation), monthly requests =
    requests/day × DAYS_PER_MONTH. Scheduled mode pays these hours; serverless pays them by the
    second (busy seconds = 3600 × hours)."""
    return requests_per_day * DAYS_PER_MONTH / (capacity_rps_per_gpu * 3600 * utilisation)


def cold_start_monthly_cost(cold_starts_per_day: float, cold_start_seconds: float,
                            gpu_hourly_usd: float) -> float:
    """cold starts/day × DAYS_PER_MONTH × cold-start seconds × price per second (hourly / 3600).
    The cost model passes a container's price: serverless price per GPU-second × 3600 × GPUs per
    replica."""
    return cold_starts_per_day * DAYS_PER_MONTH * cold_start_seconds * gpu_hourly_usd / 3600


def serverless_billed_seconds_per_day(requests_per_day: float, capacity_rps_per_gpu: float,
                                      utilisation: float, idle_timeout_s: float,
                                      gpus_per_replica: int = 1) -> float:
    """GPU-seconds a serverless deployment bills per day: busy seconds plus the idle tail.

    Busy GPU-seconds B = requests/day / (capacity × utilisation), as `gpu_hours_per_month`. One
    container holds r = gpus_per_replica GPUs, so it is busy a share ρ = B / (r × 86,400) of the
    day. Requests arrive as a Poisson process at the day's average rate λ = requests/day / 86,400
    per second, and a container stays up, billed, for the idle timeout T after its work is done.
    Treated as one queue serving one request at a time (M/G/1), its busy spells end λ(1 − ρ) times
    a second, and after each the wait for the next request is exponential (memoryless), so each
    idle spell bills E[min(wait, T)] = (1 − e^(−λT)) / λ before the next request comes or the
    container scales down. The billed share of the day is then

        ρ + (1 − ρ)(1 − e^(−λT)) = 1 − (1 − ρ) e^(−λT),

    i.e. billed = B + r × 86,400 × (1 − ρ)(1 − e^(−λT)) GPU-seconds a day while ρ < 1: the
    container is off only while idle with no request in the last T seconds. T = 0 gives B (busy
    seconds only); λT >> 1 gives r × 86,400, the container up 24/7 (one replica's dedicated cost at
    the serverless price). From ρ >= 1 the work alone fills one container all day and billed = B:
    the idle tails of containers started for peaks are not counted. A daily rhythm lowers the idle
    tail (the warm share 1 − e^(−λT) is concave in λ), so the day's average rate gives this model's
    upper bound. Cold starts and minimum billing per start are not in this figure."""
    busy = requests_per_day / (capacity_rps_per_gpu * utilisation)
    container_day = gpus_per_replica * SECONDS_PER_DAY
    busy_share = busy / container_day
    if busy_share >= 1 or idle_timeout_s <= 0:
        return busy
    warm_share = -math.expm1(-requests_per_day / SECONDS_PER_DAY * idle_timeout_s)
    return busy + container_day * (1 - busy_share) * warm_share


def serverless_usd_per_second(x: CostInputs) -> float:
    """The price of one GPU-second in mode serverless: x.serverless_usd_per_second, else the
    on-demand gpu_hourly_usd / 3600 (not a serverless price)."""
    return x.gpu_hourly_usd / 3600 if x.serverless_usd_per_second is None else x.serverless_usd_per_second


def cost_per_1k(monthly_usd: float, requests_per_day: float) -> float | None:
    """monthly cost / (requests/day × DAYS_PER_MONTH) × 1000; None at zero volume."""
    if requests_per_day <= 0:
        return None
    return monthly_usd / (requests_per_day * DAYS_PER_MONTH) * 1000


@dataclass(frozen=True)
class SelfHostCost:
    """Self-hosting at one volume. `monthly_usd` is the setup's bill; `overflow_api_usd` what the
    over-capacity volume costs on the API; `total_usd` both. `gpus` is the 24/7 fleet (dedicated
    and owned only); `gpu_hours` the GPU-hours billed (owned: run) per month."""
    mode: Mode
    monthly_usd: float
    gpus: int | None
    gpu_hours: float
    served_requests_per_day: float
    over_capacity_requests_per_day: float
    overflow_api_usd: float
    note: str

    @property
    def total_usd(self) -> float:
        """monthly_usd + overflow_api_usd."""
        return self.monthly_usd + self.overflow_api_usd


def _sized_for_peak(x: CostInputs) -> bool:
    """A 24/7 fleet sized for the peak hour: its cost moves in steps of whole replicas."""
    return x.mode in ("dedicated", "owned")


def capacity_requests_per_day(x: CostInputs) -> float:
    """The most requests/day the setup serves: unbounded (inf) with an automatic GPU count; with
    n fixed GPUs, requests_per_day_served(n, ...) for dedicated, owned and serverless (n = the most
    GPUs at the peak), and n × capacity × utilisation × 86,400 for scheduled (the n × 730
    GPU-hours of a month, where work waits out the peaks)."""
    if x.gpu_count is None:
        return math.inf
    peak = 1.0 if x.mode == "scheduled" else x.peak_to_average
    return requests_per_day_served(x.gpu_count, x.capacity_rps_per_gpu, x.target_utilisation, peak)


def _replica_volume(x: CostInputs) -> float:
    """Requests/day one replica serves at the peak: the width of one step."""
    return requests_per_day_served(x.gpus_per_replica, x.capacity_rps_per_gpu, x.target_utilisation,
                                   x.peak_to_average)


def _fixed(x: CostInputs) -> float:
    # The part of the self-hosting bill that doesn't move with volume.
    fixed = fixed_monthly_cost(x.ops_usd_per_month, x.fine_tuning_usd, x.amortisation_months)
    if x.mode == "serverless":
        # A cold start bills the whole container (gpus_per_replica GPUs) at the serverless price.
        container_hourly = serverless_usd_per_second(x) * 3600 * x.gpus_per_replica
        fixed += cold_start_monthly_cost(x.cold_starts_per_day, x.cold_start_seconds, container_hourly)
    return fixed


def _fleet_monthly_cost(x: CostInputs, gpus: int) -> float:
    """A 24/7 fleet without the fixed costs: owned hardware, else GPUs × hourly × 730."""
    if x.mode == "owned":
        return x.owned.monthly_usd(gpus)
    return gpus * x.gpu_hourly_usd * HOURS_PER_MONTH


def self_host_cost(x: CostInputs, requests_per_day: float | None = None,
                   gpus: int | None = None) -> SelfHostCost:
    """Self-hosting cost at `requests_per_day` (default x.requests_per_day), served = min(volume,
    capacity_requests_per_day):
      dedicated:  GPUs = gpus, else x.gpu_count, else gpus_needed(served) in whole replicas;
                  monthly = dedicated_monthly_cost(GPUs, hourly, ops + FT / amortisation)
      owned:      the same fleet; monthly = OwnedHardware.monthly_usd(GPUs) + ops + FT / am.
      scheduled:  monthly = gpu_hours_per_month(served) × hourly + ops + FT / amortisation
      serverless: monthly = serverless_billed_seconds_per_day(served) (busy + idle tail) ×
                  DAYS_PER_MONTH × serverless price per GPU-second + cold starts (per day ×
                  seconds × the container's price per second) + ops + FT / am.; gpu_hours = the
                  billed GPU-hours. Without a serverless price the hourly price / 3600 is used
                  and the note says so.
    The over-capacity volume is priced on the API (overflow_api_usd)."""
    volume = x.requests_per_day if requests_per_day is None else requests_per_day
    served = min(volume, capacity_requests_per_day(x))
    over = volume - served
    overflow = api_monthly_cost(over, x.api_cost_per_request)
    u, c = x.target_utilisation, x.capacity_rps_per_gpu
    if _sized_for_peak(x):
        fleet = gpus or x.gpu_count or gpus_needed(served, c, u, x.peak_to_average, x.gpus_per_replica)
        monthly = _fleet_monthly_cost(x, fleet) + _fixed(x)
        hours = fleet * HOURS_PER_MONTH
        return SelfHostCost(x.mode, monthly, fleet, hours, served, over, overflow, MODE_NOTES[x.mode])
    if x.mode == "serverless":
        billed = serverless_billed_seconds_per_day(served, c, u, x.serverless_idle_timeout_s, x.gpus_per_replica)
        monthly = billed * DAYS_PER_MONTH * serverless_usd_per_second(x) + _fixed(x)
        return SelfHostCost(x.mode, monthly, None, billed * DAYS_PER_MONTH / 3600, served, over, overflow,
                            _serverless_note(x))
    hours = gpu_hours_per_month(served, c, u)
    monthly = hours * x.gpu_hourly_usd + _fixed(x)
    return SelfHostCost(x.mode, monthly, None, hours, served, over, overflow, MODE_NOTES[x.mode])


def _serverless_note(x: CostInputs) -> str:
    note = MODE_NOTES["serverless"]
    if x.serverless_usd_per_second is None:
        note += (f" Priced at the on-demand hourly rate / 3600 (${x.gpu_hourly_usd:,.2f}/h): no serverless "
                 "price was given, and a serverless offer's price per GPU-second differs (for most GPUs it is higher).")
    return note


def monthly_savings(x: CostInputs, requests_per_day: float | None = None) -> float:
    """API monthly cost − self-hosting total (setup + over-capacity volume on the API); > 0 means
    self-hosting saves money."""
    volume = x.requests_per_day if requests_per_day is None else requests_per_day
    return api_monthly_cost(volume, x.api_cost_per_request) - self_host_cost(x, volume).total_usd


def payback_months(x: CostInputs) -> float | None:
    """fine-tuning cost / monthly savings before amortisation (savings + FT / amortisation months);
    None when self-hosting saves nothing even before paying off the fine-tuning."""
    before = monthly_savings(x) + x.fine_tuning_usd / x.amortisation_months
    return x.fine_tuning_usd / before if before > 0 else None


# --- where self-hosting is cheaper -------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """Volumes from `from_requests_per_day` to `to_requests_per_day` (both included) where
    self-hosting costs no more than the API; `to_requests_per_day` None: open-ended, self-hosting
    stays cheaper beyond the horizon too. `gpus_at_start` / `gpus_at_end`: the fleet at either end
    (None for scheduled and serverless, and at an open end)."""
    from_requests_per_day: float
    to_requests_per_day: float | None
    gpus_at_start: int | None
    gpus_at_end: int | None

    def includes(self, requests_per_day: float) -> bool:
        """from <= volume <= to (no upper bound when open-ended)."""
        top = self.to_requests_per_day
        return self.from_requests_per_day <= requests_per_day and (top is None or requests_per_day <= top)


def default_horizon(today_requests_per_day: float) -> float:
    """How far up regions are listed: max(HORIZON_REQUESTS_PER_DAY = 1e8, today's volume). The
    first crossing and where self-hosting stays cheaper are exact at any volume."""
    return max(HORIZON_REQUESTS_PER_DAY, today_requests_per_day)


def _smallest_in_class(predicate: Callable[[int], bool], residue: int, period: int, estimate: float,
                       lowest: int) -> int:
    """Smallest k >= lowest with k ≡ residue (mod period) and predicate(k), for a predicate that
    is monotone within the class and whose real threshold is about `estimate`: start at the
    estimate and correct the float error by a few steps either way."""
    k = max(lowest, math.ceil(estimate))
    k += (residue - k) % period
    # Below ~1e15 requests/day the float estimate is at most a step or two off; beyond, exactness is moot.
    for _ in range(64):
        if k - period < lowest or not predicate(k - period):
            break
        k -= period
    for _ in range(64):
        if predicate(k):
            break
        k += period
    return k


@dataclass(frozen=True)
class _Staircase:
    """Self-hosting on an automatically sized fleet of whole replicas. Step k (k replicas, k × r
    GPUs) serves volumes in ((k − 1) × V, k × V], V = `_replica_volume`, for the constant
    cost(k) = fleet cost + fixed F. The fleet cost is k × average + server × ((−k × r) mod G) / G:
    linear in k plus the unfilled part of the last owned server (G GPUs per server; G = 1 and
    server = 0 for rented GPUs), a pattern that repeats every P = G / gcd(G, r) steps. Within one
    residue class of k mod P the unfilled share q = ((−k × r) mod G) / G is fixed, so the API's
    bill at the step's top minus cost(k) is k × m − F − server × q, m = s × V − average (s = API
    dollars per month per request/day): linear in k. Step k wins at its top from k >= (F + server × q) / m, and wins whole (the API
    already costs more at the step's bottom) from k >= (F + server × q + s × V) / m; so from the
    largest of those whole-step thresholds on, self-hosting stays cheaper for good."""
    x: CostInputs
    volume: float
    api_slope: float
    fixed: float
    average: float
    server: float
    gpus_per_server: int

    @classmethod
    def of(cls, x: CostInputs) -> _Staircase:
        r = x.gpus_per_replica
        if x.mode == "owned":
            hardware = x.owned
            server, per_server = hardware.server_monthly_usd, hardware.gpus_per_server
            average = r * (hardware.gpu_monthly_usd + server / per_server)
        else:
            average, server, per_server = r * x.gpu_hourly_usd * HOURS_PER_MONTH, 0.0, 1
        return cls(x, _replica_volume(x), DAYS_PER_MONTH * x.api_cost_per_request, _fixed(x), average,
                   server, per_server)

    @property
    def margin(self) -> float:
        """m = s × V − average: what each replica gains on the API on average."""
        return self.api_slope * self.volume - self.average

    @property
    def period(self) -> int:
        return self.gpus_per_server // math.gcd(self.gpus_per_server, self.x.gpus_per_replica)

    def cost(self, k: int) -> float:
        return _fleet_monthly_cost(self.x, k * self.x.gpus_per_replica) + self.fixed

    def wins_at_top(self, k: int) -> bool:
        return self.cost(k) <= self.api_slope * k * self.volume

    def wins_whole(self, k: int) -> bool:
        return self.cost(k) <= self.api_slope * (k - 1) * self.volume

    def thresholds(self, predicate: Callable[[int], bool], extra: float, lowest: int) -> list[int]:
        """Per residue class, the smallest k >= lowest where predicate holds, estimated as
        (F + extra + server × q) / m."""
        r, per_server = self.x.gpus_per_replica, self.gpus_per_server
        return [_smallest_in_class(predicate, residue, self.period,
                                   (self.fixed + extra + self.server * ((-residue * r) % per_server) / per_server)
                                   / self.margin, lowest)
                for residue in range(1, self.period + 1)]


@dataclass(frozen=True)
class _Solution:
    regions: tuple[Region, ...]
    first: float | None  # smallest volume >= start where self-hosting costs no more, at any volume
    stays_from: float | None  # from here on self-hosting never costs more, at any volume
    unlisted: tuple[float, float] | None
    reason: str


def _setup(x: CostInputs, gpus: int, cost: float) -> str:
    fleet = f"{gpus} GPU{'s' if gpus > 1 else ''}"
    if x.mode == "owned":
        servers = x.owned.servers(gpus)
        fleet = f"{gpus} owned GPU{'s' if gpus > 1 else ''} in {servers} server{'s' if servers > 1 else ''}"
    return f"self-hosting on {fleet} (${cost:,.2f}/month)"


def _crossed(setup: str, first: float, start: float) -> str:
    if first <= start and start > 0:
        return f"self-hosting already costs no more than the API at {start:,.0f} requests/day"
    return f"{setup} costs what the API charges at {first:,.0f} requests/day"


def _never(reason: str) -> _Solution:
    return _Solution((), None, None, None, reason)


def _solve_staircase(x: CostInputs, start: float, horizon: float) -> _Solution:
    """The regions of an automatically sized fleet (see `_Staircase`): the first winning step from
    start's step on and the step K from which every step wins whole come in closed form (O(P));
    only the steps in between, where winning is intermittent, are walked, at most
    MAX_LISTED_STEPS of them and none above the horizon."""
    steps = _Staircase.of(x)
    r, volume, slope = x.gpus_per_replica, steps.volume, steps.api_slope
    if steps.margin <= 0:
        unit = "GPU" if r == 1 else f"{r}-GPU replica"
        share = " (with its share of the server, power and colocation)" if x.mode == "owned" else ""
        return _never(f"one {unit}'s worth of traffic ({volume:,.0f} requests/day) costs "
                      f"${volume * slope:,.2f}/month on the API, no more than the {unit}'s "
                      f"${steps.average:,.2f}/month{share}: the API stays cheaper at every volume")
    start_step = gpus_needed(start, x.capacity_rps_per_gpu, x.target_utilisation, x.peak_to_average, r) // r
    first_step = min(steps.thresholds(steps.wins_at_top, 0.0, start_step))
    first = max(start, steps.cost(first_step) / slope)
    reason = _crossed(_setup(x, first_step * r, steps.cost(first_step)), first, start)
    stays_step = max(steps.thresholds(steps.wins_whole, slope * volume, 1)) - steps.period + 1
    stays_from = steps.cost(stays_step - 1) / slope if stays_step > 1 else 0.0
    if stays_from <= start:
        return _Solution((Region(start, None, start_step * r, None),), first, stays_from, None, reason)
    regions: list[Region] = []
    unlisted = None
    for k in range(first_step, stays_step - 1):
        bottom, top = (k - 1) * volume, k * volume
        if bottom > horizon:
            break
        if k - first_step == MAX_LISTED_STEPS:
            unlisted = (bottom, min(stays_from, horizon))
            break
        cost = steps.cost(k)
        if cost > slope * top:
            continue
        if regions and regions[-1].to_requests_per_day == bottom and cost <= slope * bottom:
            regions[-1] = replace(regions[-1], to_requests_per_day=top, gpus_at_end=k * r)
        else:
            regions.append(Region(max(start, bottom, cost / slope), top, k * r, k * r))
    if stays_from <= horizon:
        regions.append(Region(stays_from, None, (stays_step - 1) * r, None))
    return _Solution(tuple(regions), first, stays_from, unlisted, reason)


def _busy_cost_per_volume(x: CostInputs) -> float:
    """GPU dollars per month per request/day of busy time: scheduled hourly × DAYS_PER_MONTH /
    (3600 × capacity × utilisation); serverless the same at its price per GPU-second × 3600."""
    hourly = serverless_usd_per_second(x) * 3600 if x.mode == "serverless" else x.gpu_hourly_usd
    return gpu_hours_per_month(1, x.capacity_rps_per_gpu, x.target_utilisation) * hourly


def _solve_linear(x: CostInputs, start: float, horizon: float) -> _Solution:
    """Scheduled, serverless without an idle window, and any fixed fleet: savings(v) = gain ×
    min(v, capacity) − cost, with gain = s − GPU dollars per month per request/day
    (`_busy_cost_per_volume`) and cost = F, or gain = s and cost = the fixed fleet's whole bill.
    Self-hosting wins from cost / gain on, for good (past capacity the savings stay constant), if
    that is within capacity; else never."""
    slope, cap = DAYS_PER_MONTH * x.api_cost_per_request, capacity_requests_per_day(x)
    gpus = x.gpu_count if _sized_for_peak(x) else None
    if gpus is not None:
        gain, cost = slope, _fleet_monthly_cost(x, gpus) + _fixed(x)
        setup = _setup(x, gpus, cost)
    else:
        per_volume = _busy_cost_per_volume(x)
        gain, cost = slope - per_volume, _fixed(x)
        if gain <= 0:
            return _never(f"a request costs ${per_volume / DAYS_PER_MONTH:.6f} in GPU time, no less than "
                          f"the API's ${x.api_cost_per_request:.6f}: the API stays cheaper at every volume")
        setup = f"self-hosting ({x.mode}, ${cost:,.2f}/month fixed)"
    crossing = cost / gain
    if crossing > cap:
        return _never(f"{setup} only matches the API at {crossing:,.0f} requests/day, beyond the {cap:,.0f} "
                      f"requests/day that the fixed {x.gpu_count} GPU(s) serve at {x.target_utilisation:.0%} "
                      "utilisation")
    first = max(start, crossing)
    regions = (Region(first, None, gpus, None),) if first <= horizon else ()
    return _Solution(regions, first, crossing, None, _crossed(setup, first, start))


# Bisection steps for a serverless crossing: enough to pin it to 1e-13 of its value from any bracket.
_BISECTION_STEPS = 200


def _first_nonnegative(savings: Callable[[float], float], low: float, high: float) -> float:
    """The smallest volume in (low, high] with savings >= 0, for savings < 0 at low and >= 0 at
    high that change sign once in between: bisection down to 1e-13 of the volume (or adjacent
    floats), returning the end where savings >= 0 holds as computed."""
    for _ in range(_BISECTION_STEPS):
        if high - low <= 1e-13 * high:
            break
        middle = (low + high) / 2
        if middle in (low, high):
            break
        if savings(middle) >= 0:
            high = middle
        else:
            low = middle
    return high


def _solve_serverless(x: CostInputs, start: float, horizon: float) -> _Solution:
    """Serverless with an idle window T > 0 (`serverless_billed_seconds_per_day`), solved exactly
    up to a bisection to 1e-13. With s = DAYS_PER_MONTH × API cost per request, p the price per
    GPU-second, F the fixed costs (cold starts, ops, fine-tuning), V = r × 86,400 × capacity ×
    utilisation the volume that keeps one container busy all day, k = 1 / V and a = T / 86,400:

      savings(v) = s × v − p × DAYS_PER_MONTH × r × 86,400 × (1 − (1 − k v) e^(−a v)) − F   (v < V)
      savings(v) = m × v − F,  m = s − p × DAYS_PER_MONTH / (capacity × utilisation)          (v >= V)

    and constant past a fixed count's capacity. The first line is convex (the idle tail grows ever
    slower), the second linear with the busy-time margin m, no more than the first line's slope at V
    (the idle tail stops growing there). So with m <= 0 self-hosting never wins (savings <= max(−F, m V − F) <= 0 before V,
    falling after; only v = 0 can tie with F = 0). With m > 0 savings fall to a minimum at v*
    (0 when they rise from the start; found by bisecting the sign of the closed-form slope) and
    rise from there: self-hosting wins from the one crossing β >= v* on, for good, found by
    bisection on [v*, V] if savings(V) >= 0 and else β = F / m as in `_solve_linear` (never when
    that lies beyond a fixed count's capacity). Where F = 0 and savings dip first, the isolated
    v = 0 (both sides cost nothing) is not listed."""
    api = x.api_cost_per_request
    slope, cap = DAYS_PER_MONTH * api, capacity_requests_per_day(x)
    price, idle, fixed = serverless_usd_per_second(x), x.serverless_idle_timeout_s, _fixed(x)
    per_volume = _busy_cost_per_volume(x)
    setup = f"serverless at ${price:.6f}/GPU-second with a {idle:g} s idle window (${fixed:,.2f}/month fixed)"
    margin = slope - per_volume
    if margin <= 0:
        return _never(f"a request costs ${per_volume / DAYS_PER_MONTH:.6f} in serverless GPU time before any idle "
                      f"tail, no less than the API's ${api:.6f}: the API stays cheaper at every volume")
    container_day = x.gpus_per_replica * SECONDS_PER_DAY
    full = container_day * x.capacity_rps_per_gpu * x.target_utilisation  # V: one container busy all day
    k, a = 1 / full, idle / SECONDS_PER_DAY

    def savings(volume: float) -> float:
        return monthly_savings(x, volume)

    def rising(volume: float) -> bool:
        # d savings / dv > 0 below V: s − p × D × r × 86,400 × e^(−a v) × (k + a (1 − k v)).
        return slope - price * DAYS_PER_MONTH * container_day * math.exp(-a * volume) * (k + a * (1 - k * volume)) > 0

    top = min(full, cap)
    if rising(0.0):
        bottom = 0.0
    elif not rising(top):
        bottom = top
    else:
        low, high = 0.0, top
        for _ in range(_BISECTION_STEPS):
            middle = (low + high) / 2
            if middle in (low, high):
                break
            low, high = (low, middle) if rising(middle) else (middle, high)
        bottom = high
    if savings(bottom) >= 0:
        crossing = bottom
    elif savings(top) >= 0:
        crossing = _first_nonnegative(savings, bottom, top)
    elif cap > full:
        crossing = fixed / margin
        if crossing > cap:
            crossing = math.inf
    else:
        crossing = math.inf
    if crossing == math.inf:
        return _never(f"{setup} costs more than the API up to the {cap:,.0f} requests/day that the fixed "
                      f"{x.gpu_count} GPU(s) serve at {x.target_utilisation:.0%} utilisation; above that "
                      "the volume stays on the API")
    first = max(start, crossing)
    regions = (Region(first, None, None, None),) if first <= horizon else ()
    return _Solution(regions, first, crossing, None, _crossed(setup, first, start))


def _solve(x: CostInputs, start: float, horizon: float) -> _Solution:
    if x.api_cost_per_request <= 0:
        return _never("the API costs nothing per request")
    if _sized_for_peak(x) and x.gpu_count is None:
        return _solve_staircase(x, start, horizon)
    if x.mode == "serverless" and x.serverless_idle_timeout_s > 0:
        return _solve_serverless(x, start, horizon)
    return _solve_linear(x, start, horizon)


def cheaper_regions(x: CostInputs, start: float = 0.0, horizon: float | None = None) -> list[Region]:
    """The volume intervals from `start` up to `horizon` (default `default_horizon` of today's
    volume) where self-hosting costs no more than the API, solved exactly, adjacent ones merged;
    the last is open-ended (to None) where self-hosting stays cheaper for good. An automatically
    sized dedicated or owned fleet wins on part of each replica step ([max(S_k / s, v_{k−1}), v_k]
    on step k, S_k its bill, s = DAYS_PER_MONTH × API cost per request, v_k = k × one replica's
    volume), so its regions can be many; scheduled, serverless and fixed fleets give one region or
    none. At most MAX_LISTED_STEPS intermittent steps are listed: see BreakEven.unlisted_between."""
    return list(_solve(x, start, default_horizon(x.requests_per_day) if horizon is None else horizon).regions)


@dataclass(frozen=True)
class BreakEven:
    """Where self-hosting costs no more than the API. `requests_per_day`: the first crossing, the
    smallest volume >= the floor where it does (None: at no volume); `status`: 'always' when it
    does at every volume from the floor on, 'never' when at none, else 'at'; `reason` in words.
    `regions` lists every such interval up to `horizon_requests_per_day` (`cheaper_regions`);
    `stays_cheaper_from_requests_per_day` is where self-hosting stops losing for good (None:
    never), exact at any volume; `unlisted_between` (from, to) a stretch where the intervals
    alternate over more than MAX_LISTED_STEPS steps and are not listed (None: the list is
    complete)."""
    requests_per_day: float | None
    status: Literal["at", "never", "always"]
    reason: str
    regions: tuple[Region, ...]
    stays_cheaper_from_requests_per_day: float | None
    unlisted_between: tuple[float, float] | None
    horizon_requests_per_day: float


def breakeven(x: CostInputs, floor_requests_per_day: float = 0.0,
              horizon_requests_per_day: float | None = None) -> BreakEven:
    """The first crossing from the floor on, where self-hosting stays cheaper, and the regions up to
    the horizon (default `default_horizon(x.requests_per_day)`), as in `cheaper_regions`:
      dedicated / owned, automatic fleet: with s = DAYS_PER_MONTH × API cost per request, V one
        replica's volume and S_k the bill on k replicas, step k wins where s × v >= S_k, i.e. from
        S_k / s up to its top k × V; the first such k and the step from which every step wins whole
        are solved per residue class (see `_Staircase`). 'never' if a replica's traffic costs no
        more on the API than the replica (m = s × V − average cost per replica <= 0).
      scheduled / serverless without an idle window / a fixed fleet: linear, see `_solve_linear`;
        'never' if the GPU time per request costs no less than the API or the crossing lies beyond
        the fixed capacity.
      serverless with an idle window: convex then linear in volume, one crossing found by
        bisection, see `_solve_serverless`."""
    floor = floor_requests_per_day
    horizon = default_horizon(x.requests_per_day) if horizon_requests_per_day is None else horizon_requests_per_day
    solved = _solve(x, floor, horizon)
    if solved.first is None:
        status = "never"
    elif solved.stays_from is not None and solved.stays_from <= floor:
        status = "always"
    else:
        status = "at"
    return BreakEven(
        requests_per_day=solved.first,
        status=status,
        reason=solved.reason,
        regions=solved.regions,
        stays_cheaper_from_requests_per_day=solved.stays_from,
        unlisted_between=solved.unlisted,
        horizon_requests_per_day=horizon,
    )


SHOWN_REGIONS = 3


def _interval(start: float, end: float) -> str:
    """'68.2k–69.1k', with up to 3 decimals where both ends would read the same ('90.007k–90.014k'),
    and one volume where they still do (an interval narrower than the rounding: '90,007')."""
    for digits in range(1, 4):
        if compact(start, digits) != compact(end, digits):
            return f"{compact(start, digits)}–{compact(end, digits)}"
    return f"{start:,.0f}" if f"{start:,.0f}" == f"{end:,.0f}" else f"{start:,.0f}–{end:,.0f}"


def _where_cheaper(be: BreakEven) -> str:
    """'at 68.2k–69.1k, 98.2k–103.7k, 128.2k–138.2k, 5 more intervals up to 241.9k and from
    278.2k requests/day on'."""
    bounded = [r for r in be.regions if r.to_requests_per_day is not None]
    parts = [_interval(r.from_requests_per_day, r.to_requests_per_day) for r in bounded[:SHOWN_REGIONS]]
    hidden = len(bounded) - SHOWN_REGIONS
    if be.unlisted_between is not None:
        parts.append(f"more intervals up to {compact(be.unlisted_between[1])}")
    elif hidden > 0:
        parts.append(f"{hidden} more interval{'s' if hidden > 1 else ''} up to "
                     f"{compact(bounded[-1].to_requests_per_day)}")
    last = be.regions[-1]
    if last.to_requests_per_day is None:
        parts.append(f"from {compact(last.from_requests_per_day)}")
    listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    prefix = "" if listed.startswith("from") else "at "
    if last.to_requests_per_day is None:
        return f"{prefix}{listed} requests/day on"
    return f"{prefix}{listed} requests/day (listed up to {compact(be.horizon_requests_per_day)})"


def headline(x: CostInputs, today_requests_per_day: float) -> str:
    """The answer in two sentences, today's verdict first (from both monthly costs at today's
    volume, so it always agrees with `monthly_savings`), then where self-hosting is cheaper, e.g.
    "At today's 80k requests/day the API is cheaper by $1.1k/month ($4.9k vs $6k self-hosting).
    Self-hosting is cheaper at 68.2k–69.1k, 98.2k–103.7k, 128.2k–138.2k, 4 more intervals up to
    276.5k and from 278.2k requests/day on." Regions up to `default_horizon(today)`."""
    today = today_requests_per_day
    be = breakeven(x, horizon_requests_per_day=default_horizon(today))
    api = api_monthly_cost(today, x.api_cost_per_request)
    own = self_host_cost(x, today).total_usd
    at = f"At today's {compact(today)} requests/day"
    if own < api:
        verdict = f"{at} self-hosting is cheaper by {usd(api - own)}/month ({usd(own)} vs {usd(api)} on the API)"
    elif own == api:
        verdict = f"{at} self-hosting costs the same as the API ({usd(own)}/month)"
    else:
        verdict = f"{at} the API is cheaper by {usd(own - api)}/month ({usd(api)} vs {usd(own)} self-hosting)"
    if be.status == "never":
        return f"{verdict}. Self-hosting is never cheaper at any volume in this setup: {be.reason}."
    if be.status == "always":
        return f"{verdict}; it is cheaper at every volume."
    if not be.regions:
        return (f"{verdict}. Self-hosting is not cheaper below {compact(be.requests_per_day)} requests/day "
                f"in this setup: {be.reason}.")
    stays_from = be.stays_cheaper_from_requests_per_day
    if own <= api and stays_from is not None and stays_from <= today:
        return f"{verdict}; it stays cheaper from {compact(stays_from)} requests/day on."
    return f"{verdict}. Self-hosting is cheaper {_where_cheaper(be)}."


@dataclass(frozen=True)
class Economics:
    """Both sides at today's volume, today's verdict (`self_hosting_cheaper`: savings >= 0), where
    self-hosting is cheaper (`breakeven`: first crossing and regions), savings, payback and cost
    per 1k requests (self-hosting per 1k served requests)."""
    requests_per_day: float
    api_monthly_usd: float
    self_host: SelfHostCost
    savings_monthly_usd: float
    self_hosting_cheaper: bool
    payback_months: float | None
    api_per_1k_usd: float
    self_host_per_1k_usd: float | None
    breakeven: BreakEven


def evaluate(x: CostInputs, floor_requests_per_day: float = 0.0) -> Economics:
    """api_monthly_cost, self_host_cost, monthly_savings, payback_months, cost_per_1k on both
    sides (API: 1000 × a) and breakeven, all at x.requests_per_day."""
    own = self_host_cost(x)
    savings = monthly_savings(x)
    return Economics(
        requests_per_day=x.requests_per_day,
        api_monthly_usd=api_monthly_cost(x.requests_per_day, x.api_cost_per_request),
        self_host=own,
        savings_monthly_usd=savings,
        self_hosting_cheaper=savings >= 0,
        payback_months=payback_months(x),
        api_per_1k_usd=1000 * x.api_cost_per_request,
        self_host_per_1k_usd=cost_per_1k(own.monthly_usd, own.served_requests_per_day),
        breakeven=breakeven(x, floor_requests_per_day),
    )


@dataclass(frozen=True)
class CurvePoint:
    """Monthly cost of both sides at one volume; self_host_usd includes over-capacity volume priced
    on the API."""
    requests_per_day: float
    api_usd: float
    self_host_usd: float
    gpus: int | None
    over_capacity_requests_per_day: float


def cost_curve(x: CostInputs, start: float = 10.0, stop: float = 1e8, points_per_decade: int = 10,
               max_steps: int = 200) -> list[CurvePoint]:
    """Both monthly costs on the log grid 10^(log10 start + i / points_per_decade) up to stop, plus,
    for an automatic dedicated or owned fleet, each replica-step edge v_k = k × V (V = one
    replica's volume) inside the range (the first `max_steps`) twice, at k then k + 1 replicas, so
    a chart draws the jump as a vertical line; and the capacity edge of a fixed count. Sorted by
    volume, then GPUs."""
    if not 0 < start < stop:
        raise ValueError(f"need 0 < start < stop, got {start}, {stop}")
    lo, hi = math.log10(start), math.log10(stop)
    n = round((hi - lo) * points_per_decade)
    points = [_point(x, 10 ** (lo + (hi - lo) * i / n)) for i in range(n + 1)]
    cap = capacity_requests_per_day(x)
    if start <= cap <= stop:
        points.append(_point(x, cap))
    if _sized_for_peak(x) and x.gpu_count is None:
        volume, r = _replica_volume(x), x.gpus_per_replica
        first = max(1, math.ceil(start / volume))
        for k in range(first, first + max_steps):
            if k * volume > stop:
                break
            points += [_point(x, k * volume, k * r), _point(x, k * volume, (k + 1) * r)]
    return sorted(points, key=lambda p: (p.requests_per_day, p.gpus or 0))


def _point(x: CostInputs, volume: float, gpus: int | None = None) -> CurvePoint:
    own = self_host_cost(x, volume, gpus)
    api = api_monthly_cost(volume, x.api_cost_per_request)
    return CurvePoint(volume, api, own.total_usd, own.gpus, own.over_capacity_requests_per_day)


@dataclass(frozen=True)
class GrowthPoint:
    """One month of the projection (month 0 = this month)."""
    month: int
    requests_per_day: float
    api_usd: float
    self_host_usd: float
    gpus: int | None
    savings_usd: float
    cumulative_savings_usd: float


def growth_projection(x: CostInputs, months: int = 12) -> list[GrowthPoint]:
    """For m = 0 .. months−1: volume v_m = requests/day × (1 + growth per month)^m, both monthly
    costs at v_m (self-hosting total incl. over-capacity), savings = API − self-hosting and their
    running sum."""
    rows, running = [], 0.0
    for m in range(months):
        volume = x.requests_per_day * (1 + x.growth_per_month) ** m
        api, own = api_monthly_cost(volume, x.api_cost_per_request), self_host_cost(x, volume)
        running += api - own.total_usd
        rows.append(GrowthPoint(m, volume, api, own.total_usd, own.gpus, api - own.total_usd, running))
    return rows


@dataclass(frozen=True)
class SensitivityRow:
    """One bar of a tornado chart: the parameter at low/high and the break-even (None: never) and
    monthly savings there. In mode serverless with a serverless price, 'gpu_hourly_usd' swings that
    price per GPU-second and reports it per hour (× 3600)."""
    param: str
    low_value: float
    high_value: float
    breakeven_low: float | None
    breakeven_high: float | None
    savings_low: float
    savings_high: float


def _scaled(x: CostInputs, param: str, factor: float) -> tuple[CostInputs, float]:
    if param == "gpu_hourly_usd" and x.mode == "serverless" and x.serverless_usd_per_second is not None:
        # The GPU price serverless pays is its price per second: reported per hour (× 3600).
        price = x.serverless_usd_per_second * factor
        return replace(x, serverless_usd_per_second=price, gpu_hourly_usd=x.gpu_hourly_usd * factor), price * 3600
    if param == "api_cost_per_request":
        scaled = replace(x, api_mix=tuple((s, c * factor) for s, c in x.api_mix))
        return scaled, scaled.api_cost_per_request
    value = getattr(x, param) * factor
    if param == "target_utilisation":
        value = min(1.0, value)
    return replace(x, **{param: value}), value


SENSITIVITY_PARAMS = ("gpu_hourly_usd", "capacity_rps_per_gpu", "target_utilisation",
                      "api_cost_per_request", "requests_per_day")


def sensitivity(x: CostInputs, swing: float = 0.5,
                floor_requests_per_day: float = 0.0) -> list[SensitivityRow]:
    """For each of SENSITIVITY_PARAMS, the value × (1 − swing) and × (1 + swing) (utilisation
    clamped to <= 1), with breakeven(...).requests_per_day and monthly_savings there; everything
    else as in x. Volume moves the savings only: the break-even does not depend on it."""
    rows = []
    for param in SENSITIVITY_PARAMS:
        low, low_value = _scaled(x, param, 1 - swing)
        high, high_value = _scaled(x, param, 1 + swing)
        rows.append(SensitivityRow(
            param, low_value, high_value,
            breakeven(low, floor_requests_per_day).requests_per_day,
            breakeven(high, floor_requests_per_day).requests_per_day,
            monthly_savings(low), monthly_savings(high),
        ))
    return rows

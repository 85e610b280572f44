"""The cost model: what the API and self-hosting cost per month at one volume, for every deployment
mode (dedicated, scheduled, serverless, owned). Pure functions over a `CostInputs`. Money in USD; a
month is 730 hours = 30.4167 days. Where self-hosting is cheaper over all volumes is
`analysis.economics.comparison`; curves, growth and sensitivity `analysis.economics.projections`.

Self-hosting with a fixed GPU count serves at most `capacity_requests_per_day`; volume above that
is "over capacity" and is priced as staying on the API, so both sides always serve every request.
A fleet sized for the peak grows in whole replicas (`gpus_per_replica` GPUs each), so its cost is
a staircase."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from analysis.errors import UserError
from analysis.reference import read_json

HOURS_PER_MONTH = 730.0
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
SECONDS_PER_DAY = 86_400.0

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


def sized_for_peak(x: CostInputs) -> bool:
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


def replica_requests_per_day(x: CostInputs) -> float:
    """Requests/day one replica serves at the peak: the width of one step."""
    return requests_per_day_served(x.gpus_per_replica, x.capacity_rps_per_gpu, x.target_utilisation,
                                   x.peak_to_average)


def fixed_monthly_usd(x: CostInputs) -> float:
    """The part of the self-hosting bill that doesn't move with volume: ops + fine-tuning /
    amortisation months, plus serverless cold starts (each bills a whole container)."""
    fixed = fixed_monthly_cost(x.ops_usd_per_month, x.fine_tuning_usd, x.amortisation_months)
    if x.mode == "serverless":
        # A cold start bills the whole container (gpus_per_replica GPUs) at the serverless price.
        container_hourly = serverless_usd_per_second(x) * 3600 * x.gpus_per_replica
        fixed += cold_start_monthly_cost(x.cold_starts_per_day, x.cold_start_seconds, container_hourly)
    return fixed


def fleet_monthly_cost(x: CostInputs, gpus: int) -> float:
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
    if sized_for_peak(x):
        fleet = gpus or x.gpu_count or gpus_needed(served, c, u, x.peak_to_average, x.gpus_per_replica)
        monthly = fleet_monthly_cost(x, fleet) + fixed_monthly_usd(x)
        hours = fleet * HOURS_PER_MONTH
        return SelfHostCost(x.mode, monthly, fleet, hours, served, over, overflow, MODE_NOTES[x.mode])
    if x.mode == "serverless":
        billed = serverless_billed_seconds_per_day(served, c, u, x.serverless_idle_timeout_s, x.gpus_per_replica)
        monthly = billed * DAYS_PER_MONTH * serverless_usd_per_second(x) + fixed_monthly_usd(x)
        return SelfHostCost(x.mode, monthly, None, billed * DAYS_PER_MONTH / 3600, served, over, overflow,
                            _serverless_note(x))
    hours = gpu_hours_per_month(served, c, u)
    monthly = hours * x.gpu_hourly_usd + fixed_monthly_usd(x)
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

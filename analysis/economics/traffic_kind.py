"""Traffic kinds: interactive requests (someone waits) and Batch API requests (work that may wait up
to a day), and how a workspace holding both is sized and priced.

Rules, for a volume V requests/day of which a share b went through a Batch API:
- interactive part: I = (1 − b) × V requests/day with its own peak-to-average p (busiest hour of
  the interactive requests only; the serving mode and latency targets are the scenario's);
- Batch part: B = b × V requests/day, scheduled work with no peak factor: it fills the capacity the
  interactive peak leaves idle off-peak;
- the fleet serves max(interactive peak rate, all work spread over the day):
      peak rate = max(I × p, V) / 86,400 requests/s,
  so the peak-to-average the cost model applies to the whole volume is
      sized_peak_to_average(p, b) = max(I × p, V) / V = max(1, (1 − b) × p).
  b = 0 gives p (all interactive); b = 1 gives 1 (all Batch: the day's work at the mean rate);
  Batch volume raises the average without raising the peak until it fills the off-peak hours.
  The factor does not depend on V, so every volume of the cost curve keeps the same mix.
- API price: the Batch part at batch_price_ratio × the standard price, the rest at the standard
  price, so the API cost per request is standard × api_price_factor(b, ratio) = standard × (1 − b
  × (1 − ratio)) (the Batch share is taken as the same in every task type)."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.present.formatting import compact, percent


def sized_peak_to_average(interactive_peak_to_average: float, batch_share: float) -> float:
    """max(1, (1 − batch share) × the interactive traffic's peak-to-average) (module rules)."""
    return max(1.0, (1.0 - batch_share) * interactive_peak_to_average)


def api_price_factor(batch_share: float, batch_price_ratio: float) -> float:
    """1 − batch share × (1 − batch price ratio): the blended API price / the standard price."""
    return 1.0 - batch_share * (1.0 - batch_price_ratio)


@dataclass(frozen=True)
class TrafficPart:
    """One kind of traffic: its requests/day, share of all requests and peak-to-average."""
    kind: str
    requests_per_day: float
    share: float
    peak_to_average: float


@dataclass(frozen=True)
class TrafficSplit:
    """A volume split into its interactive and Batch parts, and the peak-to-average the fleet is
    sized for (module rules)."""
    interactive: TrafficPart
    batch: TrafficPart
    sized_peak_to_average: float

    @property
    def mixed(self) -> bool:
        """Both kinds present."""
        return 0 < self.batch.share < 1

    def to_dict(self) -> dict:
        """Plain values for JSON."""
        return {"interactive": vars(self.interactive), "batch": vars(self.batch),
                "sized_peak_to_average": self.sized_peak_to_average}

    def sentence(self) -> str:
        """One line that states both parts and what the fleet is sized for."""
        i, b = self.interactive, self.batch
        if b.share <= 0:
            return (f"All {compact(i.requests_per_day)} requests/day are interactive: the fleet is sized for "
                    f"their busiest hour ({compact(i.peak_to_average, 2)}x the average).")
        if i.share <= 0:
            return (f"All {compact(b.requests_per_day)} requests/day went through a Batch API: scheduled work "
                    "with no peak factor.")
        return (f"Two kinds of traffic: {compact(i.requests_per_day)} interactive requests/day ({percent(i.share)}, "
                f"busiest hour {compact(i.peak_to_average, 2)}x their average) and {compact(b.requests_per_day)} "
                f"Batch API requests/day ({percent(b.share)}, scheduled into off-peak capacity, no peak factor). "
                f"The fleet serves max(interactive peak, all work spread over the day): "
                f"{compact(self.sized_peak_to_average, 2)}x the average of all requests.")


def traffic_split(requests_per_day: float, batch_share: float, interactive_peak_to_average: float) -> TrafficSplit:
    """The two parts of `requests_per_day` (module rules)."""
    return TrafficSplit(
        interactive=TrafficPart(kind="interactive", requests_per_day=requests_per_day * (1 - batch_share),
                                share=1 - batch_share, peak_to_average=interactive_peak_to_average),
        batch=TrafficPart(kind="batch", requests_per_day=requests_per_day * batch_share, share=batch_share,
                          peak_to_average=1.0),
        sized_peak_to_average=sized_peak_to_average(interactive_peak_to_average, batch_share))

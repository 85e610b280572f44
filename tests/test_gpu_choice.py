"""analysis.economics.gpu_choice: every GPU x deployment priced for one scenario, the cheapest
feasible one recommended, and the reasons an option is not feasible."""

from __future__ import annotations

from analysis.economics import catalogue, comparison
from analysis.economics.gpu_choice import MODES, gpu_options, recommended
from analysis.economics.scenario import Scenario


def test_every_gpu_and_mode_is_priced_and_the_cheapest_feasible_is_recommended():
    scenario = Scenario(requests_per_day=50_000, api_cost_per_request=0.002)
    options = gpu_options(scenario)
    assert [(o.gpu, o.mode) for o in options] == [(g.name, m) for g in catalogue.gpus() for m in MODES]
    best = recommended(options)
    assert best is not None and best.feasible
    assert best.monthly_usd == min(o.monthly_usd for o in options if o.feasible)
    variant = Scenario.from_dict({"gpu": best.gpu, "mode": best.mode}, scenario)
    assert best.monthly_usd == comparison.evaluate(variant.to_cost_inputs()).self_host.total_usd


def test_reasons_for_options_that_are_not_feasible():
    big = Scenario(candidate_model="llama-3.3-70b-instruct", requests_per_day=20_000)
    by_key = {(o.gpu, o.mode): o for o in gpu_options(big)}
    t4 = by_key[("T4", "dedicated")]
    assert not t4.feasible and "does not fit 8 x T4" in t4.reason and t4.monthly_usd is None
    assert "batch windows" in by_key[("H100 80GB", "scheduled")].reason  # interactive work has latency targets
    assert "server price" in by_key[("L4", "owned")].reason
    batch = Scenario.from_dict({"ttft_p95_ms": None, "latency_p95_ms": None}, big)
    assert {o.mode for o in gpu_options(batch) if o.feasible} >= {"scheduled"}


def test_a_slow_gpu_that_misses_the_latency_target_is_not_recommended():
    long_answers = Scenario(output_length=800, output_length_p95=1500, latency_p95_ms=20_000)
    options = {(o.gpu, o.mode): o for o in gpu_options(long_answers, modes=("dedicated",))}
    assert not options[("T4", "dedicated")].meets_latency
    assert "misses the latency target" in options[("T4", "dedicated")].reason
    assert recommended(list(options.values())).gpu != "T4"


def test_workspace_defaults_start_on_the_recommended_gpu(con, shared_dir):
    from analysis.economics.workspace_defaults import scenario_defaults
    from analysis.ingest import ingest_paths

    batch = shared_dir / "samples" / "openai-batch"
    ingest_paths(con, [batch / "genai_navirag_batch_output.jsonl", batch / "genai_navirag_batch_input.jsonl"])
    defaults = scenario_defaults(con)
    chosen = recommended(gpu_options(defaults))
    assert chosen is not None and (defaults.gpu, defaults.mode) == (chosen.gpu, chosen.mode)
    assert defaults.peak_to_average == 1 and defaults.latency_p95_ms is None  # Batch API traffic

"""The fine-tuning cost: the GPU estimate's formula on hand-computed numbers, its range, the measured
CPU job, and the payback following the cost once it is in the scenario."""

from __future__ import annotations

import json

import pytest
from pages import open_page

from analysis.economics import cost_model
from analysis.economics.scenario import Scenario
from analysis.economics.training_cost import (
    TrainingCostError,
    apply_to_scenario,
    cpu_training_cost,
    figures,
    gpu_training_estimate,
    hours_text,
    measured_job_cost,
    measured_jobs,
)
from analysis.errors import NotFound
from analysis.present.tuning_evidence import cost_lines
from analysis.store.database import open_db, utcnow
from dashboard.components import as_text


def test_gpu_estimate_by_hand():
    # Llama 3.1 8B (8.03B parameters), H100 80GB (756 dense bf16 TFLOPS, $2.49/h), 10M tokens x 2 epochs:
    # 6ND = 6 x 8.03e9 x 1e7 x 2 = 9.636e17 FLOPs. Low: x 0.667 / (756e12 x 0.462) s; high: x 0.8 / (756e12 x 0.3) s.
    estimate = gpu_training_estimate("llama-3.1-8b-instruct", "H100 80GB", 10_000_000, epochs=2)
    assert estimate.flops_low == pytest.approx(0.667 * 9.636e17) and estimate.flops_high == pytest.approx(0.8 * 9.636e17)
    assert estimate.hours_low == pytest.approx(0.667 * 9.636e17 / (756e12 * 0.462) / 3600)  # 0.511 h
    assert estimate.hours_high == pytest.approx(0.8 * 9.636e17 / (756e12 * 0.3) / 3600)  # 0.944 h
    assert estimate.usd_low == pytest.approx(estimate.hours_low * 2.49)
    assert estimate.usd_high == pytest.approx(estimate.hours_high * 2.49) and estimate.usd == estimate.usd_high
    assert estimate.hours_low == pytest.approx(0.5112, abs=1e-4) and estimate.usd_high == pytest.approx(2.351, abs=1e-3)
    assert "H100 80GB" in estimate.source and "10,000,000 tokens" in estimate.source
    assert "30.7 min to 56.6 min at $2.49/h" in estimate.source
    assert (hours_text(0.005), hours_text(0.25), hours_text(3.456)) == ("18 s", "15.0 min", "3.5 h")


def test_full_fine_tuning_is_plain_6nd_and_moe_counts_active_parameters():
    full = gpu_training_estimate("llama-3.2-1b-instruct", "A100 80GB", 1_000_000, method="full")
    assert full.flops_low == full.flops_high == pytest.approx(6 * 1.24e9 * 1e6)
    assert full.hours_high / full.hours_low == pytest.approx(0.462 / 0.3)  # only the MFU's range is left
    moe = gpu_training_estimate("qwen3-30b-a3b", "H200 141GB", 1_000_000)
    assert moe.flops_high == pytest.approx(0.8 * 6 * 3.3e9 * 1e6)  # 3.3B active of 30.5B


def test_the_range_comes_from_cited_figures():
    data = figures()
    assert (data["lora_factor"].low, data["lora_factor"].high) == (0.667, 0.8)
    assert (data["mfu"].low, data["mfu"].high) == (0.3, 0.462)
    for figure in data.values():
        assert figure.source and figure.url.startswith("https://") and figure.as_of[:4].isdigit()


def test_refusals():
    with pytest.raises(TrainingCostError, match="141 GB, more than 80% of one L4's 24 GB"):
        gpu_training_estimate("llama-3.1-70b-instruct", "L4", 1_000_000)
    with pytest.raises(TrainingCostError, match="tokens and epochs > 0"):
        gpu_training_estimate("llama-3.1-8b-instruct", "H100 80GB", 0)
    with pytest.raises(NotFound, match="unknown GPU"):
        gpu_training_estimate("llama-3.1-8b-instruct", "Voodoo 2", 1000)


def test_measured_cpu_job(con):
    settings = json.dumps({"threads": 2})
    con.execute("""INSERT INTO fine_tune_jobs (job_id, base_model, status, settings, training_tokens, epochs_done,
                                               train_seconds, created_at)
                   VALUES ('job1', 'gemma-3-270m', 'done', ?, 50000, 1, 5400, ?)""", [settings, utcnow()])
    cost = measured_job_cost(con, "job1")
    # 5,400 s = 1.5 h x 2 vCPUs x $0.0408 per vCPU-hour (m7g.large's $0.0816 / 2).
    assert cost.usd_low == cost.usd_high == pytest.approx(1.5 * 2 * 0.0408)
    assert cost.kind == "cpu-measured" and cost.training_tokens == 50_000 and "your own machine" in cost.source
    assert cpu_training_cost(3600, 4, usd_per_vcpu_hour=0.1).usd == pytest.approx(0.4)
    con.execute("""INSERT INTO fine_tune_jobs (job_id, base_model, status, settings, created_at)
                   VALUES ('job2', 'gemma-3-270m', 'running', '{}', ?)""", [utcnow()])
    with pytest.raises(TrainingCostError, match="job2 \\(running\\) has no measured train time"):
        measured_job_cost(con, "job2")
    assert measured_jobs(con) == ["job1"]
    with pytest.raises(NotFound, match="no fine-tuning job 'job3'"):
        measured_job_cost(con, "job3")


def test_payback_follows_the_cost_in_the_scenario():
    scenario = Scenario.from_dict({"requests_per_day": 200_000, "api_cost_per_request": 0.01, "gpu": "H100 80GB"})
    savings = cost_model.monthly_savings(scenario.to_cost_inputs())
    assert savings > 0 and cost_model.payback_months(scenario.to_cost_inputs()) == 0
    cost = gpu_training_estimate("llama-3.1-8b-instruct", "H100 80GB", 2_000_000_000, epochs=3)
    tuned = apply_to_scenario(scenario, cost)
    assert tuned.fine_tuning_usd == pytest.approx(cost.usd_high) and tuned.gpu == "H100 80GB"
    inputs = tuned.to_cost_inputs()
    # payback = FT / (savings after amortisation + FT / months) = FT / the savings without fine-tuning.
    assert cost_model.payback_months(inputs) == pytest.approx(cost.usd / savings)
    assert cost_model.monthly_savings(inputs) == pytest.approx(savings - cost.usd / tuned.amortisation_months)


def test_quality_page_puts_a_measured_job_cost_into_the_scenario():
    con = open_db("cpu")
    con.execute("""INSERT INTO fine_tune_jobs (job_id, base_model, status, settings, training_tokens, epochs_done,
                                               train_seconds, created_at)
                   VALUES ('job1', 'smollm2-135m-instruct', 'done', '{"threads": 4}', 9000, 2, 720, ?)""", [utcnow()])
    expected = measured_job_cost(con, "job1")
    con.close()
    app = open_page("quality", ws="cpu")
    assert app.selectbox(key="gr_job").value == "job1"
    assert [m.value for m in app.markdown if "measured training cost" in m.value] == [
        f"**{as_text(cost_lines(expected)[0])}**"]
    app.button(key="gr_use_measured").click().run()
    assert app.session_state["sc_fine_tuning_usd"] == pytest.approx(720 / 3600 * 4 * 0.0408)
    assert "measured on this machine: 720 s" in app.session_state["sc__fine_tuning_source"][1]

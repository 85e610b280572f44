"""The money and the evidence of tuning (the Quality page's "Tune a local candidate"): a GPU
recipe to download with its cost estimate, the measured cost of a local CPU job, either cost put
into the scenario's one-off fine-tuning cost, and the base-vs-tuned comparison on the held-out
split with its verdict."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from analysis.economics import catalogue
from analysis.economics.models import model_cards
from analysis.economics.training_cost import (
    TrainingCost,
    apply_to_scenario,
    gpu_training_estimate,
    measured_job_cost,
    measured_jobs,
)
from analysis.errors import UserError
from analysis.present.tuning_evidence import comparison_lines, comparison_rows, cost_lines
from analysis.quality.tuning_comparison import compare_tuned, run_candidates
from analysis.replay import runs as replay
from analysis.replay.tuning import training_set
from analysis.replay.tuning.gpu_recipe import build_recipe, export_stats, recipe_zip
from dashboard import components, scenario_state


def render(run_id: str | None = None) -> None:
    """The section's three parts: GPU recipe, measured local cost, base vs tuned (on `run_id`, the
    sidebar's run, unless another is chosen)."""
    if scenario_state.LOADED_FROM not in st.session_state:
        scenario_state.seed(components.scenario_defaults())  # before a cost is put into its controls
    exports = components.query(training_set.recorded_exports)
    jobs = components.query(measured_jobs)
    st.markdown("**Fine-tune on a GPU, elsewhere** (a TRL + LoRA recipe to run on a rented GPU)")
    if exports:
        recipe_panel(exports)
    else:
        st.info("Export a training set first (above): the recipe trains on its OpenAI-format train file.")
    if jobs:
        measured_panel(jobs)
    st.markdown("**Did tuning help?** Base vs tuned on the held-out requests only")
    runs = components.query(replay.list_runs)["run_id"].to_list()
    if not runs:
        st.info("Replay the held-out requests with the base and the tuned candidate (breakeven replay --held-out), "
                "and score the run.")
    else:
        chosen = st.selectbox("Run", runs, key="gr_cmp_run", index=runs.index(run_id) if run_id in runs else 0,
                              help="The run that replayed the held-out requests with both candidates.")
        comparison_panel(chosen)


def use_cost(cost: TrainingCost) -> None:
    """Put the cost into the scenario's one-off fine-tuning cost, remembering where it came from
    (the scenario's controls are seeded first, by `render`, so a later seed does not reset it)."""
    scenario = apply_to_scenario(scenario_state.current(components.scenario_defaults()), cost)
    st.session_state[scenario_state.key("fine_tuning_usd")] = scenario.fine_tuning_usd
    st.session_state[scenario_state.FINE_TUNING_SOURCE] = (scenario.fine_tuning_usd, cost.source)


def show_cost(cost: TrainingCost, button_key: str) -> None:
    lines = cost_lines(cost)
    st.markdown(f"**{components.as_text(lines[0])}**")
    st.caption(components.as_text("\n".join(line.strip() for line in lines[1:])))
    st.button("Use this cost in the scenario", key=button_key, on_click=use_cost, args=(cost,),
              help="Sets the scenario's one-off fine-tuning cost (Economics page), so its payback includes it.")


def recipe_panel(exports: list[training_set.TrainingExport]) -> None:
    """Export, base model, GPU, epochs, method: the estimate, the zip and the scenario button."""
    c = st.columns([3, 3, 2, 1, 1])
    export_id = c[0].selectbox("Training-set export", [e.export_id for e in exports], key="gr_export")
    base = c[1].selectbox("Base model", [card.name for card in model_cards()], key="gr_base",
                          index=[card.name for card in model_cards()].index("llama-3.1-8b-instruct"))
    gpu = c[2].selectbox("GPU", [g.name for g in catalogue.gpus()], key="gr_gpu",
                         index=[g.name for g in catalogue.gpus()].index("L40S"))
    epochs = c[3].number_input("Epochs", 0.5, 20.0, 1.0, 0.5, key="gr_epochs")
    method = c[4].radio("Method", ["lora", "full"], key="gr_method", help="What the estimate prices; the recipe trains LoRA.")
    export = next(e for e in exports if e.export_id == export_id)
    try:
        stats = export_stats(export.directory)
        cost = gpu_training_estimate(base, gpu, stats.training_tokens, float(epochs), method)
    except UserError as exc:
        components.show_user_error(exc)
        return
    st.caption(f"{stats.examples:,} training examples, {stats.training_tokens:,} tokens ({stats.tokens_from}).")
    show_cost(cost, "gr_use_cost")
    with tempfile.TemporaryDirectory() as folder:
        try:
            recipe = build_recipe(export.directory, base, gpu, Path(folder) / "recipe", float(epochs), method)
        except UserError as exc:
            components.show_user_error(exc)
            return
        data = recipe_zip(recipe.directory)
    st.download_button("Download the recipe (zip)", data, file_name=f"{recipe.adapter_name}-recipe.zip",
                       mime="application/zip", key="gr_download",
                       help="train.py (python train.py --dry-run checks the data anywhere), config.json, pinned "
                            "requirements, the train file, serve.sh (vLLM --enable-lora), an Ollama Modelfile, README.")
    st.caption(f"Once served, replay it as the candidate openai-compat:http://HOST:8000/v1:{recipe.adapter_name}.")


def measured_panel(jobs: list[str]) -> None:
    """A finished local job's measured cost and the scenario button."""
    st.markdown("**Fine-tuned on this CPU: what it cost**")
    job_id = st.selectbox("Fine-tuning job", jobs, key="gr_job")
    cost = components.query(measured_job_cost, job_id)
    show_cost(cost, "gr_use_measured")


def comparison_panel(run_id: str) -> None:
    """Base and tuned candidate of the run, compared on its held-out requests."""
    candidates = components.query(run_candidates, run_id)
    if len(candidates) < 2:
        st.info("This run has fewer than two candidates: replay the held-out requests with the base and the tuned one.")
        return
    tuned_default = next((i for i, name in enumerate(candidates) if "tuned" in name), len(candidates) - 1)
    c = st.columns(2)
    base = c[0].selectbox("Base candidate", candidates, key="gr_cmp_base",
                          index=0 if tuned_default != 0 else 1)
    tuned = c[1].selectbox("Tuned candidate", candidates, key="gr_cmp_tuned", index=tuned_default)
    try:
        result = components.query(compare_tuned, run_id, base, tuned)
    except UserError as exc:
        st.info(components.as_text(str(exc)))
        return
    st.dataframe(comparison_rows(result), hide_index=True, key="gr_cmp_table")
    lines = comparison_lines(result)
    show = {"better": st.success, "worse": st.error}.get(result.verdict, st.warning)
    show(components.as_text(lines[0]))
    st.caption(components.as_text("\n".join(lines[1:])))

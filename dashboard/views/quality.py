"""Quality: the sidebar's candidate first, against the incumbent API per task type (each verdict
with its n and interval up front, "too few to tell" with the answers needed), the other candidates,
latency, the confusion matrix of label tasks and a browser of the disagreements; the LLM judge is
configured here (its key only from the environment), and runs without scores are scored here.
The judge is kept for the session under JUDGE_KEY, where the Replay page's automatic scoring
finds it."""

import polars as pl
import streamlit as st

from analysis.errors import UserError
from analysis.present import charts
from analysis.present import formatting as fmt
from analysis.quality import candidate_choice
from analysis.quality import verdicts as quality
from analysis.quality.scoring.judge import JudgeScorer, judge_agreement
from analysis.quality.scoring.runner import INCUMBENT, run_context, score_run
from analysis.replay import runs as replay
from analysis.replay.background import scoring_text
from analysis.replay.demo_run import is_demo_run
from analysis.replay.providers import registry
from analysis.replay.providers.base import ProviderError
from analysis.settings import get_settings
from dashboard import components, fine_tuning, routing_state, scenario_state, training_export, tuning_evidence

JUDGE_KEY = "q_judge"  # the JudgeScorer (a SPEC and a budget, never a key), or None


def judge_settings() -> None:
    """The LLM judge's controls: provider, endpoint, model and budget. The key is read from the
    environment when the judge runs; only whether it is set is shown."""
    control = {"persist_state": "session"}
    provider = st.session_state.get("q_judge_provider")
    spec = None
    if provider and (model := (st.session_state.get("q_judge_model") or "").strip()):
        base_url = (st.session_state.get("q_judge_base_url") or "").strip()
        spec = f"{provider}:{base_url}:{model}" if base_url else f"{provider}:{model}"
    with st.expander(f"LLM judge: {components.as_text(spec or 'none')}", icon=":material/gavel:"):
        st.caption("Long free-text answers (over 300 characters) without ground truth can only be scored by an "
                   "LLM judge, which compares each answer with the reference twice, in both orders. Without one "
                   "they are left unscored. Scoring here and the automatic scoring after a replay use it.")
        c = st.columns([1, 2, 2, 1])
        c[0].selectbox("Judge provider", [None, *registry.PROVIDERS], key="q_judge_provider",
                       format_func=lambda p: "no judge" if p is None else p, **control)
        c[1].text_input("Endpoint (base URL; empty: the provider's default)", key="q_judge_base_url",
                        placeholder="http://127.0.0.1:8000/v1", **control)
        c[2].text_input("Model", key="q_judge_model", placeholder="gpt-4o-mini", **control)
        c[3].number_input("Budget (USD)", 0.0, 10_000.0, 1.0, 0.5, key="q_judge_budget", **control,
                          help="The judge's calls stop before they cost more.")
        judge = None
        if spec:
            try:
                candidate = registry.parse_candidate_spec(spec)
            except UserError as exc:
                st.error(f"Not a judge: {components.as_text(str(exc))}")
            else:
                judge = JudgeScorer(candidate.spec, budget_usd=st.session_state.get("q_judge_budget"))
                variable = registry.PROVIDERS[candidate.provider].key_env_var
                found = registry.api_key_for(candidate, get_settings()) is not None
                st.caption(f"Key from {variable}: {'set' if found else 'not set'}" if variable else
                           "Key: " + ("set (from the endpoint's variable)" if found else "none (self-hosted)"))
    st.session_state[JUDGE_KEY] = judge


def score(run_id: str) -> None:
    """Score the run (analysis.quality.scoring.runner.score_run) with the judge when one is set; the
    new scores change the data version, and the sidebar's candidate follows the rule."""
    judge = st.session_state.get(JUDGE_KEY)
    try:
        with st.spinner(f"Scoring run {run_id}" + (" (the judge model answers each free-text item)…" if judge else "…"),
                        show_time=True):
            summary = score_run(components.shared_workspace(), run_id, judge=judge)
    except (UserError, ProviderError) as exc:  # ProviderError: the judge's endpoint or key
        st.session_state["q_scored"] = (False, f"Run {run_id} could not be scored: {components.as_text(str(exc))}")
        return
    st.session_state["q_scored"] = (True, f"Run {run_id}: {scoring_text(summary)}")


st.title("Quality")
judge_settings()
st.subheader("Tune a local candidate")  # before the run views, which stop the page when there is no run
training_export.render()
fine_tuning.render()
tuning_evidence.render(run_id=st.session_state.get(routing_state.key("run")))
runs = components.query(replay.list_runs)
if runs.is_empty():
    st.info("No replay runs in this workspace yet. Replay a sample of your logged requests against a local "
            "model on the **Replay** page; it is scored when it ends, and compared here.")
    st.stop()

run_labels = {r["run_id"]: f"{r['created_at']:%Y-%m-%d %H:%M} UTC · {r['status']} · {r['sample_size']} requests · "
                           f"{r['ok']} answers ok, {r['failed']} failed · {r['run_id']}"
              for r in runs.iter_rows(named=True)}
run_id = st.session_state.get(routing_state.key("run"))
chosen = st.session_state.get(routing_state.key("candidate"))
unscored = [r for r in run_labels if r not in components.query(quality.scored_runs)]
if ok_message := st.session_state.pop("q_scored", None):
    (st.success if ok_message[0] else st.error)(ok_message[1])
if unscored:
    c = st.columns([4, 1], vertical_alignment="bottom")
    pending = c[0].selectbox("Runs without scores", unscored, format_func=run_labels.get, key="q_unscored",
                             help="Runs are scored when they end; these were not (started elsewhere, or stopped).")
    c[1].button("Score it", key="q_score", type="primary" if run_id is None else "secondary", on_click=score,
                args=(pending,))
if run_id is None:
    st.info("No run has scores yet. Scoring compares every answer with the best reference there is: ground "
            "truth where the log has it, else the incumbent's logged answer.")
    st.stop()

st.selectbox("Run", [run_id], format_func=run_labels.get, key="q_run", disabled=True,
             help="The run and candidate are chosen once, with the Candidate control in the sidebar.")
if is_demo_run(run_id):
    st.caption("The demo's synthetic replay run: made-up answers of a made-up candidate, scored like a real run. "
               "Replay a sample on the **Replay** page to measure a model of your own.")

defaults = components.scenario_defaults()
scenario_state.seed(defaults)
scenario = scenario_state.current(defaults)  # the margin and target set on Economics / Routing
margin, target = scenario.noninferiority_margin, scenario.quality_target or quality.DEFAULT_TARGET
table = components.query(quality.quality_table, run_id, margin, target)
table = table.sort(pl.col("candidate") != chosen, pl.col("candidate") == INCUMBENT, "candidate", "task_type",
                   maintain_order=True)
readings = [candidate_choice.read_verdict(r, margin, target) for r in table.iter_rows(named=True)]

st.subheader("Verdicts per task type")
mine = [(r["task_type"], reading) for r, reading in zip(table.iter_rows(named=True), readings, strict=True)
        if r["candidate"] == chosen]
st.markdown(f"**The sidebar's candidate** (first below): {components.as_text(candidate_choice.describe(mine))}.")
st.caption(f"Accuracy: the share of answers counted right; the 95% interval is where the true accuracy "
           f"most likely lies, given how many answers were scored. Where the incumbent was scored against the "
           f"same ground truth, the verdict asks whether the candidate is at most {fmt.percent(margin, 0)} "
           f"points worse than the incumbent on the same requests, with 95% confidence (the non-inferiority "
           f"margin: the quality loss you accept); otherwise the accuracy is compared with a "
           f"{fmt.percent(target, 0)} target (both set with the scenario on the Routing page). McNemar p: "
           "how likely a gap this large between candidate and incumbent on the same requests would be if "
           "both were equally good (below 0.05: the difference is probably real). The reference column says "
           "what each number was compared with.")


def interval(row: dict) -> str:
    if row["compared_with"] == INCUMBENT:
        return f"{fmt.percent(row['diff_low'])} to {fmt.percent(row['diff_high'])} vs the incumbent"
    return f"{fmt.percent(row['ci_low'])} to {fmt.percent(row['ci_high'])} vs the {fmt.percent(target, 0)} target"


st.dataframe([{
    "candidate": r["candidate"], "task type": r["task_type"], "verdict": reading.verdict, "n": reading.n,
    "n needed": f"{reading.needed:,}" if reading.needed else "–", "95% interval": interval(r), "why": reading.text,
    "accuracy": fmt.percent(r["accuracy"]), "incumbent": fmt.percent(r["incumbent_accuracy"]),
    "reference": r["reference"], "McNemar p": fmt.compact(r["mcnemar_p"], 2),
} for r, reading in zip(table.iter_rows(named=True), readings, strict=True)], hide_index=True, key="q_table",
    column_config={"candidate": st.column_config.TextColumn(width="medium"),
                   "n needed": st.column_config.TextColumn(help="Answers it would take to tell, where there are "
                                                                "too few (analysis.quality.stats.sample_size_for_margin)")})
st.plotly_chart(charts.quality_intervals(table), key="q_intervals")
agreement = components.query(judge_agreement, run_id)
if agreement.n:
    kappa = fmt.compact(agreement.kappa, 2) if agreement.kappa is not None else "undefined"
    st.caption(f"LLM judge vs the exact scorers ({', '.join(agreement.exact_scorers)}) on the {agreement.n:,} "
               f"answers both scored: agreement {fmt.percent(agreement.agreement)}, Cohen's kappa {kappa} "
               "(agreement beyond chance: 1 = always the same verdict, 0 = no better than chance).")
st.button("Score again", key="q_rescore", on_click=score, args=(run_id,),
          help="Re-score the run, e.g. after more of its answers came in.")

st.subheader("Latency")
latency = components.query(quality.latency_table, run_id)
if latency.is_empty():
    st.info("No answers with a measured latency in this run yet.")
else:
    st.dataframe([{
        "candidate": r["candidate"], "answers ok": r["n"], "failed": r["failed"],
        "p50": f"{fmt.duration_ms(r['p50_ms'])} ({fmt.duration_ms(r['p50_low'])} – {fmt.duration_ms(r['p50_high'])})",
        "p95": f"{fmt.duration_ms(r['p95_ms'])} ({fmt.duration_ms(r['p95_low'])} – {fmt.duration_ms(r['p95_high'])})",
        "p99": fmt.duration_ms(r["p99_ms"]), "first token p50": fmt.duration_ms(r["ttft_p50_ms"]),
        "first token p95": fmt.duration_ms(r["ttft_p95_ms"]), "tokens/s": fmt.compact(r["tokens_per_s"]),
    } for r in latency.iter_rows(named=True)], hide_index=True, key="q_latency")
    st.caption("p50: the typical answer time (half are faster); p95 and p99: the slow end (1 answer in 20, "
               "1 in 100, is slower). In brackets, the 95% interval (bootstrap). 'incumbent' is the logged "
               "latency of the same requests. With fewer than "
               f"{quality.MIN_LATENCY_REQUESTS} timed answers a percentile is left out ('–'): too few to tell.")
    st.plotly_chart(charts.latency_quantiles(latency), key="q_latency_chart")

candidates = list(dict.fromkeys(c for c in table["candidate"] if c != INCUMBENT))
candidate = st.selectbox("Candidate", candidates + ([INCUMBENT] if INCUMBENT in table["candidate"] else []),
                         key="q_candidate", help="The candidate whose labels and disagreements are shown below.")

if components.query(run_context, run_id).labels:
    st.subheader("Confusion matrix")
    matrix = components.query(quality.confusion_matrix, run_id, candidate)
    if matrix.is_empty():
        st.info("No labelled answers of this candidate to compare.")
    else:
        st.caption("Labels read from the answers as the label scorer reads them; '(none)': no known label in "
                   "the answer, '(no answer)': the call failed.")
        st.plotly_chart(charts.confusion_heatmap(matrix), key="q_confusion")

st.subheader("Disagreements")
wrong = components.query(quality.disagreements, run_id, candidate, 200)
if wrong.is_empty():
    st.success("No disagreements: every scored answer of this candidate passed.")
    st.stop()
st.caption(f"{len(wrong):,} failed answers (up to 200), those the incumbent got right first.")
st.dataframe(wrong.select("request_id", "task_type", "reference", "scorer", "score", "reason"),
             hide_index=True, key="q_wrong")
request_id = st.selectbox("Open one", wrong["request_id"].to_list(), key="q_open")
item = wrong.row(wrong["request_id"].to_list().index(request_id), named=True)
st.markdown(f"**Score {fmt.compact(item['score'], 2)}** ({components.as_text(item['scorer'])}): "
            f"{components.as_text(item['reason'] or 'no reason given')}")
st.markdown("**Original request**")
st.code(item["prompt"] or "", language=None, wrap_lines=True)
left, middle, right = st.columns(3)
left.markdown(f"**Reference** ({components.as_text(item['reference'])})")
left.code(item["reference_answer"] or "–", language=None, wrap_lines=True)
middle.markdown("**Incumbent answer**")
middle.code(item["incumbent_answer"] or "–", language=None, wrap_lines=True)
right.markdown("**Candidate answer**")
right.code(item["candidate_answer"] or "(no answer)", language=None, wrap_lines=True)

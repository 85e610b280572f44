"""Quality: each replayed candidate against the incumbent API per task type (intervals and plain
verdicts), latency, the confusion matrix of label tasks and a browser of the disagreements."""

import streamlit as st

from analysis.errors import UserError
from analysis.present import charts

from analysis.quality import verdicts as quality

from analysis.replay import runs as replay
from analysis.replay.demo_run import default_run, is_demo_run
from analysis.present import formatting as fmt
from analysis.quality.scoring.judge import judge_agreement
from analysis.quality.scoring.runner import INCUMBENT, run_context, score_run
from dashboard import components, scenario_state

st.title("Quality")
runs = components.query(replay.list_runs)
if runs.is_empty():
    st.info("No replay runs in this workspace yet. Replay a sample of your logged requests against a local "
            "model on the **Replay** page; then score and compare it here.")
    st.stop()

run_labels = {r["run_id"]: f"{r['created_at']:%Y-%m-%d %H:%M} UTC · {r['status']} · {r['sample_size']} requests · "
                           f"{r['ok']} answers ok, {r['failed']} failed · {r['run_id']}"
              for r in runs.iter_rows(named=True)}
run_id = st.selectbox("Run", list(run_labels), index=list(run_labels).index(default_run(run_labels)),
                      format_func=run_labels.get, key="q_run",
                      help="Replay runs, newest first; the demo's synthetic run is the default only while there is no other.")
if is_demo_run(run_id):
    st.caption("The demo's synthetic replay run: made-up answers of a made-up candidate, scored like a real run. "
               "Replay a sample on the **Replay** page to measure a model of your own.")


def score(run_id: str) -> None:
    """Score the run (analysis.quality.scoring.runner.score_run); the new scores change the data version."""
    try:
        summary = score_run(components.cursor(), run_id)
    except UserError as exc:
        st.session_state["q_scored"] = (run_id, f"This run could not be scored: {components.as_text(str(exc))}")
        return
    skipped = ", ".join(f"{n} {why}" for why, n in summary.skipped.items())
    st.session_state["q_scored"] = (run_id, f"Scored {summary.scored:,} answers "
                                            f"({summary.incumbent_scored:,} of them the incumbent's)"
                                            + (f"; not scored: {skipped}" if skipped else "") + ".")


defaults = components.scenario_defaults()
scenario_state.seed(defaults)
scenario = scenario_state.current(defaults)  # the margin and target set on Economics / Routing
margin, target = scenario.noninferiority_margin, scenario.quality_target or quality.DEFAULT_TARGET
table = components.query(quality.quality_table, run_id, margin, target)
scored_run, message = st.session_state.get("q_scored", (None, None))
if scored_run == run_id:
    (st.warning if table.is_empty() else st.success)(message)
if table.is_empty():
    st.info("This run has no scores yet. Scoring compares every answer with the best reference there is: "
            "ground truth where the log has it, else the incumbent's logged answer.")
    st.button("Score this run", key="q_score", type="primary", on_click=score, args=(run_id,))
    st.stop()

st.subheader("Accuracy per candidate and task type")
st.caption(f"Accuracy: the share of answers counted right; the 95% interval is where the true accuracy "
           f"most likely lies, given how many answers were scored. Where the incumbent was scored against the "
           f"same ground truth, the verdict asks whether the candidate is at most {fmt.percent(margin, 0)} "
           f"points worse than the incumbent on the same requests, with 95% confidence (the non-inferiority "
           f"margin: the quality loss you accept); otherwise the accuracy is compared with a "
           f"{fmt.percent(target, 0)} target (both set with the scenario on the Routing page). McNemar p: "
           "how likely a gap this large between candidate and incumbent on the same requests would be if "
           "both were equally good (below 0.05: the difference is probably real). The reference column says "
           "what each number was compared with.")
st.dataframe([{
    "candidate": r["candidate"], "task type": r["task_type"], "reference": r["reference"], "n": r["n"],
    "accuracy": fmt.percent(r["accuracy"]),
    "95% interval": f"{fmt.percent(r['ci_low'])} – {fmt.percent(r['ci_high'])}",
    "incumbent": fmt.percent(r["incumbent_accuracy"]),
    "difference": fmt.percent(r["diff"]) + (f" ({fmt.percent(r['diff_low'])} – {fmt.percent(r['diff_high'])})"
                                            if r["diff"] is not None else ""),
    "McNemar p": fmt.compact(r["mcnemar_p"], 2), "verdict": r["verdict"], "why": r["verdict_text"],
} for r in table.iter_rows(named=True)], hide_index=True, key="q_table")
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
st.markdown(f"**Score {fmt.compact(item['score'], 2)}** ({item['scorer']}): {item['reason'] or 'no reason given'}")
st.markdown("**Original request**")
st.code(item["prompt"] or "", language=None, wrap_lines=True)
left, middle, right = st.columns(3)
left.markdown(f"**Reference** ({item['reference']})")
left.code(item["reference_answer"] or "–", language=None, wrap_lines=True)
middle.markdown("**Incumbent answer**")
middle.code(item["incumbent_answer"] or "–", language=None, wrap_lines=True)
right.markdown("**Candidate answer**")
right.code(item["candidate_answer"] or "(no answer)", language=None, wrap_lines=True)

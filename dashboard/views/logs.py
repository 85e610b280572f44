"""Logs: upload exports, see what was loaded or refused and why, and browse the requests."""

import plotly.express as px
import streamlit as st

from analysis.errors import UserError
from analysis.ingest import demo, ingest_paths
from analysis.present import charts
from analysis.present import formatting as fmt
from analysis.quality import tasks
from analysis.settings import WORKSPACE_NAME, get_settings
from analysis.store import explore
from dashboard import components, upload_memory


def any_value(value: str | None) -> str:
    """A filter's label: its value, or "All" for no filter."""
    return "All" if value is None else value


st.title("Logs")
workspace = components.current_workspace()

with st.expander("Upload log exports", expanded=not components.workspace_summary().requests):
    st.caption("OpenAI Batch output (+ its input file), OpenAI chat/Responses objects, Anthropic batch "
               "results, LiteLLM, Langfuse, Helicone, OpenTelemetry GenAI spans, generic CSV/JSONL/Parquet; "
               "gzip/zstd accepted. The format is detected from the content.")
    target = workspace
    if components.query(demo.is_synthetic):  # cached per data version, as every query of the page
        # Your logs never go into the synthetic demo: its numbers would mix with yours.
        own = get_settings().workspace
        target = st.text_input("Workspace for your logs", value="main" if own == demo.DEMO_WORKSPACE else own,
                               key="logs_target",
                               help="The demo workspace holds synthetic data only; uploads go to this workspace "
                                    "(created if new), which the dashboard then shows.")
    # A new key after each ingest: the uploader starts empty instead of listing files already loaded.
    uploader_key = f"logs_upload_{st.session_state.get('logs_uploads_done', 0)}"
    files = st.file_uploader("Log files", accept_multiple_files=True, key=uploader_key)
    named = target if WORKSPACE_NAME.match(target or "") else "NAME"
    st.caption(f"Up to {st.get_option('server.maxUploadSize'):,} MB per file. A bigger file, or one already on the "
               f"machine that runs the dashboard: `breakeven ingest FILE --workspace {named}` (no upload, no size "
               "limit).")
    start = bool(files) and st.button(f"Ingest {len(files)} file(s)", type="primary", key="logs_ingest")
    if start and (not WORKSPACE_NAME.match(target or "") or target == demo.DEMO_WORKSPACE):
        st.error(f"{components.as_text(repr(target))} cannot hold your logs: use letters, digits, '_', '-' or '.', "
                 f"and not {demo.DEMO_WORKSPACE!r}.")
    elif start:
        bar = st.progress(0.0, text="Saving uploads…")
        saved = upload_memory.save(target, files)
        finished = []

        def show(result):
            finished.append(result)
            bar.progress(len(finished) / len(saved), text=f"Ingested {len(finished)} of {len(saved)} files")

        names = ", ".join(path.rsplit("/", 1)[-1] for path in map(str, saved))
        with components.writing(f"an upload of {names}"[:200], target) as con:
            results = ingest_paths(con, saved, progress=show)
        st.session_state["logs_results"] = (target, results)
        st.session_state["logs_uploads_done"] = st.session_state.get("logs_uploads_done", 0) + 1
        bar.empty()
        if target != workspace:
            components.switch_workspace(target)
        st.rerun()  # the widget's value (the released files) is read again: nothing holds them

results_of, last_results = st.session_state.get("logs_results", (None, []))
for r in last_results if results_of == workspace else []:  # another workspace's upload is not this one's
    name = r.path.rsplit("/", 1)[-1]  # a saved upload's name: only A-Za-z0-9._- (uploads.safe_name)
    if r.error:
        st.error(f"**{name}** was not ingested: {components.as_text(r.error.removeprefix(f'{name}: '))}")
    elif r.duplicate:
        st.info(f"**{name}**: already ingested (same content); nothing added.")
    elif r.format == "openai_batch_input":
        st.info(f"**{name}**: prompts joined into its Batch output file.")
    else:
        st.success(f"**{name}** ({r.format}): {r.counts_text()}.")
        if r.rows_rejected:
            st.dataframe(components.query(explore.rejects, r.source_id), hide_index=True,
                         key=f"rejects_{r.source_id}")

summary = components.workspace_summary()
if not summary.requests and not summary.labelled_rows:
    st.info("No requests yet: upload an export above, or pick the demo workspace in the sidebar.")
    st.stop()

st.subheader("Breakdowns")
if summary.labelled_rows:
    st.caption(f"Of the logged traffic, as on the Overview: the {summary.labelled_rows:,} labelled dataset rows "
               "(a test set to replay) are left out here and listed under Requests.")
if summary.requests:
    by = st.segmented_control("Group by", ["model", "task_type", "day", "hour", "status"], default="model",
                              key="logs_breakdown")
    if by == "day":  # the Overview's calendar chart: days without requests stay visible as gaps
        st.plotly_chart(charts.daily(summary.by_day), key="logs_breakdown_chart")
        st.caption(f"Requests on {summary.active_days:,} of the {summary.days_covered:,} calendar days from the "
                   "first logged day to the last.")
    else:
        table = components.query(explore.breakdown, by or "model")
        chart = (px.line if by == "hour" else px.bar)(
            table.to_pandas(), x=by or "model", y="requests", hover_data=["cost_usd", "latency_ms_p95"],
            labels={"requests": "Requests", "cost_usd": "Cost (USD)", "latency_ms_p95": "p95 latency (ms)",
                    "hour": "Hour of the day (UTC)"}, **({"markers": True} if by == "hour" else {}),
        )
        chart.update_layout(height=320)
        st.plotly_chart(chart, key="logs_breakdown_chart")

with st.expander("Task types: override the built-in rules"):
    st.caption("Rules are tried top to bottom, before the built-in ones (which read the prompt for words such "
               "as 'classify' or 'extract'): requests whose field matches the pattern (a regular expression, "
               "searched anywhere) get the task type, and the complexity when given. A `task:<type>` tag in "
               "the log wins over every rule.")
    edited = st.data_editor(
        [{"pattern": r.pattern, "field": r.field, "task_type": r.task_type, "complexity": r.complexity}
         for r in components.query(tasks.stored_rules)] or [
            {"pattern": None, "field": "input_text", "task_type": None, "complexity": None}],
        num_rows="dynamic", hide_index=True, key="logs_task_rules",
        column_config={
            "pattern": st.column_config.TextColumn("pattern", help="e.g. (?i)classify the ticket"),
            "field": st.column_config.SelectboxColumn("field", options=list(tasks.RULE_FIELDS)),
            "task_type": st.column_config.SelectboxColumn("task type", options=list(tasks.TASK_TYPES)),
            "complexity": st.column_config.NumberColumn("complexity", min_value=0.0, max_value=1.0),
        })
    if st.button("Apply rules to every request", key="logs_apply_rules"):
        try:
            rules = [tasks.TaskRule(pattern=r["pattern"], task_type=r["task_type"], field=r["field"] or "input_text",
                                    complexity=r["complexity"]) for r in edited if r.get("pattern")]
            with components.writing("applying task-type rules") as con:
                updated = tasks.apply_rules(con, rules)
        except UserError as exc:
            st.error(f"The rules were not applied: {components.as_text(str(exc))}")
        else:
            st.success(f"{len(rules)} rule(s) saved; {updated:,} requests re-typed.")
    st.dataframe(components.query(tasks.breakdown), hide_index=True, key="logs_task_breakdown",
                 column_config={"share": st.column_config.NumberColumn(format="percent"),
                                "cost_usd": st.column_config.NumberColumn("cost (USD)", format="$%.2f")})

st.subheader("Requests")
cols = st.columns(4)
flt = explore.RequestFilter(
    model=cols[0].selectbox("Model", [None, *components.query(explore.distinct_values, "model")],
                            format_func=any_value, key="logs_f_model"),
    task_type=cols[1].selectbox("Task type", [None, *components.query(explore.distinct_values, "task_type")],
                                format_func=any_value, key="logs_f_task"),
    status=cols[2].selectbox("Status", [None, *components.query(explore.distinct_values, "status")],
                             format_func=any_value, key="logs_f_status"),
    text=cols[3].text_input("Search prompt/answer", key="logs_f_text") or None,
)
page, total = components.query(explore.request_page, flt, 200)
st.caption(f"{fmt.compact(total)} matching requests; newest 200 shown. Select a row for the full prompt and answer.")
event = st.dataframe(page, hide_index=True, on_select="rerun", selection_mode="single-row", key="logs_table")
selected = event.selection.rows if event else []
if selected:
    detail = components.query(explore.request_detail, page["request_id"][selected[0]])
    left, right = st.columns(2)
    left.markdown("**Prompt**")
    left.code(detail["input_text"] or "(not logged)", language=None, wrap_lines=True)
    right.markdown("**Answer**")
    right.code(detail["output_text"] or detail["error"] or "(not logged)", language=None, wrap_lines=True)
    st.json({k: v for k, v in detail.items() if k not in ("input_text", "output_text", "input_messages")},
            expanded=False)

"""Scenarios & report: saved scenarios with their share links, the HTML report and CSV downloads."""

import streamlit as st

from analysis.economics import comparison, scenario_store
from analysis.present import formatting as fmt
from analysis.quality.verdicts import scored_runs
from dashboard import components, routing_state, scenario_state

st.title("Scenarios & report")
if not components.workspace_summary().requests:
    st.info("No requests in this workspace yet, so there is nothing to save or report: scenarios and the report "
            "start from your logs. Upload an export on the **Logs** page or pick the demo workspace.")
    st.stop()
with components.reading() as con:  # not cached: the data version does not follow saved scenarios
    saved = scenario_store.saved(con)
if not saved:
    st.info("No saved scenarios yet: set one up on the **Economics** page and press **Save scenario**.")
for item in saved:
    with st.container(border=True):
        left, right = st.columns([3, 1])
        left.markdown(f"**{components.as_text(item.name or item.scenario_id)}** · saved "
                      f"{item.created_at:%Y-%m-%d %H:%M} UTC")
        if right.button("Delete", key=f"scn_delete_{item.scenario_id}"):
            with components.writing("deleting a saved scenario") as con:
                scenario_store.delete(con, item.scenario_id)
            st.rerun()
        if item.scenario is None:
            left.warning(f"This scenario can no longer be opened: {components.as_text(item.problem)}. Its link shows "
                         "the defaults.")
            continue
        result = comparison.evaluate(item.scenario.to_cost_inputs())
        be = result.breakeven
        left.caption(f"{fmt.per_day(item.scenario.requests_per_day)}, {item.scenario.gpu} at "
                     f"{fmt.usd(item.scenario.gpu_hourly_usd)}/h, {item.scenario.mode}; break-even "
                     f"{fmt.per_day(be.requests_per_day) if be.requests_per_day is not None else be.status}; "
                     f"savings {fmt.usd(result.savings_monthly_usd)}/month")
        components.show_share_link(left, item.scenario_id)

st.subheader("Report")
defaults = components.scenario_defaults()
scenario_state.seed(defaults)
scenario = scenario_state.current(defaults)
st.caption("The report and CSVs use the scenario currently set on the Economics page (or its defaults); the "
           "report opens with the decision (quality and cost), then cost only, before quality. "
           "They contain assumptions and aggregates only: no prompts, answers or keys.")
workspace = components.current_workspace()
current_id = scenario_store.scenario_id(scenario)
name = next((item.name or item.scenario_id for item in saved if item.scenario_id == current_id), None)
routing_state.seed(components.query(scored_runs))
choice = routing_state.current()  # the sidebar's candidate: the report states the pages' decision
html, csv_files = components.cached_report(workspace, components.data_version(workspace), scenario.to_json(), name,
                                           choice.run, choice.candidate)
st.download_button("Download HTML report", html, file_name="llm-breakeven-report.html", mime="text/html",
                   key="scn_report")
columns = st.columns(4)
for column, (name, data) in zip(columns, csv_files.items(), strict=False):
    column.download_button(name, data, file_name=name, mime="text/csv", key=f"scn_csv_{name}")

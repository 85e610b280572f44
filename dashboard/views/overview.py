"""Overview: what the workspace's traffic costs today, and where it goes."""

import streamlit as st

from analysis.present import charts
from analysis.present import formatting as fmt
from analysis.quality.verdicts import scored_runs
from dashboard import components, routing_state, scenario_state

st.title("Overview")
s = components.workspace_summary()
if not s.requests:
    held = (f"This workspace holds {s.labelled_rows:,} labelled dataset rows (a test set to replay on the "
            "**Replay** page) but no logged traffic yet" if s.labelled_rows else "This workspace has no requests yet")
    st.info(f"{held}. Upload a log export on the **Logs** page, or pick the demo workspace in the sidebar.")
    st.stop()

defaults = components.scenario_defaults()
scenario_state.seed(defaults)
decision = routing_state.decision(scenario_state.current(defaults), components.query(scored_runs))
st.markdown(f"### {components.as_text(decision.headline)}")
st.caption(components.as_text(decision.caveat) + " The scenario and the split are set on the Economics and "
           "Routing pages.")

cards = components.kpi_row()
components.kpi(cards, "Monthly spend", fmt.usd(s.monthly_spend_usd),
               "Total logged or computed cost / days covered x 30.4167 (analysis.store.summary).")
components.kpi(cards, "Requests per day", fmt.compact(s.requests_per_day),
               f"{s.requests:,} requests over {s.days_covered} days.")
components.kpi(cards, "Tokens in / out", f"{fmt.compact(s.input_tokens)} / {fmt.compact(s.output_tokens)}",
               f"Cached input tokens: {fmt.compact(s.cached_input_tokens)}.")
components.kpi(cards, "Narrow tasks", fmt.percent(components.narrow_share()),
               "Share of requests typed classification or extraction (analysis.quality.tasks.narrow_share): "
               "the work a small local model most often matches.")
components.kpi(cards, "Cost logged / computed", f"{fmt.usd(s.cost_logged_usd)} / {fmt.usd(s.cost_computed_usd)}",
               "Computed = priced from tokens with genai-prices where the log had no cost.")

if s.by_day:
    st.plotly_chart(charts.daily(s.by_day), key="overview_daily")

st.subheader("By model")
st.dataframe(s.by_model, hide_index=True, key="overview_by_model",
             column_config={"cost_usd": st.column_config.NumberColumn("cost (USD)", format="$%.2f")})

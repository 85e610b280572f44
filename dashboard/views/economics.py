"""Economics: API cost vs self-hosting at any volume, the break-even, savings and sensitivity."""

import streamlit as st

from analysis.economics import catalogue

from analysis.present import charts

from analysis.economics import cost_model as economics

from analysis.economics import scenario_store
from analysis.present import formatting as fmt
from dashboard import components, scenario_state

st.title("Economics")
if not components.workspace_summary().requests:
    st.info("No requests in this workspace yet: the defaults come from your logs. Upload an export on "
            "the **Logs** page or pick the demo workspace.")
    st.stop()

defaults = components.scenario_defaults()
scenario_state.seed(defaults)
with st.expander("Scenario", expanded=True):
    scenario_state.economics_controls()
scenario = scenario_state.current(defaults)
gpu = catalogue.gpu(scenario.gpu)
st.caption(f"Catalogue price of the {gpu.name} ({gpu.memory_gb:g} GB): {fmt.usd(gpu.hourly_usd)}/hour on demand "
           f"({gpu.price_citation}). Capacity: {scenario.capacity_source} figure"
           + (f" (catalogue: {gpu.throughput_source})." if scenario.capacity_source == "catalogue" else "."))
with st.expander(f"Which model sizes fit on one {gpu.name}?"):
    st.dataframe([{"model size": size, **{q: "fits" if gpu.name in names else "–" for q, names in by_quant.items()}}
                  for size, by_quant in catalogue.fit_table().items()], hide_index=True, key="econ_fit")
    st.caption("Parameters x bytes per parameter x 1.2 overhead (analysis.economics.catalogue.required_gb) against the "
               "GPU's memory; one GPU, no sharding.")
scenario_state.publish(scenario)

inputs = scenario.to_cost_inputs()
result = economics.evaluate(inputs)
be = result.breakeven
cards = components.kpi_row()
components.kpi(cards, "API per month", fmt.usd(result.api_monthly_usd),
               "requests/day x 30.4167 x API cost per request (analysis.economics.cost_model.api_monthly_cost)")
components.kpi(cards, "Self-hosting per month", fmt.usd(result.self_host.total_usd),
               ({"dedicated": "GPUs x hourly x 730 + ops + fine-tuning / amortisation months",
                 "scheduled": "GPU-hours the volume needs x hourly + ops + fine-tuning / amortisation months",
                 "serverless": "busy GPU-seconds x hourly / 3600 + cold starts + ops + fine-tuning / amortisation "
                               "months"}[scenario.mode]
                + " (analysis.economics.cost_model.self_host_cost). " + result.self_host.note).strip())
components.kpi(cards, "Break-even", f"{fmt.compact(be.requests_per_day)}/day" if be.requests_per_day is not None
               else be.status, be.reason)
components.kpi(cards, "Savings per month", fmt.usd(result.savings_monthly_usd),
               "API - self-hosting at today's volume")
components.kpi(cards, "GPUs", str(result.self_host.gpus or "–"),
               f"payback of fine-tuning: {fmt.compact(result.payback_months)} months"
               if result.payback_months is not None else "no fine-tuning to pay back")
if scenario.mode == "scheduled":
    st.caption("Scheduled (batch-window) hosting is only valid for work that can wait.")

st.subheader("Monthly cost vs volume")
st.plotly_chart(charts.cost_curve(economics.cost_curve(inputs), be, scenario.requests_per_day), key="econ_curve")
left, right = st.columns(2)
with left:
    st.subheader("Sensitivity (±50%)")
    st.plotly_chart(charts.tornado(economics.sensitivity(inputs), result.savings_monthly_usd), key="econ_tornado")
    st.caption("An assumption without a bar leaves the savings unchanged at ±50% (e.g. the same number of GPUs "
               "still suffices).")
with right:
    st.subheader("Next 12 months")
    st.plotly_chart(charts.growth(economics.growth_projection(inputs)), key="econ_growth")

st.subheader("Share this scenario")
name = st.text_input("Name (optional)", key="econ_save_name")
if st.button("Save scenario", key="econ_save"):
    sid = scenario_store.save(components.cursor(), scenario, name or None)
    st.session_state["econ_saved_id"] = sid
if sid := st.session_state.get("econ_saved_id"):
    st.success("Saved. Send this link; it opens the same numbers in a fresh browser:")
    st.code(components.share_link(sid), language=None)

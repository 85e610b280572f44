"""The scenario behind the Economics and Routing pages, kept in the URL.

Every control has a widget key (`sc_<field>`); the URL holds the scenario's short query keys
(Scenario.to_query_params), or `?scenario=ID` for a saved one, and restores the controls from
them in a fresh browser. A missing or malformed link shows a clear message and the defaults.
"""

from __future__ import annotations

import streamlit as st

from analysis.economics import catalogue

from analysis.economics import scenario_store
from analysis.economics.scenario import QUERY_KEYS, Scenario, ScenarioError
from dashboard import components

PREFIX = "sc_"
LOADED_FROM = "sc__loaded_from"
PROBLEM = "sc__problem"


def key(field: str) -> str:
    return PREFIX + field


def control(field: str) -> dict:
    """A scenario control's widget arguments: its key, and its value kept for the whole session
    (Streamlit otherwise drops it when another page is shown)."""
    return {"key": key(field), "persist_state": "session"}


def _from_url(defaults: Scenario) -> tuple[Scenario, str | None]:
    params = st.query_params.to_dict()
    if "scenario" in params:
        try:
            return scenario_store.load(components.cursor(), params["scenario"]).scenario, None
        except ScenarioError as exc:
            return defaults, f"This scenario link could not be opened: {exc}. Showing the defaults."
    if any(k in params for k in QUERY_KEYS.values()):
        try:
            return Scenario.from_query_params(params, defaults), None
        except ScenarioError as exc:
            return defaults, f"The link's scenario settings are invalid ({exc}). Showing the defaults."
    return defaults, None


def seed(defaults: Scenario) -> None:
    """Load the controls from the URL the first time a page sees this workspace, or when the URL
    names another saved scenario; call it before the controls are drawn (Streamlit refuses to
    change a drawn widget's value). Moving to another page drops the URL's parameters, so a URL
    without a scenario keeps the session's controls."""
    workspace, linked_id = components.current_workspace(), st.query_params.get("scenario")
    loaded = st.session_state.get(LOADED_FROM)
    if loaded is None or loaded[0] != workspace or linked_id not in (None, loaded[1]):
        scenario, problem = _from_url(defaults)
        _load(scenario)
        st.session_state[LOADED_FROM] = (workspace, linked_id)
        st.session_state[PROBLEM] = problem
    if st.session_state.get(PROBLEM):
        st.warning(st.session_state[PROBLEM])


def _load(scenario: Scenario) -> None:
    """Put the scenario into the controls' keys."""
    for field in Scenario.model_fields:
        value = getattr(scenario, field)
        st.session_state[key(field)] = (value or 0) if field == "gpu_count" else value  # 0 means "auto"


def current(defaults: Scenario) -> Scenario:
    """The scenario the controls describe (fields without a control keep their default)."""
    values = {f: st.session_state[key(f)] for f in Scenario.model_fields if key(f) in st.session_state}
    values["gpu_count"] = values.get("gpu_count") or None
    try:
        return Scenario.from_dict(values, defaults)
    except ScenarioError as exc:
        st.error(str(exc))
        return defaults


def publish(scenario: Scenario, extra: dict[str, str] | None = None) -> None:
    """Write the scenario into the URL (keeping ?scenario=ID while it is unchanged), with the
    page's own `extra` keys (e.g. the Routing page's controls)."""
    saved_id = st.query_params.get("scenario")
    if saved_id and scenario_store.scenario_id(scenario) == saved_id:
        wanted = {"ws": components.current_workspace(), "scenario": saved_id}
    else:
        wanted, saved_id = {"ws": components.current_workspace(), **scenario.to_query_params()}, None
    wanted |= extra or {}
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
        st.session_state[LOADED_FROM] = (components.current_workspace(), saved_id)


def _gpu_changed() -> None:
    """Picking another GPU loads its catalogue price and capacity into the controls."""
    gpu = catalogue.gpu(st.session_state[key("gpu")])
    st.session_state[key("gpu_hourly_usd")] = gpu.hourly_usd
    st.session_state[key("capacity_rps_per_gpu")] = gpu.throughput_rps_7b
    st.session_state[key("capacity_source")] = "catalogue"


def _api_cost_changed() -> None:
    """A flat API price typed in replaces the logs' per-task price mix (as Scenario.from_dict does);
    the mix would otherwise keep deciding the API cost and the control would change nothing."""
    st.session_state[key("api_cost_by_task")] = None


def economics_controls() -> None:
    """The Economics page's controls (values live in session_state under `sc_<field>`)."""
    c = st.columns(3)
    c[0].number_input("Requests per day (today)", min_value=0.0, step=1000.0, format="%.0f",
                      **control("requests_per_day"), help="Default: logged requests / days covered.")
    c[0].number_input("Growth per month", min_value=-0.9, max_value=10.0, step=0.01, format="%.2f",
                      **control("growth_per_month"), help="0.05 = 5% more requests every month.")
    c[0].number_input("Peak-to-average ratio", min_value=1.0, step=0.1, **control("peak_to_average"),
                      help="Busiest hour's rate / the average rate; sizes a 24/7 fleet.")
    c[0].number_input("API cost per request (USD)", min_value=0.0, step=0.0001, format="%.5f",
                      **control("api_cost_per_request"), on_change=_api_cost_changed,
                      help="Default: logged or genai-prices cost per request (per task type until you change it).")
    c[0].toggle("Price the API at Batch rates", **control("batch_discount"))
    c[1].selectbox("GPU", [g.name for g in catalogue.gpus()], **control("gpu"), on_change=_gpu_changed)
    c[1].number_input("GPU price per hour (USD)", min_value=0.0, step=0.05, **control("gpu_hourly_usd"))
    c[1].radio("Deployment", ["dedicated", "scheduled", "serverless"], **control("mode"), horizontal=True,
               help="Scheduled (batch windows) is only valid for work that can wait.")
    c[1].number_input("Capacity per GPU (requests/s)", min_value=0.01, step=0.5, **control("capacity_rps_per_gpu"),
                      help="Measured by `breakeven probe` when available, else the catalogue's typical figure.")
    c[1].slider("Target utilisation", min_value=0.05, max_value=1.0, step=0.05, **control("target_utilisation"))
    c[2].number_input("Fixed GPU count (0 = size automatically)", min_value=0, step=1, **control("gpu_count"))
    c[2].number_input("Ops cost per month (USD)", min_value=0.0, step=100.0, **control("ops_usd_per_month"))
    c[2].number_input("Fine-tuning, one-off (USD)", min_value=0.0, step=100.0, **control("fine_tuning_usd"))
    c[2].number_input("Amortise fine-tuning over (months)", min_value=1, max_value=120, step=1,
                      **control("amortisation_months"))

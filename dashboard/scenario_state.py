"""The scenario behind the Economics and Routing pages, kept in the URL.

Every control has a widget key (`sc_<field>`); the URL holds the scenario's short query keys
(Scenario.to_query_params), or `?scenario=ID` for a saved one, and restores the controls from
them in a fresh browser. A missing or malformed link shows a clear message and the defaults.
"""

from __future__ import annotations

import streamlit as st

from analysis.economics import catalogue, scenario_store
from analysis.economics.cost_model import MODE_NOTES, default_owned_hardware
from analysis.economics.models import find_model, model_cards
from analysis.economics.scenario import QUERY_KEYS, Scenario, ScenarioError
from analysis.economics.sizing import TENSOR_PARALLEL_DEGREES
from dashboard import components

PREFIX = "sc_"
QUANTISATIONS = ("bf16", "fp8", "int8", "int4", "mxfp4")
CAPACITY_SOURCES = {"sizing": "sizing model", "probe": "your probe", "user": "my own figure"}
LOADED_FROM = "sc__loaded_from"
OPENED = "sc__opened"  # the name (else id) of the saved scenario a link opened
PROBLEM = "sc__problem"
FINE_TUNING_SOURCE = "sc__fine_tuning_source"  # (usd, where it came from), set by dashboard.tuning_evidence


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
            with components.reading() as con:
                saved = scenario_store.load(con, params["scenario"])
        except ScenarioError as exc:
            return defaults, (f"This scenario link could not be opened: {components.as_text(str(exc))}. "
                              "Showing the defaults.")
        st.session_state[OPENED] = saved.name or saved.scenario_id
        return saved.scenario, None
    if any(k in params for k in QUERY_KEYS.values()):
        try:
            return Scenario.from_query_params(params, defaults), None
        except ScenarioError as exc:
            return defaults, (f"The link's scenario settings are invalid ({components.as_text(str(exc))}). "
                              "Showing the defaults.")
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
        st.warning(st.session_state[PROBLEM])  # _from_url escaped what it quotes
    if linked_id and st.session_state.get(OPENED):
        st.caption(f"Saved scenario: {components.as_text(st.session_state[OPENED])}")


def _load(scenario: Scenario) -> None:
    """Put the scenario into the controls' keys."""
    for field in Scenario.model_fields:
        value = getattr(scenario, field)
        st.session_state[key(field)] = (value or 0) if field == "gpu_count" else value  # 0 means "auto"


def current(defaults: Scenario) -> Scenario:
    """The scenario the controls describe (fields without a control keep their default)."""
    values = {f: st.session_state[key(f)] for f in Scenario.model_fields if key(f) in st.session_state}
    values["gpu_count"] = values.get("gpu_count") or None
    if values.get("capacity_source") == "probe":
        values["capacity_rps_per_gpu"] = defaults.capacity_rps_per_gpu  # the measurement, not an edit
    try:
        return Scenario.from_dict(values, defaults)
    except ScenarioError as exc:
        components.show_user_error(exc)
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
    """Picking another GPU loads its catalogue price; its capacity is sized again (a probe or a
    typed figure belonged to the old GPU)."""
    gpu = catalogue.gpu(st.session_state[key("gpu")])
    st.session_state[key("gpu_hourly_usd")] = gpu.hourly_usd
    st.session_state[key("serverless_usd_per_second")] = None  # the new GPU's cited serverless price
    st.session_state[key("capacity_source")] = "sizing"


def _model_changed() -> None:
    """Another model: its own published precision and tensor-parallel choice, sized again."""
    st.session_state[key("quantisation")] = None
    st.session_state[key("tensor_parallel")] = None
    st.session_state[key("capacity_source")] = "sizing"


def _api_cost_changed() -> None:
    """A flat API price typed in replaces the logs' per-task price mix (as Scenario.from_dict does);
    the mix would otherwise keep deciding the API cost and the control would change nothing."""
    st.session_state[key("api_cost_by_task")] = None


def economics_controls(defaults: Scenario) -> None:
    """The Economics page's controls (values live in session_state under `sc_<field>`). 'your
    probe' is offered only while the GPU and model are the ones the defaults' probe measured."""
    c = st.columns(3)
    c[0].number_input("Requests per day (today)", min_value=0.0, step=1000.0, format="%.0f",
                      **control("requests_per_day"), help="Default: logged requests / days covered.")
    c[0].number_input("Growth per month", min_value=-0.9, max_value=10.0, step=0.01, format="%.2f",
                      **control("growth_per_month"), help="0.05 = 5% more requests every month.")
    c[0].number_input("Peak-to-average ratio", min_value=1.0, step=0.1, **control("peak_to_average"),
                      help="Interactive requests' busiest hour's rate / their average rate; sizes a 24/7 fleet.")
    c[0].number_input("Batch API share of requests", min_value=0.0, max_value=1.0, step=0.05,
                      **control("batch_share"), help="Scheduled into off-peak capacity, no peak factor, "
                      "priced at the Batch rate. Default: the logs' share.")
    c[0].number_input("API cost per request (USD)", min_value=0.0, step=0.0001, format="%.5f",
                      **control("api_cost_per_request"), on_change=_api_cost_changed,
                      help="Default: logged or genai-prices cost per request (per task type until you change it).")
    c[0].toggle("Price the API at Batch rates", **control("batch_discount"))
    c[1].selectbox("Model to self-host", [m.name for m in model_cards()], **control("candidate_model"),
                   format_func=_model_label, on_change=_model_changed,
                   help="From the model catalogue (data/models.json): its size and shape decide the capacity.")
    c[1].selectbox("GPU", [g.name for g in catalogue.gpus()], **control("gpu"), on_change=_gpu_changed)
    c[1].number_input("GPU price per hour (USD)", min_value=0.0, step=0.05, **control("gpu_hourly_usd"))
    c[1].radio("Deployment", list(MODE_NOTES), **control("mode"), horizontal=True,
               help=" ".join(f"{mode}: {note}" for mode, note in MODE_NOTES.items()))
    sources = [s for s in CAPACITY_SOURCES if s != "probe" or _probe_applies(defaults)]
    if st.session_state.get(key("capacity_source")) not in sources:
        st.session_state[key("capacity_source")] = "sizing"
    c[1].radio("Capacity per GPU from", sources, **control("capacity_source"),
               format_func=CAPACITY_SOURCES.get, horizontal=True,
               help="The sizing model computes it from the model, GPU and your requests' lengths; a probe "
                    "measures your own endpoint on that GPU; or type a figure you trust.")
    if st.session_state.get(key("capacity_source")) == "user":
        c[1].number_input("Capacity per GPU (requests/s)", min_value=0.001, step=0.5,
                          **control("capacity_rps_per_gpu"))
    c[1].slider("Target utilisation", min_value=0.05, max_value=1.0, step=0.05, **control("target_utilisation"))
    c[2].number_input("Fixed GPU count (0 = size automatically)", min_value=0, step=1, **control("gpu_count"))
    c[2].number_input("Ops cost per month (USD)", min_value=0.0, step=100.0, **control("ops_usd_per_month"))
    c[2].number_input("Fine-tuning, one-off (USD)", min_value=0.0, step=100.0, **control("fine_tuning_usd"))
    if (applied := st.session_state.get(FINE_TUNING_SOURCE)) and applied[0] == st.session_state.get(key("fine_tuning_usd")):
        c[2].caption(components.as_text(applied[1]))
    c[2].number_input("Amortise fine-tuning over (months)", min_value=1, max_value=120, step=1,
                      **control("amortisation_months"))
    with st.expander("Model serving and request shape (sized from your logs)"):
        _serving_controls()
    if st.session_state.get(key("mode")) == "serverless":
        with st.expander("Serverless billing (empty: the cited price and idle window)", expanded=True):
            s = st.columns(2)
            s[0].number_input("Serverless price per GPU-second (USD)", min_value=0.0, step=0.0001, format="%.6f",
                              value=None, **control("serverless_usd_per_second"))
            s[1].number_input("Idle seconds billed after the last request", min_value=0.0, step=5.0, value=None,
                              **control("serverless_idle_timeout_s"))
    if st.session_state.get(key("mode")) == "owned":
        with st.expander("Owned hardware (empty: the cited defaults)", expanded=True):
            _owned_controls()


def _probe_applies(defaults: Scenario) -> bool:
    return defaults.capacity_source == "probe" and all(
        st.session_state.get(key(field)) == getattr(defaults, field) for field in ("gpu", "candidate_model"))


def _model_label(name: str) -> str:
    card = find_model(name)
    return f"{card.display_name} ({card.params_total_b:g}B, {card.licence})" if card else name


def _serving_controls() -> None:
    """Quantisation, tensor parallel, latency targets and the request shape behind the capacity."""
    c = st.columns(3)
    c[0].selectbox("Weights' precision", [None, *QUANTISATIONS], **control("quantisation"),
                   format_func=lambda q: "as published" if q is None else q,
                   help="Fewer bytes per weight: more room for requests and faster decoding, some quality risk.")
    c[0].selectbox("GPUs per replica", [None, *TENSOR_PARALLEL_DEGREES], **control("tensor_parallel"),
                   format_func=lambda n: "fewest that fit" if n is None else str(n),
                   help="Tensor parallel: a model too large for one GPU is split over 2, 4 or 8.")
    c[1].number_input("Time to first token target, p95 (ms)", min_value=1.0, step=250.0, value=None,
                      **control("ttft_p95_ms"), help="Empty: no target (batch work).")
    c[1].number_input("End-to-end latency target, p95 (ms)", min_value=1.0, step=1000.0, value=None,
                      **control("latency_p95_ms"), help="Empty: no target (batch work).")
    c[1].slider("Share of prompt tokens from a prefix cache", 0.0, 1.0, step=0.05, **control("cached_share"))
    c[2].number_input("Input tokens per request (mean)", min_value=1.0, step=50.0, **control("input_length"))
    c[2].number_input("Output tokens per request (mean)", min_value=1.0, step=10.0, **control("output_length"))
    c[2].number_input("Input tokens (p95)", min_value=1.0, step=50.0, value=None, **control("input_length_p95"))
    c[2].number_input("Output tokens (p95)", min_value=1.0, step=10.0, value=None, **control("output_length_p95"))


def _owned_controls() -> None:
    default = default_owned_hardware()
    c = st.columns(3)
    c[0].number_input(f"Server price (USD; default {default.server_price_usd:,.0f})", min_value=0.0, step=1000.0,
                      value=None, **control("owned_server_usd"))
    c[0].number_input(f"GPUs per server (default {default.gpus_per_server})", min_value=1, step=1, value=None,
                      **control("owned_gpus_per_server"))
    c[1].number_input(f"Depreciation (months; default {default.depreciation_months:g})", min_value=1.0, step=6.0,
                      value=None, **control("owned_depreciation_months"))
    c[1].number_input(f"Power per GPU (kW; default {default.power_kw_per_gpu:g})", min_value=0.0, step=0.05,
                      value=None, **control("owned_power_kw_per_gpu"))
    c[1].number_input(f"PUE (default {default.pue:g})", min_value=1.0, step=0.05, value=None, **control("owned_pue"))
    c[2].number_input(f"Electricity (USD/kWh; default {default.electricity_usd_per_kwh:g})", min_value=0.0,
                      step=0.01, value=None, **control("owned_electricity_usd_per_kwh"))
    c[2].number_input(f"Colocation per server and month (USD; default {default.colocation_usd_per_server_month:,.0f})",
                      min_value=0.0, step=100.0, value=None, **control("owned_colocation_usd_per_server_month"))


MODEL_FOLLOWS = "sc__model_follows"  # the model follow_candidate set; None once the user or a link picked one


def follow_candidate(defaults: Scenario, model: str | None) -> None:
    """Make the model to self-host `model`, the catalogue name of the sidebar's candidate (None:
    not in the catalogue, nothing changes), unless the user picked another on the Economics page
    or the link named another. Runs before the page: it loads the controls as `seed` does when
    they are not loaded yet (`seed` then shows the link's problem), and remembers the model it set
    (MODEL_FOLLOWS), so a model that differs from it is the user's."""
    workspace, linked_id = components.current_workspace(), st.query_params.get("scenario")
    loaded = st.session_state.get(LOADED_FROM)
    if loaded is None or loaded[0] != workspace or linked_id not in (None, loaded[1]):
        scenario, problem = _from_url(defaults)
        _load(scenario)
        st.session_state[LOADED_FROM], st.session_state[PROBLEM] = (workspace, linked_id), problem
        linked = scenario is not defaults and scenario.candidate_model != model
        st.session_state[MODEL_FOLLOWS] = None if linked else scenario.candidate_model
    if model and st.session_state.get(MODEL_FOLLOWS) == st.session_state.get(key("candidate_model")) != model:
        st.session_state[key("candidate_model")] = model
        _model_changed()
        st.session_state[MODEL_FOLLOWS] = model

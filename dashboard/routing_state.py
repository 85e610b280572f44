"""The Routing page's own controls, kept in the URL beside the scenario (the page also sets the
scenario's quality target `qt` and margin `nim`): segment-by `seg`, routing mode `rm`, run `run`,
candidate `cand`, local context window `cw` (tokens) and in-house segments `ih` (a JSON list).

The run and candidate are the dashboard's one candidate, chosen once in the sidebar
(`candidate_picker`, on every page) and used by Quality, Economics, Routing and the probe: by
default `analysis.quality.candidate_choice.best_candidate` (while the user has picked none, it
follows that rule as runs are scored), else the user's pick or the link's `run`/`cand`, which
every page keeps in its URL (`publish_choice`). A catalogue model's candidate also becomes the
scenario's model to self-host unless the user picked another (`scenario_state.follow_candidate`).

A link's values are checked against what the workspace offers; a bad one shows a message (in the
sidebar) and its default. Widget keys are `rt_<name>`, their values kept for the whole session
(`control`); the sidebar's widget is `rt_pick`, (run, candidate).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import streamlit as st

from analysis.economics import routing_segments as routing_data
from analysis.economics.decision import Decision, decide, evidence_of
from analysis.economics.models import find_model
from analysis.economics.routing import Recommendation, RoutingPolicy
from analysis.economics.routing_segments import DEFAULT_CONTEXT_WINDOW, DEFAULT_SEGMENT, SEGMENT_COLUMNS
from analysis.economics.scenario import Scenario
from analysis.errors import UserError
from analysis.quality import candidate_choice
from analysis.replay.demo_run import is_demo_run
from dashboard import components, scenario_state

PREFIX = "rt_"
QUERY = {"segment_by": "seg", "mode": "rm", "run": "run", "candidate": "cand", "context_window": "cw",
         "in_house": "ih"}
MODES = ("pre-routing", "cascade")
SEGMENT_CHOICES = (DEFAULT_SEGMENT, *SEGMENT_COLUMNS)
MAX_CONTEXT_WINDOW = 10_000_000
PICK = "rt_pick"  # the sidebar's widget: (run, candidate)
LOADED_FROM, PROBLEM, AUTO = "rt__loaded_from", "rt__problem", "rt__auto"  # AUTO: (run, candidate) the rule picked


@dataclass(frozen=True)
class Choice:
    """The routing controls' values; run and candidate None when nothing is scored."""
    segment_by: str = DEFAULT_SEGMENT
    mode: str = "pre-routing"
    run: str | None = None
    candidate: str | None = None
    context_window: int = DEFAULT_CONTEXT_WINDOW
    in_house: tuple[str, ...] = ()

    def policy(self) -> RoutingPolicy:
        return RoutingPolicy(mode=self.mode, in_house=frozenset(self.in_house))

    def to_query_params(self) -> dict[str, str]:
        params = {"seg": self.segment_by, "rm": self.mode, "cw": str(self.context_window)}
        if self.run:
            params |= {"run": self.run, "cand": self.candidate or ""}
        if self.in_house:
            params["ih"] = json.dumps(list(self.in_house), separators=(",", ":"))
        return params


def key(name: str) -> str:
    return PREFIX + name


def control(name: str) -> dict:
    """A routing control's widget arguments: its key, and its value kept for the whole session."""
    return {"key": key(name), "persist_state": "session"}


def _from_url(runs: dict[str, list[str]], with_run: bool = True) -> tuple[Choice, list[str]]:
    """The choice a link describes, each bad value replaced by its default (and described); its
    run and candidate only `with_run`."""
    params, problems, values = st.query_params.to_dict(), [], {}
    if (seg := params.get("seg")) is not None:
        if seg in SEGMENT_CHOICES:
            values["segment_by"] = seg
        else:
            problems.append(f"segment by {seg!r} is not one of {', '.join(SEGMENT_CHOICES)}")
    if (mode := params.get("rm")) is not None:
        if mode in MODES:
            values["mode"] = mode
        else:
            problems.append(f"routing mode {mode!r} is not one of {', '.join(MODES)}")
    if (window := params.get("cw")) is not None:
        if window.isdigit() and 1 <= int(window) <= MAX_CONTEXT_WINDOW:
            values["context_window"] = int(window)
        else:
            problems.append(f"context window {window!r} is not a whole number of tokens in 1–{MAX_CONTEXT_WINDOW:,}")
    if (in_house := params.get("ih")) is not None:
        try:
            listed = json.loads(in_house)
        except json.JSONDecodeError:
            listed = None
        if isinstance(listed, list) and all(isinstance(s, str) for s in listed):
            values["in_house"] = tuple(listed)
        else:
            problems.append(f"in-house segments {in_house!r} are not a JSON list of names")
    if (run := params.get("run")) is not None and with_run:
        if run in runs:
            values["run"] = run
            if params.get("cand") in runs[run]:
                values["candidate"] = params["cand"]
        else:
            problems.append(f"run {run!r} has no scores in this workspace")
    return Choice(**values), problems


def seed(runs: dict[str, list[str]]) -> None:
    """Load the controls from the URL the first time this session sees this workspace, then fit
    the run and candidate (`_fit`); call it before drawing them. `runs`: the scored runs, newest
    first, with their candidates. After a switch of workspace the URL's run and candidate are the
    old workspace's, so they are not read."""
    workspace = components.current_workspace()
    loaded = st.session_state.get(LOADED_FROM)
    if loaded != workspace:
        choice, problems = _from_url(runs, with_run=loaded is None)
        for name, value in asdict(choice).items():
            st.session_state[key(name)] = list(value) if name == "in_house" else value
        st.session_state[LOADED_FROM], st.session_state[AUTO] = workspace, None
        st.session_state[PROBLEM] = ("Some routing settings of this link were not understood and show their "
                                     f"defaults: {'; '.join(problems)}.") if problems else None
    _fit(components.query(candidate_choice.rank_candidates))


def _write(name: str, value) -> None:
    """Unchanged values are not written: a drawn widget's key cannot be."""
    if st.session_state.get(key(name)) != value:
        st.session_state[key(name)] = value


def _fit(ranked: list[candidate_choice.CandidateSummary]) -> None:
    """The run and candidate: a scored pair. While the user has picked none (the pair is the one the
    rule picked, AUTO), the rule's best (`ranked[0]`), so a real run replaces the demo's and a
    newly scored run its predecessor; a run named without one of its candidates gets its best."""
    pairs = [(s.run_id, s.candidate) for s in ranked]
    current = (st.session_state.get(key("run")), st.session_state.get(key("candidate")))
    auto = st.session_state.get(AUTO)
    if current in pairs and current != auto:
        return
    of_run = [p for p in pairs if p[0] == current[0]]
    if current not in pairs and of_run and current[0] != (auto[0] if auto else None):
        chosen = of_run[0]
    else:
        chosen = pairs[0] if pairs else (None, None)
        st.session_state[AUTO] = chosen
    _write("run", chosen[0])
    _write("candidate", chosen[1])


def keep_known_segments(segments: list[str]) -> None:
    """Drop in-house choices that are not segments of the current cut (e.g. after re-segmenting)."""
    known = [s for s in st.session_state[key("in_house")] if s in segments]
    if known != st.session_state[key("in_house")]:
        st.session_state[key("in_house")] = known


def decision(scenario: Scenario, runs: dict[str, list[str]],
             recommendation: Recommendation | None = None) -> Decision:
    """The decision for `scenario` with the routing controls' values and the sidebar's candidate,
    from the same cached queries as the Routing page; pass the page's `recommendation` when it has
    one, so the figures are the very same."""
    if st.session_state.get(LOADED_FROM) != components.current_workspace():
        seed(runs)  # the sidebar seeds it before every page; this is for a page run without it
    choice = current()
    traffic = components.query(routing_data.segment_traffic, choice.segment_by, choice.context_window)
    quality = (components.query(routing_data.segment_quality, choice.run, choice.candidate, choice.segment_by)
               if choice.run else {})
    evidence = evidence_of(quality, choice.run, choice.candidate, bool(choice.run) and is_demo_run(choice.run))
    return decide(traffic, quality, scenario, choice.policy(), evidence, recommendation)


def current() -> Choice:
    values = {name: st.session_state[key(name)] for name in QUERY}
    values["in_house"] = tuple(values["in_house"])
    return Choice(**values)


def _picked() -> None:
    """The user's pick in the sidebar: the run and candidate from now on (the rule no longer moves it)."""
    run, candidate = st.session_state[PICK]
    st.session_state[key("run")], st.session_state[key("candidate")] = run, candidate
    st.session_state[AUTO] = None


def candidate_picker() -> None:
    """The sidebar's one candidate (module rules): seeded from the URL, fitted to the scored runs,
    then the scenario's model follows it (where the workspace has logged requests to price)."""
    ranked = components.query(candidate_choice.rank_candidates)
    runs: dict[str, list[str]] = {}
    for summary in ranked:
        runs.setdefault(summary.run_id, []).append(summary.candidate)
    seed(runs)
    pick = (st.session_state[key("run")], st.session_state[key("candidate")])
    with st.sidebar:
        if ranked:
            if st.session_state.get(PICK) != pick:
                st.session_state[PICK] = pick
            labels = {(s.run_id, s.candidate): s.label for s in ranked}
            st.selectbox("Candidate", list(labels), key=PICK, format_func=labels.get, on_change=_picked,
                         help="The replayed candidate whose quality Quality, Economics and Routing use, and "
                              "the probe's default. By default the best one: the newest real run's candidate "
                              "with the most task types non-inferior (analysis.quality.candidate_choice).")
            st.code(pick[1], language=None, wrap_lines=True)  # the whole SPEC, as text
            if is_demo_run(pick[0]):
                st.caption("The demo's synthetic run: replay a sample of your own to measure a real model.")
        elif components.workspace_summary().requests:
            st.caption("Candidate: none scored yet. Replay a sample (Replay page); it is scored when it ends.")
        if st.session_state.get(PROBLEM):
            st.warning(components.as_text(st.session_state[PROBLEM]))
    if not components.workspace_summary().requests:
        return
    card = find_model(pick[1]) if pick[1] else None
    try:
        defaults = components.scenario_defaults()
    except UserError:  # the pages that use the scenario say why; the sidebar stays usable
        return
    scenario_state.follow_candidate(defaults, card.name if card else None)


def publish_choice() -> None:
    """Keep the chosen run and candidate in the URL (`run`, `cand`) after any page has written it."""
    run, candidate = st.session_state.get(key("run")), st.session_state.get(key("candidate"))
    seeded = st.session_state.get(LOADED_FROM) == st.session_state.get(components.WORKSPACE_KEY)
    wanted = {"run": run, "cand": candidate or ""} if run and seeded else {}
    for name in ("run", "cand"):
        if name not in wanted:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != wanted[name]:
            st.query_params[name] = wanted[name]

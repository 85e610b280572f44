"""The Routing page's own controls, kept in the URL beside the scenario (the page also sets the
scenario's quality target `qt` and margin `nim`): segment-by `seg`, routing mode `rm`, run `run`,
candidate `cand`, local context window `cw` (tokens) and in-house segments `ih` (a JSON list).

A link's values are checked against what the workspace offers; a bad one shows a message and
its default. Widget keys are `rt_<name>`, their values kept for the whole session (`control`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import streamlit as st

from analysis.economics import routing_segments as routing_data
from analysis.economics.decision import Decision, decide, evidence_of
from analysis.economics.routing import Recommendation, RoutingPolicy
from analysis.economics.routing_segments import DEFAULT_CONTEXT_WINDOW, DEFAULT_SEGMENT, SEGMENT_COLUMNS
from analysis.economics.scenario import Scenario
from analysis.replay.demo_run import default_run, is_demo_run
from dashboard import components

PREFIX = "rt_"
QUERY = {"segment_by": "seg", "mode": "rm", "run": "run", "candidate": "cand", "context_window": "cw",
         "in_house": "ih"}
MODES = ("pre-routing", "cascade")
SEGMENT_CHOICES = (DEFAULT_SEGMENT, *SEGMENT_COLUMNS)
MAX_CONTEXT_WINDOW = 10_000_000
LOADED_FROM, PROBLEM, AUTO_RUN = "rt__loaded_from", "rt__problem", "rt__auto_run"  # AUTO_RUN: the run picked by default


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


def _from_url(runs: dict[str, list[str]]) -> tuple[Choice, list[str]]:
    """The choice a link describes, each bad value replaced by its default (and described)."""
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
    if (run := params.get("run")) is not None:
        if run in runs:
            values["run"] = run
            if params.get("cand") in runs[run]:
                values["candidate"] = params["cand"]
        else:
            problems.append(f"run {run!r} has no scores in this workspace")
    return Choice(**values), problems


def seed(runs: dict[str, list[str]]) -> None:
    """Load the controls from the URL the first time the page sees this workspace; call it before
    drawing them. `runs`: the scored runs, newest first, with their candidates (most scored first).
    A run the link does not name is `analysis.replay.demo_run.default_run`'s, and the demo's run
    picked that way gives way to a real one as soon as one is scored."""
    workspace = components.current_workspace()
    if st.session_state.get(LOADED_FROM) != workspace:
        choice, problems = _from_url(runs)
        for name, value in asdict(choice).items():
            st.session_state[key(name)] = list(value) if name == "in_house" else value
        st.session_state[LOADED_FROM] = workspace
        st.session_state[PROBLEM] = ("Some routing settings of this link were not understood and show their "
                                     f"defaults: {'; '.join(problems)}.") if problems else None
    run = st.session_state[key("run")]
    if run not in runs or (is_demo_run(run) and run == st.session_state.get(AUTO_RUN)):  # a real run replaces it
        chosen = st.session_state[AUTO_RUN] = default_run(runs)
        if chosen != run:  # unchanged values are not written: a drawn widget's key cannot be
            st.session_state[key("run")] = chosen
    if st.session_state.get(PROBLEM):
        st.warning(st.session_state[PROBLEM])


def fit_candidate(runs: dict[str, list[str]]) -> None:
    """After the run is picked, before the candidate is drawn: a candidate of that run."""
    run = st.session_state[key("run")]
    if run and st.session_state[key("candidate")] not in runs[run]:
        st.session_state[key("candidate")] = runs[run][0]


def keep_known_segments(segments: list[str]) -> None:
    """Drop in-house choices that are not segments of the current cut (e.g. after re-segmenting)."""
    known = [s for s in st.session_state[key("in_house")] if s in segments]
    if known != st.session_state[key("in_house")]:
        st.session_state[key("in_house")] = known


def decision(scenario: Scenario, runs: dict[str, list[str]],
             recommendation: Recommendation | None = None) -> Decision:
    """The decision for `scenario` with the routing controls' values (seeded here when a page
    shows no routing controls), from the same cached queries as the Routing page; pass the page's
    `recommendation` when it has one, so the figures are the very same."""
    seed(runs)
    fit_candidate(runs)
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

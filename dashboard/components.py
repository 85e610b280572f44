"""Small shared pieces of the pages: the workspace's connections, cached queries, KPI cards, charts.

A page never holds a workspace: `reading()` and `writing(purpose)` open it for one operation and
close it (analysis.store.access), so the CLI and other processes use it between; while another
process holds it the page says what it waits for. Query results are cached with st.cache_data
keyed on the workspace's data version, so a page re-run never re-aggregates unchanged data.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import duckdb
import streamlit as st

from analysis.errors import UserError
from analysis.ingest import demo
from analysis.settings import WORKSPACE_NAME, get_settings
from analysis.store import access, summary
from analysis.store import database as db

WORKSPACE_KEY = "workspace"
SWITCH_KEY = "workspace_switch"  # see switch_workspace


@st.cache_resource(show_spinner=False)
def _empty_database() -> duckdb.DuckDBPyConnection:
    """An empty workspace in memory: what a link to a workspace that does not exist yet shows."""
    return db.open_db(Path(":memory:"))


class _Waiting:
    """Says on the page what an operation waits for while another process holds the workspace,
    and clears it once the wait is over."""

    def __init__(self) -> None:
        self.placeholder = None

    def __call__(self, holder: str) -> None:
        if self.placeholder is None:
            self.placeholder = st.empty()
        self.placeholder.info(f":material/hourglass_top: Waiting for {as_text(holder)} to finish…")

    def done(self) -> None:
        if self.placeholder is not None:
            self.placeholder.empty()


@contextmanager
def _waiting_shown() -> Iterator[_Waiting]:
    waiting = _Waiting()
    try:
        yield waiting
    finally:
        waiting.done()


@contextmanager
def reading(workspace: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the current workspace (or `workspace`) for one operation. A
    workspace without a file reads as empty, from memory (a link never creates a file), but the
    demo, which is created here when missing."""
    name = workspace or current_workspace()
    path = get_settings().workspace_path(name)
    if not path.exists() and name != demo.DEMO_WORKSPACE:
        empty = _empty_database().cursor()
        try:
            yield empty
        finally:
            empty.close()
        return
    with _waiting_shown() as waiting:
        if not path.exists():
            with access.writing(path, "creating the demo workspace", on_wait=waiting):
                pass
        with access.reading(path, on_wait=waiting) as con:
            waiting.done()
            yield con


@contextmanager
def writing(purpose: str, workspace: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to the current workspace (or `workspace`, created when missing:
    an upload does so) for one operation; `purpose` (e.g. "an upload of calls.jsonl") is what
    other processes are told while they wait."""
    path = get_settings().workspace_path(workspace or current_workspace())
    with _waiting_shown() as waiting, access.writing(path, purpose, on_wait=waiting) as con:
        waiting.done()
        yield con


def shared_workspace(workspace: str | None = None) -> access.Workspace:
    """The current workspace for a long job (a replay, a probe) that opens it per batch."""
    return access.Workspace(get_settings().workspace_path(workspace or current_workspace()))


def _exists(workspace: str) -> bool:
    return bool(WORKSPACE_NAME.match(workspace)) and get_settings().workspace_path(workspace).exists()


def current_workspace() -> str:
    """The sidebar's choice, else the link's (?ws=), else the settings' workspace of your own logs
    once a file was loaded into it, else the demo. A linked workspace that does not exist yet is
    shown empty (see `reading`) until an upload creates it."""
    settings = get_settings()
    chosen = st.session_state.get(WORKSPACE_KEY) or st.query_params.get("ws")
    if chosen:
        return chosen
    if not settings.workspace_path(settings.workspace).exists():
        return demo.DEMO_WORKSPACE
    own = _cached_query(settings.workspace, data_version(settings.workspace), "analysis.store.database", "scalar",
                        ("SELECT count(*) FROM sources",))
    return settings.workspace if own else demo.DEMO_WORKSPACE


def _file_state(workspace: str) -> tuple:
    """(modification time, size) of the workspace's file and of its write-ahead log: every write
    changes one of them (a reader changes neither), so an unchanged state means unchanged data."""
    path = get_settings().workspace_path(workspace)
    states = []
    for file in (path, path.with_name(path.name + ".wal")):
        try:
            stat = file.stat()
        except FileNotFoundError:
            states.append(None)
        else:
            states.append((stat.st_mtime_ns, stat.st_size))
    return tuple(states)


@st.cache_data(show_spinner=False, max_entries=64)
def _version(workspace: str, file_state: tuple) -> str:
    with reading(workspace) as con:
        return db.data_version(con)


def data_version(workspace: str | None = None) -> str:
    """The workspace's data version (analysis.store.database.data_version), read again only when
    its file changed, so a page re-run over unchanged data does not open the workspace at all."""
    name = workspace or current_workspace()
    return _version(name, _file_state(name))


@st.cache_data(show_spinner=False, max_entries=32)
def cached_summary(workspace: str, version: str) -> summary.Summary:
    with reading(workspace) as con:
        return summary.summarise(con)


@st.cache_data(show_spinner=False, max_entries=128)
def _cached_query(workspace: str, version: str, module: str, name: str, args: tuple):
    with reading(workspace) as con:
        return getattr(importlib.import_module(module), name)(con, *args)


def query(function, *args, workspace: str | None = None):
    """`function(connection, *args)` (an `analysis` query) on `workspace` (default: the one shown),
    cached per workspace data version, so a page re-run never re-aggregates unchanged data."""
    ws = workspace or current_workspace()
    return _cached_query(ws, data_version(ws), function.__module__, function.__name__, args)


def workspace_summary() -> summary.Summary:
    ws = current_workspace()
    return cached_summary(ws, data_version(ws))


def switch_workspace(name: str) -> None:
    """Show workspace `name` from the next run on (the picker's value can only change before it
    is drawn, so the switch waits in the session until sidebar() runs)."""
    st.session_state[SWITCH_KEY] = name


def sidebar() -> None:
    """The workspace picker, shown on every page; the choice also goes into the URL (?ws=). A link
    naming an impossible workspace falls back to the default with a message."""
    settings = get_settings()
    if switch := st.session_state.pop(SWITCH_KEY, None):
        st.session_state[WORKSPACE_KEY] = switch
        st.query_params["ws"] = switch
    linked = st.query_params.get("ws")
    if linked and not WORKSPACE_NAME.match(linked):
        del st.query_params["ws"]
        st.sidebar.warning(f"The link's workspace name {as_text(repr(linked[:64]))} is not valid (letters, digits, '_', "
                           "'-' or '.'); showing the default workspace.")
    names = settings.workspaces()
    current = current_workspace()
    if current not in names:
        names = sorted({*names, current})
    with st.sidebar:
        choice = st.selectbox("Workspace", names, index=names.index(current), key=WORKSPACE_KEY,
                              help="One DuckDB file per workspace under the data directory.")
        if st.query_params.get("ws") != choice:
            st.query_params["ws"] = choice
        if choice != demo.DEMO_WORKSPACE and not _exists(choice):  # a link never creates a workspace
            st.warning(f"There is no workspace {as_text(repr(choice))} yet: it shows empty, and uploading logs on the "
                       "Logs page creates it.")
        if _cached_query(choice, data_version(choice), demo.__name__, "is_synthetic", ()):
            st.caption(":material/science: Synthetic demo data: generated from templates, not real traffic.")


def kpi_row():
    """A row of KPI cards; on a narrow screen the cards wrap onto more rows instead of cutting
    their values short (as fixed columns did)."""
    return st.container(horizontal=True, gap="medium")


def kpi(row, label: str, value: str, help_text: str | None = None) -> None:
    row.metric(label, value, help=help_text, width="content")


@st.cache_data(show_spinner=False, max_entries=32)
def cached_defaults(workspace: str, version: str):
    from analysis.economics.workspace_defaults import scenario_defaults

    with reading(workspace) as con:
        return scenario_defaults(con)


def scenario_defaults():
    """The scenario defaults taken from the current workspace's logs (cached per data version)."""
    ws = current_workspace()
    return cached_defaults(ws, data_version(ws))


@st.cache_data(show_spinner=False, max_entries=32)
def cached_narrow_share(workspace: str, version: str) -> float | None:
    from analysis.quality.tasks import narrow_share

    with reading(workspace) as con:
        return narrow_share(con)


def narrow_share() -> float | None:
    ws = current_workspace()
    return cached_narrow_share(ws, data_version(ws))


@st.cache_data(show_spinner=False, max_entries=64)
def cached_gpu_options(scenario_json: str):
    """`gpu_choice.gpu_options` of a scenario (every GPU x mode sized and priced: tens of ms), kept
    across reruns of the same scenario."""
    from analysis.economics.gpu_choice import gpu_options
    from analysis.economics.scenario import Scenario

    return gpu_options(Scenario.from_json(scenario_json))


def share_link(scenario_id: str, page: str = "economics") -> str:
    """A link to `page` opening a saved scenario: the workspace and the scenario id only (never
    prompts, answers or keys), URL-encoded."""
    parts = urlsplit(st.context.url or "")
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    return f"{origin}/{page}?{urlencode({'ws': current_workspace(), 'scenario': scenario_id})}"


def show_share_link(container, scenario_id: str, page: str = "economics") -> None:
    """A saved scenario's link in `container`: a button that opens it in a new tab, beside the
    link as text to copy (the code box's copy button)."""
    link = share_link(scenario_id, page)
    row = container.container(horizontal=True, vertical_alignment="center")
    row.link_button("Open link", link, icon=":material/open_in_new:",
                    help="Opens the scenario in a new tab, as whoever you send the link to will see it.")
    row.code(link, language=None)


@st.cache_data(show_spinner="Building the report…", max_entries=8)
def cached_report(workspace: str, version: str, scenario_json: str, scenario_name: str | None = None,
                  run_id: str | None = None, candidate: str | None = None) -> tuple[str, dict[str, bytes]]:
    """The HTML report (opening with the decision for the chosen `run_id` and `candidate`, the
    sidebar's) and CSVs of a scenario, named `scenario_name` when it is a saved one."""
    from analysis.economics.decision import workspace_decision
    from analysis.economics.scenario import Scenario
    from analysis.present import report

    scenario = Scenario.from_json(scenario_json)
    with reading(workspace) as con:
        decision = workspace_decision(con, scenario, run_id, candidate)
        document = report.html_report(con, scenario, decision, title=f"llm-breakeven: {workspace}",
                                      scenario_name=scenario_name)
        return document, report.csv_exports(con, scenario)


def errors_on_page(function):
    """Wrap a fragment or callback (which run outside app.py's try) so that a user's mistake shows
    on the page there too; any other error is a bug and goes on to Streamlit."""
    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except UserError as exc:
            show_user_error(exc)
    return wrapped


def show_user_error(exc: UserError) -> None:
    """A user's mistake on the page: its message, as text."""
    st.error(as_text(str(exc)))


_MARKDOWN = re.compile(r"[\\`*_{}\[\]()<>#+\-=.!|~$:&]")


def as_text(text: str) -> str:
    """`text` escaped for Streamlit's Markdown (st.error, st.warning...), so that it shows as
    written: a message may quote what the user typed, whose `*`, `_`, `$` or `:red[...]` would
    otherwise format it. Line breaks are kept."""
    return _MARKDOWN.sub(lambda m: "\\" + m.group(), text).replace("\n", "  \n")

"""Issue #15, hardening: each defect reproduced where a user meets it (CLI, page, a real server)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pages import logs_uploader

REPO = Path(__file__).resolve().parents[1]
BREAKEVEN = Path(sys.executable).parent / "breakeven"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_sigterm_of_breakeven_dashboard_stops_streamlit(tmp_path):
    port = _free_port()
    env = {**os.environ, "BREAKEVEN_DATA_DIR": str(tmp_path / "workspaces"), "HOME": str(tmp_path)}
    server = subprocess.Popen([BREAKEVEN, "dashboard", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not _listening(port):
            assert server.poll() is None and time.monotonic() < deadline, "the dashboard never listened"
            time.sleep(0.5)
        server.send_signal(signal.SIGTERM)  # `kill PID`, to the process the user started only
        deadline = time.monotonic() + 10
        while _listening(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _listening(port), "Streamlit still serves after SIGTERM of breakeven dashboard"
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_the_served_dashboard_watches_no_sources_and_skips_the_gc_after_each_run(tmp_path):
    """#15 item 14: settings that keep the server's CPU per page low when sessions share it
    (bench/concurrency.py): no source watcher (it re-scanned every imported module after each
    run) and no full garbage collection after each run. Read by Streamlit's own config loader
    for the script `breakeven dashboard` serves, from a folder without settings of its own."""
    probe = ("from importlib.resources import files\n"
             "from streamlit import config\n"
             "config._main_script_path = str(files('dashboard').joinpath('server.py'))\n"
             "config.get_config_options(force_reparse=True)\n"
             "print(config.get_option('server.fileWatcherType'), config.get_option('runner.postScriptGC'),"
             " config.get_option('server.maxUploadSize'))")
    shown = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={**os.environ, "HOME": str(tmp_path)},
                           capture_output=True, text=True, check=True).stdout.split()
    assert shown == ["none", "False", "1024"]


# --- 5./6. Uploads: never overwrite, long names, nothing left behind -------------------------------

APP = str(REPO / "dashboard" / "app.py")
BATCH_OUTPUT = Path("samples") / "openai-batch" / "genai_navirag_batch_output.jsonl"


def _upload(data_dir: Path, workspace: str, files: list[tuple[str, bytes]]) -> list[str]:
    """Upload `files` on the Logs page of an existing `workspace`, click Ingest; the page's messages."""
    from analysis.settings import get_settings
    from analysis.store.database import open_db

    open_db(workspace, settings=get_settings(data_dir=data_dir)).close()
    return _upload_linked(data_dir, workspace, files)


def _requests(data_dir: Path, workspace: str) -> int:
    from analysis.settings import get_settings
    from analysis.store.database import open_db, scalar

    con = open_db(workspace, settings=get_settings(data_dir=data_dir))
    try:
        return scalar(con, "SELECT count(*) FROM requests")
    finally:
        con.close()


def test_two_uploads_whose_names_clean_alike_are_both_kept(shared_dir, data_dir):
    lines = (shared_dir / BATCH_OUTPUT).read_bytes().splitlines(keepends=True)
    first, second = b"".join(lines[:30]), b"".join(lines[30:])
    messages = _upload(data_dir, "uploads", [("coll;ide.jsonl", first), ("coll ide.jsonl", second)])
    assert not [m for m in messages if "already ingested" in m], messages
    assert _requests(data_dir, "uploads") == len(lines)
    saved = sorted(p.name for p in (data_dir / "uploads" / "uploads").iterdir())
    assert saved == ["coll_ide-2.jsonl", "coll_ide.jsonl"]


def test_a_306_character_file_name_is_shortened_and_ingested(shared_dir, data_dir):
    name = "x" * 300 + ".jsonl"
    messages = _upload(data_dir, "uploads", [(name, (shared_dir / BATCH_OUTPUT).read_bytes())])
    assert any("65 rows loaded" in m for m in messages), messages
    [saved] = (data_dir / "uploads" / "uploads").iterdir()
    assert saved.name.endswith(".jsonl") and len(saved.name) <= 120


def test_a_failed_upload_leaves_no_file_behind(data_dir, monkeypatch):
    import pytest

    from analysis.store import uploads

    monkeypatch.setattr(uploads, "NAME_CHARS", 1000)  # let a too-long name reach the file system
    with pytest.raises(uploads.UploadError, match="nothing was saved"):
        uploads.save_uploads("uploads", [("a.jsonl", b"{}\n"), ("b" * 300 + ".jsonl", b"{}\n")])
    assert not list((data_dir / "uploads" / "uploads").iterdir())


def test_the_same_upload_twice_reuses_its_file(data_dir):
    from analysis.store import uploads

    first = uploads.save_uploads("uploads", [("a.jsonl", b"{}\n")])
    assert uploads.save_uploads("uploads", [("a.jsonl", b"{}\n")]) == first
    assert len(list((data_dir / "uploads" / "uploads").iterdir())) == 1


def test_an_upload_already_on_disk_is_linked_not_copied_and_never_overwrites(data_dir, tmp_path):
    """The dashboard's spool file (a path) is saved as a hard link: the same file, stored once;
    the same content again reuses it; other content under that name gets its own `-2` file."""
    from analysis.store import uploads

    spool = tmp_path / "spooled"
    spool.write_bytes(b'{"a": 1}\n')
    [saved] = uploads.save_uploads("uploads", [("logs.jsonl", spool)])
    assert saved.name == "logs.jsonl" and saved.stat().st_ino == spool.stat().st_ino
    assert uploads.save_uploads("uploads", [("logs.jsonl", spool)]) == [saved]
    other = tmp_path / "other"
    other.write_bytes(b'{"b": 2}\n')
    [second] = uploads.save_uploads("uploads", [("logs.jsonl", other)])
    assert second.name == "logs-2.jsonl" and second.read_bytes() == b'{"b": 2}\n' and saved.read_bytes() == b'{"a": 1}\n'


# --- 7. A link never creates a workspace -------------------------------------------------------------

def test_a_link_to_an_unknown_workspace_creates_nothing_and_says_so(demo_dir, shared_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(demo_dir))
    before = sorted(p.name for p in demo_dir.iterdir())
    for page in ("overview", "logs", "replay", "quality", "economics", "routing", "scenarios"):
        app = AppTest.from_file(APP, default_timeout=60)
        app.query_params["ws"] = "anyname"
        app.run()
        app.switch_page(f"views/{page}.py").run()
        assert not app.exception, (page, app.exception)
        assert any("no workspace 'anyname' yet" in w.value for w in app.sidebar.warning), page
    assert sorted(p.name for p in demo_dir.iterdir()) == before  # no anyname.duckdb, nothing else
    # Only an upload creates it.
    messages = _upload_linked(demo_dir, "anyname", [(BATCH_OUTPUT.name, (shared_dir / BATCH_OUTPUT).read_bytes())])
    assert any("65 rows loaded" in m for m in messages), messages
    assert (demo_dir / "anyname.duckdb").is_file() and _requests(demo_dir, "anyname") == 65


def _upload_linked(data_dir: Path, workspace: str, files: list[tuple[str, bytes]]) -> list[str]:
    """Upload `files` on the Logs page of `workspace` as the link names it (a file may not exist
    yet), click Ingest; the page's messages."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params["ws"] = workspace
    app.run()
    app.switch_page("views/logs.py").run()
    logs_uploader(app).set_value([(n, c, "application/octet-stream") for n, c in files]).run()
    app.button(key="logs_ingest").click().run()
    assert not app.exception, app.exception
    return [m.value for m in [*app.success, *app.info, *app.error]]


# --- 11. Absurd scenario values through a link -------------------------------------------------------

def test_a_link_with_absurd_task_costs_shows_the_defaults_and_why(demo_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("BREAKEVEN_DATA_DIR", str(demo_dir))
    for page, params in (("routing", {"tt": '{"a":[1,1e308],"b":[1e308,1]}'}), ("economics", {"cap": "1e-300"}),
                         ("routing", {"tt": "[" * 2000})):
        app = AppTest.from_file(APP, default_timeout=60)
        app.query_params["ws"] = "demo"
        for key, value in params.items():
            app.query_params[key] = value
        app.run()
        app.switch_page(f"views/{page}.py").run()
        assert not app.exception, (page, params, app.exception)
        shown = " ".join(str(e.value) for e in [*app.warning, *app.error, *app.info])
        assert "Showing the defaults" in shown, (page, shown[:300])
        assert "Infinity" not in shown and "NaN" not in shown


# --- 8. User text is text: nothing from a log, an endpoint or a name is rendered as Markdown -------

PIXEL = "http://127.0.0.1:{port}/pixel"


HOSTILE_MODEL = "![m](pixel-model.png) <img src=pixel-model.png>"  # no '/': a model id keeps what follows one


def hostile_texts(pixel: str) -> tuple[str, str]:
    """A Markdown image and an HTML image, both pointing at `pixel`."""
    return f"![p]({pixel})", f'<img src="{pixel}">'


def plant_hostile_text(shared_dir: Path, folder: Path, pixel: str) -> str:
    """Workspace `hostile`, through the CLI as a user fills it: a log (from a file whose name is a
    Markdown image) whose model is a Markdown image and an <img> (HOSTILE_MODEL), the Batch sample, a
    replay of a candidate whose model is an <img>, against an endpoint that answers every call with
    an error quoting both images, and a scenario named by both. Returns the replay's run id."""
    from local_http import QuietHandler, serve

    from analysis.cli import main
    from analysis.store.database import open_db, scalar

    image, html = hostile_texts(pixel)

    class Refusing(QuietHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length") or 0))
            body = json.dumps({"error": {"message": f"{image} {html}"}}).encode()
            self.send_response(404)  # an unknown model: the candidate is given up, with this error
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    log = folder / "![p](pixel) <img src=pixel>.jsonl"
    log.write_text("".join(json.dumps({
        "id": f"gen-{i}", "object": "chat.completion", "created": 1748779201 + i, "model": HOSTILE_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}}) + "\n" for i in range(3)))
    batch = shared_dir / "samples" / "openai-batch"
    assert main(["ingest", "--workspace", "hostile", str(log), str(batch / "genai_navirag_batch_output.jsonl"),
                 str(batch / "genai_navirag_batch_input.jsonl")]) == 0
    with serve(Refusing) as url:
        assert main(["replay", "--workspace", "hostile", "--candidate", f"openai-compat:{url}/v1:m<img src=pixel>",
                     "--sample", "2"]) == 1  # every call refused: a failed run
    scenario = folder / "scenario.json"
    scenario.write_text("{}")
    assert main(["scenarios", "save", str(scenario), "--name", f"{image} {html}", "--workspace", "hostile"]) == 0
    con = open_db("hostile")
    try:
        return scalar(con, "SELECT run_id FROM runs")
    finally:
        con.close()


PAGES = ("overview", "logs", "replay", "quality", "economics", "routing", "scenarios")
MARKDOWN_FIELDS = ("body", "label", "help", "caption", "placeholder", "labels")
TEXT_ELEMENTS = ("code", "text", "json", "arrow_data_frame", "plotly_chart", "arrow_vega_lite_chart", "selectbox",
                 "multiselect", "text_input", "text_area", "number_input")  # shown as text, or plain option lists


def markdown_on_page(app) -> list[str]:
    """Every string of the page that Streamlit renders as Markdown: bodies of markdown, captions,
    alerts and headings, and labels and help texts of widgets, expanders, tabs and metrics (a
    selectbox's options and a text input's value are plain text, not Markdown)."""
    from google.protobuf.json_format import MessageToDict

    found: list[str] = []

    def strings(value, key=None):
        if isinstance(value, dict):
            for k, v in value.items():
                strings(v, k)
        elif isinstance(value, list):
            for v in value:
                strings(v, key)
        elif isinstance(value, str) and key in MARKDOWN_FIELDS:
            found.append(value)

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None and getattr(node, "type", None) not in TEXT_ELEMENTS:
            strings(MessageToDict(proto, preserving_proto_field_name=True))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(app.main)
    walk(app.sidebar)
    return found


def test_hostile_names_and_errors_show_as_text_on_every_page(shared_dir, data_dir, tmp_path):
    from streamlit.testing.v1 import AppTest

    from dashboard.components import as_text

    pixel = PIXEL.format(port=9)
    run_id = plant_hostile_text(shared_dir, tmp_path, pixel)
    image, html = hostile_texts(pixel)
    shown: list[str] = []

    def check(page: str, app) -> None:
        assert not app.exception, (page, app.exception)
        markdown = markdown_on_page(app)
        assert markdown, page
        for text in markdown:
            # What Markdown reads as syntax: escaped characters and (our own) code spans left out.
            unescaped = re.sub(r"`[^`]*`", "", re.sub(r"\\.", "", text))
            assert "![" not in unescaped and "<" not in unescaped and "](" not in unescaped, (page, text)
        shown.extend(markdown)

    for page, workspace in [(page, "hostile") for page in PAGES] + [("overview", image)]:  # also a hostile link
        app = AppTest.from_file(APP, default_timeout=60)
        app.query_params["ws"] = workspace
        app.session_state["replay_run"] = ("hostile", run_id)  # as after starting the run on the Replay page
        app.run()
        check("first run", app)
        app.switch_page(f"views/{page}.py").run()
        check(page, app)
        if page == "logs":  # the model name reached the page (as a plain-text option)
            assert HOSTILE_MODEL in app.selectbox(key="logs_f_model").options
    assert any(as_text(f"{image} {html}") in text for text in shown)  # the scenario's name, escaped
    assert any(as_text(image) in text and "Gave up on" in text for text in shown)  # the endpoint's error, escaped
    assert any(as_text(repr(image)) in text for text in shown)  # the link's workspace name, escaped


def test_the_logs_page_names_the_limit_and_the_route_for_bigger_files(shared_dir, data_dir):
    """The upload panel states the limit and the CLI route for bigger files; an upload is saved
    (a chunk at a time, then released: tests/test_hardening_browser.py measures the memory) whole."""
    from streamlit.testing.v1 import AppTest

    from analysis.settings import get_settings
    from analysis.store.database import open_db

    open_db("uploads", settings=get_settings(data_dir=data_dir)).close()
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params["ws"] = "uploads"
    app.run()
    app.switch_page("views/logs.py").run()
    assert any("MB per file" in c.value and "breakeven ingest FILE --workspace uploads" in c.value for c in app.caption)
    content = (shared_dir / BATCH_OUTPUT).read_bytes()
    logs_uploader(app).set_value((BATCH_OUTPUT.name, content, "application/octet-stream")).run()
    app.button(key="logs_ingest").click().run()
    assert not app.exception, app.exception
    assert any("65 rows loaded" in m.value for m in app.success)
    assert (data_dir / "uploads" / "uploads" / BATCH_OUTPUT.name).read_bytes() == content


# --- 12. A JSON line nested 2,000 deep -----------------------------------------------------------------

def test_a_2000_deep_json_line_is_a_reject_and_the_rest_of_the_file_loads(shared_dir, tmp_path):
    lines = (shared_dir / BATCH_OUTPUT).read_text().splitlines(keepends=True)
    deep = '{"custom_id": "deep", "response": ' + "[" * 2000 + "]" * 2000 + "}\n"
    path = tmp_path / "deep.jsonl"
    path.write_text("".join(lines[:9]) + deep + "".join(lines[9:]))
    done = subprocess.run([BREAKEVEN, "ingest", str(path), "--json"], capture_output=True, text=True,
                          env=os.environ, timeout=120)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)
    assert (result["rows_loaded"], result["rows_rejected"]) == (len(lines), 1), result
    assert any(reason.startswith("line 10: nested deeper than") for reason in result["reasons"]), result["reasons"]

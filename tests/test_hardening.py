"""Issue #15, hardening: each defect reproduced where a user meets it (CLI, page, a real server)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

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
    app.file_uploader(key="logs_upload").set_value([(n, c, "application/octet-stream") for n, c in files]).run()
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

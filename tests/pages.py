"""Helpers for the page tests that drive the dashboard through Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")


def open_page(page: str, app: AppTest | None = None, **params) -> AppTest:
    """`views/<page>.py` after a first run of the app (a fresh one with `params` in its URL, `ws`
    default 'demo', unless `app` is given), checked to show neither an exception nor an error."""
    if app is None:
        app = AppTest.from_file(APP, default_timeout=120)
        for name, value in {"ws": "demo", **params}.items():
            app.query_params[name] = value
        app.run()
    app.switch_page(f"views/{page}.py").run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    return app


def table(app: AppTest, column: str) -> list[dict]:
    """The rows of the one table on the page with this column."""
    [frame] = [d.value for d in app.dataframe if column in d.value.columns]
    return frame.to_dict("records")


def logs_uploader(app: AppTest):
    """The Logs page's file uploader (its key changes after each ingest, so it starts empty)."""
    [uploader] = [u for u in app.file_uploader if (u.key or "").startswith("logs_upload_")]
    return uploader

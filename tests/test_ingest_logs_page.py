"""The Logs page names each skip's reason for an uploaded file (#14 item 5), as the CLI does."""

from pathlib import Path

from pages import logs_uploader
from streamlit.testing.v1 import AppTest

from analysis.settings import get_settings
from analysis.store.database import open_db

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
FIXTURE = Path(__file__).parent / "fixtures" / "ingest" / "skipped_calls.yaml"


def test_upload_shows_skip_reasons(data_dir):
    open_db("uploads", settings=get_settings(data_dir=data_dir)).close()
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params["ws"] = "uploads"
    app.run()
    app.switch_page("views/logs.py").run()
    logs_uploader(app).set_value((FIXTURE.name, FIXTURE.read_bytes(), "application/octet-stream")).run()
    app.button(key="logs_ingest").click().run()
    assert not app.exception, app.exception
    assert [m.value for m in app.success if FIXTURE.name in m.value] == [
        "**skipped_calls.yaml** (cassette): 2 rows loaded, 0 rejected, 5 skipped (embeddings: 1, moderation: 1, "
        "not an LLM call: 1, token counting: 1, unsupported provider: 1)."]

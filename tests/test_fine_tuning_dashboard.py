"""The Quality page's CPU fine-tuning section through AppTest: no export yet says what to do; with
one, the form starts a real job (llama-finetune in a background thread), its progress is shown
with a cancel button, and the cancelled job is listed. `engine` tier (the tuning_tools fixture)."""

from __future__ import annotations

import time

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analysis.ingest.labelled_datasets import ingest_labelled
from analysis.replay.providers import local_engine
from analysis.replay.tuning import fine_tune_jobs as jobs
from analysis.replay.tuning.training_set import TrainingSetSpec, export_training_set
from analysis.settings import get_settings
from analysis.store import access
from analysis.store.database import open_db

BITEXT = "bitext_customer_support/Bitext_Sample_Customer_Support_Training_Dataset.csv"


def section() -> None:
    from dashboard import fine_tuning

    fine_tuning.render("main")



@pytest.fixture
def workspace(data_dir, shared_dir):
    """Workspace `main` with 120 labelled Bitext requests; Streamlit's caches emptied."""
    st.cache_resource.clear()
    st.cache_data.clear()
    path = get_settings().workspace_path("main")
    with open_db(path) as con:
        ingest_labelled(con, shared_dir / "datasets" / BITEXT, "instruction", "category", limit=120, seed=5)
    return path


def texts(app: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "warning", "error") for e in getattr(app, kind))


def test_start_follow_and_cancel_a_job(tuning_tools, workspace, tmp_path):
    app = AppTest.from_function(section, default_timeout=60)
    app.run()
    assert not app.exception and "Export a training set first" in texts(app)
    with open_db(workspace) as con:
        export = export_training_set(con, TrainingSetSpec(target="labels", formats=["openai"]), tmp_path / "export")
    app.run()
    assert app.selectbox(key="ft_export").value == export.export_id
    assert app.selectbox(key="ft_base").options == [local_engine.SMOLLM2_ALIAS]
    app.number_input(key="ft_max_tokens").set_value(3_000)
    app.button(key="ft_start").click().run()
    assert not app.exception, app.exception
    with access.reading(workspace) as con:
        (job,) = jobs.list_jobs(con)
    assert job.status in ("queued", "running") and job.settings["max_tokens"] == 3_000
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with access.reading(workspace) as con:
            job = jobs.get_job(con, job.job_id)
        if job.message and job.message.startswith("training on"):
            break
        time.sleep(0.5)
    app.run()
    assert any(job.job_id in str(p.text) for p in app.get("progress"))
    app.button(key="ft_cancel").click().run()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with access.reading(workspace) as con:
            job = jobs.get_job(con, job.job_id)
        if job.status not in jobs.ACTIVE:
            break
        time.sleep(0.5)
    assert job.status == "cancelled"
    app.run()
    (listed,) = [table.value for table in app.dataframe]
    assert list(listed["status"]) == ["cancelled"] and app.button(key="ft_start")  # the form is back

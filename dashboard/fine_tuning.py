"""Fine-tune on this CPU (the Quality page's "Tune a local candidate"): pick a training-set export,
the base model and the budgets, start a job (a background thread of the dashboard's process, so
it goes on while no page shows it), follow its progress or cancel it, then serve the tuned model
so that it can be replayed as a candidate. The workspace's jobs are listed with their candidates."""

from __future__ import annotations

import streamlit as st

from analysis.present import fine_tuning as present
from analysis.replay.providers import local_engine
from analysis.replay.tuning import fine_tune_jobs as jobs
from analysis.replay.tuning import llama_finetune, training_set
from analysis.settings import get_settings
from dashboard import components


@st.cache_resource(show_spinner=False)
def job_threads() -> jobs.JobThreads:
    """One per server process: jobs go on while no page shows them."""
    return jobs.JobThreads()


def render(workspace: str | None = None) -> None:
    """The section: the start form, the active job's progress, the list of jobs."""
    with st.expander("Fine-tune on this CPU", icon=":material/model_training:"):
        st.caption("Trains SmolLM2-135M-Instruct on an export's train file with llama.cpp's llama-finetune (every "
                   "weight, AdamW), in the background; the tuned model is served by the embedded engine as its own "
                   "candidate, to replay on the held-out split and compare with its base below.")
        _section(workspace)


def _section(workspace: str | None) -> None:
    settings = get_settings()
    base = local_engine.status(settings, local_engine.SMOLLM2_ALIAS)
    if base.state == "not-installed":
        st.warning(f"Fine-tuning needs SmolLM2-135M-Instruct and the embedded engine: "
                   f"{components.as_text(base.message)}")
        return
    exports = components.query(training_set.recorded_exports, workspace=workspace)  # cached per data version,
    listed = components.query(jobs.list_jobs, workspace=workspace)  # which covers the jobs' status and progress
    rate = components.query(jobs.seconds_per_token, workspace=workspace)
    active = next((job for job in listed if job.status in jobs.ACTIVE), None)
    if active:
        progress_panel(workspace, active.job_id)
    elif not exports:
        st.info("Export a training set first (above): the job trains on its OpenAI-format train file.")
    else:
        start_form(workspace, exports, rate)
    if listed:
        st.dataframe(present.job_rows(listed), hide_index=True, key="ft_jobs")
        serve_panel([job for job in listed if job.status == "done" and job.candidate])


def start_form(workspace: str | None, exports: list[training_set.TrainingExport], rate: float | None) -> None:
    """Export, base model, epochs and budgets; the start button creates and starts the job."""
    cols = st.columns([3, 2, 1, 1, 1])
    export = cols[0].selectbox("Training-set export", [e.export_id for e in exports], key="ft_export",
                               format_func=lambda i: next(present.export_label(e) for e in exports if e.export_id == i))
    base = cols[1].selectbox("Base model", list(llama_finetune.BASE_MODELS), key="ft_base",
                             help=llama_finetune.UNTRAINABLE[local_engine.MODEL_ALIAS])
    epochs = cols[2].number_input("Epochs", 1, 50, 1, key="ft_epochs")
    max_tokens = cols[3].number_input("Token budget", 513, 10_000_000, 4_000, 500, key="ft_max_tokens",
                                      help="Training text kept, whole examples from the start, per epoch.")
    max_minutes = cols[4].number_input("Time budget (min)", 1, 7 * 24 * 60, 30, key="ft_max_minutes",
                                       help="The job is stopped at this time (nothing kept); with a measured "
                                            "speed the text is cut to fit it first.")
    st.caption(present.speed_text(rate, int(max_tokens), int(epochs)))
    if st.button("Start fine-tuning", key="ft_start", type="primary"):
        options = jobs.JobSettings(epochs=int(epochs), max_tokens=int(max_tokens), max_minutes=float(max_minutes))
        with components.writing("a fine-tuning job", workspace) as con:
            job_id = jobs.create_job(con, export, base, options)
        job_threads().start(components.shared_workspace(workspace).path, job_id)
        st.rerun()


def progress_panel(workspace: str | None, job_id: str) -> None:
    """The active job's progress, polled every 2 s, with its cancel button."""
    threads = job_threads()

    @st.fragment(run_every=2.0)
    @components.errors_on_page
    def panel():
        with components.reading(workspace) as con:
            job = jobs.get_job(con, job_id)
        if job.status not in jobs.ACTIVE:
            st.rerun()  # it ended: redraw the section (list, serve buttons)
        st.progress(job.progress or 0.0, text=f"Job {job_id} ({job.status}): {components.as_text(job.message or '')}")
        if job_id in threads.errors:
            st.error(components.as_text(threads.errors[job_id]))
        if job.status == "running" and st.button("Cancel fine-tuning", key="ft_cancel"):
            with components.writing("cancelling a fine-tuning job", workspace) as con:
                jobs.cancel_job(con, job_id)
            threads.cancel(job_id)

    panel()


def serve_panel(done: list[jobs.FineTuneJob]) -> None:
    """Start or stop the engine of a tuned model (its own llama-server), to replay it."""
    settings = get_settings()
    for job in done:
        alias = job.candidate.removeprefix("local:")
        engine = local_engine.status(settings, alias)
        cols = st.columns([4, 1])
        cols[0].caption(f"`{job.candidate}`: {engine.state}"
                        + (f" at {engine.base_url}" if engine.state == "running" else ""))
        if engine.state == "running":
            if cols[1].button("Stop", key=f"ft_stop_{job.job_id}"):
                local_engine.stop(settings, model=alias)
                st.rerun()
        elif engine.state == "stopped" and cols[1].button("Serve", key=f"ft_serve_{job.job_id}"):
            try:
                with st.spinner(f"Starting llama.cpp with {alias}…"):
                    local_engine.start(settings, model=alias)
            except local_engine.LocalEngineError as exc:
                st.error(f"The engine did not start: {components.as_text(str(exc))}")
            else:
                st.rerun()

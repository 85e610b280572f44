"""The whole loop on the CPU: a labelled shared dataset -> training-set export (held-out split) ->
llama-finetune on a small slice -> the tuned model served by the embedded engine -> both SmolLM2
base and tuned replayed on the held-out split -> scored -> the paired base-vs-tuned verdict.
A few minutes on 2 cores; `engine` tier (the tuning_tools fixture)."""

from __future__ import annotations

from analysis.ingest.labelled_datasets import ingest_labelled
from analysis.present.tuning_evidence import comparison_lines
from analysis.quality.scoring.runner import score_run
from analysis.quality.tuning_comparison import compare_tuned
from analysis.replay import runs
from analysis.replay.providers import local_engine
from analysis.replay.sampling import SampleSpec
from analysis.replay.tuning import fine_tune_jobs as jobs
from analysis.replay.tuning.training_set import TrainingSetSpec, export_training_set
from analysis.settings import get_settings
from analysis.store import access
from analysis.store.database import open_db, rows

BITEXT = "bitext_customer_support/Bitext_Sample_Customer_Support_Training_Dataset.csv"
BASE = f"local:{local_engine.SMOLLM2_ALIAS}"



def test_labelled_data_to_a_tuned_verdict(tuning_tools, shared_dir, tmp_path, data_dir):
    settings = get_settings(local_engine_parallel=1)
    workspace = settings.workspace_path()
    with open_db(workspace) as con:
        ingest_labelled(con, shared_dir / "datasets" / BITEXT, "instruction", "category", limit=200, seed=3)
        export = export_training_set(con, TrainingSetSpec(target="labels", formats=["openai"], test_fraction=0.2),
                                     tmp_path / "export")
        held_out = rows(con, "SELECT count(*) FROM held_out_requests")[0][0]
        assert export.manifest["counts"]["test"] == held_out > 20
        job_id = jobs.create_job(con, export.export_id, settings=jobs.JobSettings(max_tokens=700))
    job = jobs.run_job(workspace, job_id, settings=settings)
    assert job.status == "done", job.error
    assert job.export_id == export.export_id and job.settings["manifest"]["export_id"] == export.export_id
    assert 513 <= job.training_tokens <= 700 and job.train_seconds > 0
    tuned = job.candidate
    started = []
    try:
        for spec in (BASE, tuned):
            local_engine.start(settings, model=spec.removeprefix("local:"))
            started.append(spec.removeprefix("local:"))
        with open_db(workspace) as con:
            run_id = runs.create_run(con, [BASE, tuned], SampleSpec(size=12, held_out=True, seed=1),
                                     params=runs.RunParams(max_tokens=8, concurrency=2))
        progress = runs.execute(access.Workspace(workspace), run_id)
    finally:
        for alias in started:
            local_engine.stop(settings, model=alias)
    assert progress.status == "done" and progress.done == 24, progress.errors
    with open_db(workspace) as con:
        score_run(con, run_id)
        comparison = compare_tuned(con, run_id, BASE, tuned)
    assert comparison.n == 12 and comparison.left_out == 0  # every replayed request was held out
    assert comparison.both_right + comparison.tuned_only + comparison.base_only + comparison.neither == 12
    assert comparison.verdict in ("better", "worse", "too few to tell")
    assert comparison.base_low <= comparison.base_accuracy <= comparison.base_high
    shown = comparison_lines(comparison)
    assert shown[0] == comparison.text and comparison.verdict in shown[0] and "on 12 held-out requests" in shown[0]


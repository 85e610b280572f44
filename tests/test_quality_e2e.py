"""End to end: a labelled shared dataset -> replay against the local llama.cpp server -> scores ->
verdicts. The 270M base model is clearly worse than the ground truth on BANKING77's 77 intents:
that is the correct, asserted outcome."""

from __future__ import annotations

from analysis.ingest.labelled_datasets import ingest_labelled
from analysis.quality.scoring.runner import score_run
from analysis.quality.verdicts import confusion_matrix, disagreements, latency_table, quality_table
from analysis.replay.prompt_adapter import PromptAdapter
from analysis.replay.runs import RunParams, create_run, execute
from analysis.replay.sampling import SampleSpec
from analysis.store.database import rows, scalar


def test_labelled_dataset_replayed_scored_and_compared(con, shared_dir, llama_server):
    folder = shared_dir / "datasets" / "banking77"
    ingested = ingest_labelled(con, folder / "test.csv", "text", "category",
                               labels_from=folder / "categories.json", limit=40, seed=3)
    assert ingested.ok and ingested.rows_loaded == 40
    spec = f"openai-compat:{llama_server.base_url}/v1:{llama_server.model}"
    run_id = create_run(con, [spec], SampleSpec(size=20, seed=1), PromptAdapter(few_shot=3, auto_labels=True),
                        RunParams(max_tokens=24, concurrency=2, timeout_s=120), budget_usd=0.0)
    progress = execute(con, run_id)
    assert progress.status == "done" and progress.done == 20 and progress.spent_usd == 0

    summary = score_run(con, run_id)
    assert summary.by_scorer == {"label": 20} and summary.by_reference == {"ground_truth": 20}
    assert summary.incumbent_scored == 0  # a labelled dataset has no incumbent answers
    unscored = scalar(con, """SELECT count(*) FROM results x ANTI JOIN scores s USING (run_id, candidate, request_id)
                              WHERE x.run_id = ?""", [run_id])
    assert unscored == 0

    [row] = quality_table(con, run_id).to_dicts()
    assert (row["candidate"], row["task_type"], row["reference"], row["n"]) == (spec, "classification",
                                                                               "ground_truth", 20)
    assert row["accuracy"] < 0.9 and row["ci_low"] <= row["accuracy"] <= row["ci_high"]
    assert row["compared_with"] == "target" and row["verdict"] != "non-inferior"
    assert row["verdict_text"].startswith("accuracy against ground truth (no incumbent scores): ")

    matrix = confusion_matrix(con, run_id, spec)
    assert matrix["n"].sum() == 20
    correct = matrix.filter(matrix["reference_label"] == matrix["predicted_label"])["n"].sum()
    assert correct == row["successes"]
    wrong = disagreements(con, run_id, spec, limit=100)
    assert len(wrong) == 20 - row["successes"] and wrong["reference_answer"].null_count() == 0
    [latency] = latency_table(con, run_id).to_dicts()
    assert latency["n"] == latency["timed"] == progress.done
    assert latency["p50_ms"] is None  # 20 answers: too few to quote a latency (MIN_LATENCY_REQUESTS)
    assert rows(con, "SELECT DISTINCT reference FROM scores WHERE run_id = ?", [run_id]) == [("ground_truth",)]

"""The held-out test split of fine-tuning: stable across exports, runs and later ingests, fixed by
the first export, and the replay sample drawn from it alone on request."""

from __future__ import annotations

import json

import pytest

from analysis.cli import main
from analysis.ingest.labelled_datasets import ingest_labelled
from analysis.replay.sampling import SampleSpec, draw
from analysis.replay.tuning import held_out
from analysis.replay.tuning.held_out import SplitFractionError
from analysis.replay.tuning.training_set import TrainingSetError, TrainingSetSpec, export_training_set
from analysis.store.database import open_db, rows


@pytest.fixture
def cfpb(shared_dir):
    return shared_dir / "datasets" / "cfpb_complaints_ibm"


def _all_ids(con) -> set[str]:
    return {r[0] for r in rows(con, "SELECT request_id FROM requests")}


def test_the_split_is_the_rule_at_the_fraction_and_stable_across_runs(tmp_path, cfpb):
    path = tmp_path / "a.duckdb"
    con = open_db(path)
    ingest_labelled(con, cfpb / "cfpb_train.json", "input", "output")
    assert held_out.assign_held_out(con) > 0
    first = held_out.held_out_ids(con)
    assert held_out.assign_held_out(con) == 0  # idempotent
    con.close()
    # 700 requests at 20%: 140 expected, sd 10.6; 4 sd either side
    assert 98 <= len(first) <= 182
    assert first <= _all_ids(open_db(path))
    # another workspace, the same file: the same requests held out (md5 of the id, no seed)
    other = open_db(tmp_path / "b.duckdb")
    ingest_labelled(other, cfpb / "cfpb_train.json", "input", "output")
    held_out.assign_held_out(other)
    assert held_out.held_out_ids(other) == first
    some = sorted(first)[0]
    assert held_out.is_held_out(other, some) and not held_out.is_held_out(other, "not-an-id")
    other.close()


def test_later_ingests_are_assigned_by_the_same_rule_and_earlier_assignments_kept(tmp_path, cfpb):
    later = open_db(tmp_path / "later.duckdb")
    ingest_labelled(later, cfpb / "cfpb_train.json", "input", "output")
    export_training_set(later, TrainingSetSpec(target="labels"), tmp_path / "first")
    before = held_out.held_out_ids(later)
    ingest_labelled(later, cfpb / "cfpb_test.json", "input", "output")
    export_training_set(later, TrainingSetSpec(target="labels"), tmp_path / "second")
    after = held_out.held_out_ids(later)
    assert before < after and any(i.startswith("cfpb_test:") for i in after - before)
    # both files ingested before any assignment: the same split
    together = open_db(tmp_path / "together.duckdb")
    ingest_labelled(together, cfpb / "cfpb_train.json", "input", "output")
    ingest_labelled(together, cfpb / "cfpb_test.json", "input", "output")
    held_out.assign_held_out(together)
    assert held_out.held_out_ids(together) == after
    together.close()
    # the second export's test file holds exactly the held-out requests with a label
    test_rows = (tmp_path / "second" / "test.jsonl").read_text().splitlines()
    assert len(test_rows) == len(after)
    later.close()


def test_the_fraction_is_fixed_by_the_first_export(con, tmp_path, cfpb):
    ingest_labelled(con, cfpb / "cfpb_train.json", "input", "output")
    assert held_out.fixed_fraction(con) is None
    export = export_training_set(con, TrainingSetSpec(target="labels", test_fraction=0.3), tmp_path / "one")
    assert export.manifest["split"]["test_fraction"] == 0.3 and held_out.fixed_fraction(con) == 0.3
    with pytest.raises(SplitFractionError, match="fixed at a test fraction of 0.3"):
        export_training_set(con, TrainingSetSpec(target="labels", test_fraction=0.2), tmp_path / "two")
    again = export_training_set(con, TrainingSetSpec(target="labels"), tmp_path / "three")  # the fixed one
    assert again.manifest["split"]["test_fraction"] == 0.3
    assert again.manifest["files"]["test.jsonl"]["sha256"] == export.manifest["files"]["test.jsonl"]["sha256"]
    with pytest.raises(SplitFractionError, match="between 0 and 1"):
        held_out.check_fraction(1.0)


def test_the_replay_sample_can_be_drawn_from_the_held_out_split_only(con, tmp_path, cfpb):
    ingest_labelled(con, cfpb / "cfpb_train.json", "input", "output")
    export_training_set(con, TrainingSetSpec(target="labels"), tmp_path / "export")
    test_ids = held_out.held_out_ids(con)
    sample = draw(con, SampleSpec(size=50, held_out=True, seed=3))
    assert len(sample) == 50 and set(sample) <= test_ids
    stratified = draw(con, SampleSpec(size=30, strategy="stratified", held_out=True))
    assert len(stratified) == 30 and set(stratified) <= test_ids
    everything = draw(con, SampleSpec(size=700))
    assert set(everything) - test_ids  # without the option the training requests are eligible too


def test_replay_held_out_is_refused_before_any_export_fixed_the_split(shared_dir, capsys):
    data = shared_dir / "datasets" / "cfpb_complaints_ibm" / "cfpb_train.json"
    assert main(["ingest-labelled", str(data), "--text", "input", "--label", "output", "--limit", "50"]) == 0
    capsys.readouterr()
    code = main(["replay", "--candidate", "openai-compat:http://127.0.0.1:9/v1:m", "--held-out", "--sample", "5"])
    assert code == 1
    assert "no held-out split yet: export a training set first" in capsys.readouterr().err
    con = open_db(None)
    assert rows(con, "SELECT count(*) FROM runs")[0][0] == 0  # nothing was created
    con.close()


def test_the_manifest_states_the_split(con, tmp_path, cfpb):
    ingest_labelled(con, cfpb / "cfpb_train.json", "input", "output")
    export = export_training_set(con, TrainingSetSpec(target="labels"), tmp_path / "export")
    split = export.manifest["split"]
    assert split["rule"] == held_out.RULE and split["test_fraction"] == held_out.DEFAULT_TEST_FRACTION
    assert split["held_out_in_workspace"] == len(held_out.held_out_ids(con)) == split["newly_assigned"]
    recorded = json.loads(rows(con, "SELECT manifest FROM training_exports")[0][0])
    assert recorded == export.manifest


def test_replay_held_out_sends_only_held_out_requests(shared_dir, fake_ollama, capsys, tmp_path):
    data = shared_dir / "datasets" / "cfpb_complaints_ibm" / "cfpb_train.json"
    assert main(["ingest-labelled", str(data), "--text", "input", "--label", "output", "--limit", "100"]) == 0
    assert main(["export-training", "--target", "labels", "--out", str(tmp_path / "export")]) == 0
    capsys.readouterr()
    assert main(["replay", "--candidate", f"ollama:{fake_ollama}:llama3.2:3b", "--held-out", "--sample", "8",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["done"] == 8
    con = open_db(None)
    sent = {r[0] for r in rows(con, "SELECT request_id FROM run_requests")}
    test_ids = held_out.held_out_ids(con)
    con.close()
    assert len(sent) == 8 and sent <= test_ids


def test_a_failed_export_assigns_nothing(con, tmp_path, cfpb):
    ingest_labelled(con, cfpb / "cfpb_train.json", "input", "output")
    with pytest.raises(TrainingSetError, match="no request has a usable target"):
        export_training_set(con, TrainingSetSpec(target="incumbent", test_fraction=0.3), tmp_path / "failed")
    assert held_out.held_out_ids(con) == set() and held_out.fixed_fraction(con) is None
    assert not (tmp_path / "failed").exists()
    export = export_training_set(con, TrainingSetSpec(target="labels"), tmp_path / "ok")
    assert export.manifest["split"]["test_fraction"] == 0.2
    assert export.manifest["split"]["held_out_in_workspace"] == export.manifest["split"]["newly_assigned"]

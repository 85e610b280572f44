"""`breakeven export-training` end to end on a real labelled dataset, and its clear refusals."""

from __future__ import annotations

import json

import pytest
from training_schemas import VALIDATORS

from analysis.cli import main
from analysis.replay.tuning.held_out import held_out_ids
from analysis.store.database import open_db, rows


@pytest.fixture
def tickets(shared_dir, capsys):
    """The helpdesk tickets (600, queue labels) ingested through the CLI."""
    path = shared_dir / "datasets" / "helpdesk_tickets_600" / "helpdesk_customer_tickets.csv"
    assert main(["ingest-labelled", str(path), "--text", "subject", "--text", "body", "--label", "queue",
                 "--id", "id"]) == 0
    capsys.readouterr()
    return path


def _user_texts(path) -> set[str]:
    return {json.loads(line)["messages"][-2]["content"] for line in path.read_text().splitlines()}


def test_export_training_end_to_end(tickets, tmp_path, capsys):
    out = tmp_path / "set"
    assert main(["export-training", "--target", "labels", "--tag", "helpdesk_customer_tickets", "--scrub-pii",
                 "--out", str(out), "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "test.jsonl", "train.alpaca.jsonl",
                                                    "train.openai.jsonl", "train.sharegpt.jsonl"]
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["filters"] == {"task_types": [], "models": [], "tags": ["helpdesk_customer_tickets"]}
    assert manifest["target"] == "labels" and manifest["pii"]["enabled"]
    for name, info in manifest["files"].items():
        assert VALIDATORS[info["format"]](out / name) == [], name
    con = open_db(None)
    test_ids = held_out_ids(con)
    texts = dict(rows(con, "SELECT request_id, input_messages->>'$[1].content' FROM requests"))
    exports = rows(con, "SELECT export_id, directory FROM training_exports")
    con.close()
    assert exports == [(manifest["export_id"], str(out.resolve()))]
    counts = manifest["counts"]
    assert counts["selected"] == 600 and counts["test"] == len(test_ids)
    # no test request in a train file: their texts are not there (the scrub leaves these tickets unchanged
    # unless they hold PII, so compare only texts the scrub kept as they were)
    train_texts = _user_texts(out / "train.openai.jsonl")
    test_texts = _user_texts(out / "test.jsonl")
    assert not train_texts & test_texts
    assert not {texts[i] for i in test_ids} & train_texts
    assert len(test_texts) <= counts["test"]
    # a second export of the same segment: the same test set, byte for byte
    assert main(["export-training", "--target", "labels", "--tag", "helpdesk_customer_tickets", "--scrub-pii",
                 "--out", str(tmp_path / "again")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("export ") and any(line.startswith("held-out test split: ") for line in lines)
    assert (tmp_path / "again" / "test.jsonl").read_bytes() == (out / "test.jsonl").read_bytes()
    assert (tmp_path / "again" / "train.openai.jsonl").read_bytes() == (out / "train.openai.jsonl").read_bytes()


@pytest.mark.parametrize(("args", "message"), [
    (["--task", "summarisation"], "no requests match task type summarisation; the workspace has task types: "
                                  "classification"),
    (["--tag", "nope", "--model", "gpt-x"], "no requests match model gpt-x; tag nope"),
    (["--target", "gold"], "unknown target 'gold': choose incumbent"),
    (["--target", "incumbent"], "no request has a usable target (the incumbent API's logged answers"),
    (["--format", "openai,jsonl2"], "unknown format 'jsonl2': choose from openai, sharegpt, alpaca"),
    (["--test-fraction", "1.5"], "test fraction must be between 0 and 1"),
])
def test_clear_refusals(tickets, tmp_path, capsys, args, message):
    assert main(["export-training", "--out", str(tmp_path / "x"), *args]) == 1
    error = capsys.readouterr().err
    assert error.startswith("refused: ") and message in error, error
    con = open_db(None)
    assert rows(con, "SELECT count(*) FROM training_exports")[0][0] == 0
    con.close()


def test_a_non_empty_directory_is_refused(tickets, tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["export-training", "--target", "labels", "--out", str(out)]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine" and len(list(out.iterdir())) == 1

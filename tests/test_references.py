"""References per (run, request) and uploaded label files joined on request id."""

from __future__ import annotations

import json

import pytest
from test_score_runner import build_run

from analysis.errors import UserError
from analysis.quality.scoring.references import LabelsAttached, attach_labels, reference_counts, run_references
from analysis.store.database import rows

ITEMS = [
    {"request_id": "gt", "label": " refund ", "incumbent": "billing", "local:a": "x", "openai:ref": "y"},
    {"request_id": "inc", "incumbent": "billing", "local:a": "x", "openai:ref": "y"},
    {"request_id": "blank", "label": "  ", "incumbent": "", "local:a": "x", "openai:ref": "z"},
    {"request_id": "failed-ref", "local:a": "x", "openai:ref": None},
]


def test_reference_rule_in_order(con):
    build_run(con, ITEMS, candidates=("local:a", "openai:ref"))
    got = {r["request_id"]: (r["reference"], r["reference_text"]) for r in run_references(con, "run1").to_dicts()}
    assert got == {"gt": ("ground_truth", "refund"), "inc": ("incumbent", "billing"), "blank": (None, None),
                   "failed-ref": (None, None)}
    with_model = run_references(con, "run1", reference_candidate="openai:ref")
    got = {r["request_id"]: (r["reference"], r["reference_text"]) for r in with_model.to_dicts()}
    assert got["blank"] == ("model:openai:ref", "z") and got["failed-ref"] == (None, None)
    assert got["gt"] == ("ground_truth", "refund")
    assert reference_counts(con, "run1", "openai:ref") == {"ground_truth": 1, "incumbent": 1,
                                                           "model:openai:ref": 1, "none": 1}


def test_reference_candidate_is_matched_in_canonical_form(con):
    build_run(con, [{"request_id": "r", "local:gemma-3-270m": "a"}], candidates=("local:gemma-3-270m",))
    frame = run_references(con, "run1", reference_candidate="local")
    assert frame["reference"].to_list() == ["model:local:gemma-3-270m"]
    with pytest.raises(UserError, match="its candidates are: local:gemma-3-270m"):
        run_references(con, "run1", reference_candidate="ollama:other")
    with pytest.raises(UserError, match="no run"):
        run_references(con, "missing")


@pytest.mark.parametrize("name,content", [
    ("labels.csv", "rid,gold\ninc,refund\nblank,billing\nunknown,x\n"),
    ("labels.json", json.dumps([{"rid": "inc", "gold": "refund"}, {"rid": "blank", "gold": "billing"},
                                {"rid": "unknown", "gold": "x"}])),
    ("labels.jsonl", '{"rid": "inc", "gold": "refund"}\n{"rid": "blank", "gold": "billing"}\n'
                     '{"rid": "unknown", "gold": "x"}\n'),
])
def test_attach_labels(con, tmp_path, name, content):
    build_run(con, ITEMS, candidates=("local:a", "openai:ref"))
    path = tmp_path / name
    path.write_text(content)
    assert attach_labels(con, path, "rid", "gold") == LabelsAttached(2, 1, ["unknown"])
    assert dict(rows(con, "SELECT request_id, label FROM requests WHERE request_id IN ('inc', 'blank')")) == {
        "inc": "refund", "blank": "billing"}
    assert dict((r["request_id"], r["reference"]) for r in run_references(con, "run1").to_dicts())["inc"] == "ground_truth"


def test_attach_labels_errors(con, tmp_path):
    build_run(con, ITEMS, candidates=("local:a",))
    nothing = tmp_path / "nothing.csv"
    nothing.write_text("id,label\n1,a\n2,b\n")
    with pytest.raises(UserError, match=r"none of its 2 ids \(column id, e.g. \['1', '2'\]\) matches a request id"):
        attach_labels(con, nothing, "id", "label")
    with pytest.raises(UserError, match="no column 'gold'"):
        attach_labels(con, nothing, "id", "gold")
    clash = tmp_path / "clash.csv"
    clash.write_text("id,label\ninc,a\ninc,b\n")
    with pytest.raises(UserError, match="two different labels: inc"):
        attach_labels(con, clash, "id", "label")
    with pytest.raises(UserError, match="must be CSV, JSON or JSON lines"):
        (tmp_path / "x.xlsx").write_text("")
        attach_labels(con, tmp_path / "x.xlsx", "id", "label")
    with pytest.raises(UserError, match="no label file"):
        attach_labels(con, tmp_path / "missing.csv", "id", "label")
    assert rows(con, "SELECT count(*) FROM requests WHERE label = 'a'") == [(0,)]

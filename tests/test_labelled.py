"""Labelled datasets from ../shared/datasets as classification requests with ground truth."""

from __future__ import annotations

import csv
import json

import pytest

from analysis.economics.routing_segments import segment_traffic
from analysis.economics.workspace_defaults import scenario_defaults
from analysis.errors import UserError
from analysis.ingest import detect_format, ingest_file
from analysis.ingest.labelled_datasets import dataset_tag, ingest_labelled, label_set, read_label_file
from analysis.ingest.sample import read_sample
from analysis.quality import tasks
from analysis.quality.tasks import narrow_share
from analysis.replay.prompt_adapter import PromptAdapter, resolve
from analysis.store import explore
from analysis.store.database import open_db, rows, scalar
from analysis.store.summary import summarise


@pytest.fixture
def datasets(shared_dir):
    return shared_dir / "datasets"


def messages_of(con, where="true"):
    return [json.loads(m) for (m,) in rows(con, f"SELECT input_messages FROM requests WHERE {where} ORDER BY source_line")]


def test_banking77_with_categories_file(con, datasets):
    folder = datasets / "banking77"
    categories = json.loads((folder / "categories.json").read_text())
    result = ingest_labelled(con, folder / "test.csv", "text", "category", labels_from=folder / "categories.json",
                             limit=154, seed=7)
    assert result.ok and result.format == "labelled"
    assert (result.rows_loaded, result.rows_rejected) == (154, 0)
    # 40 rows per intent in the file: a stratified sample of 154 keeps exactly 2 of each of the 77.
    assert set(rows(con, "SELECT count(*) FROM requests GROUP BY label")) == {(2,)}
    row = rows(con, """SELECT operation, provider, model, output_text, status, cost_usd, cost_source, task_type,
                              tags, request_id, source_id FROM requests LIMIT 1""")[0]
    assert row[:9] == ("chat", "labelled", None, None, "ok", None, "unknown", "classification",
                       ["labelled", "banking77-test"])
    assert row[9].startswith("banking77-test:") and row[10] == result.source_id
    system, user = messages_of(con)[0]
    assert system["role"] == "system" and user["role"] == "user"
    assert [line[2:] for line in system["content"].splitlines() if line.startswith("- ")] == categories
    assert label_set(con, "banking77-test") == categories == label_set(con, result.source_id)
    assert label_set(con, "no-such-tag") == []
    texts = {r["text"] for r in csv.DictReader((folder / "test.csv").open())}
    assert all(m[1]["content"] in texts for m in messages_of(con))


def test_sampling_is_seeded_and_the_same_file_is_not_ingested_twice(tmp_path, datasets):
    path = datasets / "banking77" / "test.csv"

    def sample(name, seed):
        con = open_db(tmp_path / f"{name}.duckdb")
        assert ingest_labelled(con, path, "text", "category", limit=30, seed=seed).rows_loaded == 30
        ids = [r[0] for r in rows(con, "SELECT request_id FROM requests ORDER BY 1")]
        again = ingest_labelled(con, path, "text", "category", limit=50, seed=seed)
        assert again.duplicate and scalar(con, "SELECT count(*) FROM requests") == 30
        con.close()
        return ids

    assert sample("a", 1) == sample("b", 1) != sample("c", 2)


def test_bitext_csv_split_and_proportional_strata(tmp_path, datasets):
    path = datasets / "bitext_customer_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv"
    counts = {}
    for split in ("train", "test"):
        con = open_db(tmp_path / f"{split}.duckdb")
        result = ingest_labelled(con, path, "instruction", "category", split=split)
        assert result.ok and result.rows_rejected == 0
        counts[split] = result.rows_loaded
        assert rows(con, "SELECT DISTINCT extra->>'split' FROM requests") == [(split,)]
        assert len(label_set(con, result.source_id)) == 11
        per_label = dict(rows(con, "SELECT label, count(*) FROM requests GROUP BY 1"))
        con.close()
    assert counts["train"] + counts["test"] == 4514
    assert 0.17 < counts["test"] / 4514 < 0.23

    con = open_db(tmp_path / "sample.duckdb")
    assert ingest_labelled(con, path, "instruction", "category", limit=200, split="test").rows_loaded == 200
    for label, n in rows(con, "SELECT label, count(*) FROM requests GROUP BY 1"):  # per_label: the test split's
        assert abs(n - 200 * per_label[label] / counts["test"]) <= 1, label
    con.close()


@pytest.mark.parametrize("name", ["cfpb_test.json", "cfpb_train.json"])
def test_cfpb_prompt_wrappers_are_stripped(con, datasets, name):
    path = datasets / "cfpb_complaints_ibm" / name
    result = ingest_labelled(con, path, "input", "output", limit=40)
    assert result.ok and result.rows_loaded == 40
    originals = json.loads(path.read_text())
    stored = rows(con, "SELECT source_line, label FROM requests ORDER BY source_line")
    for (system, user), (line, label) in zip(messages_of(con), stored):  # noqa: B007 - the last system is checked
        raw = originals[line - 1]["input"]
        assert raw != user["content"] and user["content"] in raw
        assert not user["content"].startswith(("Including narratives", "Narrative:"))
        assert "Product:" not in user["content"] and "Comment:" not in user["content"]
        assert label == originals[line - 1]["output"]
    assert label_set(con, result.source_id) == ["credit_card", "credit_reporting", "debt_collection",
                                                 "mortgages_and_loans", "retail_banking"]
    assert system["content"].startswith("Classify the text below.\n")  # 'output' names nothing


def test_halueval_question_and_answer_judged_for_hallucination(con, datasets):
    """Text = the user query and ChatGPT's answer as labelled blocks; label = human yes/no."""
    path = datasets / "halueval_general" / "general_data.json"
    instruction = "Does the response contain hallucinated (unsupported or false) information?"
    result = ingest_labelled(con, path, ["user_query", "chatgpt_response"], "hallucination", limit=40,
                             instruction=instruction)
    assert result.ok and (result.rows_loaded, result.rows_rejected) == (40, 0)
    assert label_set(con, result.source_id) == ["no", "yes"]
    system, user = messages_of(con)[0]
    assert system["content"].startswith(instruction)
    assert user["content"].startswith("user_query: ") and "\n\nchatgpt_response: " in user["content"]
    # Proportional strata: ~18% of HaluEval's answers are labelled as hallucinated.
    assert 5 <= scalar(con, "SELECT count(*) FROM requests WHERE label = 'yes'") <= 10


def test_halueval_repeated_id_is_a_reject(con, datasets):
    """The file has two records whose ID is literally "ID" (lines 2059 and 2159)."""
    result = ingest_labelled(con, datasets / "halueval_general" / "general_data.json", "user_query",
                             "hallucination", id_col="ID")
    assert result.ok and (result.rows_loaded, result.rows_rejected) == (4506, 1)
    assert result.reasons == ["line 2159: repeated id ID (column ID)"]
    assert scalar(con, "SELECT count(*) FROM requests WHERE request_id = 'general_data:ID'") == 1


def test_helpdesk_tickets_subject_and_body_by_queue(con, datasets):
    path = datasets / "helpdesk_tickets_600" / "helpdesk_customer_tickets.csv"
    result = ingest_labelled(con, path, ["subject", "body"], "queue", id_col="id")
    assert result.ok and (result.rows_loaded, result.rows_rejected) == (600, 0)  # multi-line quoted bodies
    assert len(label_set(con, "helpdesk_customer_tickets")) == 10
    ids = {r["id"] for r in csv.DictReader(path.open())}
    assert {r[0].split(":", 1)[1] for r in rows(con, "SELECT request_id FROM requests")} == ids
    # Two tickets have no subject: their text is the body alone.
    assert scalar(con, "SELECT count(*) FROM requests WHERE json_extract_string(input_messages, '$[1].content') LIKE 'body: %'") == 2


def test_rejects_with_reasons_and_a_label_file(con, tmp_path):
    data = tmp_path / "tickets.csv"
    data.write_text('msg,topic\n"hello, I was charged twice",billing\n,billing\n"wifi down",\n'
                    '"card lost",cards\n"refund please",billing\n', encoding="utf-8")
    labels = tmp_path / "labels.txt"
    labels.write_text("billing\n\ntech\n", encoding="utf-8")
    result = ingest_labelled(con, data, "msg", "topic", labels_from=labels)
    assert (result.rows_loaded, result.rows_rejected) == (2, 3)
    assert result.reasons == ["line 3: empty text (column msg)", "line 4: empty label (column topic)",
                              "line 5: label cards is not in the label set from labels.txt"]
    assert label_set(con, "tickets") == ["billing", "tech"]
    assert scalar(con, "SELECT raw FROM rejects WHERE line = 5").startswith("{")
    # A replay's automatic label constraint keeps the declared class no loaded row has.
    sample = [r[0] for r in rows(con, "SELECT request_id FROM requests")]
    assert resolve(con, PromptAdapter(auto_labels=True), sample).labels == ["billing", "tech"]


def test_label_files_and_tags(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"x": "desc", "y": "desc"}))
    (tmp_path / "b.json").write_text(json.dumps(["y", " x", "y"]))
    (tmp_path / "c.json").write_text("3")
    assert read_label_file(tmp_path / "a.json") == ["x", "y"]
    assert read_label_file(tmp_path / "b.json") == ["y", "x"]
    with pytest.raises(UserError):
        read_label_file(tmp_path / "c.json")
    assert dataset_tag("x/banking77/test.csv") == "banking77-test"
    assert dataset_tag("x/y/cfpb_test.json") == "cfpb_test"


def test_errors_are_reported_not_raised(con, datasets, tmp_path):
    path = datasets / "banking77" / "test.csv"
    missing = ingest_labelled(con, path, "utterance", "category")
    assert "no column 'utterance'" in missing.error and "text, category" in missing.error
    assert "split" in ingest_labelled(con, path, "text", "category", split="dev").error
    assert "label set" in ingest_labelled(con, path, "text", "category", labels_from=tmp_path / "none.json").error
    plain = ingest_file(con, path, format="labelled")
    assert "ingest-labelled" in plain.error
    assert detect_format(read_sample(path)) != "labelled"
    assert scalar(con, "SELECT count(*) FROM sources") == 0


def test_labelled_rows_are_a_test_set_not_traffic(con, shared_dir, datasets):
    """Volumes, bills, defaults, narrow share, routing segments and the Logs breakdowns count
    logged requests only; the request browser lists every row."""
    batch = shared_dir / "samples" / "openai-batch"
    assert ingest_file(con, batch / "genai_navirag_batch_output.jsonl").ok
    before = (summarise(con), scenario_defaults(con), narrow_share(con), segment_traffic(con))
    breakdowns = (explore.breakdown(con, "model"), tasks.breakdown(con))
    result = ingest_labelled(con, datasets / "helpdesk_tickets_600" / "helpdesk_customer_tickets.csv",
                             ["subject", "body"], "queue", limit=30)
    assert result.rows_loaded == 30 and scalar(con, "SELECT count(*) FROM requests") == 65 + 30
    summary, defaults, narrow, traffic = summarise(con), scenario_defaults(con), narrow_share(con), segment_traffic(con)
    assert summary.requests == before[0].requests == 65 and summary.labelled_rows == 30
    assert summary.requests_per_day == before[0].requests_per_day
    assert defaults == before[1] and narrow == before[2] == 0
    assert traffic == before[3] and not any(s.key.startswith("classification") for s in traffic.segments)
    assert explore.breakdown(con, "model").equals(breakdowns[0]) and tasks.breakdown(con).equals(breakdowns[1])
    assert explore.request_page(con)[1] == 65 + 30

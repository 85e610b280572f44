"""The Quality page's training-set export through Streamlit's AppTest on a workspace holding a real
labelled dataset: segments and target picked, the export written into the data directory, its
report shown, a refusal shown as text."""

from __future__ import annotations

import io
import json
import zipfile

from pages import open_page
from training_schemas import VALIDATORS

from analysis.ingest.labelled_datasets import ingest_labelled
from analysis.replay.tuning.training_set import EXPORTS_FOLDER, export_zip, recorded_exports
from analysis.store.database import open_db


def test_export_from_the_quality_page(shared_dir, data_dir):
    con = open_db("tune")
    ingest_labelled(con, shared_dir / "datasets" / "cfpb_complaints_ibm" / "cfpb_train.json", "input", "output",
                    limit=200)
    con.close()
    app = open_page("quality", ws="tune")
    assert "Tune a local candidate" in [h.value for h in app.subheader]
    assert app.multiselect(key="te_tags").options == ["cfpb_train", "labelled"]
    app.multiselect(key="te_tags").set_value(["cfpb_train"])
    app.radio(key="te_target").set_value("labels")
    app.checkbox(key="te_scrub").check()
    app.number_input(key="te_fraction").set_value(0.25)
    app.button(key="te_export").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    con = open_db("tune")
    [export] = recorded_exports(con)
    con.close()
    assert export.directory == (data_dir / EXPORTS_FOLDER / export.export_id).resolve()
    assert export.manifest["filters"]["tags"] == ["cfpb_train"] and export.manifest["pii"]["enabled"]
    assert export.manifest["split"]["test_fraction"] == 0.25
    report = "\n".join(c.value for c in app.code)
    assert f"export {export.export_id} -> {export.directory}" in report
    assert f"train: {export.manifest['counts']['train']:,} requests" in report
    for name, info in export.manifest["files"].items():
        assert VALIDATORS[info["format"]](export.path(name)) == []
    archive = zipfile.ZipFile(io.BytesIO(export_zip(export)))
    assert sorted(archive.namelist()) == sorted(f"{export.export_id}/{n}" for n in export.file_names)
    assert json.loads(archive.read(f"{export.export_id}/manifest.json")) == export.manifest
    # the split is now fixed: the share control shows it and is disabled
    app.run()
    share = app.text_input(key="te_fraction_fixed")
    assert share.value == "25%" and share.disabled
    assert not [w for w in app.number_input if w.key == "te_fraction"]


def test_a_refusal_shows_as_text(shared_dir):
    con = open_db("tune")
    ingest_labelled(con, shared_dir / "datasets" / "cfpb_complaints_ibm" / "cfpb_train.json", "input", "output",
                    limit=50)
    con.close()
    app = open_page("quality", ws="tune")
    app.radio(key="te_target").set_value("incumbent")  # a labelled dataset has no logged answers
    app.button(key="te_export").click().run()
    assert [e.value for e in app.error] and "no request has a usable target" in app.error[0].value
    assert not app.code

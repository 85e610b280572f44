"""The Quality page's training-set export (analysis.replay.tuning.training_set): segments, target and
options; the export into the data directory; its files as one zip; the manifest's counts, split,
leakage guard and PII scrub in the words `breakeven export-training` prints."""

from __future__ import annotations

import streamlit as st

from analysis.errors import UserError
from analysis.present.training_export import export_lines
from analysis.replay.tuning import held_out
from analysis.replay.tuning.leakage import NEAR_DUPLICATE_THRESHOLD
from analysis.replay.tuning.training_set import (
    FORMATS,
    TARGETS,
    TrainingSetSpec,
    export_training_set,
    export_zip,
    segment_options,
)
from dashboard import components

LAST_EXPORT = "te_last"  # the session's latest export (TrainingExport)


def _export(spec: TrainingSetSpec) -> None:
    try:
        with components.writing("a training-set export") as con:
            st.session_state[LAST_EXPORT] = export_training_set(con, spec)
    except UserError as exc:
        st.session_state[LAST_EXPORT] = None
        components.show_user_error(exc)


def render() -> None:
    """The export's controls and, once exported, its report and download."""
    with st.expander("Training set from the logs", icon=":material/dataset:"):
        st.caption("Writes the chosen requests with the answers to learn as fine-tuning files: OpenAI's chat "
                   "format (also TRL's), ShareGPT (Unsloth, axolotl) and Alpaca. A fixed share of requests is "
                   "held out for testing and never exported for training; training requests whose prompt "
                   f"repeats a test prompt (the same normalised text, or word 3-shingles with Jaccard >= "
                   f"{NEAR_DUPLICATE_THRESHOLD}) are dropped and counted.")
        options = components.query(segment_options)
        c = st.columns(3)
        task_types = c[0].multiselect("Task types", options["task_types"], key="te_tasks", placeholder="all")
        models = c[1].multiselect("Models", options["models"], key="te_models", placeholder="all")
        tags = c[2].multiselect("Tags", options["tags"], key="te_tags", placeholder="all")
        c = st.columns(3)
        target = c[0].radio("Answers to learn", list(TARGETS), format_func=TARGETS.get, key="te_target")
        formats = c[1].multiselect("Formats", list(FORMATS), default=list(FORMATS), key="te_formats")
        fixed = components.query(held_out.fixed_fraction)
        if fixed is None:
            fraction = c[2].number_input("Test share", 0.01, 0.99, held_out.DEFAULT_TEST_FRACTION, 0.05,
                                         key="te_fraction", help="Share of requests held out for testing (by a "
                                         "hash of the request id); the first export fixes it for this workspace.")
        else:
            fraction = None
            c[2].text_input("Test share", f"{fixed:.0%}", key="te_fraction_fixed", disabled=True,
                            help="Fixed by this workspace's first export, so the test set never moves.")
        scrub = st.checkbox("Scrub PII (emails, phone numbers, card numbers, IBANs)", key="te_scrub")
        spec = TrainingSetSpec(task_types=task_types, models=models, tags=tags, target=target,
                               test_fraction=fraction, scrub_pii=scrub,
                               formats=formats)
        if st.button("Export the training set", key="te_export", type="primary", disabled=not formats):
            _export(spec)
        export = st.session_state.get(LAST_EXPORT)
        if export is not None:
            st.code("\n".join(export_lines(export)), language=None, wrap_lines=True)
            st.download_button("Download the files (zip)", export_zip(export), file_name=f"training-{export.export_id}.zip",
                               mime="application/zip", key="te_download", icon=":material/download:")

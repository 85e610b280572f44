"""Cached aggregates behind the Quality and Routing pages, each keyed on (workspace, data version).

The data version counts scores but not their values: re-scoring a run can leave it unchanged, so
a page that scores calls `scores_changed()`, which drops the caches that read scores.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from analysis import quality, replay, routing_data
from analysis.scoring import judge as scoring_judge
from analysis.scoring.judge import JudgeAgreement
from analysis.scoring.runner import INCUMBENT, run_context
from dashboard import components


def version() -> tuple[str, str]:
    """(workspace, data version): the first two arguments of every cached function here."""
    ws = components.current_workspace()
    return ws, components.data_version(ws)


@st.cache_data(show_spinner=False, max_entries=16)
def runs(workspace: str, version: str) -> pl.DataFrame:
    return replay.list_runs(components.cursor(workspace))


@st.cache_data(show_spinner=False, max_entries=32)
def quality_table(workspace: str, version: str, run_id: str | None, margin: float = quality.DEFAULT_MARGIN,
                  target: float = quality.DEFAULT_TARGET) -> pl.DataFrame:
    return quality.quality_table(components.cursor(workspace), run_id, margin=margin, target=target)


@st.cache_data(show_spinner=False, max_entries=16)
def scored_runs(workspace: str, version: str) -> dict[str, list[str]]:
    """{run id: its scored candidates, the most scored first, the incumbent left out}, newest run first."""
    table = quality_table(workspace, version, None).filter(pl.col("candidate") != INCUMBENT)
    counts = (table.group_by("run_id", "candidate").agg(pl.col("n").sum())
              .sort("n", "candidate", descending=[True, False]))
    return {run: counts.filter(pl.col("run_id") == run)["candidate"].to_list()
            for run in runs(workspace, version)["run_id"] if run in set(counts["run_id"])}


@st.cache_data(show_spinner=False, max_entries=32)
def latency_table(workspace: str, version: str, run_id: str) -> pl.DataFrame:
    return quality.latency_table(components.cursor(workspace), run_id)


@st.cache_data(show_spinner=False, max_entries=32)
def labels(workspace: str, version: str, run_id: str) -> tuple[str, ...] | None:
    return run_context(components.cursor(workspace), run_id).labels


@st.cache_data(show_spinner=False, max_entries=32)
def confusion_matrix(workspace: str, version: str, run_id: str, candidate: str) -> pl.DataFrame:
    return quality.confusion_matrix(components.cursor(workspace), run_id, candidate)


@st.cache_data(show_spinner=False, max_entries=32)
def disagreements(workspace: str, version: str, run_id: str, candidate: str, limit: int) -> pl.DataFrame:
    return quality.disagreements(components.cursor(workspace), run_id, candidate, limit)


@st.cache_data(show_spinner=False, max_entries=32)
def segment_traffic(workspace: str, version: str, segment_by: str, context_window: int) -> routing_data.Traffic:
    return routing_data.segment_traffic(components.cursor(workspace), segment_by, context_window)


@st.cache_data(show_spinner=False, max_entries=32)
def daily_traffic(workspace: str, version: str, segment_by: str, context_window: int) -> list[routing_data.DayTraffic]:
    return routing_data.daily_traffic(components.cursor(workspace), segment_by, context_window)


@st.cache_data(show_spinner=False, max_entries=32)
def segment_quality(workspace: str, version: str, run_id: str, candidate: str,
                    segment_by: str) -> dict[str, routing_data.SegmentQuality]:
    return routing_data.segment_quality(components.cursor(workspace), run_id, candidate, segment_by)


@st.cache_data(show_spinner=False, max_entries=16)
def judge_agreement(workspace: str, version: str, run_id: str) -> JudgeAgreement:
    return scoring_judge.judge_agreement(components.cursor(workspace), run_id)


def scores_changed() -> None:
    """Forget every cached aggregate that reads `scores`."""
    for cached in (quality_table, scored_runs, confusion_matrix, disagreements, segment_quality, judge_agreement):
        cached.clear()

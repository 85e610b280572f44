"""The heavy imports of the pages, done once per server process before any page runs.

Streamlit runs every session's script in its own thread. On a freshly started server the first
sessions would import pandas, polars, plotly and the analysis modules at the same moment, and
Python's per-module import locks then hand a thread another thread's half-initialised module (their
way out of a would-be deadlock): a page fails with "partially initialized module 'pandas'". app.py
imports this module before anything else, so one thread imports everything below while the other
sessions wait on this module's import lock, and no page starts with a half-imported library.
"""

import importlib

import duckdb  # noqa: F401
import numpy  # noqa: F401
import pandas  # noqa: F401
import plotly.express
import plotly.graph_objects
import plotly.io  # noqa: F401
import polars  # noqa: F401
import pyarrow  # noqa: F401

# The analysis modules the pages import (each brings its own dependencies along). One missing here
# only costs the first page that needs it its import time; the race needs the libraries above.
PAGE_MODULES = [
    "analysis.economics.comparison", "analysis.economics.counterfactual", "analysis.economics.decision",
    "analysis.economics.gpu_choice", "analysis.economics.projections", "analysis.economics.router_export",
    "analysis.economics.routing", "analysis.economics.scenario_store", "analysis.economics.workspace_defaults",
    "analysis.ingest", "analysis.ingest.demo", "analysis.present.capacity", "analysis.present.charts",
    "analysis.present.report", "analysis.quality.candidate_choice", "analysis.quality.verdicts",
    "analysis.quality.scoring.judge", "analysis.quality.scoring.runner", "analysis.replay.background",
    "analysis.replay.candidates", "analysis.replay.history", "analysis.replay.probe", "analysis.replay.runs",
    "analysis.store.explore", "analysis.store.summary", "analysis.store.uploads",
    "streamlit.dataframe_util",  # Streamlit's own lazy pandas / pyarrow imports
]
for name in PAGE_MODULES:
    importlib.import_module(name)

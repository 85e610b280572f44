"""Replay runs in background threads, so a dashboard page can start one, be left, and show the
same live progress when the user comes back. Progress is also in the database (replay.progress_of),
so a restarted server still shows what was done.

When a run's execution ends (done, stopped by its budget, or stopped), its answers are scored at
once, as the Quality page's score button does (`score_run`), with the LLM judge when one is given;
a judge that cannot run (its estimate is over its budget, or it cannot be priced) is left out and
the exact scorers still score (`score_finished`); so is a judge whose endpoint or key fails.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from analysis.errors import UserError
from analysis.quality.scoring.judge import JudgeScorer
from analysis.quality.scoring.runner import ScoreSummary, score_run
from analysis.replay import runs as replay
from analysis.replay.providers.base import ProviderError
from analysis.store import access
from analysis.store.database import workspace_file


@dataclass
class _Active:
    thread: threading.Thread
    stop: threading.Event
    progress: replay.Progress | None = None
    error: str | None = None
    scoring: bool = False  # the replay ended and its answers are being scored
    scored: ScoreSummary | None = None
    score_note: str | None = None  # why the judge was left out, or why nothing was scored


def score_finished(workspace: access.Workspace | duckdb.DuckDBPyConnection, run_id: str,
                   judge: JudgeScorer | None = None) -> tuple[ScoreSummary | None, str | None]:
    """Score a run that just ended (module rule): (the summary, a note on what was left out)."""
    try:
        return score_run(workspace, run_id, judge=judge), None
    except (UserError, ProviderError) as exc:  # ProviderError: the judge's endpoint or key
        if judge is None:
            return None, f"not scored: {exc}"
        note = f"the LLM judge was left out ({exc})"
    try:
        return score_run(workspace, run_id), note
    except UserError as exc:
        return None, f"not scored: {exc}"


def scoring_text(summary: ScoreSummary) -> str:
    """What a scoring wrote, in one sentence (the Quality page's and the Replay page's)."""
    skipped = ", ".join(f"{n:,} {why}" for why, n in summary.skipped.items())
    judged = f"; the LLM judge made {summary.judge_calls:,} calls" if summary.judge_calls else ""
    return (f"{summary.scored:,} answers scored ({summary.incumbent_scored:,} of them the incumbent's){judged}"
            + (f"; not scored: {skipped}" if skipped else "") + ".")


@dataclass
class RunManager:
    """One per server process (the dashboard keeps it in st.cache_resource)."""

    active: dict[str, _Active] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, workspace: str | Path, run_id: str, judge: JudgeScorer | None = None) -> None:
        """Execute (or resume) a run in a daemon thread that opens the workspace file per batch of
        results (`access.Workspace`), so the pages and other processes use it meanwhile; score it
        when it ends (module rule), with `judge` for long free-text answers when given."""
        with self.lock:
            if self.is_running(run_id):
                return
            stop = threading.Event()
            entry = _Active(threading.Thread(target=self._work, args=(workspace, run_id, judge), daemon=True), stop)
            self.active[run_id] = entry
            entry.thread.start()

    def _work(self, workspace: str | Path, run_id: str, judge: JudgeScorer | None) -> None:
        entry = self.active[run_id]
        shared = access.Workspace(workspace_file(workspace))
        try:
            replay.execute(shared, run_id, on_progress=lambda p: setattr(entry, "progress", p), stop=entry.stop)
            entry.scoring = True
            entry.scored, entry.score_note = score_finished(shared, run_id, judge)
        except Exception as exc:  # shown on the page instead of dying silently in a thread
            entry.error = f"{type(exc).__name__}: {exc}"
        finally:
            entry.scoring = False

    def is_running(self, run_id: str) -> bool:
        entry = self.active.get(run_id)
        return bool(entry and entry.thread.is_alive())

    def stop(self, run_id: str) -> None:
        if entry := self.active.get(run_id):
            entry.stop.set()

    def live(self, run_id: str) -> _Active | None:
        return self.active.get(run_id)

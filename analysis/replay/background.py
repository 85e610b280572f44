"""Replay runs in background threads, so a dashboard page can start one, be left, and show the
same live progress when the user comes back. Progress is also in the database (replay.progress_of),
so a restarted server still shows what was done."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from analysis.replay import runs as replay
from analysis.store.database import open_db


@dataclass
class _Active:
    thread: threading.Thread
    stop: threading.Event
    progress: replay.Progress | None = None
    error: str | None = None


@dataclass
class RunManager:
    """One per server process (the dashboard keeps it in st.cache_resource)."""

    active: dict[str, _Active] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, workspace: str | Path, run_id: str) -> None:
        """Execute (or resume) a run in a daemon thread with its own connection (open_db of the
        workspace file), so the page's connection is never blocked by the run's writes."""
        with self.lock:
            if self.is_running(run_id):
                return
            stop = threading.Event()
            entry = _Active(threading.Thread(target=self._work, args=(workspace, run_id), daemon=True), stop)
            self.active[run_id] = entry
            entry.thread.start()

    def _work(self, workspace: str | Path, run_id: str) -> None:
        entry = self.active[run_id]
        con = open_db(workspace)
        try:
            replay.execute(con, run_id, on_progress=lambda p: setattr(entry, "progress", p), stop=entry.stop)
        except Exception as exc:  # shown on the page instead of dying silently in a thread
            entry.error = f"{type(exc).__name__}: {exc}"
        finally:
            con.close()

    def is_running(self, run_id: str) -> bool:
        entry = self.active.get(run_id)
        return bool(entry and entry.thread.is_alive())

    def stop(self, run_id: str) -> None:
        if entry := self.active.get(run_id):
            entry.stop.set()

    def live(self, run_id: str) -> _Active | None:
        return self.active.get(run_id)

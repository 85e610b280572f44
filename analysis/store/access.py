"""Sharing a workspace between processes: open it for one operation, never for a session.

DuckDB lets one process write a file, and several read it only while none writes; a process that
keeps a connection open blocks every other. So `reading` (read-only) and `writing` open a
connection for one operation and close it at once. A long job (a replay, a probe) writes batch by
batch through a `Workspace`, which keeps its connection only while no other process waits. Rules:

- Busy: when another process holds the file, the open is retried after
  delay = uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S x 2^attempt)) until `Settings.workspace_wait_s`
  has passed, then `WorkspaceBusy` (one line naming the holder). `on_wait(text)` is called whenever
  the holder's description changes, e.g. "ingest of calls.jsonl (pid 4242)", so the CLI and the pages
  say what they wait for.
- Holder record: a process writing a workspace keeps `<file>.holder.json` next to it (pid, host,
  purpose, started at) while it holds the file; a record whose process is gone from this host
  (killed) is stale and ignored. A process that only reads leaves none: it is named from DuckDB's
  lock message ("another process (pid N)").
- Waiting marker: a process waiting for the file keeps `<file>.waiting-<pid>-<thread>` meanwhile;
  a `Workspace` that sees one (of a live process) closes its connection before its next batch and
  waits up to HANDOVER_S for the waiters to get in.
- Within one process DuckDB shares one database between connections of the same mode: a read
  while this process writes the file uses a read-write connection, and a write waits for this
  process's readers to close.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from analysis.errors import NotFound, UserError
from analysis.settings import Settings, get_settings
from analysis.store import database

BACKOFF_BASE_S = 0.02
BACKOFF_CAP_S = 0.5
HOLDER_SUFFIX = ".holder.json"
WAITING_INFIX = ".waiting-"  # <file>.waiting-<pid>-<thread>: a process waits for the file
HANDOVER_S = 2.0  # how long a long job lets waiters in before writing again

OnWait = Callable[[str], None]


class WorkspaceBusy(UserError):
    """Another process held the workspace for longer than the wait allowed."""


@dataclass(frozen=True)
class Holder:
    """Who writes a workspace: its process, what it does, since when (UTC, ISO 8601)."""

    pid: int
    host: str
    purpose: str
    started_at: str

    @property
    def text(self) -> str:
        return f"{self.purpose} (pid {self.pid})"


@dataclass
class _Use:
    """This process's open connections to one file: how many, and whether they write."""

    writes: bool
    count: int = 0


_uses: dict[Path, _Use] = {}
_guard = threading.Lock()  # makes "look at this process's connections, then connect" one step


def holder_path(path: Path) -> Path:
    return path.with_name(path.name + HOLDER_SUFFIX)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def current_holder(path: Path) -> Holder | None:
    """The holder record next to `path`, or None when there is none, it cannot be read, or its
    process is gone from this host (stale)."""
    try:
        holder = Holder(**json.loads(holder_path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if holder.host == socket.gethostname() and not _process_alive(holder.pid):
        return None
    return holder


def _write_holder(path: Path, purpose: str) -> None:
    record = Holder(os.getpid(), socket.gethostname(), purpose, database.utcnow().isoformat(timespec="seconds"))
    temporary = path.with_name(f"{path.name}.holder-{os.getpid()}.tmp")
    temporary.write_text(json.dumps(record.__dict__), encoding="utf-8")
    os.replace(temporary, holder_path(path))  # readers never see half a record


def _remove_holder(path: Path) -> None:
    holder = holder_path(path)
    try:
        if json.loads(holder.read_text(encoding="utf-8")).get("pid") == os.getpid():
            holder.unlink()
    except (OSError, ValueError):
        pass


def _lock_conflict(exc: duckdb.Error) -> bool:
    """Whether opening failed only because someone else holds the file: another process's lock,
    or a connection of this process in the other mode."""
    text = str(exc)
    return (isinstance(exc, duckdb.IOException) and "lock" in text.lower()) or (
        isinstance(exc, duckdb.ConnectionException) and "different configuration" in text)


def _busy_text(path: Path, exc: duckdb.Error | None) -> str:
    """Who holds `path`, in a few words, for the wait message and the timeout error."""
    if holder := current_holder(path):
        return holder.text
    if exc is None:
        return "another operation of this process"
    found = re.search(r"PID (\d+)", str(exc))
    if found and int(found.group(1)) != os.getpid():
        return f"another process (pid {found.group(1)})"
    return "another process" if isinstance(exc, duckdb.IOException) else "another operation of this process"


def _try_open(path: Path, write: bool, purpose: str) -> tuple[duckdb.DuckDBPyConnection | None, duckdb.Error | None]:
    """One attempt: (the connection, None), or (None, the conflict) when the file is busy."""
    with _guard:
        use = _uses.get(path)
        if write and use is not None and not use.writes:
            return None, None  # this process's readers first
        writes = write or (use is not None and use.writes)
        try:
            con = database.open_db(path, read_only=not writes)
        except duckdb.ConnectionException as exc:
            if not _lock_conflict(exc):
                raise
            if writes:  # this process reads the file through a connection of its own: wait for it
                return None, exc
            # This process already writes the file through a connection of its own (made without
            # this module): a read shares that database.
            con = database.open_db(path)
        except duckdb.Error as exc:
            if _lock_conflict(exc):
                return None, exc
            raise
        if use is None:
            use = _uses[path] = _Use(writes)
            if writes:
                try:
                    _write_holder(path, purpose)
                except BaseException:
                    del _uses[path]
                    con.close()
                    raise
        use.count += 1
        return con, None


def _release(path: Path, con: duckdb.DuckDBPyConnection) -> None:
    with _guard:
        con.close()
        use = _uses[path]
        use.count -= 1
        if use.count == 0:
            del _uses[path]
            if use.writes:
                _remove_holder(path)


def _waiting_marker(path: Path) -> Path:
    return path.with_name(f"{path.name}{WAITING_INFIX}{os.getpid()}-{threading.get_ident()}")


def others_waiting(path: Path) -> bool:
    """Whether a live process other than this one waits for `path` (its waiting marker is there)."""
    for marker in path.parent.glob(f"{path.name}{WAITING_INFIX}*"):
        pid = marker.name.removeprefix(path.name + WAITING_INFIX).split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and _process_alive(int(pid)):
            return True
    return False


@contextmanager
def _opened(path: Path, write: bool, purpose: str, on_wait: OnWait | None,
            settings: Settings | None) -> Iterator[duckdb.DuckDBPyConnection]:
    path = path.resolve()  # one key per file in this process's connections, however it was named
    timeout = (settings or get_settings()).workspace_wait_s
    deadline, attempt, told, rng = time.monotonic() + timeout, 0, None, random.Random()
    marker = _waiting_marker(path)
    try:
        while True:
            con, conflict = _try_open(path, write, purpose)
            if con is not None:
                break
            text = _busy_text(path, conflict)
            if time.monotonic() >= deadline:
                raise WorkspaceBusy(f"the workspace {path.stem!r} is busy: {text} has held it for over {timeout:g} s; "
                                    "try again when it is done (BREAKEVEN_WORKSPACE_WAIT_S sets how long to wait)")
            if on_wait is not None and text != told:
                on_wait(text)
                told = text
            if attempt == 0:
                marker.touch()  # a long job holding the file hands it over (Workspace)
            attempt += 1
            time.sleep(min(rng.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt)),
                           max(0.0, deadline - time.monotonic())))
    finally:
        marker.unlink(missing_ok=True)
    try:
        yield con
    finally:
        _release(path, con)


@contextmanager
def writing(workspace: str | Path | None, purpose: str, *, on_wait: OnWait | None = None,
            settings: Settings | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection for one operation (creating and migrating the file if needed),
    closed on exit; `purpose` (e.g. "ingest of calls.jsonl") is what waiting processes are told.
    Waits while the file is busy (module rules)."""
    path = database.workspace_file(workspace, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _opened(path, True, purpose, on_wait, settings) as con:
        yield con


@contextmanager
def reading(workspace: str | Path | None, *, on_wait: OnWait | None = None,
            settings: Settings | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection for one operation, closed on exit. Waits while another process
    writes the file (module rules); a file with an older schema is migrated first, briefly.
    Raises NotFound for a workspace without a file."""
    path = database.workspace_file(workspace, settings)
    if not path.exists():
        raise NotFound(f"no workspace file {path}")
    with ExitStack() as stack:
        try:
            con = stack.enter_context(_opened(path, False, "reading", on_wait, settings))
        except database.SchemaOutdatedError:
            with writing(path, "a schema update", on_wait=on_wait, settings=settings):
                pass
            con = stack.enter_context(_opened(path, False, "reading", on_wait, settings))
        yield con


class Workspace:
    """A workspace file that a long job (a replay, a probe) writes batch by batch. Its write
    connection stays open between batches while no other process waits for the file; as soon as
    one does (`others_waiting`), it is closed and the job lets the waiters in (up to HANDOVER_S)
    before opening it again. `release()` closes it: call it when the job ends."""

    def __init__(self, path: Path, on_wait: OnWait | None = None) -> None:
        self.path, self.on_wait = Path(path).resolve(), on_wait
        self._held: tuple[AbstractContextManager, duckdb.DuckDBPyConnection] | None = None

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._held is not None:
            yield self._held[1]
        else:
            with reading(self.path, on_wait=self.on_wait) as con:
                yield con

    @contextmanager
    def writing(self, purpose: str) -> Iterator[duckdb.DuckDBPyConnection]:
        self.hand_over()
        if self._held is None:
            opened = writing(self.path, purpose, on_wait=self.on_wait)
            self._held = (opened, opened.__enter__())
        try:
            yield self._held[1]
        except BaseException:
            self.release()
            raise

    def hand_over(self) -> None:
        """Close the held connection when another process waits, and give the waiters a moment."""
        if self._held is None or not others_waiting(self.path):
            return
        self.release()
        deadline = time.monotonic() + HANDOVER_S
        while others_waiting(self.path) and time.monotonic() < deadline:
            time.sleep(BACKOFF_BASE_S)

    def release(self) -> None:
        if self._held is not None:
            opened, self._held = self._held[0], None
            opened.__exit__(None, None, None)


@dataclass(frozen=True)
class Connected:
    """An already-open connection used as a workspace (an in-memory database, one transaction):
    every operation uses it, and it stays open."""

    con: duckdb.DuckDBPyConnection

    def hand_over(self) -> None:
        pass

    def release(self) -> None:
        pass

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        yield self.con

    @contextmanager
    def writing(self, purpose: str) -> Iterator[duckdb.DuckDBPyConnection]:
        yield self.con


def workspace_of(target: Workspace | Connected | duckdb.DuckDBPyConnection) -> Workspace | Connected:
    """What a long job was given, as something with `reading()` and `writing(purpose)`."""
    return Connected(target) if isinstance(target, duckdb.DuckDBPyConnection) else target

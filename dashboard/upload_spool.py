"""Uploads go to disk as they arrive, not into the server's memory.

Streamlit's upload route reads a whole upload into one bytes object and keeps it in its
uploaded-file manager until the session ends (a 300 MB upload raised the server from 402 MB to
over 1 GB, and it stayed there). `SpoolUploads`, an ASGI middleware in front of that route (the
dashboard runs as an `st.App`, see dashboard/server.py), streams each upload's multipart body to a
spool file under the data directory, then hands Streamlit the same request with the file's bytes
replaced by a short marker. Streamlit's own route still judges the request (XSRF token, session,
size) and answers the browser; the widget shows the real file. The Logs page asks `spooled(file)`
for the file on disk and saves from there; the marker carries a secret drawn once per server
process, so an uploaded file that merely looks like a marker is read as itself.

Spool files live in a folder of this server process, one subfolder per session. A file goes when
the page has saved it, when the user removes it from the widget, when Streamlit refuses its
request, and otherwise (its session ended, its server stopped) at the next upload or removal on
any server sharing the data directory.

A request Streamlit would refuse without reading it (no active session, a missing XSRF token, a
declared size over the limit plus Streamlit's 1 MB framing margin) is passed on untouched.
Started as a plain script (`streamlit run dashboard/app.py`, AppTest) there is no middleware:
`spooled` finds no marker and the page saves Streamlit's in-memory copy, as before.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import anyio.to_thread
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from streamlit import config
from streamlit.logger import get_logger
from streamlit.runtime import Runtime
from streamlit.runtime.uploaded_file_manager import UploadedFile
from streamlit.web.server.server_util import is_xsrf_enabled
from streamlit.web.server.starlette.starlette_app_utils import validate_xsrf_token
from streamlit.web.server.starlette.starlette_server_config import XSRF_COOKIE_NAME

from analysis.settings import get_settings
from analysis.store.uploads import UploadError

UPLOAD_ROUTE = re.compile(r"/_stcore/upload_file/(?P<session>[A-Za-z0-9_-]+)/(?P<file>[A-Za-z0-9_-]+)$")
MARKER_PREFIX = b"llm-breakeven spooled upload "
TOKEN = secrets.token_hex(16).encode()  # this server process's: a marker from elsewhere does not match
PROCESS_FOLDER = f"{os.getpid()}-{TOKEN[:8].decode()}"
STALE_S = 24 * 3600  # another server's spool folder untouched this long is removed even if it runs
ENDED_GRACE_S = 600  # a session not active for this long has ended (Streamlit keeps a dropped one 120 s)
MULTIPART_OVERHEAD_BYTES = 1024 * 1024  # Streamlit's framing margin on top of server.maxUploadSize
WRITE_BYTES = 1024 * 1024  # the body is written to disk (off the event loop) this much at a time

_LOGGER = get_logger(__name__)


def spool_dir() -> Path:
    return get_settings().data_dir / "uploads" / ".incoming"


def spool_path(session_id: str, file_id: str) -> Path:
    return spool_dir() / PROCESS_FOLDER / session_id / file_id


def spooled(file: UploadedFile, session_id: str) -> Path | None:
    """Where `file` (a value of st.file_uploader in session `session_id`) lies on disk, or None
    when Streamlit holds its bytes itself (no middleware, or not this process's marker). Raises
    UploadError when the marker is this process's but its file is gone (never save the marker)."""
    if file.size > len(MARKER_PREFIX) + len(TOKEN) + 24 or not file.getvalue().startswith(MARKER_PREFIX + TOKEN):
        return None
    path = spool_path(session_id, file.file_id)
    if not path.is_file():
        raise UploadError(f"{file.name}: the upload is no longer on the server (removed or its session "
                          "ended); upload it again")
    return path


def discard(files: Iterable[UploadedFile], session_id: str) -> None:
    """Remove the spool files of `files` (saved elsewhere, or no longer wanted)."""
    for file in files:
        spool_path(session_id, file.file_id).unlink(missing_ok=True)


class UploadRefused(Exception):
    """An upload body that cannot be spooled: (HTTP status, reason)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


class SpoolUploads:
    """ASGI middleware: Streamlit's upload PUT streamed to a spool file (module docstring); a
    DELETE that Streamlit accepts also removes the spool file."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        match = UPLOAD_ROUTE.search(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope["method"] not in ("PUT", "DELETE"):
            return await self.app(scope, receive, send)
        await anyio.to_thread.run_sync(_sweep)
        path = spool_path(match["session"], match["file"])
        if scope["method"] == "DELETE":
            return await self._forward(scope, receive, send, on_success=lambda: path.unlink(missing_ok=True))
        headers = Headers(scope=scope)
        if not _acceptable(match["session"], headers):
            return await self.app(scope, receive, send)  # Streamlit refuses it without reading it
        try:
            part_headers, boundary, size = await _spool(receive, headers, path)
        except UploadRefused as refused:
            return await _answer(send, refused.status, str(refused))
        marker = MARKER_PREFIX + TOKEN + b" " + str(size).encode()
        body = b"--%s\r\n%s\r\n\r\n%s\r\n--%s--\r\n" % (boundary, part_headers, marker, boundary)
        replaced = [(name, value) for name, value in scope["headers"] if name.lower() != b"content-length"]
        scope = {**scope, "headers": [*replaced, (b"content-length", str(len(body)).encode())]}
        delivered = False

        async def marker_body():
            nonlocal delivered
            if delivered:
                return await receive()  # after the body: the client's disconnect, when it comes
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        # Streamlit did not take it: nothing refers to the spool file.
        await self._forward(scope, marker_body, send, on_failure=lambda: path.unlink(missing_ok=True))

    async def _forward(self, scope, receive, send, on_success=None, on_failure=None) -> None:
        """Run Streamlit's route; call `on_success()` when it answers 2xx, else `on_failure()`,
        before the answer leaves (the client never sees a state the disk does not have yet)."""
        answered = False

        async def watch(message):
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                hook = on_success if 200 <= message["status"] < 300 else on_failure
                if hook is not None:
                    hook()
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if not answered and on_failure is not None:  # it raised before answering
                on_failure()


def _acceptable(session_id: str, headers: Headers) -> bool:
    """What Streamlit's route checks before reading a body (as Streamlit reads the headers and
    cookies): an active session, the XSRF token, a declared size within the limit and margin."""
    if not Runtime.exists() or not Runtime.instance().is_active_session(session_id):
        return False
    if is_xsrf_enabled():
        cookie = cookie_parser(headers.get("cookie", "")).get(XSRF_COOKIE_NAME)
        if not validate_xsrf_token(headers.get("x-xsrftoken"), cookie):
            return False
    declared = headers.get("content-length", "")
    return not declared or (declared.isascii() and declared.isdigit()
                            and int(declared) <= _limit_bytes() + MULTIPART_OVERHEAD_BYTES)


def _limit_bytes() -> int:
    return config.get_option("server.maxUploadSize") * 1024 * 1024


async def _spool(receive, headers: Headers, path: Path) -> tuple[bytes, bytes, int]:
    """Stream the multipart body from `receive` into `path` (written under a temporary name in its
    folder, renamed when whole); (the file part's raw headers, the boundary, the file's size)."""
    kind, options = parse_options_header(headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadRefused(400, "expected a multipart/form-data body with a boundary")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".part")
    partial = Path(partial_name)
    state = {"headers": [], "field": b"", "value": b"", "files": 0, "size": 0, "in_file": False,
             "file_done": False, "ended": False}
    pending = bytearray()  # file bytes parsed but not yet written
    limit = _limit_bytes()

    def on_header_field(data, start, end):
        state["field"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        state["headers"].append((state["field"], state["value"]))
        state["field"] = state["value"] = b""

    def on_headers_finished():
        disposition = next((value for field, value in state["headers"]
                            if field.lower() == b"content-disposition"), b"")
        state["in_file"] = b"filename" in parse_options_header(disposition)[1]
        if state["in_file"]:
            state["files"] += 1
            state["file_headers"] = b"\r\n".join(field + b": " + value for field, value in state["headers"])
        state["headers"] = []

    def on_part_data(data, start, end):
        if state["in_file"] and state["files"] == 1:
            state["size"] += end - start
            pending.extend(data[start:end])

    def on_part_end():
        if state["in_file"] and state["files"] == 1:
            state["file_done"] = True

    def on_end():
        state["ended"] = True

    parser = MultipartParser(boundary, {
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_end": on_end,
    })
    received = 0
    try:
        with os.fdopen(descriptor, "wb") as handle:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise UploadRefused(400, "the upload was interrupted")
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit + MULTIPART_OVERHEAD_BYTES:
                    raise UploadRefused(413, "File too large")
                try:
                    parser.write(chunk)
                except Exception as exc:  # python-multipart's parse errors: a malformed body
                    raise UploadRefused(400, f"malformed multipart body: {exc}") from exc
                if len(pending) >= WRITE_BYTES or not message.get("more_body", False):
                    await anyio.to_thread.run_sync(handle.write, bytes(pending))
                    pending.clear()
                if not message.get("more_body", False):
                    break
        if state["files"] != 1:
            raise UploadRefused(400, f"Expected 1 file, but got {state['files']}")
        if not (state["file_done"] and state["ended"]):
            raise UploadRefused(400, "the multipart body ended before its closing boundary")
        if state["size"] > limit:
            raise UploadRefused(413, "File too large")
        os.replace(partial, path)
    except OSError as exc:  # the disk (full, read-only): the server's trouble, not the upload's
        partial.unlink(missing_ok=True)
        _LOGGER.error("Could not spool an upload to %s: %s", path.parent, exc)
        raise UploadRefused(507, f"the server could not store the upload: {exc.strerror or exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return state["file_headers"], boundary, state["size"]


def _sweep() -> None:
    """Remove spool files nobody will save: this process's of sessions that ended (not active and
    untouched for ENDED_GRACE_S), and the folders of servers no longer running (or untouched for
    STALE_S)."""
    root = spool_dir()
    if not root.is_dir():
        return
    runtime = Runtime.instance() if Runtime.exists() else None
    for folder in root.iterdir():
        if folder.name == PROCESS_FOLDER:
            for session in folder.iterdir():
                if runtime is not None and not runtime.is_active_session(session.name) \
                        and _untouched_since(session, time.time() - ENDED_GRACE_S):
                    shutil.rmtree(session, ignore_errors=True)
        elif not _running(folder.name) or _untouched_since(folder, time.time() - STALE_S):
            shutil.rmtree(folder, ignore_errors=True)


def _running(folder_name: str) -> bool:
    """The server process that named this spool folder (`<pid>-<token>`) still runs."""
    pid = folder_name.split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # runs, as another user
        return True
    return True


def _untouched_since(folder: Path, cutoff: float) -> bool:
    try:
        return all(entry.stat().st_mtime < cutoff for entry in [folder, *folder.rglob("*")])
    except OSError:  # changed meanwhile: in use
        return False


async def _answer(send, status: int, reason: str) -> None:
    body = reason.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

"""Uploads go to disk as they arrive, not into the server's memory.

Streamlit's upload route reads a whole upload into one bytes object and keeps it in its
uploaded-file manager until the session ends (a 300 MB upload raised the server from 402 MB to
over 1 GB, and it stayed there). `SpoolUploads`, an ASGI middleware in front of that route (the
dashboard runs as an `st.App`, see dashboard/server.py), streams each upload's multipart body to a
spool file under the data directory a chunk at a time, then hands Streamlit the same request with
the file's bytes replaced by a short marker. Streamlit's own route still judges the request (XSRF
token, session, size) and answers the browser; the widget shows the real file. The Logs page asks
`spooled(file)` for the file on disk and saves from there; the marker carries a secret drawn once
per server process, so an uploaded file that merely looks like a marker is read as itself.

A request Streamlit would refuse anyway (no active session, a missing XSRF token, a declared size
over the limit) is passed on untouched, so Streamlit refuses it as before without reading it.
Started as a plain script (`streamlit run dashboard/app.py`, AppTest) there is no middleware:
`spooled` finds no marker and the page saves Streamlit's in-memory copy, as before.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from streamlit import config
from streamlit.runtime import Runtime
from streamlit.runtime.uploaded_file_manager import UploadedFile
from streamlit.web.server.server_util import is_xsrf_enabled
from streamlit.web.server.starlette.starlette_app_utils import validate_xsrf_token
from streamlit.web.server.starlette.starlette_server_config import XSRF_COOKIE_NAME

from analysis.settings import get_settings

UPLOAD_ROUTE = re.compile(r"/_stcore/upload_file/(?P<session>[A-Za-z0-9_-]+)/(?P<file>[A-Za-z0-9_-]+)$")
MARKER_PREFIX = b"llm-breakeven spooled upload "
TOKEN = secrets.token_hex(16).encode()  # this server process's: a marker from elsewhere does not match
STALE_S = 24 * 3600  # spool files left this long (a session that ended without saving) are removed
MULTIPART_OVERHEAD_BYTES = 1024 * 1024  # Streamlit's framing margin on top of server.maxUploadSize


def spool_dir() -> Path:
    return get_settings().data_dir / "uploads" / ".incoming"


def spool_path(session_id: str, file_id: str) -> Path:
    return spool_dir() / session_id / file_id


def spooled(file: UploadedFile, session_id: str) -> Path | None:
    """Where `file` (a value of st.file_uploader in session `session_id`) lies on disk, or None
    when Streamlit holds its bytes itself (no middleware, or not this process's marker)."""
    if file.size > len(MARKER_PREFIX) + len(TOKEN) + 24 or not file.getvalue().startswith(MARKER_PREFIX + TOKEN):
        return None
    path = spool_path(session_id, file.file_id)
    return path if path.is_file() else None


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
    """ASGI middleware: Streamlit's upload PUT streamed to a spool file (module docstring);
    its DELETE also removes the spool file."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        match = UPLOAD_ROUTE.search(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            return await self.app(scope, receive, send)
        path = spool_path(match["session"], match["file"])
        if scope["method"] == "DELETE":
            path.unlink(missing_ok=True)
            return await self.app(scope, receive, send)
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if scope["method"] != "PUT" or not _acceptable(match["session"], headers):
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

        status = 500

        async def watch(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, marker_body, watch)
        finally:
            if status >= 300:  # Streamlit did not take it: nothing refers to the spool file
                path.unlink(missing_ok=True)


def _acceptable(session_id: str, headers: dict[str, str]) -> bool:
    """What Streamlit's route checks before reading a body: an active session, the XSRF token,
    a declared size within the limit."""
    if not Runtime.exists() or not Runtime.instance().is_active_session(session_id):
        return False
    if is_xsrf_enabled():
        try:
            cookie = SimpleCookie(headers.get("cookie", "")).get(XSRF_COOKIE_NAME)
        except CookieError:
            return False
        if not validate_xsrf_token(headers.get("x-xsrftoken"), cookie.value if cookie else None):
            return False
    declared = headers.get("content-length", "")
    return not declared or (declared.isdigit() and int(declared) <= _limit_bytes() + MULTIPART_OVERHEAD_BYTES)


def _limit_bytes() -> int:
    return config.get_option("server.maxUploadSize") * 1024 * 1024


async def _spool(receive, headers: dict[str, str], path: Path) -> tuple[bytes, bytes, int]:
    """Stream the multipart body from `receive` into `path` (written as `path.part`, renamed when
    whole); (the file part's raw headers, the boundary, the file's size)."""
    _remove_stale()
    kind, options = parse_options_header(headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadRefused(400, "expected a multipart/form-data body with a boundary")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    state = {"headers": [], "field": b"", "value": b"", "files": 0, "size": 0, "in_file": False}
    limit = _limit_bytes()
    with partial.open("wb") as handle:

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
                handle.write(data[start:end])

        parser = MultipartParser(boundary, {
            "on_header_field": on_header_field, "on_header_value": on_header_value,
            "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        })
        received = 0
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise UploadRefused(400, "the upload was interrupted")
                received += len(message.get("body", b""))
                if received > limit + MULTIPART_OVERHEAD_BYTES:
                    raise UploadRefused(413, "File too large")
                parser.write(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            parser.finalize()
        except UploadRefused:
            partial.unlink(missing_ok=True)
            raise
        except Exception as exc:  # python-multipart's parse errors: a malformed body
            partial.unlink(missing_ok=True)
            raise UploadRefused(400, f"malformed multipart body: {exc}") from exc
    if state["files"] != 1 or state["size"] > limit:
        partial.unlink(missing_ok=True)
        raise (UploadRefused(413, "File too large") if state["files"] == 1
               else UploadRefused(400, f"Expected 1 file, but got {state['files']}"))
    os.replace(partial, path)
    return state["file_headers"], boundary, state["size"]


def _remove_stale() -> None:
    """Spool files nobody saved within STALE_S (their session ended): removed."""
    cutoff = time.time() - STALE_S
    for file in spool_dir().glob("*/*"):
        try:
            if file.stat().st_mtime < cutoff:
                file.unlink()
        except OSError:  # removed meanwhile by its own session
            continue


async def _answer(send, status: int, reason: str) -> None:
    body = reason.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

"""Saving the Logs page's uploads without keeping them in the server's memory.

Under `breakeven dashboard` an upload is already on disk when the page sees it (streamed there as
it arrived: dashboard/upload_spool.py), so saving links (or copies) that file. Started as a
plain script, Streamlit holds the upload's bytes in its uploaded-file manager until the session ends
or the user removes the file from the widget (streamlit/streamlit#12607); once saved, the page has
no further use for them, so they are dropped from the manager and the C library is asked to hand
freed heap pages back to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache
from pathlib import Path

from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.uploaded_file_manager import UploadedFile

from analysis.store import uploads
from dashboard import upload_spool


def save(workspace: str, files: list[UploadedFile]) -> list[Path]:
    """Save `files` (st.file_uploader's value) into the workspace's upload folder (uploads.save_uploads:
    never overwriting, all or nothing), then let go of every copy the server held: spool files
    and Streamlit's in-memory records. When saving fails, they are kept (the upload is not lost)."""
    ctx = get_script_run_ctx()
    session = ctx.session_id if ctx is not None else ""
    sources = [(file.name, upload_spool.spooled(file, session) or file) for file in files]
    saved = uploads.save_uploads(workspace, sources)
    upload_spool.discard(files, session)
    release(files)
    return saved


def release(files: list[UploadedFile]) -> None:
    """Drop `files` from this session's uploaded-file manager (the widget then reads as empty on
    the next run) and return the freed memory to the system where the C library can."""
    ctx = get_script_run_ctx()
    if ctx is not None:
        for file in files:
            ctx.uploaded_file_mgr.remove_file(ctx.session_id, file.file_id)
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@cache
def _malloc_trim():
    """glibc's malloc_trim (free heap memory back to the system), or None on another C library."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:  # no C library by that name (Windows)
        return None
    return getattr(libc, "malloc_trim", None)

"""Uploaded files leave the server's memory as soon as they are saved to disk.

Streamlit keeps every upload's bytes in its uploaded-file manager until the session ends or the
user removes the file from the widget (streamlit/streamlit#12607: a 300 MB upload kept the server
above 1 GB). Once the Logs page has written an upload under the data directory it has no further
use for those bytes, so they are dropped from the manager, and the C library is asked to hand
freed heap pages back to the system. Measured (README, Benchmarks): the manager then holds nothing,
but the server's resident memory does not fall yet; what else keeps it is not found.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Iterable
from functools import cache

from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.uploaded_file_manager import UploadedFile


def release(files: Iterable[UploadedFile]) -> None:
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

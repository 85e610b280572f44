"""Uploads stream to disk (dashboard/upload_spool.py), checked against a real server and Chromium:
what the uploader sends lands in a spool file and is ingested from there; removing it from the
widget removes the spool file; requests Streamlit would refuse are still refused (and leave
nothing), including a body that grows past the limit without declaring its size."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser import chromium, dashboard_server, wait_idle
from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec
from test_hardening import BATCH_OUTPUT

from analysis.store.uploads import UploadError
from dashboard import upload_spool

LIMIT_MB = 1  # the server below runs with server.maxUploadSize = 1 MB


def spooled(data_dir: Path) -> list[Path]:
    """The spool files (<server process>/<session>/<file id>) under the data directory."""
    return sorted(path for path in (data_dir / "uploads" / ".incoming").glob("*/*/*") if path.is_file())


def put(url: str, path: str, body, headers: dict[str, str]) -> tuple[int, str]:
    """A raw PUT (a generator body goes chunked, with no Content-Length); (status, body text)."""
    connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=60)
    try:
        connection.request("PUT", path, body=body, headers=headers, encode_chunked=not isinstance(body, bytes))
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def delete(url: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=60)
    try:
        connection.request("DELETE", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


def multipart(parts: list[tuple[str, bytes]], boundary: str = "spooltest") -> tuple[bytes, str]:
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                    f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n"
                    for name, content in parts)
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_an_upload_is_spooled_ingested_from_disk_and_removed_with_the_widget(shared_dir, data_dir, tmp_path):
    small = tmp_path / "small_batch.jsonl"
    small.write_bytes((shared_dir / BATCH_OUTPUT).read_bytes()[:400_000].rsplit(b"\n", 1)[0] + b"\n")
    rows = small.read_bytes().count(b"\n")
    other = tmp_path / "removed.jsonl"
    other.write_bytes(small.read_bytes()[:1000])
    with dashboard_server(data_dir, env={"STREAMLIT_SERVER_MAX_UPLOAD_SIZE": str(LIMIT_MB)}) as url, \
            chromium() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(f"{url}/logs?ws=spool")
        wait_idle(page)
        dropzone = page.locator('[data-testid="stFileUploaderDropzoneInput"]')

        dropzone.set_input_files(str(other))  # uploaded, then removed from the widget: its spool file goes
        page.get_by_role("button", name="Ingest 1 file(s)").wait_for(timeout=60_000)
        [spool] = spooled(data_dir)
        assert spool.read_bytes() == other.read_bytes()
        session = spool.parent.name
        page.get_by_role("button", name=f"Remove {other.name}").click()
        page.get_by_role("button", name="Ingest 1 file(s)").wait_for(state="detached", timeout=60_000)
        page.wait_for_timeout(500)
        assert spooled(data_dir) == []

        dropzone.set_input_files(str(small))
        page.get_by_role("button", name="Ingest 1 file(s)").wait_for(timeout=60_000)
        [spool] = spooled(data_dir)
        assert spool.read_bytes() == small.read_bytes()  # the file itself, on disk, before Ingest
        page.get_by_role("button", name="Ingest 1 file(s)").click()
        page.get_by_text(f"{rows:,} rows loaded").first.wait_for(timeout=120_000)
        assert spooled(data_dir) == []  # saved, then the spool file removed
        wait_idle(page)
        assert small.name not in page.locator('[data-testid="stFileUploader"]').inner_text()  # an empty uploader again
        assert (data_dir / "uploads" / "spool" / small.name).read_bytes() == small.read_bytes()

        xsrf = next(c["value"] for c in context.cookies() if c["name"] == "_streamlit_xsrf")
        allowed = {"Cookie": f"_streamlit_xsrf={xsrf}", "X-Xsrftoken": xsrf}
        route = f"/_stcore/upload_file/{session}/probe"
        body, kind = multipart([("a.jsonl", b"{}\n"), ("b.jsonl", b"{}\n")])
        assert put(url, route, body, {**allowed, "Content-Type": kind}) == (400, "Expected 1 file, but got 2")
        status, _ = put(url, route, b"--x\r\nno headers end", {**allowed, "Content-Type": "multipart/form-data; boundary=x"})
        assert status == 400
        assert put(url, route, b"{}", {**allowed, "Content-Type": "application/json"})[0] == 400
        big, kind = multipart([("big.jsonl", b"x" * (LIMIT_MB * 2**20 + 10))])
        assert put(url, route, (big[i:i + 65536] for i in range(0, len(big), 65536)),
                   {**allowed, "Content-Type": kind})[0] == 413  # chunked: no size declared, cut while streaming
        assert put(url, route, big, {**allowed, "Content-Type": kind})[0] == 413  # declared, within the margin: cut too
        whole, kind = multipart([("cut.jsonl", b"{}\n" * 100)])
        cut = whole[: len(whole) // 2]  # no closing boundary: refused, never stored as a shorter file
        assert put(url, route, cut, {**allowed, "Content-Type": kind})[0] == 400
        ok, kind = multipart([("ok.jsonl", b"{}\n")])
        assert put(url, route, ok, {"Content-Type": kind})[0] == 403  # no XSRF token: Streamlit's refusal
        assert put(url, "/_stcore/upload_file/no-such-session/probe", ok, {**allowed, "Content-Type": kind})[0] == 400
        assert spooled(data_dir) == []  # nothing refused is left on disk
        assert put(url, route, ok, {**allowed, "Content-Type": kind})[0] == 204  # the same request, allowed
        [probe] = spooled(data_dir)
        assert probe.name == "probe"
        assert delete(url, route, {})[0] == 403 and probe.exists()  # a refused removal removes nothing
        assert delete(url, route, allowed)[0] == 204 and not probe.exists()

        # Leftovers go at the next upload: a stopped server's folder, a session that ended long ago.
        ours = probe.parents[1]
        stopped = ours.parent / "999999999-0badc0de" / "a-session" / "f1"
        ended = ours / "ended-session" / "f2"
        for leftover in (stopped, ended):
            leftover.parent.mkdir(parents=True)
            leftover.write_bytes(b"left behind")
            for entry in (leftover, leftover.parent):
                os.utime(entry, (1, 1))
        assert put(url, route, ok, {**allowed, "Content-Type": kind})[0] == 204
        assert not stopped.parents[1].exists() and not ended.parent.exists()
        assert [path.name for path in spooled(data_dir)] == ["probe"]  # the live session's upload stays
        context.close()


def test_only_this_server_processes_marker_means_a_spooled_file(data_dir):
    """An uploaded file that merely looks like a marker (another token) is read as itself; this
    process's marker whose spool file is gone is an error, not a file to save."""
    def uploaded(data: bytes) -> UploadedFile:
        return UploadedFile(UploadedFileRec("f1", "x.jsonl", "application/json", data), None)

    path = upload_spool.spool_path("s1", "f1")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"spooled": True}))
    genuine = upload_spool.MARKER_PREFIX + upload_spool.TOKEN + b" 16"
    forged = upload_spool.MARKER_PREFIX + b"0" * len(upload_spool.TOKEN) + b" 16"
    assert upload_spool.spooled(uploaded(genuine), "s1") == path
    assert upload_spool.spooled(uploaded(forged), "s1") is None
    with pytest.raises(UploadError, match="no longer on the server"):  # never the marker saved as the file
        upload_spool.spooled(uploaded(genuine), "another-session")

"""Issue #15 items 8 and 9 in a real browser against a real server: hostile names and endpoint
errors fetch nothing; the project's upload limit applies wherever the dashboard is started from;
a 300 MB upload streams to disk (never whole in the server's memory) and is ingested."""

from __future__ import annotations

import filecmp
import json
import sys
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

from browser import REPO, chromium, free_port, served, wait_idle
from local_http import QuietHandler, serve
from test_hardening import BATCH_OUTPUT, PIXEL, hostile_texts, plant_hostile_text

BREAKEVEN = Path(sys.executable).parent / "breakeven"
PAGES = ("overview", "logs", "replay", "quality", "economics", "routing", "scenarios")


LAUNCHERS = {  # the two ways to start the dashboard, each on port {port}
    "breakeven dashboard": [str(BREAKEVEN), "dashboard", "--port", "{port}"],
    "streamlit run dashboard/app.py": [sys.executable, "-m", "streamlit", "run", str(REPO / "dashboard" / "app.py"),
                                       "--server.port", "{port}"],
}


@contextmanager
def started(launcher: str, folder: Path, data_dir: Path):
    """The dashboard started the `launcher` way from `folder`, a directory without any .streamlit/
    settings (HOME too); yields (base URL, server pid)."""
    port = free_port()
    command = [part.format(port=port) for part in LAUNCHERS[launcher]]
    with served(command, port, folder, {"BREAKEVEN_DATA_DIR": str(data_dir), "HOME": str(folder)},
                folder / "dashboard.log") as started_server:
        yield started_server


def test_the_upload_limit_is_the_projects_from_any_folder(tmp_path, data_dir):
    with chromium() as browser:
        for name in LAUNCHERS:
            folder = tmp_path / name.split()[0]
            folder.mkdir()
            with started(name, folder, data_dir) as (url, _):
                page = browser.new_page()
                page.goto(f"{url}/logs?ws=fresh")  # an empty workspace: the upload panel is open
                page.get_by_text("MB per file.").wait_for(timeout=60_000)
                wait_idle(page)
                text = page.inner_text("body")
                assert "Up to 1,024 MB per file" in text, (name, text[-1500:])  # the server's setting
                assert "1GB per file" in text and "200MB" not in text, (name, text[-1500:])  # the uploader's own
                page.close()


class Pixel(QuietHandler):
    """Counts every request (a page that renders a planted image fetches it)."""

    seen: list[str] = []

    def do_GET(self):
        Pixel.seen.append(self.path)
        self.send_response(204)
        self.end_headers()


def test_planted_images_and_html_fetch_nothing_on_any_page(shared_dir, data_dir, tmp_path):
    Pixel.seen.clear()
    with serve(Pixel) as pixel_url:
        pixel = PIXEL.format(port=pixel_url.rsplit(":", 1)[1])
        plant_hostile_text(shared_dir, tmp_path, pixel)
        image, html = hostile_texts(pixel)
        requested: list[str] = []
        with started("breakeven dashboard", tmp_path, data_dir) as (url, _), \
                chromium() as browser:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.on("request", lambda request: request.is_navigation_request() or requested.append(request.url))
            page = context.new_page()
            for name in PAGES:
                page.goto(f"{url}/{'' if name == 'overview' else name}?ws=hostile")  # Overview: the main page
                wait_idle(page)
                assert not page.locator('[data-testid="stException"]').count(), name
                if name == "scenarios":  # the saved scenario's name, shown as written
                    assert f"{image} {html}" in page.inner_text("body")
            page.goto(f"{url}/?{urlencode({'ws': image})}")  # a link naming a hostile workspace
            wait_idle(page)
            assert image in page.inner_text("body")  # quoted in the sidebar's warning, as written
            page.wait_for_timeout(1000)
        assert Pixel.seen == [], Pixel.seen
        assert not [u for u in requested if "pixel" in u], requested  # relative ones (pixel-model.png) too


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident memory now, its peak) of process `pid`, in MB."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def upload(page, path: Path) -> None:
    """Put `path` into the open Logs page's uploader and wait until it has arrived (Ingest offered)."""
    page.set_input_files('[data-testid="stFileUploaderDropzoneInput"]', str(path))
    page.get_by_role("button", name="Ingest 1 file(s)").wait_for(timeout=300_000)
    wait_idle(page)


def ingest(page, wait_for: str) -> None:
    """Press Ingest on the Logs page and wait until `wait_for` shows."""
    page.get_by_role("button", name="Ingest 1 file(s)").click(timeout=300_000)
    page.get_by_text(wait_for).first.wait_for(timeout=600_000)
    wait_idle(page)
    page.wait_for_timeout(2000)


def spooled_files(data_dir: Path) -> list[Path]:
    return [path for path in (data_dir / "uploads" / ".incoming").glob("*/*/*") if path.is_file()]


def test_a_300_mb_upload_streams_to_disk_and_is_ingested_whole(shared_dir, data_dir, tmp_path):
    """Over Streamlit's default limit of 200 MB: a 300 MB Batch output arrives as a spool file on disk
    (byte for byte; Streamlit only holds a marker), is saved whole, ingested, and the spool file
    goes. The server's memory is printed (bench/upload.py holds the target)."""
    lines = [json.loads(line) for line in (shared_dir / BATCH_OUTPUT).read_text().splitlines()]
    big = tmp_path / "big_batch_output.jsonl"
    written = 0
    with big.open("w") as handle:
        while written < 300 * 1024 * 1024:
            for record in lines:
                record = {**record, "custom_id": f"{record['custom_id']}-{written}", "id": f"batch_req_{written}"}
                written += handle.write(json.dumps(record) + "\n")
    rows = sum(1 for _ in big.open())
    with started("breakeven dashboard", tmp_path, data_dir) as (url, pid), chromium() as browser:
        page = browser.new_page()
        page.goto(f"{url}/logs?ws=big")
        wait_idle(page)
        before, _ = rss_mb(pid)
        upload(page, big)
        uploaded, _ = rss_mb(pid)
        [spool] = spooled_files(data_dir)
        assert spool.stat().st_size == big.stat().st_size and filecmp.cmp(spool, big, shallow=False)
        ingest(page, f"{rows:,} rows loaded")
        after, peak = rss_mb(pid)
    print(f"server RSS (MB): {before:.0f} before, {uploaded:.0f} once uploaded, peak {peak:.0f}, {after:.0f} after "
          f"a {written / 2**20:.0f} MB upload of {rows:,} rows was ingested")
    assert spooled_files(data_dir) == []
    assert (data_dir / "uploads" / "big" / big.name).stat().st_size == big.stat().st_size

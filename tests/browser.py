"""Helpers for the real-browser tests: start the dashboard as a real Streamlit server on a free
port, and drive Debian's Chromium with Playwright (never `playwright install`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
ARTIFACTS = REPO / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(command: list[str], port: int, folder: Path, env: dict, log_path: Path):
    """Run a dashboard `command` serving on `port` in `folder` with `env` added (output in
    `log_path`); yields (base URL, server pid) once it answers its health check; stopped after."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=folder, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
                    time.sleep(0.3)
            yield url, process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)


@contextmanager
def dashboard_server(data_dir: Path, env: dict | None = None):
    """Run `streamlit run dashboard/server.py` (what `breakeven dashboard` runs: app.py with uploads
    streamed to disk) on 127.0.0.1:<free port>; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(REPO / "dashboard" / "server.py"),
               "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with served(command, port, REPO, {"BREAKEVEN_DATA_DIR": str(data_dir), **(env or {})},
                data_dir.parent / "streamlit.log") as (url, _):
        yield url


@contextmanager
def chromium():
    """A headless Debian Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `apt-get install -y chromium` (the README's test command does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def outside_requests(context):
    """The URLs of every request that the browser context's pages make to a host other than
    127.0.0.1 / localhost (the list fills while the block runs). They are also aborted, so the
    test behaves the same offline and online; data: and blob: URLs never leave the page."""
    seen: list[str] = []

    def outside(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme not in ("data", "blob") and parts.hostname not in LOCAL_HOSTS

    def record(request) -> None:
        if outside(request.url):
            seen.append(request.url)

    def block(route) -> None:
        (route.abort if outside(route.request.url) else route.continue_)()

    context.on("request", record)
    context.route("**/*", block)
    try:
        yield seen
    finally:
        context.unroute("**/*", block)
        context.remove_listener("request", record)


def wait_idle(page, timeout_ms: int = 60_000) -> None:
    """Wait until the page has rendered (a title is shown), Streamlit has finished running the
    script (its status widget is gone) and no element is still a loading skeleton."""
    page.wait_for_selector("h1", timeout=timeout_ms)
    page.wait_for_timeout(300)
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidget"]')
                 && !document.querySelector('[data-testid="stSkeleton"]')""", timeout=timeout_ms)
    page.wait_for_timeout(500)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

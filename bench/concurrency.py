"""Concurrent dashboard sessions: N real browser sessions (Playwright + Debian's Chromium) load
pages of one freshly started `breakeven dashboard` at once, against one lone session.

    .venv/bin/python bench/concurrency.py [--sessions 10] [--pages overview economics routing]

Three rounds on the demo workspace: (1) cold, right after the server started: N sessions at once
(this is where an import race between the first sessions shows as an error on a page); (2) lone:
one session loads each page, after the caches are filled; (3) warm: N sessions at once again.
Time to content is from navigation until the page has rendered (a title, no running script, no
loading skeleton), as tests/browser.py waits for it. An error is a page that shows an exception.
Target: 0 errors in both concurrent rounds and, per page, the warm round's p95 under 3x the lone
session's time; exits 1 otherwise. Figures depend on the machine's load (the browser itself runs
on the same cores as the server).

CPU accounting: per round, the CPU seconds of the server, of Chromium (all its processes) and of
the Playwright driver, and the cores kept busy on average (CPU seconds / wall seconds). A
concurrent round that keeps every core busy waits on no lock or queue: it is as fast as the cores
allow, and its p95 / lone ratio cannot fall much below N x (cores busy in the lone round) / (cores
of the machine), printed as the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TARGET_RATIO = 3.0
RENDERED = """() => document.querySelector('h1')
                 && !document.querySelector('[data-testid="stStatusWidget"]')
                 && !document.querySelector('[data-testid="stSkeleton"]')"""


def tree_cpu(root: int, server: int) -> dict[str, float]:
    """CPU seconds (user + system, reaped children's included) of the live processes under
    `root` (this script), by kind: 'server' (the dashboard, pid `server`), 'chromium', 'driver'
    (Playwright's, and this script's)."""
    parents, commands, seconds = {}, {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        parents[int(entry.name)] = int(fields[1])
        seconds[int(entry.name)] = sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    totals = {"server": 0.0, "chromium": 0.0, "driver": 0.0}
    for pid, used in seconds.items():
        line = [pid]
        while line[-1] in parents and line[-1] not in (root, server, 0, 1):
            line.append(parents[line[-1]])
        if line[-1] == server:
            totals["server"] += used
        elif line[-1] == root:  # this script itself counts as the driver, with the children it reaped
            totals["chromium" if "chromium" in commands.get(pid, "") else "driver"] += used
    return totals


class Meter:
    """Wall and CPU seconds (tree_cpu) of one stretch of the run."""

    def __init__(self, server: int):
        self.server = server

    def __enter__(self):
        self.started, self.cpu_before = time.perf_counter(), tree_cpu(os.getpid(), self.server)
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.started
        after = tree_cpu(os.getpid(), self.server)
        self.cpu = {kind: after[kind] - self.cpu_before[kind] for kind in after}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(command: list[str], port: int, folder: Path, env: dict[str, str], log) -> subprocess.Popen:
    """Run `command` (a dashboard launcher serving on `port`) in `folder` with `env` added, its
    output to `log`, and wait until the dashboard answers its health check."""
    process = subprocess.Popen(command, cwd=folder, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while True:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.terminate()
                raise SystemExit(f"the dashboard did not start; see {log.name}") from None
            time.sleep(0.3)


async def load(browser, url: str, pages: list[str], timeout_s: float) -> list[tuple[str, float, str | None]]:
    """One browser session (its own context: cookies, Streamlit session) loading `pages` in turn:
    (page, seconds to content, the exception text shown or None) per page."""
    from playwright.async_api import Error as PlaywrightError

    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = await context.new_page()
    results = []
    try:
        for name in pages:
            start = time.perf_counter()
            error = None
            try:
                path = "" if name == "overview" else name  # the main page has no path of its own
                await tab.goto(f"{url}/{path}?ws=demo", timeout=timeout_s * 1000)
                await tab.wait_for_function(RENDERED, timeout=timeout_s * 1000, polling=100)
            except PlaywrightError as exc:  # a page that never renders counts as an error
                error = f"not rendered: {str(exc).splitlines()[0]}"
            seconds = time.perf_counter() - start
            shown = await tab.locator('[data-testid="stException"]').all_inner_texts()
            if shown:
                error = " | ".join(text.strip().replace("\n", " ")[:300] for text in shown)
            results.append((name, seconds, error))
    finally:
        await context.close()
    return results


async def rounds(url: str, server: int, sessions: int, pages: list[str], timeout_s: float) -> dict:
    from playwright.async_api import async_playwright

    meters = {name: Meter(server) for name in ("cold", "lone", "warm")}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            with meters["cold"]:
                cold = await asyncio.gather(*(load(browser, url, pages, timeout_s) for _ in range(sessions)))
            await load(browser, url, pages, timeout_s)  # every page once more alone: caches filled
            lone = {}
            with meters["lone"]:
                for name, seconds, error in await load(browser, url, pages, timeout_s):
                    lone[name] = (seconds, error)
            with meters["warm"]:
                warm = await asyncio.gather(*(load(browser, url, pages, timeout_s) for _ in range(sessions)))
        finally:
            await browser.close()
    return {"cold": [r for session in cold for r in session], "lone": lone,
            "warm": [r for session in warm for r in session], "meters": meters}


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (the smallest value with at least `share` of the values at or below it)."""
    ordered = sorted(values)
    return ordered[max(0, -(-int(share * 100) * len(ordered) // 100) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--pages", nargs="+", default=["overview", "economics", "routing"])
    parser.add_argument("--timeout", type=float, default=300, help="seconds a page may take before it is an error")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from analysis.ingest.demo import ensure_demo_workspace
    from analysis.settings import get_settings

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "workspaces"
        ensure_demo_workspace(get_settings(data_dir=data_dir))
        port = free_port()
        with open(Path(tmp) / "dashboard.log", "w") as log:
            # `breakeven dashboard` (the user's entry point) from a folder outside the checkout
            server = start_server([str(Path(sys.executable).parent / "breakeven"), "dashboard", "--port", str(port)],
                                  port, data_dir.parent, {"BREAKEVEN_DATA_DIR": str(data_dir)}, log)
            try:
                started = time.perf_counter()
                result = asyncio.run(rounds(f"http://127.0.0.1:{port}", server.pid, args.sessions, args.pages,
                                           args.timeout))
                elapsed = time.perf_counter() - started
            finally:
                server.terminate()
                server.wait(timeout=30)
    errors = [(round_name, name, error) for round_name in ("cold", "warm")
              for name, _, error in result[round_name] if error]
    errors += [("lone", name, error) for name, (_, error) in result["lone"].items() if error]
    print(f"{args.sessions} sessions x {len(args.pages)} pages, {os.cpu_count()} CPUs, {elapsed:.0f} s in all")
    print(f"{'page':>10} {'lone s':>7} {'cold p50':>8} {'cold p95':>8} {'warm p50':>8} {'warm p95':>8} "
          f"{'p95/lone':>8}  target: p95 < {TARGET_RATIO:g}x lone")
    missed = False
    for name in args.pages:
        lone = result["lone"][name][0]
        cold = [s for page, s, _ in result["cold"] if page == name]
        warm = [s for page, s, _ in result["warm"] if page == name]
        ratio = percentile(warm, 0.95) / lone
        missed |= ratio >= TARGET_RATIO
        print(f"{name:>10} {lone:7.2f} {statistics.median(cold):8.2f} {percentile(cold, 0.95):8.2f} "
              f"{statistics.median(warm):8.2f} {percentile(warm, 0.95):8.2f} {ratio:8.2f}  "
              f"{'ok' if ratio < TARGET_RATIO else 'MISSED'}")
    cores = os.cpu_count() or 1
    print(f"{'round':>10} {'wall s':>7} {'server':>7} {'chromium':>8} {'driver':>7} {'cores busy':>10}  (CPU seconds)")
    for name, meter in result["meters"].items():
        print(f"{name:>10} {meter.wall:7.1f} {meter.cpu['server']:7.1f} {meter.cpu['chromium']:8.1f} "
              f"{meter.cpu['driver']:7.1f} {sum(meter.cpu.values()) / meter.wall:10.2f}")
    lone_busy = sum(result["meters"]["lone"].cpu.values()) / result["meters"]["lone"].wall
    print(f"floor of p95/lone with {args.sessions} sessions on {cores} cores: about "
          f"{args.sessions * lone_busy / cores:.1f} ({args.sessions} x {lone_busy:.2f} cores busy alone / {cores})")
    print(f"errors: {len(errors)}")
    for round_name, name, error in errors[:20]:
        print(f"  {round_name} {name}: {error}")
    return 1 if errors or missed else 0


if __name__ == "__main__":
    sys.exit(main())

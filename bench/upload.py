"""Upload memory: a big log export uploaded through the Logs page of a real server (Playwright +
Debian's Chromium) under `breakeven dashboard` (uploads streamed to disk, dashboard/upload_spool.py)
against, in the same run, the same upload to `streamlit run dashboard/app.py` (Streamlit's own
route: the upload is read into memory) as the baseline.

    .venv/bin/python bench/upload.py [--mb 300]

The file is an OpenAI Batch output built from ../shared's real sample, repeated to `--mb`
megabytes. Per server: resident memory (VmRSS) before, once the upload has arrived (before Ingest),
its peak and after the ingest; growth is shown as a share of the file's size. Targets: under
`breakeven dashboard`, the memory held once uploaded grows by under 10% of the file, and under a
tenth of the baseline's growth (which holds the whole file); exits 1 otherwise. The ingest's own
peak (DuckDB reading the file) is shown, not judged: bench/ingest.py holds its target.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from concurrency import CHROMIUM, CHROMIUM_ARGS, RENDERED, free_port, start_server

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "samples" / "openai-batch" / "genai_navirag_batch_output.jsonl"
DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard"
LAUNCHERS = {
    "breakeven dashboard": [str(Path(sys.executable).parent / "breakeven"), "dashboard", "--port", "{port}"],
    "streamlit run app.py": [sys.executable, "-m", "streamlit", "run", str(DASHBOARD / "app.py"),
                             "--server.port", "{port}", "--server.headless", "true"],
}
TARGET_SHARE = 0.10  # memory held once uploaded, as a share of the file (spooled)
TARGET_VS_BASELINE = 0.10  # ... and as a share of the baseline's growth
def rss_mb(pid: int) -> tuple[float, float]:
    """(resident memory now, its peak) of process `pid`, in MB."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def build_file(path: Path, megabytes: int) -> int:
    """An OpenAI Batch output of `megabytes` MB from the real sample (ids kept apart); its rows."""
    lines = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    written = rows = 0
    with path.open("w") as handle:
        while written < megabytes * 2**20:
            for record in lines:
                record = {**record, "custom_id": f"{record['custom_id']}-{written}", "id": f"batch_req_{written}"}
                written += handle.write(json.dumps(record) + "\n")
                rows += 1
    return rows


def measure(launcher: str, big: Path, rows: int, folder: Path, browser) -> dict:
    """Start the dashboard the `launcher` way, upload `big` on the Logs page, ingest it; RSS figures."""
    folder.mkdir()
    port = free_port()
    command = [part.format(port=port) for part in LAUNCHERS[launcher]]
    with open(folder / "dashboard.log", "w") as log:
        server = start_server(command, port, folder,
                              {"BREAKEVEN_DATA_DIR": str(folder / "workspaces"), "HOME": str(folder)}, log)
        try:
            url = f"http://127.0.0.1:{port}"
            page = browser.new_page()
            page.goto(f"{url}/logs?ws=big")
            page.wait_for_function(RENDERED, timeout=120_000, polling=200)
            page.wait_for_timeout(1000)
            before, _ = rss_mb(server.pid)
            page.set_input_files('[data-testid="stFileUploaderDropzoneInput"]', str(big))
            button = page.get_by_role("button", name="Ingest 1 file(s)")
            button.wait_for(timeout=600_000)
            page.wait_for_function(RENDERED, timeout=120_000, polling=200)
            page.wait_for_timeout(1000)
            uploaded, upload_peak = rss_mb(server.pid)
            button.click()
            page.get_by_text(f"{rows:,} rows loaded").first.wait_for(timeout=900_000)
            page.wait_for_function(RENDERED, timeout=120_000, polling=200)
            page.wait_for_timeout(2000)
            after, peak = rss_mb(server.pid)
            page.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {"before": before, "uploaded": uploaded, "upload_peak": upload_peak, "peak": peak, "after": after}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=300, help="size of the uploaded file in MB")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    if not SAMPLE.exists():
        raise SystemExit(f"{SAMPLE} is missing: put ../shared next to the checkout")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big_batch_output.jsonl"
        rows = build_file(big, args.mb)
        size_mb = big.stat().st_size / 2**20
        results = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                for n, launcher in enumerate(LAUNCHERS):
                    results[launcher] = measure(launcher, big, rows, Path(tmp) / f"server{n}", browser)
            finally:
                browser.close()
    print(f"upload of {size_mb:.0f} MB ({rows:,} rows), {os.cpu_count()} CPUs; server RSS in MB")
    print(f"{'server':>22} {'before':>7} {'uploaded':>9} {'upload peak':>11} {'ingest peak':>11} {'after':>7} "
          f"{'held/file':>9}")
    held = {}
    for launcher, r in results.items():
        held[launcher] = r["uploaded"] - r["before"]
        print(f"{launcher:>22} {r['before']:7.0f} {r['uploaded']:9.0f} {r['upload_peak']:11.0f} {r['peak']:11.0f} "
              f"{r['after']:7.0f} {held[launcher] / size_mb:9.2f}")
    spooled, baseline = held["breakeven dashboard"], held["streamlit run app.py"]
    share_ok = spooled < TARGET_SHARE * size_mb
    baseline_ok = spooled < TARGET_VS_BASELINE * max(baseline, 1.0)
    print(f"held once uploaded: {spooled:.0f} MB = {spooled / size_mb:.2f} of the file "
          f"(target < {TARGET_SHARE:g}: {'ok' if share_ok else 'MISSED'}), {spooled / max(baseline, 1.0):.2f} of the "
          f"baseline's {baseline:.0f} MB (target < {TARGET_VS_BASELINE:g}: {'ok' if baseline_ok else 'MISSED'})")
    return 0 if share_ok and baseline_ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""The real thing: the dashboard served by Streamlit, driven in Debian's Chromium by Playwright.

One journey, as an engineering manager would take it: upload a real export and see its rows
counted, replay a small sample against the real llama.cpp server with a live progress bar (scored
when it ends), set the volume and choose a GPU, save a scenario, open its link in a fresh browser
context, download the report, and find one verdict on Overview, Economics, Routing, in the report
and from `breakeven decide`. Screenshots of every page land in test-artifacts/ (the README's
Economics screenshot comes from there).
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser import chromium, dashboard_server, outside_requests, screenshot, wait_idle

from analysis.economics import scenario_store
from analysis.economics.scenario import Scenario
from analysis.ingest import ingest_file
from analysis.ingest.demo import ensure_demo_workspace
from analysis.present import formatting as fmt
from analysis.settings import get_settings
from analysis.store.database import open_db

PAGES = ["", "logs", "replay", "quality", "economics", "routing", "scenarios"]


@pytest.fixture(scope="module")
def served_data_dir(tmp_path_factory) -> Path:
    """The data directory the served dashboard reads, with the demo workspace."""
    data_dir = tmp_path_factory.mktemp("browser") / "workspaces"
    ensure_demo_workspace(get_settings(data_dir=data_dir))
    return data_dir


@pytest.fixture(scope="module")
def served(served_data_dir, llama_server):
    """The dashboard on a free port over that data dir, the llama.cpp server configured as an
    OpenAI-compatible endpoint."""
    data_dir = served_data_dir
    endpoints = json.dumps([{"name": "test-llama", "base_url": f"{llama_server.base_url}/v1",
                             "model": llama_server.model}])
    with dashboard_server(data_dir, env={"BREAKEVEN_ENDPOINTS": endpoints}) as url:
        yield url


def metric(page, label: str) -> str:
    """The value of the st.metric whose label is `label`."""
    box = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(f"^{re.escape(label)}$")))
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_every_page_renders_with_screenshots(served):
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        for name in PAGES:
            page.goto(f"{served}/{name}?ws=demo")
            wait_idle(page)
            assert not page.locator('[data-testid="stException"]').count(), name
            assert page.locator("h1").first.inner_text().strip()
            screenshot(page, f"page-{name or 'overview'}")


def test_kpi_cards_are_not_cut_on_a_narrow_screen(served):
    """On a laptop-width window with the sidebar open, KPI values and labels wrap onto more rows
    instead of ending in an ellipsis ("38M / 1...")."""
    cut = """() => [...document.querySelectorAll('[data-testid="stMetric"] [data-testid="stMarkdownContainer"]')]
                   .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"""
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1024, "height": 900})
        for name in ["", "economics", "routing"]:
            page.goto(f"{served}/{name}?ws=demo")
            wait_idle(page)
            assert page.locator('[data-testid="stMetricValue"]').count() >= 5, name
            assert page.evaluate(cut) == [], name


def test_the_managers_path_gives_one_verdict_everywhere(tmp_path, shared_dir, llama_server):
    """Upload the real OpenAI Batch pair, replay 3 requests (scored when the run ends, as far as
    exact scorers can: its answers are free text), set 20k requests/day and an H100, save, open the
    link in a fresh browser, download the report: Overview,
    Economics, Routing, the report and `breakeven decide --json` (run once the dashboard has let go
    of the workspace) state the same verdict, local share and savings."""
    folder = shared_dir / "samples" / "openai-batch"
    files = [str(folder / "genai_navirag_batch_output.jsonl"), str(folder / "genai_navirag_batch_input.jsonl")]
    data_dir = tmp_path / "workspaces"
    endpoints = json.dumps([{"name": "test-llama", "base_url": f"{llama_server.base_url}/v1",
                             "model": llama_server.model}])
    with dashboard_server(data_dir, env={"BREAKEVEN_ENDPOINTS": endpoints}) as served, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        page.goto(f"{served}/logs?ws=manager")
        wait_idle(page)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(files)
        page.get_by_role("button", name=re.compile(r"^Ingest 2 file")).click()
        page.get_by_text(re.compile(r"65 rows loaded")).wait_for(timeout=60_000)

        replay_small_sample(page, served, f"openai-compat:{llama_server.base_url}/v1:{llama_server.model}",
                            workspace="manager")
        page.goto(f"{served}/economics?ws=manager")
        wait_idle(page)
        volume = page.get_by_label("Requests per day (today)", exact=True)
        volume.fill("20000")
        volume.press("Enter")
        wait_idle(page)
        page.get_by_label("GPU", exact=True).click()
        page.get_by_role("option", name="H100 80GB", exact=True).click()
        wait_idle(page)
        page.get_by_label("Name (optional)", exact=True).fill("h100 at 20k")
        page.get_by_role("button", name="Save scenario").click()
        link = page.locator('[data-testid="stCode"]').last
        link.wait_for(timeout=30_000)
        url = link.inner_text().strip()
        scenario_id = re.search(r"scenario=([A-Za-z0-9]+)", url).group(1)

        fresh = browser.new_context(viewport={"width": 1400, "height": 2400}, accept_downloads=True).new_page()
        fresh.goto(url)
        wait_idle(fresh)
        fresh.locator('[data-testid="stSidebarNav"]').get_by_text("Scenarios & report", exact=True).click()
        fresh.get_by_role("heading", name="Scenarios & report", level=1).wait_for()
        wait_idle(fresh)
        with fresh.expect_download() as download:
            fresh.get_by_role("button", name="Download HTML report").click()
        document = Path(download.value.path()).read_text(encoding="utf-8")
        headline = html.unescape(re.sub(r"<[^>]+>", "", re.search(r'<p class="headline">(.*?)</p>', document,
                                                                   re.S).group(1)))
        assert "h100 at 20k" in document and "20k requests/day" in headline  # the saved scenario, named
        shown = {}
        for title in ("Overview", "Economics", "Routing"):  # the sidebar drops the link's parameters on the way
            fresh.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
            fresh.get_by_role("heading", name=title, level=1).wait_for()
            wait_idle(fresh)
            shown[title] = fresh.get_by_text(headline, exact=True).count()
        routing = {label: metric(fresh, label) for label in ("Savings / month", "Served locally")}
        screenshot(fresh, "journey-one-verdict")
    assert shown == {"Overview": 1, "Economics": 1, "Routing": 1}

    decided = _decide(data_dir, scenario_id, tmp_path)
    assert decided["headline"] == headline
    assert (decided["gpu"], decided["requests_per_day"]) == ("H100 80GB", 20_000)
    # The Batch sample's answers are free text: without a judge none is scored, and every view says so alike.
    assert decided["evidence"]["compared"] == 0 and decided["verdict"] == "api"
    assert routing == {"Savings / month": fmt.usd(decided["savings_monthly_usd"]),
                       "Served locally": fmt.percent(decided["local_share"])}


def _decide(data_dir: Path, scenario_id: str, folder: Path) -> dict:
    """`breakeven decide --json` on the saved scenario, as a separate process on the same files."""
    env = {**os.environ, "BREAKEVEN_DATA_DIR": str(data_dir)}
    shown = subprocess.run([sys.executable, "-m", "analysis.cli", "scenarios", "show", scenario_id, "--workspace",
                            "manager", "--json"], capture_output=True, text=True, env=env, check=True)
    scenario = folder / "saved.json"
    scenario.write_text(json.dumps(json.loads(shown.stdout)["scenario"]))
    decided = subprocess.run([sys.executable, "-m", "analysis.cli", "decide", "--workspace", "manager", "--scenario",
                              str(scenario), "--json"], capture_output=True, text=True, env=env, check=True)
    return json.loads(decided.stdout)


def replay_small_sample(page, served: str, spec: str, workspace: str = "browser") -> None:
    """On the Replay page: name the llama.cpp endpoint as the candidate, a sample of 3 with 8 max
    tokens, start, and wait for the live progress to reach the end."""
    page.goto(f"{served}/replay?ws={workspace}")
    wait_idle(page)
    for label, value in (("Other candidate (SPEC)", spec), ("Requests", "3"), ("Max tokens", "8")):
        field = page.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Enter")
        wait_idle(page)
    page.get_by_role("button", name="Start the run").click()
    page.get_by_text("Run complete").wait_for(timeout=240_000)
    wait_idle(page)


@pytest.fixture(scope="module")
def offline_served(demo_dir, shared_dir):
    """The dashboard over the demo workspace and 'sparse' (the issue's logs: 65 Batch requests and,
    93 days later, one LiteLLM test call) with a saved scenario, no engine configured."""
    con = open_db("sparse", settings=get_settings(data_dir=demo_dir))
    for name in ("openai-batch/genai_navirag_batch_output.jsonl", "openai-batch/genai_navirag_batch_input.jsonl",
                 "litellm/spend_logs_payload.json"):
        ingest_file(con, shared_dir / "samples" / name)
    scenario_id = scenario_store.save(con, Scenario(requests_per_day=5_000), "base")
    con.close()
    with dashboard_server(demo_dir) as url:
        yield url, scenario_id


def test_no_page_sends_a_request_beyond_this_machine(offline_served):
    """Every page, on the demo and on sparse logs, opened by URL and through the sidebar, requests
    nothing from another host (a ":material/...:" favicon came from fonts.gstatic.com)."""
    url, scenario_id = offline_served
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 2000})
        with outside_requests(context) as seen:
            page = context.new_page()
            for workspace in ("demo", "sparse"):
                for name in PAGES:
                    page.goto(f"{url}/{name}?ws={workspace}")
                    wait_idle(page)
                    assert not page.locator('[data-testid="stException"]').count(), (workspace, name)
                    if page.locator('[data-testid="stPlotlyChart"]').count():
                        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=30_000)
            for title in ("Overview", "Routing", "Quality", "Scenarios & report"):
                page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
                page.get_by_role("heading", name=title, level=1).wait_for()
                wait_idle(page)
            link = page.get_by_role("link", name=re.compile("Open link"))
            assert link.count() == 1 and f"scenario={scenario_id}" in link.get_attribute("href")
            assert "ws=sparse" in link.get_attribute("href")
            screenshot(page, "offline-scenarios-sparse")
        assert seen == []

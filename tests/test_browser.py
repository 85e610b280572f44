"""The real thing: the dashboard served by Streamlit, driven in Debian's Chromium by Playwright.

One journey, as an engineering manager would take it: upload a real export and see its rows
counted, replay a small sample against the real llama.cpp server with a live progress bar, save a
scenario, open its link in a fresh browser context and find the same break-even. Screenshots of
every page land in test-artifacts/ (the README's Economics screenshot comes from there).
"""

from __future__ import annotations

import json
import re

import pytest
from browser import chromium, dashboard_server, outside_requests, screenshot, wait_idle

from analysis.economics import scenario_store
from analysis.economics.scenario import Scenario
from analysis.ingest import ingest_file
from analysis.ingest.demo import ensure_demo_workspace
from analysis.settings import get_settings
from analysis.store.database import open_db

PAGES = ["", "logs", "replay", "quality", "economics", "routing", "scenarios"]


@pytest.fixture(scope="module")
def served(tmp_path_factory, llama_server):
    """The dashboard on a free port over a fresh data dir with the demo workspace, the llama.cpp
    server configured as an OpenAI-compatible endpoint."""
    data_dir = tmp_path_factory.mktemp("browser") / "workspaces"
    ensure_demo_workspace(get_settings(data_dir=data_dir))
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


def test_upload_replay_save_and_share(served, shared_dir, llama_server):
    folder = shared_dir / "samples" / "openai-batch"
    files = [str(folder / "genai_navirag_batch_output.jsonl"), str(folder / "genai_navirag_batch_input.jsonl")]
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 2400})
        page.goto(f"{served}/logs?ws=browser")
        wait_idle(page)
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(files)
        page.get_by_role("button", name=re.compile(r"^Ingest 2 file")).click()
        page.get_by_text(re.compile(r"65 rows loaded")).wait_for(timeout=60_000)
        screenshot(page, "journey-logs-uploaded")

        replay_small_sample(page, served, f"openai-compat:{llama_server.base_url}/v1:{llama_server.model}")
        assert page.get_by_text(re.compile(r"3 of 3 calls")).count()
        screenshot(page, "journey-replay-done")

        page.goto(f"{served}/economics?ws=browser")
        wait_idle(page)
        gpu_price = page.get_by_label("GPU price per hour (USD)", exact=True)
        gpu_price.fill("2.5")
        gpu_price.press("Enter")
        wait_idle(page)
        breakeven = metric(page, "Self-hosting first cheaper at")
        assert breakeven
        page.get_by_role("button", name="Save scenario").click()
        link = page.locator('[data-testid="stCode"]').last
        link.wait_for(timeout=30_000)
        url = link.inner_text().strip()
        assert "scenario=" in url and "ws=browser" in url and "key" not in url.lower()
        screenshot(page, "journey-economics-saved")

        fresh = browser.new_context(viewport={"width": 1400, "height": 2400}).new_page()
        fresh.goto(url)
        wait_idle(fresh)
        assert metric(fresh, "Self-hosting first cheaper at") == breakeven
        screenshot(fresh, "journey-shared-link")
        # The sidebar drops the link's parameters on the way: the scenario must stay the saved one.
        for title in ("Routing", "Economics"):
            fresh.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
            fresh.get_by_role("heading", name=title, level=1).wait_for()
            wait_idle(fresh)
        assert metric(fresh, "Self-hosting first cheaper at") == breakeven
        assert fresh.get_by_label("GPU price per hour (USD)", exact=True).input_value() == "2.50"


def replay_small_sample(page, served: str, spec: str) -> None:
    """On the Replay page: name the llama.cpp endpoint as the candidate, a sample of 3 with 8 max
    tokens, start, and wait for the live progress to reach the end."""
    page.goto(f"{served}/replay?ws=browser")
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

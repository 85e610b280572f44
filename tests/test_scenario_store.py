import pytest

from analysis.economics import scenario_store
from analysis.economics.scenario import Scenario, ScenarioError


def test_save_and_load_round_trip(con):
    s = Scenario(requests_per_day=12_345, gpu="A10G", mode="scheduled", ops_usd_per_month=200)
    sid = scenario_store.save(con, s, "team proposal")
    assert scenario_store.ID_PATTERN.match(sid)
    loaded = scenario_store.load(con, sid)
    assert loaded.scenario == s and loaded.name == "team proposal"
    assert scenario_store.save(con, s) == sid  # same assumptions, same link
    assert [x.scenario_id for x in scenario_store.saved(con)] == [sid]


def test_missing_and_malformed_links_are_clear_errors(con):
    with pytest.raises(ScenarioError, match="no saved scenario"):
        scenario_store.load(con, "abcdefghij")
    with pytest.raises(ScenarioError, match="malformed"):
        scenario_store.load(con, "../../etc")


def test_stored_body_has_no_secrets_or_prompts(con, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-999")
    sid = scenario_store.save(con, Scenario())
    body = con.execute("SELECT body FROM scenarios WHERE scenario_id = ?", [sid]).fetchall()[0][0]
    assert "sk-secret-999" not in body and "messages" not in body


def test_delete(con):
    sid = scenario_store.save(con, Scenario())
    assert scenario_store.delete(con, sid) and scenario_store.saved(con) == []


def test_a_scenario_that_no_longer_validates_is_listed_with_its_problem(con):
    good = scenario_store.save(con, Scenario())
    con.execute("INSERT INTO scenarios VALUES ('aaaaaaaaaa', 'old', '{\"v\": 99}', now())").fetchall()
    listed = {s.scenario_id: s for s in scenario_store.saved(con)}
    assert listed[good].scenario == Scenario() and listed[good].problem is None
    assert listed["aaaaaaaaaa"].scenario is None and "version" in listed["aaaaaaaaaa"].problem
    assert scenario_store.delete(con, "aaaaaaaaaa")

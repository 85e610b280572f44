import duckdb
import pytest

from analysis.errors import UserError
from analysis.settings import get_settings
from analysis.store import database as db


def test_open_db_creates_schema_and_records_migrations(tmp_path):
    con = db.open_db(tmp_path / "w.duckdb")
    tables = {r[0] for r in db.rows(con, "SELECT table_name FROM information_schema.tables")}
    assert {"requests", "sources", "rejects", "_migrations"} <= tables
    assert db.applied_migrations(con) == [m.__name__ for m in db.MIGRATIONS]


def test_reopening_applies_nothing_and_keeps_data(tmp_path):
    path = tmp_path / "w.duckdb"
    con = db.open_db(path)
    con.execute("INSERT INTO rejects VALUES ('s', 1, 'why', 'raw')")
    con.close()
    con = db.open_db(path)
    assert db.migrate(con) == []
    assert db.scalar(con, "SELECT count(*) FROM rejects") == 1


def test_newer_schema_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "w.duckdb"
    con = db.open_db(path)
    con.execute("INSERT INTO _migrations VALUES (999, 'm999_from_the_future', now())")
    con.execute("INSERT INTO rejects VALUES ('s', 1, 'why', 'raw')")
    con.close()
    with pytest.raises(db.SchemaTooNewError, match="newer llm-breakeven"):
        db.open_db(path)
    check = duckdb.connect(str(path))
    assert check.execute("SELECT count(*) FROM rejects").fetchall() == [(1,)]
    assert check.execute("SELECT count(*) FROM _migrations").fetchall()[0][0] == len(db.MIGRATIONS) + 1


def test_failed_migration_rolls_back(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    db.open_db(path).close()

    def m999_broken(con):
        con.execute("CREATE TABLE half_done (x INT)")
        raise RuntimeError("boom")

    monkeypatch.setattr(db, "MIGRATIONS", [*db.MIGRATIONS, m999_broken])
    with pytest.raises(RuntimeError, match="boom"):
        db.open_db(path)
    check = duckdb.connect(str(path))
    tables = {r[0] for r in check.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "half_done" not in tables


def test_workspace_names_resolve_under_data_dir(data_dir):
    settings = get_settings()
    assert settings.workspace_path("team-a") == data_dir / "team-a.duckdb"
    with pytest.raises(UserError, match="invalid workspace name"):
        settings.workspace_path("../escape")
    db.open_db("team-a").close()
    assert settings.workspaces() == ["team-a"]


def test_api_keys_come_from_standard_env_names(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-test-456")
    settings = get_settings()
    assert settings.openai_api_key.get_secret_value() == "sk-test-123"
    assert settings.anthropic_api_key.get_secret_value() == "ak-test-456"
    assert "sk-test-123" not in repr(settings)


def test_data_version_changes_with_data(tmp_path):
    con = db.open_db(tmp_path / "w.duckdb")
    before = db.data_version(con)
    con.execute(
        "INSERT INTO requests (request_id, source_id, status) VALUES ('r1', 's1', 'ok')"
    )
    assert db.data_version(con) != before
    with_request = db.data_version(con)
    con.execute("UPDATE requests SET label = 'billing'")
    with_label = db.data_version(con)
    assert with_label != with_request

    from analysis.quality.tasks import TaskRule, apply_rules
    apply_rules(con, [TaskRule(pattern="refund", task_type="classification")])
    one_rule = db.data_version(con)
    apply_rules(con, [TaskRule(pattern="invoice", task_type="classification")])  # same count, other rule
    assert len({with_label, one_rule, db.data_version(con)}) == 3

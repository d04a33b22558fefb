"""`driftline approve|reject` before any run has made Airflow's database."""

from __future__ import annotations


def test_approve_in_a_project_with_no_airflow_database_says_so(tmp_path, monkeypatch, capsys) -> None:
    """A new user's first `driftline reject churn 3` before any run: a sentence, not a traceback."""
    from driftline.localrun import answer_main

    empty = tmp_path / "none.db"
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{empty}")
    from airflow import settings

    monkeypatch.setattr(settings, "SQL_ALCHEMY_CONN", f"sqlite:///{empty}")
    settings.configure_orm()
    try:
        assert answer_main(["churn", "3", "--option", "Reject", "--user", "alice"]) == 1
    finally:
        monkeypatch.undo()
        settings.configure_orm()
    err = capsys.readouterr().err
    assert err.startswith(
        f"driftline approve: cannot read approvals from Airflow's database (sqlite:///{empty})"
    )
    assert "no such table" in err

"""The champion as of a data time, read from a real (SQLite) MLflow registry's audit trail."""

from __future__ import annotations

import datetime as dt

import pytest
from driftline.registry.champion import (
    TAG_SNAPSHOT_URI,
    TAG_TRAINED_UNTIL,
    data_clock_from,
    get_champion_as_of,
)
from driftline.registry.promotion import promote, rollback

# Trains and loads real models, runs subprocesses or whole DAGs: slow: left out of `make test-fast` (it runs in `make test`).
pytestmark = pytest.mark.slow

UTC = dt.UTC


def day(n: int) -> dt.datetime:
    return dt.datetime(2026, 1, n, tzinfo=UTC)


def test_champion_as_of_data_time_through_promotions_and_a_rollback(driftline_home):
    from driftline.hooks.mlflow import MlflowHook

    hook = MlflowHook()
    name = "asof"
    hook.client.create_registered_model(name)
    source = driftline_home / "artifacts"
    source.mkdir()
    for version, trained_until in ((1, day(4)), (2, day(9))):
        hook.client.create_model_version(name, source=source.as_uri())
        hook.client.set_model_version_tag(name, str(version), TAG_TRAINED_UNTIL, trained_until.isoformat())
        hook.client.set_model_version_tag(name, str(version), TAG_SNAPSHOT_URI, f"/snap/v{version}.parquet")
    promote(hook, name, 1, None, "gate", "airflow:p/r1", details={"data_time": day(5).isoformat()})
    promote(hook, name, 2, 1, "gate", "airflow:p/r2", details={"data_time": day(10).isoformat()})
    decided_by_now = dt.datetime.now(UTC)
    rollback(hook, name, None, "bad model", "alice")  # no data time: applies from the data clock
    clock = data_clock_from([(decided_by_now, day(12))])  # runs had decided up to day 12 by then

    assert get_champion_as_of(hook, name, day(5), clock)[0] is None  # a re-run of day 5: before v1
    champion, how = get_champion_as_of(hook, name, day(7), clock)
    assert champion.version == 1 and champion.trained_until == day(4) and champion.promoted_at == day(5)
    assert champion.snapshot_uri == "/snap/v1.parquet"
    assert "recorded data time" in how
    assert get_champion_as_of(hook, name, day(11), clock)[0].version == 2
    assert get_champion_as_of(hook, name, day(12), clock)[0].version == 2  # the rollback applies after day 12
    champion, how = get_champion_as_of(hook, name, day(13), clock)
    assert champion.version == 1 and champion.promoted_at == day(12)
    assert "rollback" in how and "data clock" in how
    # without a data clock the rollback applies from its wall-clock time (here: after every data day)
    assert get_champion_as_of(hook, name, day(13))[0].version == 2


def test_no_model_and_no_trail(driftline_home):
    from driftline.hooks.mlflow import MlflowHook

    hook = MlflowHook()
    assert get_champion_as_of(hook, "nothing", day(3)) == (None, "registered model 'nothing' does not exist")
    hook.client.create_registered_model("fresh")
    assert get_champion_as_of(hook, "fresh", day(3)) == (None, "no champion yet")


@pytest.mark.parametrize("lookup", ["first_champion", "champion_for_scoring"])
def test_a_registry_that_is_down_fails_the_lookup_never_reads_as_no_champion(
    lookup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow unreachable: a RegistryError reaches the task (Airflow retries it), not 'no champion, skip'."""
    from types import SimpleNamespace

    from driftline.exceptions import RegistryError
    from driftline.operators.inference import champion_for_scoring
    from driftline.registry.champion import first_champion

    monkeypatch.setenv("DRIFTLINE_REGISTRY_RETRIES", "2")
    monkeypatch.setenv("DRIFTLINE_REGISTRY_BACKOFF", "0")
    calls: list[str] = []

    class Down:
        def __getattr__(self, name: str) -> object:
            def refuse(*_: object, **__: object) -> None:
                calls.append(name)
                raise ConnectionError("Connection refused: http://mlflow:5000")

            return refuse

    hook = SimpleNamespace(client=Down())
    config = SimpleNamespace(registered_model_name="churn", model=SimpleNamespace(name="churn"))
    with pytest.raises(RegistryError, match=r"unavailable.*Connection refused"):
        if lookup == "first_champion":
            first_champion(hook, "churn")  # type: ignore[arg-type]
        else:
            champion_for_scoring(hook, config, day(5))
    assert len(calls) == 2  # retried, then failed loudly

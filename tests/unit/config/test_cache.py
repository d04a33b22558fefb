"""The parse-time cache of validated configs."""

from __future__ import annotations

import json

from driftline.config import cache
from driftline.config.loader import load_folder


def _write(folder, example_config_path, owner="data-science"):
    folder.mkdir(exist_ok=True)
    path = folder / "churn.yaml"
    path.write_text(example_config_path.read_text().replace("owner: data-science", f"owner: {owner}"))
    return path


def test_a_valid_config_is_cached_and_reused(tmp_path, driftline_home, example_config_path):
    path = _write(tmp_path / "configs", example_config_path)
    first = load_folder(tmp_path / "configs").configs[path]
    [cached] = list(cache.cache_dir().glob("*.json"))
    assert json.loads(cached.read_text())["model"]["owner"] == "data-science"
    # prove the second parse reads the cache: edit the cached copy (never done in real life)
    data = json.loads(cached.read_text())
    data["model"]["owner"] = "from-cache"
    cached.write_text(json.dumps(data))
    assert load_folder(tmp_path / "configs").configs[path].model.owner == "from-cache"
    assert first.model.owner == "data-science"


def test_a_changed_file_or_defaults_is_a_new_key(tmp_path, driftline_home, example_config_path):
    folder = tmp_path / "configs"
    path = _write(folder, example_config_path)
    load_folder(folder)
    _write(folder, example_config_path, owner="alice")
    assert load_folder(folder).configs[path].model.owner == "alice"
    (folder / "_defaults.yaml").write_text("drift: {sample_size: 20000}\n")
    assert load_folder(folder).configs[path].drift.sample_size == 20000
    assert len(list(cache.cache_dir().glob("*.json"))) == 3


def test_invalid_configs_are_never_cached(tmp_path, driftline_home, example_config_path):
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "bad.yaml").write_text(
        example_config_path.read_text().replace("backend: local", "backend: laptop")
    )
    assert load_folder(folder).errors
    assert load_folder(folder).errors  # reported again from the file
    assert not cache.cache_dir().exists() or not list(cache.cache_dir().glob("*.json"))


def test_an_unwritable_cache_only_costs_speed(tmp_path, monkeypatch, example_config_path):
    blocker = tmp_path / "home"
    blocker.write_text("a file where the state folder should be")
    monkeypatch.setenv("DRIFTLINE_HOME", str(blocker))
    path = _write(tmp_path / "configs", example_config_path)
    assert load_folder(tmp_path / "configs").configs[path].model.name == "churn"

"""Hostile config files: whatever bytes a file holds, it becomes that file's broken-config DAG.

Each class of hostile file is generated here; the loader refuses it with a message naming the
file and the problem, the DagBag keeps every other model's DAGs, and `driftline validate` says
the same (never a bare traceback).
"""

from __future__ import annotations

import codecs
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from driftline.config.loader import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, load_config, load_folder
from driftline.exceptions import ConfigError

REPO = Path(__file__).resolve().parents[2]
CHURN = (REPO / "dags" / "configs" / "churn.yaml").read_text()


def _billion_laughs() -> bytes:
    lines = ['a0: &a0 "lol"']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append("model: *a9")
    return "\n".join(lines).encode()


def _merge_bomb() -> bytes:
    lines = ["b0: &b0 {x: 1, y: 2}"]
    for i in range(1, 30):
        lines.append(f"b{i}: &b{i} {{<<: *b{i - 1}, z: [*b{i - 1}, *b{i - 1}]}}")
    return "\n".join(lines).encode()


# file stem -> (bytes, a fragment of the expected problem)
HOSTILE: dict[str, tuple[bytes, str]] = {
    "latin1": (
        CHURN.replace("name: churn", "name: café").encode("latin-1"),
        "file is not valid UTF-8: byte 0xe9",
    ),
    "utf16": (codecs.BOM_UTF16_LE + CHURN.encode("utf-16-le"), "file is encoded as UTF-16: save it as UTF-8"),
    "utf32": (codecs.BOM_UTF32_BE + CHURN.encode("utf-32-be"), "file is encoded as UTF-32"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "file holds binary data"),
    "huge": (
        ("# padding\n" * (MAX_FILE_BYTES // 10 + 10)).encode(),
        f"a config may be at most {MAX_FILE_BYTES:,}",
    ),
    "deep_flow": (b"model: " + b"[" * 100_000 + b"]" * 100_000, "nesting depth"),  # libyaml stops at 1000
    "deep_flow_40": (b"model: " + b"[" * 40 + b"]" * 40, f"nesting is deeper than {MAX_DEPTH} levels"),
    "deep_block": (
        "".join(f"{'  ' * i}k{i}:\n" for i in range(200)).encode() + b"  " * 200 + b"x\n",
        f"nesting is deeper than {MAX_DEPTH} levels",
    ),
    "laughs": (_billion_laughs(), f"more than {MAX_NODES:,} YAML nodes once aliases are expanded"),
    "merge_bomb": (_merge_bomb(), "YAML nodes once aliases are expanded"),
    "recursive": (b"model: &m {name: x, self: *m}\n", "refers to its own enclosing anchor"),
    "documents": (("---\nmodel: {name: a}\n" * 5000).encode(), "a config file holds exactly one document"),
    "python_tag": (b"model: !!python/object/apply:os.system ['true']\n", "only plain YAML is accepted"),
    "bad_date": (b"model: {name: x}\nschedule: {start_date: 2026-02-30}\n", "invalid YAML: ValueError"),
    "big_int": (b"model: {name: x}\nn: " + b"9" * 20_000 + b"\n", "invalid YAML: ValueError"),
    "control_chars": (b"model: {name: \x07\x1b[31m}\n", "invalid YAML"),
    "scalar": (b"just a string\n", "expected a mapping at the top level, got str"),
    "wide": (b"model: [" + b"1, " * 60_000 + b"1]\n", "more than 5,000 YAML nodes"),
    "many_keys": (
        b"model: {name: x}\n" + b"".join(f"k{i}: {i}\n".encode() for i in range(2000)),
        "more problems",
    ),
}


def _write_corpus(folder: Path) -> dict[str, Path]:
    paths = {}
    for stem, (data, _) in HOSTILE.items():
        path = folder / f"{stem}.yaml"
        path.write_bytes(data)
        paths[stem] = path
    return paths


@pytest.mark.parametrize("stem", sorted(HOSTILE))
def test_loader_refuses_each_hostile_class_by_name(tmp_path, stem):
    path = _write_corpus(tmp_path)[stem]
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.path == str(path)
    assert HOSTILE[stem][1] in str(info.value), str(info.value)[:500]
    assert len(str(info.value)) < 20_000


def test_special_files_are_refused(tmp_path):
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo.yaml")  # opening it would block forever
    (tmp_path / "folder.yaml").mkdir()
    loaded = load_folder(tmp_path)
    assert loaded.configs == {}
    for name in ("zero", "fifo", "folder"):
        assert loaded.errors[tmp_path / f"{name}.yaml"].problems == [
            "not a regular file: a config is a YAML file"
        ]


def test_utf8_bom_is_fine(tmp_path):
    path = tmp_path / "churn.yaml"
    path.write_bytes(codecs.BOM_UTF8 + CHURN.encode())
    assert load_config(path).model.name == "churn"


def _dags_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    shutil.copytree(REPO / "dags", folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def _dagbag(folder: Path, monkeypatch: pytest.MonkeyPatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("DRIFTLINE_CONFIGS", str(folder / "configs"))
    return DagBag(dag_folder=str(folder), safe_mode=True)


def test_dagbag_isolates_every_hostile_file(tmp_path, monkeypatch):
    folder = _dags_folder(tmp_path)
    _write_corpus(folder / "configs")
    bag = _dagbag(folder, monkeypatch)
    assert bag.import_errors == {}
    assert {"driftline__churn", "driftline__churn__rollback"} <= set(bag.dag_ids)
    for stem, (_, expected) in HOSTILE.items():
        dag = bag.dags[f"driftline__config_error__{stem}"]
        assert expected in dag.doc_md, (stem, dag.doc_md[:300])
        assert dag.dag_display_name == f"BROKEN CONFIG {stem}.yaml"


def test_dagbag_with_hostile_defaults_shows_each_model_broken(tmp_path, monkeypatch):
    folder = _dags_folder(tmp_path)
    (folder / "configs" / "_defaults.yaml").write_bytes(_billion_laughs())
    bag = _dagbag(folder, monkeypatch)
    assert bag.import_errors == {}
    dag = bag.dags["driftline__config_error__churn"]
    assert "shared defaults are invalid" in dag.doc_md and "_defaults.yaml" in dag.doc_md
    assert "YAML nodes once aliases are expanded" in dag.doc_md


def _validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    driftline = Path(sys.executable).with_name("driftline")
    return subprocess.run([str(driftline), "validate", *map(str, paths)], capture_output=True, text=True)


@pytest.mark.slow
def test_cli_names_each_hostile_file_and_problem(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "churn.yaml").write_text(CHURN)
    paths = _write_corpus(configs)
    result = _validate(configs)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "UnicodeDecodeError" not in result.stderr
    for stem, path in paths.items():
        assert f"FAIL {path}: " in result.stderr, stem
        assert HOSTILE[stem][1] in result.stderr, stem
    assert f"1 valid, {len(HOSTILE)} invalid" in result.stdout


def test_cli_with_hostile_defaults(tmp_path):
    (tmp_path / "churn.yaml").write_text(CHURN)
    (tmp_path / "_defaults.yaml").write_bytes(b"\xff\xfe\x00garbage")
    result = _validate(tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{tmp_path / '_defaults.yaml'}: 1 error(s)" in result.stderr
    assert "file is encoded as UTF-16" in result.stderr


def test_a_file_name_that_is_not_utf8_is_shown_escaped(tmp_path, monkeypatch):
    from airflow.serialization.serialized_objects import DagSerialization

    folder = _dags_folder(tmp_path)
    (folder / "configs" / os.fsdecode(b"caf\xe9.yaml")).write_bytes(b"model: [\n")
    bag = _dagbag(folder, monkeypatch)
    assert bag.import_errors == {}
    dag = bag.dags["driftline__config_error__caf_udce9"]
    assert dag.dag_display_name == "BROKEN CONFIG caf\\udce9.yaml"
    json.dumps(DagSerialization.to_dict(dag)).encode("utf-8")  # storable: no lone surrogates left
    assert "driftline__churn" in bag.dag_ids

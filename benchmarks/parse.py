"""DAG parse time: N Driftline model configs vs N equivalent dag-factory YAML DAGs.

    .venv/bin/python benchmarks/parse.py [--configs 1000] [--quick]

Writes N copies of the example config into a temporary dags folder (each becomes a pipeline
DAG of 11 tasks and a rollback DAG of 1 task) and, beside it, N dag-factory 1.1.0 YAML files
defining the same two DAGs with the same task graph (EmptyOperators). Each folder is filled
into a DagBag in a fresh subprocess (so import caches do not favour either side); the time
is measured inside the subprocess around the DagBag fill (Airflow itself is imported first,
outside the timer: both sides pay it alike). Each folder is filled twice: the first fill, and
the re-parse that a DAG processor does every few seconds of unchanged files (Driftline then
reads validated configs from its cache, see driftline/config/cache.py). `driftline_s` and
`baseline_s` are the re-parse; the first fills are reported beside them. The Driftline subprocess also lists
which heavy modules the parse imported (must be none). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ["mlflow", "evidently", "great_expectations", "kubernetes", "boto3", "sklearn", "pandas"]
PIPELINE_EDGES = {
    "load_current": [],
    "validate_current": ["load_current"],
    "check_drift": ["validate_current"],
    "decide_retrain": ["check_drift"],
    "load_training": ["decide_retrain"],
    "validate_training": ["load_training"],
    "train": ["validate_training"],
    "register": ["train"],
    "evaluate_gate": ["register", "validate_training"],
    "keep_champion": ["decide_retrain"],
    "publish_summary": ["evaluate_gate", "keep_champion"],
}

FILL = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag  # Airflow's own import: the same for both sides
t0 = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1], safe_mode=True)
elapsed = time.perf_counter() - t0
heavy = sorted(m for m in {heavy} if m in sys.modules)
print(json.dumps({{"seconds": elapsed, "dags": len(bag.dags), "tasks": sum(len(d.tasks) for d in bag.dags.values()),
                  "errors": len(bag.import_errors), "heavy": heavy}}))
"""


def write_driftline(folder: Path, n: int) -> None:
    configs = folder / "configs"
    configs.mkdir(parents=True)
    shutil.copy(REPO / "dags" / "driftline_dags.py", folder / "driftline_dags.py")
    example = (REPO / "dags" / "configs" / "churn.yaml").read_text()
    for i in range(n):
        (configs / f"model_{i:04d}.yaml").write_text(example.replace("name: churn", f"name: model_{i:04d}"))


def write_dag_factory(folder: Path, n: int) -> None:
    import yaml

    folder.mkdir(parents=True)
    (folder / "load_dag_factory.py").write_text(
        "# airflow dag\nfrom pathlib import Path\nfrom dagfactory import load_yaml_dags\n"
        "load_yaml_dags(globals_dict=globals(), dags_folder=str(Path(__file__).parent / 'yaml'))\n"
    )
    empty = "airflow.providers.standard.operators.empty.EmptyOperator"
    for i in range(n):
        name = f"model_{i:04d}"
        default_args = {"owner": "data-science", "start_date": "2026-01-01", "retries": 2}
        doc = {
            f"driftline__{name}": {
                "default_args": default_args,
                "schedule": "@daily",
                "catchup": False,
                "max_active_runs": 1,
                "tags": ["driftline", f"model:{name}"],
                "tasks": [
                    {"task_id": task, "operator": empty, **({"dependencies": deps} if deps else {})}
                    for task, deps in PIPELINE_EDGES.items()
                ],
            },
            f"driftline__{name}__rollback": {
                "default_args": default_args,
                "schedule": None,
                "catchup": False,
                "tags": ["driftline", f"model:{name}"],
                "tasks": [{"task_id": "rollback", "operator": empty}],
            },
        }
        (folder / "yaml").mkdir(exist_ok=True)
        (folder / "yaml" / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def fill(folder: Path, home: Path) -> dict:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "DRIFTLINE_CONFIGS": str(folder / "configs"),
        "DRIFTLINE_HOME": str(home / "driftline"),
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600",
        "DO_NOT_TRACK": "1",  # dag-factory's telemetry
        "AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY": "False",
    }
    code = FILL.format(heavy=HEAVY)
    result = subprocess.run(
        [sys.executable, "-c", code, str(folder)], capture_output=True, text=True, env=env
    )
    if result.returncode != 0:
        raise SystemExit(f"DagBag fill of {folder} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="20 configs: seconds, for the tests")
    args = parser.parse_args()
    n = 20 if args.quick else args.configs
    with tempfile.TemporaryDirectory(prefix="driftline-parse-") as tmp:
        tmp_path = Path(tmp)
        write_driftline(tmp_path / "driftline", n)
        write_dag_factory(tmp_path / "dagfactory", n)
        ours_cold = fill(tmp_path / "driftline", tmp_path / "home")
        ours = fill(tmp_path / "driftline", tmp_path / "home")
        if importlib.util.find_spec("dagfactory") is None:
            theirs_cold = theirs = {
                "seconds": None,
                "dags": 0,
                "tasks": 0,
                "errors": None,
                "error": "dag-factory is not installed: run `make bench` (uv sync --group bench)",
            }
        else:
            theirs_cold = fill(tmp_path / "dagfactory", tmp_path / "home")
            theirs = fill(tmp_path / "dagfactory", tmp_path / "home")
    for label, cold, warm in (("driftline", ours_cold, ours), ("dag-factory 1.1.0", theirs_cold, theirs)):
        print(
            f"{label:18s} {warm['dags']:5d} DAGs {warm['tasks']:6d} tasks: first fill {cold['seconds']} s, "
            f"re-parse {warm['seconds']} s (import errors: {warm['errors']})"
        )
    ratio = round(theirs["seconds"] / ours["seconds"], 2) if theirs.get("seconds") else None
    print(
        json.dumps(
            {
                "benchmark": "parse",
                "configs": n,
                "dags": ours["dags"],
                "tasks": ours["tasks"],
                "driftline_s": round(ours["seconds"], 3),
                "baseline": "dag-factory 1.1.0",
                "baseline_s": round(theirs["seconds"], 3) if theirs.get("seconds") else None,
                "driftline_first_fill_s": round(ours_cold["seconds"], 3),
                "baseline_first_fill_s": round(theirs_cold["seconds"], 3)
                if theirs_cold.get("seconds")
                else None,
                "baseline_dags": theirs["dags"],
                **({"baseline_error": theirs["error"]} if "error" in theirs else {}),
                "ratio": ratio,
                "import_errors": ours["errors"],
                "heavy_modules": ours["heavy"],
            }
        )
    )


if __name__ == "__main__":
    main()

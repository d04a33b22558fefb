"""DAG parse time: N Driftline model configs vs N equivalent dag-factory YAML DAGs.

    .venv/bin/python benchmarks/parse.py [--configs 1000] [--quick]

Writes N copies of the example config into a temporary dags folder (each becomes a pipeline
pipeline DAG and a rollback DAG) and, beside it, N dag-factory 1.1.0 YAML files defining the
same DAGs with the same task graph (EmptyOperators). The graph is not written down here: it is
read from the DAGs Driftline builds for one config (task ids and upstream edges of every DAG), so
the baseline follows the factory when it grows a task; the run fails if the two sides' DAG or task
counts differ. Each folder is filled
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
SHAPE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], safe_mode=True)
if bag.import_errors:
    raise SystemExit(f"import errors: {bag.import_errors}")
shape = {}
for dag_id, dag in sorted(bag.dags.items()):
    shape[dag_id] = {
        "schedule": None if dag.schedule is None else "@daily",
        "tags": sorted(dag.tags),
        "tasks": [[t.task_id, sorted(t.upstream_task_ids)] for t in dag.topological_sort()],
    }
print(json.dumps(shape))
"""

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


def graph_shape(folder: Path, home: Path) -> dict[str, dict]:
    """The DAGs Driftline builds for the one config in `folder`: dag id -> tasks and their upstreams."""
    result = subprocess.run(
        [sys.executable, "-c", SHAPE, str(folder)], capture_output=True, text=True, env=_env(folder, home)
    )
    if result.returncode != 0:
        raise SystemExit(f"reading the DAG shape of {folder} failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def write_dag_factory(folder: Path, n: int, shape: dict[str, dict], model: str) -> None:
    """N YAML files with the DAGs of `shape` (built for the config named `model`), renamed per config."""
    import yaml

    folder.mkdir(parents=True)
    (folder / "load_dag_factory.py").write_text(
        "# airflow dag\nfrom pathlib import Path\nfrom dagfactory import load_yaml_dags\n"
        "load_yaml_dags(globals_dict=globals(), dags_folder=str(Path(__file__).parent / 'yaml'))\n"
    )
    empty = "airflow.providers.standard.operators.empty.EmptyOperator"
    default_args = {"owner": "data-science", "start_date": "2026-01-01", "retries": 2}

    def dag_doc(spec: dict, name: str) -> dict:
        return {
            "default_args": default_args,
            "schedule": spec["schedule"],
            "catchup": False,
            "tags": [tag.replace(model, name) for tag in spec["tags"]],
            "tasks": [
                {"task_id": task, "operator": empty, **({"dependencies": deps} if deps else {})}
                for task, deps in spec["tasks"]
            ],
        }

    per_model = {dag_id: spec for dag_id, spec in shape.items() if model in dag_id}
    shared = {dag_id: spec for dag_id, spec in shape.items() if model not in dag_id}
    (folder / "yaml").mkdir(exist_ok=True)
    for i in range(n):
        name = f"model_{i:04d}"
        doc = {dag_id.replace(model, name): dag_doc(spec, name) for dag_id, spec in per_model.items()}
        (folder / "yaml" / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    if shared:  # DAGs built once for all configs (not per model)
        doc = {dag_id: dag_doc(spec, model) for dag_id, spec in shared.items()}
        (folder / "yaml" / "shared.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def _env(folder: Path, home: Path) -> dict[str, str]:
    return {
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


def fill(folder: Path, home: Path) -> dict:
    env = _env(folder, home)
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
        write_driftline(tmp_path / "one", 1)
        shape = graph_shape(tmp_path / "one", tmp_path / "home")
        write_driftline(tmp_path / "driftline", n)
        write_dag_factory(tmp_path / "dagfactory", n, shape, "model_0000")
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
    if theirs.get("seconds") is not None and (theirs["dags"], theirs["tasks"]) != (
        ours["dags"],
        ours["tasks"],
    ):
        raise SystemExit(
            f"not the same work: Driftline built {ours['dags']} DAGs / {ours['tasks']} tasks, "
            f"the dag-factory baseline {theirs['dags']} / {theirs['tasks']}"
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
                "baseline_tasks": theirs["tasks"],
                **({"baseline_error": theirs["error"]} if "error" in theirs else {}),
                "ratio": ratio,
                "import_errors": ours["errors"],
                "heavy_modules": ours["heavy"],
            }
        )
    )


if __name__ == "__main__":
    main()

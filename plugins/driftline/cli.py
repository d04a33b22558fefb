"""The `driftline` command: validate configs, export the schema, render pods, read history."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from driftline.config.loader import config_files, load_config, load_defaults
from driftline.config.models import ModelConfig
from driftline.exceptions import ConfigError, DriftlineError


def _expand(paths: Sequence[str]) -> list[Path]:
    if not paths:
        from driftline.settings import configs_dir

        return config_files(configs_dir())
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        files.extend(config_files(path) if path.is_dir() else [path])
    return files


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate config files; print every error; exit 1 on any."""
    files = _expand(args.paths)
    if not files:
        print("no config files found", file=sys.stderr)
        return 1
    failed = 0
    names: dict[str, Path] = {}
    for path in files:
        try:
            defaults = load_defaults(path.parent)
            config = load_config(path, defaults)
        except ConfigError as exc:
            failed += 1
            print(f"FAIL {exc}", file=sys.stderr)
            continue
        name = config.model.name
        if name in names:
            failed += 1
            print(
                f"FAIL {path}: 1 error(s)\n  - model.name: {name!r} is already defined by {names[name]}",
                file=sys.stderr,
            )
            continue
        names[name] = path
        from driftline.config.checks import problems

        found = problems(config, deep=not args.quick)
        if args.champion and not found:
            found = champion_problems(config, args.tracking_uri)
        if found:
            failed += 1
            lines = "\n".join(f"  - {p}" for p in found)
            print(f"FAIL {path}: {len(found)} error(s)\n{lines}", file=sys.stderr)
            continue
        print(f"ok   {path} (model {name})", file=args.out)
    print(f"{len(files) - failed} valid, {failed} invalid", file=args.out)
    return 1 if failed else 0


def champion_problems(config: ModelConfig, tracking_uri: str | None) -> list[str]:
    """Can the champion in MLflow serve this config's features? (`validate --champion`)."""
    from driftline.hooks.mlflow import MlflowHook
    from driftline.registry.signature import serving_problems

    hook = MlflowHook(config.registry.mlflow_conn_id, tracking_uri=tracking_uri)
    try:
        return serving_problems(hook, config)
    except DriftlineError as exc:
        return [f"registry.mlflow_conn_id: cannot check the champion: {exc}"]


def cmd_schema(args: argparse.Namespace) -> int:
    """Write the JSON Schema of a model config (stdout, or --output)."""
    from driftline.config.schema import schema_text

    text = schema_text()
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=args.out)
    else:
        args.out.write(text)
    return 0


def cmd_render_pod(args: argparse.Namespace) -> int:
    """Print the training pod the kubernetes backend would submit, validated against the k8s schema."""
    import yaml

    from driftline.operators.train_pod import render_pod_manifest, validate_pod_manifest

    config = load_config(args.config, load_defaults(Path(args.config).parent))
    manifest = render_pod_manifest(config)
    validate_pod_manifest(manifest, args.k8s_version)
    if config.training.backend != "kubernetes":
        print(
            f"# note: {args.config} uses training.backend: {config.training.backend}; "
            "this is the pod it would run with backend: kubernetes",
            file=sys.stderr,
        )
    args.out.write(yaml.safe_dump(manifest, sort_keys=False))
    print(f"# valid against the Kubernetes {args.k8s_version} schema", file=sys.stderr)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """Print the champion/challenger alias history of a model."""
    from driftline.hooks.mlflow import MlflowHook
    from driftline.registry.audit import history

    name = args.model
    try:
        config = (
            load_config(_expand([args.model])[0]) if Path(args.model).suffix in {".yaml", ".yml"} else None
        )
    except ConfigError:
        config = None
    if config is not None:
        name = config.registered_model_name
    conn_id = config.registry.mlflow_conn_id if config is not None else MlflowHook.default_conn_name
    hook = MlflowHook(conn_id, tracking_uri=args.tracking_uri)
    print(format_history_with_data_days(history(hook, name)), file=args.out)
    return 0


def data_day_of_change(entry: Any) -> str:
    """The data day an alias change applies from: the last day of the data its run scored.

    A pipeline's promotion records its run's data time (the interval's end, exclusive), so the data
    day is the day before it; a change with no data time of its own (a rollback by hand) shows "-".
    """
    import datetime as dt

    from driftline.registry.champion import DATA_TIME_DETAIL, parse_time

    recorded = parse_time(str((entry.details or {}).get(DATA_TIME_DETAIL) or ""))
    if recorded is None:
        return "-"
    return (recorded - dt.timedelta(microseconds=1)).date().isoformat()


def format_history_with_data_days(entries: list[Any]) -> str:
    """The alias history (registry.audit.format_history) with the data day of each change first."""
    from driftline.registry.audit import format_history

    table = format_history(entries)
    if not entries:
        return table
    lines = table.splitlines()
    days = ["data day", "-" * 10, *(data_day_of_change(e) for e in entries)]
    return "\n".join(f"{day:<10}  {line}" for day, line in zip(days, lines, strict=True))


def cmd_cost(args: argparse.Namespace) -> int:
    """Print cost per model (runs, GPU-hours, cost by kind, per 1,000 predictions, budget, ROI)."""
    from driftline.cost.ledger import Ledger
    from driftline.cost.report import collect, format_table, parse_since
    from driftline.hooks.mlflow import MlflowHook

    costs, conns = {}, {}
    for path in _expand([]):
        with contextlib.suppress(ConfigError):
            config = load_config(path, load_defaults(path.parent))
            costs[config.model.name] = config.cost
            conns[config.model.name] = config.registry.mlflow_conn_id
    try:
        since = parse_since(args.since)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.by != "model":
        return print_cost_by(Ledger(args.ledger_url), args.by, args.model, since, args.out)

    def client_for(model: str) -> object:
        return MlflowHook(
            conns.get(model, MlflowHook.default_conn_name), tracking_uri=args.tracking_uri
        ).client

    rows = collect(Ledger(args.ledger_url), costs, since=since, only=args.model, client_for=client_for)
    if not rows:
        print(f"no cost recorded{f' for {args.model}' if args.model else ''}", file=args.out)
        return 1 if args.model else 0
    print(format_table(rows), file=args.out)
    return 0


def data_day_of(entry: dict[str, Any]) -> str | None:
    """The data day a ledger entry's run scored: recorded with it, else read from a scheduled run's id."""
    import json

    try:
        recorded = json.loads(entry.get("details") or "{}").get("data_day")
    except ValueError:
        recorded = None
    if recorded:
        return str(recorded)
    run_id = str(entry.get("run_id", ""))
    for prefix in ("scheduled__", "backfill__"):  # logical date = the interval's start = the data day
        if run_id.startswith(prefix):
            return run_id[len(prefix) : len(prefix) + 10]
    return None


def print_cost_by(ledger: Any, by: str, model: str | None, since: Any, out: Any) -> int:
    """`driftline cost --by run|data-day`: totals per run (with its data day) or per data day.

    `--since` filters on the data day here (the day the run scored), not on the day the tasks ran."""
    groups: dict[tuple[str, ...], dict[str, float]] = {}
    for entry in ledger.entries(model):
        day = data_day_of(entry)
        if since is not None and (day is None or day < since.isoformat()):
            continue
        key: tuple[str, ...] = (
            (entry["model"], day or "?", entry["dag_id"], entry["run_id"])
            if by == "run"
            else (entry["model"], day or "?")
        )
        kinds = groups.setdefault(key, {})
        kinds[entry["kind"]] = kinds.get(entry["kind"], 0.0) + float(entry["amount"])
    if not groups:
        print(f"no cost recorded{f' for {model}' if model else ''}", file=out)
        return 1 if model else 0
    head = ("model", "data day", "dag", "run") if by == "run" else ("model", "data day")
    print("  ".join(f"{h:<12}" for h in head) + "  total       by kind", file=out)
    for group in sorted(groups):
        kinds = groups[group]
        total = sum(kinds.values())
        detail = ", ".join(f"{k} {v:.4f}" for k, v in sorted(kinds.items()))
        print("  ".join(f"{v!s:<12}" for v in group) + f"  {total:<10.4f}  {detail}", file=out)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the predictions service (FastAPI on uvicorn; OpenAPI page at /docs)."""
    from driftline.service.server import serve
    from driftline.settings import configs_dir

    folder = Path(args.configs) if args.configs else configs_dir()
    serve(folder, Path(args.keys_file) if args.keys_file else None, args.host, args.port, args.workers)
    return 0


def cmd_api_key(args: argparse.Namespace) -> int:
    """Create an API key for the predictions service: prints it once, stores only its sha256."""
    from driftline.service.auth import create_key, keys_file

    path = Path(args.keys_file) if args.keys_file else keys_file()
    print(create_key(args.name, path), file=args.out)
    print(f"# its sha256 was appended to {path}; the key itself is not stored", file=sys.stderr)
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    """Print the project's environment as `export` lines (`source` them, or `make env`)."""
    from driftline.localenv import export_lines, project_env

    args.out.write(export_lines(project_env()))
    return 0


def cmd_airflow(args: argparse.Namespace) -> int:
    """Run the `airflow` CLI with the project's environment (its DAG folder and database, not ~/airflow)."""
    import os

    from driftline.localenv import project_env

    airflow = str(Path(sys.executable).with_name("airflow"))
    env = {**os.environ, **project_env()}
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    os.execve(airflow, [airflow, *args.args], env)  # noqa: S606 - the venv's own airflow binary with the user's CLI arguments; replaces this process: never returns; replaces this process: never returns


def cmd_run(args: argparse.Namespace) -> int:
    """Run a model's pipeline for a data day (or a range) with dag.test(), in the project's environment."""
    import datetime as dt
    import json

    from driftline.localenv import project_env

    if args.date and (args.start or args.end):
        raise SystemExit("driftline run: give --date, or --start and --end, not both")
    start = args.date or args.start
    end = args.date or args.end
    if not (start and end):
        raise SystemExit("driftline run: give --date D, or --start S --end E (data days, YYYY-MM-DD)")
    for value in (start, end):
        dt.date.fromisoformat(value)
    json.loads(args.conf)  # fail here, not after the database is prepared
    env = {**os.environ, **project_env()}
    command = [sys.executable, "-m", "driftline.localrun", args.model, "--start", start, "--end", end]
    command += ["--conf", args.conf, "--dag", args.dag, *(["--replace"] if args.replace else [])]
    return run_child(command, env)


def run_child(command: list[str], env: dict[str, str], grace_s: float = 30.0) -> int:
    """Run `command` and wait for it; SIGTERM/SIGINT sent to this process are forwarded to it.

    The child is waited for (it finishes its task and exits); one that has not exited `grace_s`
    seconds after the signal is killed, so `driftline run` never leaves a `driftline.localrun`
    behind. Returns the child's exit code (128 + the signal when it was stopped by one).
    """
    import signal
    import subprocess

    # its own process group: a signal reaches the run and whatever it started (`airflow db migrate`,
    # a training subprocess), and nothing of it outlives `driftline run`
    child = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603 - this interpreter running driftline.localrun; an argument list, no shell
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                code = child.wait(timeout=grace_s if received else None)
                break
            except subprocess.TimeoutExpired:
                print(
                    f"driftline run: the run did not stop {grace_s:g} s after the signal: killing it",
                    file=sys.stderr,
                )
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    with contextlib.suppress(ProcessLookupError):  # anything of the group still there (a grandchild)
        if received:
            os.killpg(child.pid, signal.SIGKILL)
    if received and code < 0:
        return 128 - code
    return code


def cmd_approve(args: argparse.Namespace) -> int:
    """Approve a promotion waiting in `driftline run` (or in the project's Airflow): what the UI's Required Actions page does."""
    import os
    import subprocess

    from driftline.localenv import project_env

    env = {**os.environ, **project_env()}
    command = [sys.executable, "-m", "driftline.localrun", "approve", args.model]
    command += [*([str(args.version)] if args.version is not None else []), "--option", args.option]
    command += ["--user", args.user, "--task", args.task, "--dag", args.dag]
    if args.run:
        command += ["--run", args.run]
    return subprocess.run(command, env=env).returncode  # noqa: S603 - this interpreter running driftline.localrun; an argument list, no shell


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="driftline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help=cmd_validate.__doc__)
    p.add_argument("paths", nargs="*", help="config files or folders (default: the configs folder)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="skip the checks that import Great Expectations and the estimator (expectation names and kwargs)",
    )
    p.add_argument(
        "--champion",
        action="store_true",
        help="also check that the champion in MLflow can serve the config's features (needs MLflow reachable)",
    )
    p.add_argument(
        "--tracking-uri", default=None, help="MLflow tracking URI for --champion (default: the connection)"
    )
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help=cmd_schema.__doc__)
    p.add_argument("-o", "--output", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("render-pod", help=cmd_render_pod.__doc__)
    p.add_argument("config", help="a model config file")
    p.add_argument("--k8s-version", default="1.33", help="Kubernetes schema version to validate against")
    p.set_defaults(func=cmd_render_pod)

    p = sub.add_parser("history", help=cmd_history.__doc__)
    p.add_argument("model", help="registered model name, or a config file")
    p.add_argument(
        "--tracking-uri", default=None, help="MLflow tracking URI (default: connection/env/local store)"
    )
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("cost", help=cmd_cost.__doc__)
    p.add_argument("model", nargs="?", default=None, help="one model (default: every model)")
    p.add_argument("--since", default=None, help="first day, YYYY-MM-DD or e.g. 30d (default: everything)")
    p.add_argument(
        "--ledger-url", default=None, help="cost ledger URL (default: the cost_ledger_url setting)"
    )
    p.add_argument(
        "--tracking-uri", default=None, help="MLflow tracking URI (default: connection/env/local store)"
    )
    p.add_argument(
        "--by",
        choices=("model", "run", "data-day"),
        default="model",
        help="model: totals, budget, ROI (default); run: each run with its data day; data-day: per data day "
        "(the day a run scored, not the day it ran; --since then filters on data days)",
    )
    p.set_defaults(func=cmd_cost)

    p = sub.add_parser("serve", help=cmd_serve.__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--configs", default=None, help="configs folder (default: the project's dags/configs)")
    p.add_argument("--keys-file", default=None, help="API key hashes (default: DRIFTLINE_HOME/api_keys)")
    p.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: one per core, at most 4)"
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("api-key", help=cmd_api_key.__doc__)
    p.add_argument("--name", default="default", help="a label stored next to the hash")
    p.add_argument("--keys-file", default=None, help="API key hashes (default: DRIFTLINE_HOME/api_keys)")
    p.set_defaults(func=cmd_api_key)

    p = sub.add_parser("run", help=cmd_run.__doc__)
    p.add_argument("model", help="the model's name (model.name in its config)")
    p.add_argument("--date", help="the data day to score, YYYY-MM-DD (the run with logical date D + 1 day)")
    p.add_argument("--start", help="first data day of a range (with --end; run one after another)")
    p.add_argument("--end", help="last data day of a range, inclusive")
    p.add_argument("--conf", default="{}", help="trigger params as JSON, e.g. '{\"force_retrain\": true}'")
    p.add_argument(
        "--replace",
        action="store_true",
        help="let dag.test() delete a run of the same logical date that it did not make (a scheduled, "
        "backfill or triggered run of `make up`); without it such a day is refused",
    )
    p.add_argument(
        "--dag",
        choices=("pipeline", "ab"),
        default="pipeline",
        help="the model's pipeline (default) or its A/B evaluation DAG (decide the running experiment)",
    )
    p.set_defaults(func=cmd_run)

    for name, option, text in (
        ("approve", "Approve", cmd_approve.__doc__),
        ("reject", "Reject", "Reject a promotion waiting in `driftline run` (or in the project's Airflow)."),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("model", help="the model's name (model.name in its config)")
        p.add_argument(
            "version",
            nargs="?",
            type=int,
            default=None,
            help="the version the approval asks about; refused when it asks about another one",
        )
        p.add_argument(
            "--run", default=None, help="the run id whose approval to answer (needed when several wait)"
        )
        p.add_argument("--option", default=option, help=argparse.SUPPRESS)
        p.add_argument(
            "--user",
            default=os.environ.get("USER") or None,
            required=not os.environ.get("USER"),
            help="your user id: one of registry.approval.respondents (default: $USER)",
        )
        p.add_argument(
            "--task", default="approve_promotion", help="the approval task (default approve_promotion)"
        )
        p.add_argument(
            "--dag", choices=("pipeline", "ab"), default="pipeline", help="pipeline (default) or ab"
        )
        p.set_defaults(func=cmd_approve)

    p = sub.add_parser("env", help=cmd_env.__doc__)
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("airflow", help=cmd_airflow.__doc__, add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the airflow CLI")
    p.set_defaults(func=cmd_airflow)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command. Its report goes to stdout (`args.out`); anything else printed to stdout while it
    runs goes to stderr: Airflow, imported lazily by a command, logs to the sys.stdout it finds (MLflow's
    store creation, a connection fallback), and `driftline render-pod > pod.yaml` must hold the manifest alone."""
    args = build_parser().parse_args(argv)
    args.out = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            return int(args.func(args))
    except DriftlineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

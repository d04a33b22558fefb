"""The doc_md shown on each DAG's page, generated from its config."""

from __future__ import annotations

from pathlib import Path

from driftline.config.models import ModelConfig


def _source(config: ModelConfig) -> str:
    src = config.data.source
    if src.kind == "local":
        return f"local {src.format} `{src.path}`"
    if src.kind == "s3":
        return f"S3 {src.format} `{src.uri}` (connection `{src.conn_id}`)"
    target = f"table `{src.table}`" if src.table else "a query"
    return f"SQL {target} (connection `{src.conn_id}`)"


def pipeline_doc(config: ModelConfig, path: Path) -> str:
    """Markdown describing what the model's pipeline does, and where its config lives."""
    m, d, t, r = config.model, config.data, config.training, config.registry
    window = (
        f"rolling {d.window.days} days" if d.window.kind == "rolling" else d.window.kind.replace("_", " ")
    )
    backend: str = t.backend
    if backend == "kubernetes":
        res = t.kubernetes.resources
        backend += (
            f" (image `{t.kubernetes.image}`, {res.cpu} CPU, {res.memory}, {res.gpu} x {res.gpu_resource})"
        )
    features = ", ".join(f"`{f.name}` ({f.type})" for f in d.features)
    lines = [
        f"# {m.name}",
        m.description or "",
        "",
        f"Owner: **{m.owner}** · config: `{path.name}` · schedule: `{config.schedule.cron}`",
        "",
        "| stage | what it does |",
        "|---|---|",
        f"| load | {_source(config)}; the run's data interval is scored, training uses a {window} window |",
        f"| validate | Great Expectations: {len(config.validation.expectations)} expectations"
        f"{' + schema checks' if config.validation.schema_checks else ''}, at least {config.validation.min_rows} "
        "rows; a failing batch is quarantined |",
        f"| drift | Evidently data drift (dataset drift at share >= {config.drift.drift_share}) and concept drift "
        f"(metric drop > {config.drift.concept.tolerance}); cooldown {config.drift.cooldown_hours} h |",
        f"| train | `{t.estimator.class_path or t.estimator.callable}` on {backend}; "
        f"last {t.validation_days} days held out |",
        f"| register | MLflow model `{config.registered_model_name}`; gate on `{r.metric}` ({r.direction}, "
        f"min improvement {r.min_improvement}) |",
        "",
        f"Entity `{d.entity_id}`, timestamp `{d.timestamp}`, label `{d.label}`. Features: {features}.",
        "",
        "Trigger params: `force_retrain`, `window_days`, `skip_inference`.",
    ]
    return "\n".join(lines)


def rollback_doc(config: ModelConfig) -> str:
    return (
        f"# Roll back {config.model.name}\n\nRestores the `previous-champion` alias of MLflow model "
        f"`{config.registered_model_name}` (or the version you name) as `champion`, through the same "
        "guarded promotion path as the pipeline. The change and your reason go into the audit trail "
        f"(`driftline history {config.model.name}`)."
    )


def ab_evaluation_doc(config: ModelConfig) -> str:
    approval = config.registry.approval
    gate = (
        f"waits for the approval of {', '.join(approval.respondents)} (rejected after "
        f"{approval.timeout_hours:g} h without an answer), then "
        if approval.required
        else ""
    )
    return (
        f"# A/B evaluation of {config.model.name}\n\nJoins the outcomes of the running experiment with the "
        "arms (recomputed from its salt and shares), decides with an always-valid sequential test (mSPRT) "
        "with a sample-ratio check and guardrails, records the decision in the experiment store and writes "
        f"a report with a plot of the KPI per arm (MLflow experiment `driftline/{config.model.name}/ab_tests`). "
        f'On "promote" it {gate}moves the `champion` alias through the guarded path; "stop" and '
        '"halt" end the experiment and keep the champion.'
    )


def config_error_doc(path: Path, message: str) -> str:
    return (
        f"# Broken config: `{path.name}`\n\nDriftline could not build this model's DAGs. Fix the file "
        f"and the model's DAGs appear on the next parse; other models are not affected.\n\n```\n{message}\n```"
    )

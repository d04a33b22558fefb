"""`driftline run` / the demo print a failed task's error from the run's log, not "see the log"."""

from __future__ import annotations

from pathlib import Path

from driftline.demo import _task_error

LOG = """\
2026-03-05T00:00:00.000001Z [info     ] [DAG TEST] running task <TaskInstance: driftline__clinic.load_current manual__x [TaskInstanceState.SCHEDULED]
2026-03-05T00:00:01.000000Z [error    ] Task failed with exception     [task] loc=task_runner.py:1676
Traceback (most recent call last):
  File "pandas/_libs/parsers.pyx", line 2053, in pandas._libs.parsers.raise_parser_error
UnicodeDecodeError: 'utf-8' codec can't decode byte 0xf6 in position 187: invalid start byte

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/x/driftline/data/frames.py", line 59, in available_columns
    raise CorruptPartitionError(f"{label}: cannot read as {fmt}: {exc}") from exc
driftline.data.frames.SourceSchemaError: /w/visits_20260305.csv: wrong column types:
  - column 'AGE': expected int, found object
2026-03-05T00:00:02.000000Z [info     ] [DAG TEST] end task task_id=load_current map_index=-1
2026-03-05T00:00:03.000000Z [info     ] [DAG TEST] running task <TaskInstance: driftline__clinic.train manual__x [TaskInstanceState.SCHEDULED]
Traceback (most recent call last):
  File "/x/sklearn/base.py", line 1, in fit
ValueError: Input X contains NaN.
2026-03-05T00:00:04.000000Z [info     ] [DAG TEST] end task task_id=train map_index=-1
"""


def test_errors_defined_outside_driftline_exceptions_are_shown_per_task(tmp_path: Path):
    log = tmp_path / "run.log"
    log.write_text(LOG)
    assert _task_error(log, "load_current") == (
        "SourceSchemaError: /w/visits_20260305.csv: wrong column types:\n  - column 'AGE': expected int, found object"
    )
    # a library's error when no Driftline error was raised, from the failed task's own part of the log
    assert _task_error(log, "train") == "ValueError: Input X contains NaN."

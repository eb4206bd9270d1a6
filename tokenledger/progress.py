"""A live progress display for long runs: rows landed per raw table, dbt nodes finished."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class PipelineProgress:
    """Callbacks for run_pipeline that drive a rich progress display."""

    def __init__(self, progress: Progress, dbt_nodes: int) -> None:
        self._progress = progress
        self._ingest_tasks: dict[str, int] = {}
        self._dbt_task = progress.add_task("dbt build", total=dbt_nodes or None, start=False)
        self._dbt_done = 0

    def on_rows(self, provider: str, resource: str, rows: int) -> None:
        """Called by the ingestion with the rows landed so far for one resource."""
        key = f"{provider}.{resource}"
        if key not in self._ingest_tasks:
            self._ingest_tasks[key] = self._progress.add_task(f"ingest {key}", total=None)
        self._progress.update(
            self._ingest_tasks[key], completed=rows, description=f"ingest {key} ({rows:,} rows)"
        )

    def on_node(self, unique_id: str, status: str) -> None:
        """Called by dbt for each finished model, seed or test."""
        for task in self._ingest_tasks.values():
            self._progress.update(task, total=1, completed=1)
        self._progress.start_task(self._dbt_task)
        self._dbt_done += 1
        self._progress.update(
            self._dbt_task,
            completed=self._dbt_done,
            description=f"dbt build ({unique_id.split('.')[-1]}: {status})",
        )


@contextmanager
def pipeline_progress(console: Console, dbt_nodes: int) -> Iterator[PipelineProgress]:
    """Show progress while the block runs; falls back to plain lines when not a terminal."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        yield PipelineProgress(progress, dbt_nodes)

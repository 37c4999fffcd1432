"""The Gradio app: build_ui() returns the Blocks that app.py launches.

This is the only package that imports gradio; handlers stay thin over `studio`.
"""

from __future__ import annotations

import gradio as gr

from studio.jobs import JobManager
from studio.models import device_summary
from studio.workspace import workspace_root

RUN_COLUMNS = ["run", "status", "method", "stage", "dataset", "train loss", "eval loss", "seconds"]


def runs_table(manager: JobManager) -> list[list]:
    return [
        [run.name, run.status, run.method, run.stage, run.dataset,
         _rounded(run.train_loss), _rounded(run.eval_loss), _rounded(run.wall_seconds, 0)]
        for run in manager.list_runs()
    ]


def _rounded(value, digits: int = 4):
    return None if value is None else round(value, digits)


def build_ui(manager: JobManager | None = None) -> gr.Blocks:
    manager = manager or JobManager()
    with gr.Blocks(title="Tuning Studio") as demo:
        gr.Markdown(f"# Tuning Studio\n{device_summary()} · workspace `{workspace_root()}`")
        with gr.Tab("Runs"):
            gr.Markdown(
                "Train from the command line, e.g. "
                "`python -m studio train --preset cpu-lora --dataset presets/samples/reviews-train.jsonl`; "
                "runs appear here as they start and finish."
            )
            table = gr.Dataframe(headers=RUN_COLUMNS, value=lambda: runs_table(manager), interactive=False)
            gr.Button("Refresh").click(lambda: runs_table(manager), outputs=table)
    return demo

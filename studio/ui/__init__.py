"""The Gradio app: build_ui() returns the Blocks that app.py launches (with `i18n`).

This is the only package that imports gradio; handlers stay thin over `studio`.
"""

from __future__ import annotations

import gradio as gr

from studio.jobs import JobManager
from studio.models import device_summary
from studio.ui import dataset_tab, train_tab
from studio.ui.i18n import i18n
from studio.workspace import workspace_root


def build_ui(manager: JobManager | None = None) -> gr.Blocks:
    manager = manager or JobManager()
    with gr.Blocks(title="Tuning Studio") as demo:
        with gr.Row(elem_id="studio-header"):
            gr.Markdown(i18n("app.title"), elem_id="studio-title")
            gr.Markdown(f"**{device_summary()}** · `{workspace_root()}`", elem_id="studio-device")
        with gr.Tab(i18n("tab.dataset"), id="dataset"):
            dataset_tab.build(manager)
        with gr.Tab(i18n("tab.train"), id="train") as train:
            train_tab.build(manager, train)
    return demo

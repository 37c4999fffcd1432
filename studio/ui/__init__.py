"""The Gradio app: build_ui() returns the Blocks that app.py launches (with `i18n`).

This is the only package that imports gradio; handlers stay thin over `studio`.
"""

from __future__ import annotations

from functools import partial

import gradio as gr

from studio.jobs import JobManager
from studio.models import device_summary
from studio.ui import chat_tab, compare_tab, dataset_tab, export_tab, train_tab
from studio.ui.i18n import i18n
from studio.workspace import workspace_root


def build_ui(manager: JobManager | None = None) -> gr.Blocks:
    manager = manager or JobManager()
    # Uploads and downloads in Gradio's cache older than a day are deleted every hour (and all at a restart).
    with gr.Blocks(title="Tuning Studio", delete_cache=(3600, 86400)) as demo:
        with gr.Row(elem_id="studio-header"):
            gr.Markdown(i18n("app.title"), elem_id="studio-title")
            gr.Markdown(f"**{device_summary()}** · `{workspace_root()}`", elem_id="studio-device")
        with gr.Tabs() as tabs:
            with gr.Tab(i18n("tab.dataset"), id="dataset"):
                draft = dataset_tab.build(manager)
            with gr.Tab(i18n("tab.train"), id="train") as train:
                train_view = train_tab.build(manager, train)
            with gr.Tab(i18n("tab.chat"), id="chat") as chat:
                chat_model = chat_tab.build(manager, chat)
            with gr.Tab(i18n("tab.compare"), id="compare") as compare:
                compare_run = compare_tab.build(manager, compare)
            with gr.Tab(i18n("tab.export"), id="export") as export:
                export_run = export_tab.build(manager, export)
        # A finished run's next steps on the Train tab open Compare, Chat or Export on that run.
        train_view.compare.click(partial(compare_tab.open_run, manager), inputs=train_view.run,
                                 outputs=[tabs, compare_run])
        train_view.chat.click(partial(chat_tab.open_run, manager), inputs=train_view.run, outputs=[tabs, chat_model])
        train_view.export.click(partial(export_tab.open_run, manager), inputs=train_view.run, outputs=[tabs, export_run])
        # The dataset opened or saved in the Dataset tab is the one the Train tab trains on.
        draft.change(dataset_of, inputs=draft, outputs=train_view.dataset, show_progress="hidden")
    return demo


def dataset_of(draft) -> dict:
    """The Train tab's dataset field set to the file a draft was opened from or saved to (when it is listed)."""
    path = draft.source[0] if draft.source else None
    choices = train_tab.dataset_choices()
    if path is None or path not in [value for _, value in choices]:
        return gr.skip()
    return gr.update(choices=choices, value=path)

"""The Gradio app: build_ui() returns the Blocks that app.py launches (with `i18n`).

This is the only package that imports gradio; handlers stay thin over `studio`.
"""

from __future__ import annotations


import gradio as gr

from studio.jobs import JobManager
from studio.models import device_summary
from studio.ui.common import bind, dataset_choices
from studio.ui.lang import CHOOSE_LANGUAGE, TOAST_CSS, language, say
from studio.ui import chat_tab, compare_tab, dataset_tab, export_tab, methods_tab, train_tab
from studio.ui.i18n import i18n
from studio.workspace import workspace_root


def build_ui(manager: JobManager | None = None) -> gr.Blocks:
    manager = manager or JobManager()
    # Uploads and downloads in Gradio's cache older than a day are deleted every hour (and all at a restart).
    with gr.Blocks(title="Tuning Studio", delete_cache=(3600, 86400)) as demo:
        with gr.Row(elem_id="studio-header", equal_height=True):
            gr.Markdown(i18n("app.title"), elem_id="studio-title")
            device = gr.Markdown(header_line(None), elem_id="studio-device")
            switch = gr.Radio([("English", "en"), ("中文", "zh")], value="en", label=i18n("app.language"),
                              show_label=False, container=False, elem_id="studio-language", scale=0, min_width=200)
        # The switch keeps the choice in a cookie (handlers read it to answer in that language) and reloads.
        switch.input(None, inputs=switch, js=CHOOSE_LANGUAGE)
        demo.load(page_language, outputs=[switch, device], show_progress="hidden")
        with gr.Tabs(elem_id="studio-tabs") as tabs:
            with gr.Tab(i18n("tab.dataset"), id="dataset"):
                draft = dataset_tab.build(manager)
            with gr.Tab(i18n("tab.train"), id="train") as train:
                train_view = train_tab.build(manager, train)
            with gr.Tab(i18n("tab.methods"), id="methods") as methods:
                methods_tab.build(manager, methods)
            with gr.Tab(i18n("tab.chat"), id="chat") as chat:
                chat_model = chat_tab.build(manager, chat)
            with gr.Tab(i18n("tab.compare"), id="compare") as compare:
                compare_run = compare_tab.build(manager, compare)
            with gr.Tab(i18n("tab.export"), id="export") as export:
                export_run = export_tab.build(manager, export)
        # A finished run's next steps on the Train tab open Compare, Chat or Export on that run.
        train_view.compare.click(bind(compare_tab.open_run, manager), inputs=train_view.run,
                                 outputs=[tabs, compare_run])
        train_view.chat.click(bind(chat_tab.open_run, manager), inputs=train_view.run, outputs=[tabs, chat_model])
        train_view.export.click(bind(export_tab.open_run, manager), inputs=train_view.run, outputs=[tabs, export_run])
        # The dataset opened or saved in the Dataset tab is the one the Train tab trains on.
        draft.change(dataset_of, inputs=draft, outputs=train_view.dataset, show_progress="hidden")
    return demo


# One height for a row's buttons (Gradio stretches them to the row's tallest box otherwise).
CSS = """
#studio-header { align-items: center; }
#studio-language { flex-grow: 0; }
#studio-language .wrap { flex-wrap: nowrap; }
.studio-align-end { align-items: flex-end !important; }
.studio-off { display: none !important; }
#chat-regenerate-help p { font-size: var(--text-sm); color: var(--body-text-color-subdued); }
.compare-actions { align-items: center !important; }
.compare-actions button { flex: 0 0 auto !important; width: auto !important; white-space: nowrap; }
#train-runs table, #train-probes table { font-size: var(--text-sm); }
#train-loss-plot svg { color: var(--body-text-color); display: block; }
#methods-table table, #methods-queue-table table { font-size: var(--text-sm); }
#methods-train-chart svg, #methods-eval-chart svg { color: var(--body-text-color); display: block; }
"""


# What app.py passes to launch() beside the Blocks (Gradio 6 takes the page's script and style there).
LAUNCH_OPTIONS = {"css": CSS + TOAST_CSS}


def header_line(request: gr.Request | None) -> str:
    return f"**{device_summary(say(request, 'app.cores'), say(request, 'app.threads'))}** · `{workspace_root()}`"


def page_language(request: gr.Request) -> tuple:
    """The switch shows the page's language; the header line is written in it."""
    return language(request), header_line(request)


def dataset_of(draft) -> dict:
    """The Train tab's dataset field set to the file a draft was opened from or saved to (when it is listed)."""
    path = draft.source[0] if draft.source else None
    choices = dataset_choices()
    if path is None or path not in [value for _, value in choices]:
        return gr.skip()
    return gr.update(choices=choices, value=path)

"""The Export tab: take a finished run's result out of the studio.

Download the adapter (or a freeze/full run's model) as a zip, or merge a LoRA-style adapter
into a full model folder that plain transformers loads; both are written under the
workspace's exports/. The tab shows the folder written and Python that loads it.
It is a tab of its own, not part of Compare: exporting is the step after a run is judged,
and it works on any finished run without loading a model into the app.
"""

from __future__ import annotations

from functools import partial

import gradio as gr

from studio.compare import run_folder
from studio.jobs import JobManager
from studio.ui.compare_tab import run_choices, run_update
from studio.ui.common import run_name
from studio.ui.i18n import i18n
from studio.ui.train_tab import shows_errors


@shows_errors
def show_run(run: str | None) -> list:
    """What the run saved, the default merged folder name, and code that loads the run's own folder."""
    from studio.export import loading_code, weights_summary
    from studio.generate import run_base_model

    if not run:
        return ["", "", "", gr.update(visible=False)]
    run_dir = run_folder(run)
    kind, folder, size = weights_summary(run_dir)
    return [f"{kind}/ · {size}", f"{run_dir.name}-merged", loading_code(folder, kind, run_base_model(run_dir)),
            gr.update(visible=False)]


def refused(error: ValueError, outputs: int) -> list:
    """A refusal is said on the tab's message line and in a toast that closes by itself; what an earlier
    zip or merge showed stays in place."""
    gr.Warning(str(error), duration=10)
    return [f"⚠️ {error}", *[gr.skip()] * outputs]


def make_zip(run: str) -> list:
    """(message, download, folder, code) for the run's adapter (or model) zipped into exports/."""
    from studio.export import zip_export

    try:
        archive, code = zip_export(run_folder(run))
    except ValueError as error:
        return refused(error, 3)
    return ["", gr.update(value=str(archive), visible=True), str(archive), code]


def merge(run: str, name: str) -> list:
    """(message, folder, code) of the adapter merged into a full model folder in exports/."""
    from studio.export import merged_export

    try:
        folder, code = merged_export(run_folder(run), name)
    except ValueError as error:
        return refused(error, 2)
    return ["", str(folder), code]


def open_run(manager: JobManager, run_path: str | None) -> tuple:
    """From the Train tab: this tab, with the run it followed selected."""
    return gr.Tabs(selected="export"), run_update(manager, run_name(run_path))


def build(manager: JobManager, tab: gr.Tab | None = None) -> gr.Dropdown:
    """The tab's widgets and events; `tab`, when given, refreshes the run list each time it is opened.
    Returns the run field, which the Train tab's "Export" sets."""
    initial = run_choices(manager)
    with gr.Row(equal_height=True):
        refresh_runs = gr.Button("↻", size="sm")
        run = gr.Dropdown(label=i18n("export.run"), info=i18n("export.run_help"), buttons=[refresh_runs], scale=3,
                          elem_id="export-run", **initial)
        saved = gr.Textbox(label=i18n("export.saved"), interactive=False, scale=1, elem_id="export-saved")
    with gr.Row():
        with gr.Column(variant="panel"):
            gr.Markdown(i18n("export.zip_help"))
            zip_button = gr.Button(i18n("export.zip"), elem_id="export-zip")
            download = gr.DownloadButton(i18n("export.download"), variant="primary", visible=False,
                                         elem_id="export-download")
        with gr.Column(variant="panel"):
            gr.Markdown(i18n("export.merge_help"))
            with gr.Row(equal_height=True):
                name = gr.Textbox(label=i18n("export.merge_name"), info=i18n("export.merge_name_help"), scale=3,
                                  elem_id="export-merge-name")
                merge_button = gr.Button(i18n("export.merge"), variant="primary", scale=1, elem_id="export-merge")
    message = gr.Markdown(elem_id="export-message")
    folder = gr.Textbox(label=i18n("export.folder"), interactive=False, buttons=["copy"], elem_id="export-folder")
    code = gr.Code(language="python", label=i18n("export.code"), interactive=False, elem_id="export-code")

    refresh = partial(run_update, manager)
    refresh_runs.click(refresh, inputs=run, outputs=run)
    if tab is not None:
        tab.select(refresh, inputs=run, outputs=run, show_progress="hidden")
    run.change(show_run, inputs=run, outputs=[saved, name, code, download], show_progress="hidden")
    gr.on(triggers=None, fn=show_run, inputs=run, outputs=[saved, name, code, download])
    # Progress shows on the message line alone: the folder and code of an earlier export stay readable.
    zip_button.click(make_zip, inputs=run, outputs=[message, download, folder, code], show_progress_on=message)
    merge_button.click(merge, inputs=[run, name], outputs=[message, folder, code], show_progress_on=message)
    return run

"""The Export tab: take a finished run's result out of the studio.

Download the adapter (or a freeze/full run's model) as a zip, merge a LoRA-style adapter
into a full model folder that plain transformers loads, write the model as one GGUF file with an Ollama
Modelfile (llama.cpp, Ollama), or make the run's report (one HTML file to send); all are written under the
workspace's exports/. The tab shows the folder written and Python that loads it.
It is a tab of its own, not part of Compare: exporting is the step after a run is judged,
and it works on any finished run without loading a model into the app. Make the zip and
Merge wait for a run to act on; Merge stays off, with the reason beside it, for a run that
has nothing to merge (a freeze/full run's model, or a prompt method's virtual tokens).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import gradio as gr

from studio import runs
from studio.compare import run_folder
from studio.jobs import JobManager
from studio.ui.common import ERROR_SECONDS, error_text, run_choices, run_name, run_update, user_errors
from studio.ui.i18n import i18n
from studio.ui.lang import language, say

GGUF_QUANTS = ("f16", "q8_0", "q4_0")  # offered here; f32 from the command line
# PEFT types that add virtual tokens instead of changing weights: nothing to fold into the base.
PROMPT_METHODS = ("PREFIX_TUNING", "PROMPT_TUNING", "P_TUNING")


@user_errors
def show_run(run: str | None) -> list:
    """What the run saved, the default merged folder name, and code that loads the run's own folder."""
    from studio.export import loading_code, weights_summary

    if not run:
        return ["", "", "", gr.update(visible=False)]
    run_dir = run_folder(run)
    kind, folder, size = weights_summary(run_dir)
    return [f"{kind}/ · {size}", f"{run_dir.name}-merged", loading_code(folder, kind, runs.base_model(run_dir)),
            gr.update(visible=False)]


def merge_blocker(run_dir: Path) -> str | None:
    """The i18n key saying why a run has nothing to merge, or None when Merge applies."""
    kind, folder = runs.trained_weights(run_dir)
    if kind == "model":
        return "export.merge_whole_model"
    config = folder / "adapter_config.json"
    peft_type = json.loads(config.read_text(encoding="utf-8")).get("peft_type") if config.is_file() else None
    return "export.merge_prompt_method" if peft_type in PROMPT_METHODS else None


def actions(run: str | None, request: gr.Request | None = None) -> list:
    """(zip button, merge button, merge note, message): each button on only when there is a run for it to act
    on; Merge off with its reason for a run that has nothing to merge. A message about another run is cleared."""
    if not run:
        return [gr.update(interactive=False), gr.update(interactive=False), gr.update(value="", visible=False),
                say(request, "export.no_run")]
    try:
        blocker = merge_blocker(run_folder(run))
    except ValueError as error:
        return [gr.update(interactive=False), gr.update(interactive=False), gr.update(value="", visible=False),
                f"⚠️ {error_text(str(error), language(request))}"]
    note = say(request, blocker) if blocker else ""
    return [gr.update(interactive=True), gr.update(interactive=blocker is None),
            gr.update(value=note, visible=bool(note)), ""]


def refused(error: ValueError, outputs: int, request: gr.Request | None) -> list:
    """A refusal is said, in the page's language, on the tab's message line and in a toast that closes by itself;
    what an earlier zip or merge showed stays in place."""
    text = error_text(str(error), language(request))
    gr.Warning(text, duration=ERROR_SECONDS)
    return [f"⚠️ {text}", *[gr.skip()] * outputs]


def make_zip(run: str, request: gr.Request | None = None) -> list:
    """(message, download, folder, code) for the run's adapter (or model) zipped into exports/."""
    from studio.export import zip_export

    try:
        archive, code = zip_export(run_folder(run))
    except ValueError as error:
        return refused(error, 3, request)
    return ["", gr.update(value=str(archive), visible=True), str(archive), code]


def merge(run: str, name: str, request: gr.Request | None = None) -> list:
    """(message, folder, code) of the adapter merged into a full model folder in exports/."""
    from studio.export import merged_export

    try:
        folder, code = merged_export(run_folder(run), name)
    except ValueError as error:
        return refused(error, 2, request)
    return ["", str(folder), code]


def make_report(run: str, request: gr.Request | None = None) -> list:
    """(message, download) of the run's report: one self-contained HTML file in exports/, in the page's language."""
    from studio.report import run_report

    try:
        path = run_report(run_folder(run), language(request))
    except ValueError as error:
        return refused(error, 1, request)
    return ["", gr.update(value=str(path), visible=True)]


def make_gguf(run: str, quant: str, request: gr.Request | None = None) -> list:
    """(message, download, folder, the Modelfile and the commands) of the run's model as one GGUF file in exports/."""
    from studio.gguf_export import export_run_gguf

    try:
        if quant not in GGUF_QUANTS:
            raise ValueError(f"GGUF number format '{str(quant)[:20]}' is not one of: {', '.join(GGUF_QUANTS)}.")
        written = export_run_gguf(run_folder(run), quant)
    except ValueError as error:
        return refused(error, 3, request)
    modelfile = written["modelfile"].read_text(encoding="utf-8")
    commands = "\n".join(f"# {command}" for command in written["commands"])
    return ["", gr.update(value=str(written["gguf"]), visible=True), str(written["gguf"]),
            gr.update(value=f"{commands}\n\n# Modelfile\n" + "".join(f"# {line}\n" for line in modelfile.splitlines()))]


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
            zip_button = gr.Button(i18n("export.zip"), size="md", interactive=False, elem_id="export-zip")
            download = gr.DownloadButton(i18n("export.download"), variant="primary", size="md", visible=False,
                                         elem_id="export-download")
        with gr.Column(variant="panel"):
            gr.Markdown(i18n("export.merge_help"))
            name = gr.Textbox(label=i18n("export.merge_name"), info=i18n("export.merge_name_help"),
                              elem_id="export-merge-name")
            merge_button = gr.Button(i18n("export.merge"), variant="primary", size="md", interactive=False,
                                     elem_id="export-merge")
            merge_note = gr.Markdown(visible=False, elem_id="export-merge-note")
        with gr.Column(variant="panel"):
            gr.Markdown(i18n("export.gguf_help"))
            quant = gr.Radio(list(GGUF_QUANTS), value="q8_0", label=i18n("export.gguf_quant"), elem_id="export-gguf-quant")
            gguf_button = gr.Button(i18n("export.gguf"), size="md", interactive=False, elem_id="export-gguf")
            gguf_download = gr.DownloadButton(i18n("export.gguf_download"), variant="primary", size="md", visible=False,
                                              elem_id="export-gguf-download")
        with gr.Column(variant="panel"):
            gr.Markdown(i18n("export.report_help"))
            report_button = gr.Button(i18n("export.report"), size="md", interactive=False, elem_id="export-report")
            report_download = gr.DownloadButton(i18n("export.report_download"), variant="primary", size="md",
                                                visible=False, elem_id="export-report-download")
    message = gr.Markdown(elem_id="export-message")
    folder = gr.Textbox(label=i18n("export.folder"), interactive=False, buttons=["copy"], elem_id="export-folder")
    code = gr.Code(language="python", label=i18n("export.code"), interactive=False, elem_id="export-code")

    refresh = partial(run_update, manager)
    refresh_runs.click(refresh, inputs=run, outputs=run)
    if tab is not None:
        tab.select(refresh, inputs=run, outputs=run, show_progress="hidden")
    shown = [saved, name, code, download]
    buttons = [zip_button, merge_button, merge_note, message]
    # The buttons come on after the run's panel is drawn: a zip asked for at once is not hidden by that drawing.
    chosen = run.change(show_run, inputs=run, outputs=shown, show_progress="hidden")
    chosen.then(actions, inputs=run, outputs=buttons, show_progress="hidden")
    # Another run's report is not offered for this one; any finished run can have one.
    chosen.then(lambda picked: [gr.update(interactive=bool(picked)), gr.update(visible=False)] * 2, inputs=run,
                outputs=[report_button, report_download, gguf_button, gguf_download], show_progress="hidden",
                api_visibility="private")
    gr.on(triggers=None, fn=show_run, inputs=run, outputs=shown)
    gr.on(triggers=None, fn=actions, inputs=run, outputs=buttons, show_progress="hidden")
    # Progress shows on the message line alone: the folder and code of an earlier export stay readable.
    zip_button.click(make_zip, inputs=run, outputs=[message, download, folder, code], show_progress_on=message)
    merge_button.click(merge, inputs=[run, name], outputs=[message, folder, code], show_progress_on=message)
    report_button.click(make_report, inputs=run, outputs=[message, report_download], show_progress_on=message)
    gguf_button.click(make_gguf, inputs=[run, quant], outputs=[message, gguf_download, folder, code],
                      show_progress_on=message)
    return run

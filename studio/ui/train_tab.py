"""The Train tab's page: pick a model, data, method and settings; estimate, start or queue, watch, abort and resume
runs.

This module lays the page out in sections (the settings, Estimate and the command-line tools, the run's
actions, the live view) and wires their events; the handlers live beside it: `train_form` (the settings as a
RunConfig, presets, estimate, plan line) and `train_runs` (start / resume / abort / Train more and the live view
of the followed run). Labels are i18n keys that Gradio translates.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from studio.config import RunConfig, list_presets, load_config
from studio.jobs import JobManager
from studio.methods import ADAPTER_METHODS, PROMPT_METHODS
from studio.events import REWARD_METRICS
from studio.ui.common import bind, dataset_choices, default_preset
from studio.ui.i18n import i18n
from studio.ui.train_form import (
    ADVANCED, BASIC_ROWS, BETA_STAGES, GRPO_ROWS, LORA_FAMILY, LORA_SETTINGS, PREFERENCE_SETTINGS, SETTINGS,
    cancel_estimate, estimate_settings, estimating, grpo_settings_view, method_view, plan_line, preset_settings,
    preview_command, refreshed_choices, reward_model_choices, save_settings_as_preset, setting_widget, several_gpus,
    stage_view,
)
from studio.ui.train_runs import (
    CARD_FIELDS, GRPO_CHARTS, GRPO_COLORS, REWARD_COLORS, abort_run, enqueue_run, followed_run, grpo_charts,
    probe_table, refresh, remove_queued, resume_run, reward_view, run_card, run_settings, runs_frame, sample_table,
    selected_run, show_run, start_run, train_more,
)

# Gradio 6's Textbox autoscroll follows only its first update; this keeps the newest log line in view.
SCROLL_LOG_TO_END = ("() => { setTimeout(() => { const box = document.querySelector('#train-log textarea');"
                     " if (box) { box.scrollTop = box.scrollHeight; } }, 50); }")


def build(manager: JobManager, tab: gr.Tab | None = None) -> SimpleNamespace:
    """The tab's widgets and events; `tab`, when given, refreshes the dataset list each time it is opened.

    Returns the next-step buttons shown once the followed run has finished (compare, chat, export) and
    the followed run, for the app to link to those tabs, and the dataset field, which follows the
    Dataset tab.
    """
    preset_name = default_preset()
    samples = [value for label, value in dataset_choices() if label == "samples/reviews-train.jsonl"]
    initial = load_config(preset_name, {"dataset": samples[0] if samples else ""})
    # Every component of the page, by name, for the sections below to place and wire.
    page = SimpleNamespace(widgets={}, run_state=gr.State(None), shown_status=gr.State(None),
                           shown_busy=gr.State(None))
    with gr.Row():
        with gr.Column(scale=2):
            _settings(page, initial, preset_name)
            _estimate_and_tools(page)
        with gr.Column(scale=3):
            _actions(page)
            _live_view(page, manager)
    page.timer = gr.Timer(2.0)
    page.settings = [page.widgets[name] for name in SETTINGS]
    page.view = [page.shown_status, page.shown_busy, page.status, page.progress, page.loss_chart_view, page.probes,
                 page.log, page.runs, page.start_button, page.abort_button, page.resume_button, page.more_button,
                 page.next_steps, page.queue_button, page.remove_button]
    page.show = bind(show_run, manager)
    _wire_page_load(page, manager, tab)
    _wire_form(page)
    _wire_runs(page, manager)
    return SimpleNamespace(compare=page.compare_button, chat=page.chat_button, export=page.export_button,
                           run=page.run_state, dataset=page.widgets["dataset"])


def _settings(page: SimpleNamespace, initial: RunConfig, preset_name: str) -> None:
    """The form's settings: model, data, method and preset, the basic numbers, the method's own settings, the stage
    and where a run goes on from, and the advanced settings."""
    widgets = page.widgets
    widgets["base_model"] = setting_widget("base_model", initial.base_model)
    page.refresh_choices = gr.Button("↻", size="sm")
    widgets["dataset"] = gr.Dropdown(
        dataset_choices(), value=initial.dataset, allow_custom_value=True, buttons=[page.refresh_choices],
        label=i18n("train.setting.dataset"), info=i18n("train.help.dataset"), elem_id="train-dataset")
    with gr.Row():
        widgets["method"] = setting_widget("method", initial.method)
        page.preset = gr.Dropdown(list_presets(), value=preset_name, label=i18n("train.preset"),
                                  info=i18n("train.preset_help"), elem_id="train-preset")
    page.description = gr.Markdown(i18n(f"train.method.{initial.method}"))
    for row in BASIC_ROWS:
        with gr.Row():
            for name in row:
                widgets[name] = setting_widget(name, getattr(initial, name))
    widgets["num_processes"] = setting_widget("num_processes", initial.num_processes, visible=several_gpus())
    with gr.Row(visible=initial.method in LORA_FAMILY) as page.lora_row:
        for name in LORA_SETTINGS:
            widgets[name] = setting_widget(name, getattr(initial, name))
    widgets["target_modules"] = setting_widget("target_modules", initial.target_modules,
                                               visible=initial.method in ADAPTER_METHODS)
    widgets["num_virtual_tokens"] = setting_widget("num_virtual_tokens", initial.num_virtual_tokens,
                                                   visible=initial.method in PROMPT_METHODS)
    widgets["trainable_layers"] = setting_widget("trainable_layers", initial.trainable_layers,
                                                 visible=initial.method == "freeze")
    # What a run learns from (SFT, pre-training, preference pairs) and what it goes on from: Train more
    # opens this section when it fills in the run to start from.
    with gr.Accordion(i18n("train.stage_section"), open=False, elem_id="train-stage-section") as page.stage_section:
        widgets["stage"] = setting_widget("stage", initial.stage)
        with gr.Row(visible=initial.stage in BETA_STAGES) as page.preference_row:
            for name in PREFERENCE_SETTINGS:
                widgets[name] = setting_widget(name, getattr(initial, name), visible=name != "preference_loss"
                                               or initial.stage == "dpo")
        with gr.Group(visible=initial.stage == "grpo", elem_id="train-grpo-settings") as page.grpo_settings:
            gr.Markdown(i18n("train.grpo_section"))
            for row in GRPO_ROWS:
                with gr.Row():
                    for name in row:
                        widgets[name] = setting_widget(name, getattr(initial, name))
        widgets["start_from"] = setting_widget("start_from", initial.start_from)
    with gr.Accordion(i18n("train.advanced"), open=False):
        for start in range(0, len(ADVANCED), 3):
            with gr.Row():
                for name in ADVANCED[start:start + 3]:
                    widgets[name] = setting_widget(name, getattr(initial, name))


def _estimate_and_tools(page: SimpleNamespace) -> None:
    """Under the settings: Estimate (with Cancel) and its results, then the command line and save-as-preset."""
    with gr.Row():
        page.estimate_button = gr.Button(i18n("train.estimate"), size="md", elem_id="train-estimate")
        page.cancel_button = gr.Button(i18n("train.cancel"), size="md", interactive=False,
                                       elem_id="train-estimate-cancel")
    with gr.Row():
        page.trainable = gr.Textbox(label=i18n("train.estimate_trainable"), interactive=False)
        page.memory = gr.Textbox(label=i18n("train.estimate_memory"), interactive=False)
        page.duration = gr.Textbox(label=i18n("train.estimate_time"), interactive=False)
    page.fit_warning = gr.Markdown()
    with gr.Accordion(i18n("train.tools"), open=False, elem_id="train-tools"):
        page.preview_button = gr.Button(i18n("train.preview"), size="md", elem_id="train-preview")
        page.command = gr.Textbox(label=i18n("train.command"), max_lines=6, interactive=False, buttons=["copy"],
                                  elem_id="train-command")
        with gr.Row(elem_classes=["studio-align-end"]):
            page.new_preset = gr.Textbox(label=i18n("train.preset_name"), scale=3)
            page.save_button = gr.Button(i18n("train.save_preset"), size="md", scale=1, elem_id="train-save-preset")


def _actions(page: SimpleNamespace) -> None:
    """The followed run's status and plan, the run name, Start / Add to queue / Abort / Resume / Train more / Remove
    from queue, the progress bar, and the card of a stopped run with its next steps."""
    page.status = gr.Markdown(i18n("train.status.none"), elem_id="train-status")
    page.plan_note = gr.Markdown(elem_id="train-plan")
    page.run_name = gr.Textbox(label=i18n("train.run_name"), placeholder=i18n("train.run_name_placeholder"),
                               info=i18n("train.run_name_help"), max_length=80, elem_id="train-run-name")
    with gr.Row(elem_id="train-actions"):
        page.start_button = gr.Button(i18n("train.start"), variant="primary", size="md", elem_id="train-start")
        page.queue_button = gr.Button(i18n("train.enqueue"), size="md", elem_id="train-enqueue")
        page.abort_button = gr.Button(i18n("train.abort"), variant="secondary", size="md", interactive=False,
                                      elem_id="train-abort")
        page.resume_button = gr.Button(i18n("train.resume"), size="md", visible=False, elem_id="train-resume")
        page.more_button = gr.Button(i18n("train.more"), size="md", visible=False, elem_id="train-more")
        page.remove_button = gr.Button(i18n("train.remove_queued"), size="md", visible=False,
                                       elem_id="train-remove-queued")
    page.progress = gr.HTML(elem_id="train-progress")
    # The end of a run: its numbers, and where to go next (shown once the followed run has stopped).
    with gr.Group(visible=False, elem_id="train-card") as page.card:
        with gr.Row():
            page.card_values = [gr.Textbox(label=i18n(f"train.card.{name}"), interactive=False, min_width=120,
                                           elem_id=f"train-card-{name.replace('_', '-')}") for name in CARD_FIELDS]
        with gr.Row(visible=False) as page.next_steps:
            page.chat_button = gr.Button(i18n("train.next.chat"), size="md", elem_id="train-chat")
            page.compare_button = gr.Button(i18n("compare.open_from_train"), size="md", variant="primary",
                                            elem_id="train-compare")
            page.export_button = gr.Button(i18n("train.next.export"), size="md", elem_id="train-export")


def _live_view(page: SimpleNamespace, manager: JobManager) -> None:
    """The loss chart, the reward charts (DPO / ORPO), the probe answers, the runs list and the log."""
    page.loss_chart_view = gr.HTML(label=i18n("train.loss"), show_label=True, container=True,
                                   elem_id="train-loss-plot")
    with gr.Row(visible=False) as page.reward_row:
        page.accuracy_plot, page.margin_plot = (
            gr.LinePlot(None, x="step", y=metric, color="series", color_map=REWARD_COLORS,
                        label=i18n(f"preference.chart.{metric}"), elem_id=f"train-{metric.replace('_', '-')}-plot")
            for metric in REWARD_METRICS.values())
    with gr.Column(visible=False) as page.grpo_row:  # a GRPO run's rewards, KL, answer length and sampled answers
        with gr.Row():
            page.grpo_plots = [
                gr.LinePlot(None, x="step", y=metric, color="series", color_map=GRPO_COLORS,
                            label=i18n(f"grpo.chart.{metric}"), elem_id=f"train-grpo-{metric.replace('_', '-')}-plot")
                for metric in GRPO_CHARTS]
        page.samples = gr.Dataframe(sample_table(None), label=i18n("grpo.samples"), interactive=False, wrap=True,
                                    column_widths=["8%", "34%", "14%", "30%", "14%"], elem_id="train-samples")
    page.probes = gr.Dataframe(probe_table(None), label=i18n("train.probes"), interactive=False, wrap=True,
                               column_widths=["8%", "40%", "26%", "26%"], elem_id="train-probes")
    page.runs = gr.Dataframe(runs_frame(manager), label=i18n("train.runs"), interactive=False, wrap=True,
                             max_height=320, column_widths=["18%", "13%", "9%", "8%", "16%", "11%", "14%", "11%"],
                             elem_id="train-runs")
    with gr.Accordion(i18n("train.log"), open=True):
        page.log = gr.Textbox(show_label=False, lines=8, max_lines=8, interactive=False, autoscroll=True,
                              elem_id="train-log")


def _wire_page_load(page: SimpleNamespace, manager: JobManager, tab: gr.Tab | None) -> None:
    """On page load: the dataset and preset lists, and the followed run (refreshed when the tab is opened)."""
    choices = [page.widgets["dataset"], page.preset]
    gr.on(triggers=None, fn=refreshed_choices, outputs=choices)
    # A reloaded page shows the run it followed, and, while that run trains, the settings it was started with.
    followed = gr.on(triggers=None, fn=bind(followed_run, manager), outputs=page.run_state)
    followed.then(page.show, inputs=page.run_state, outputs=page.view, show_progress="hidden")
    followed.then(bind(run_settings, manager), inputs=page.run_state, outputs=page.settings, show_progress="hidden")
    page.refresh_choices.click(refreshed_choices, outputs=choices)
    # The reward-model runs GRPO may score with: listed on load, on refresh and when the stage changes.
    reward_models = dict(fn=bind(reward_model_choices, manager), outputs=page.widgets["reward_model"],
                         show_progress="hidden")
    gr.on([page.refresh_choices.click, page.widgets["stage"].change], **reward_models)
    gr.on(triggers=None, **reward_models)
    if tab is not None:
        # A dataset saved in the Dataset tab a moment ago is offered without a click on the refresh button.
        tab.select(refreshed_choices, outputs=choices, show_progress="hidden")


def _wire_form(page: SimpleNamespace) -> None:
    """The form's events: preset, method, Estimate and Cancel, the command line, the plan line, save-as-preset."""
    widgets, settings = page.widgets, page.settings
    page.preset.input(preset_settings, inputs=[page.preset, widgets["base_model"], widgets["dataset"]],
                      outputs=settings, api_name="apply_preset")
    widgets["method"].change(method_view, inputs=widgets["method"], outputs=[
        page.description, page.lora_row, widgets["target_modules"], widgets["num_virtual_tokens"],
        widgets["trainable_layers"]])
    # Estimate takes half a minute: a progress bar over its results names each phase and the time left, and
    # Cancel (live only meanwhile) stops it; the buttons come back either way.
    estimate_buttons = [page.estimate_button, page.cancel_button]
    measuring = page.estimate_button.click(lambda: estimating(True), outputs=estimate_buttons, queue=False).then(
        estimate_settings, inputs=settings, outputs=[page.trainable, page.memory, page.duration, page.fit_warning],
        show_progress_on=[page.duration])
    measuring.then(lambda: estimating(False), outputs=estimate_buttons, show_progress="hidden")
    page.cancel_button.click(cancel_estimate, outputs=estimate_buttons, cancels=[measuring], queue=False)
    page.preview_button.click(preview_command, inputs=settings, outputs=page.command)
    # The plan is said again whenever a setting changes (a preset changes many at once: the last call wins).
    plan_settings = dict(fn=plan_line, inputs=settings, outputs=page.plan_note, show_progress="hidden")
    gr.on(triggers=None, **plan_settings)
    gr.on([widgets[name].change for name in SETTINGS], trigger_mode="always_last", **plan_settings)
    page.save_button.click(save_settings_as_preset, inputs=[page.new_preset, *settings], outputs=page.preset)


def _wire_runs(page: SimpleNamespace, manager: JobManager) -> None:
    """The runs' events: Start, Add to queue, Remove from queue, Resume, Abort, a row clicked, the timer, and what
    follows the view (the log's scroll, the preference settings, the reward charts, the card), and Train more."""
    show, run_state, view = page.show, page.run_state, page.view
    page.start_button.click(bind(start_run, manager), inputs=[page.run_name, *page.settings],
                            outputs=[run_state, page.run_name], api_name="start_run",
                            show_progress="hidden").success(show, inputs=run_state, outputs=view)
    page.queue_button.click(bind(enqueue_run, manager), inputs=[run_state, page.run_name, *page.settings],
                            outputs=[run_state, page.run_name], api_name="enqueue_run",
                            show_progress="hidden").success(show, inputs=run_state, outputs=view)
    page.remove_button.click(bind(remove_queued, manager), inputs=run_state, outputs=run_state,
                             api_name="remove_queued").success(show, inputs=run_state, outputs=view)
    page.resume_button.click(bind(resume_run, manager), inputs=run_state, outputs=run_state,
                             api_name="resume_run").success(show, inputs=run_state, outputs=view)
    page.abort_button.click(bind(abort_run, manager), inputs=run_state, api_name="abort_run").then(
        show, inputs=run_state, outputs=view)
    page.runs.select(selected_run, outputs=run_state).then(show, inputs=run_state, outputs=view,
                                                           show_progress="hidden", api_name="follow_run")
    page.timer.tick(bind(refresh, manager), inputs=[run_state, page.shown_status, page.shown_busy], outputs=view,
                    show_progress="hidden")
    page.log.change(None, js=SCROLL_LOG_TO_END)
    page.widgets["stage"].change(stage_view, inputs=page.widgets["stage"],
                                 outputs=[page.preference_row, page.widgets["preference_loss"]])
    page.widgets["stage"].change(grpo_settings_view, inputs=page.widgets["stage"], outputs=page.grpo_settings)
    # The loss chart is redrawn whenever the run has new events; the reward charts follow it.
    page.loss_chart_view.change(reward_view, inputs=run_state, outputs=[page.reward_row, page.accuracy_plot,
                                                                          page.margin_plot], show_progress="hidden")
    page.loss_chart_view.change(grpo_charts, inputs=run_state, outputs=[page.grpo_row, *page.grpo_plots, page.samples],
                                show_progress="hidden")
    page.shown_status.change(run_card, inputs=[run_state, page.shown_status], outputs=[page.card, *page.card_values],
                             show_progress="hidden")
    page.more_button.click(train_more, inputs=run_state, outputs=[*page.settings, page.stage_section],
                           api_name="train_more")

"""The Train tab: pick a model, data, method and settings; estimate, start, watch, abort and resume runs.

Each setting widget is one RunConfig field (its help text is the widget's info), and
`read_settings` turns the widget values into the RunConfig that start, estimate, preview and
save-as-preset all use. The live view reads only the run folder (events.jsonl, train.log), so a
closed or reloaded browser loses nothing: on page load the tab follows the running job, else the
newest run. Which run a browser follows lives in its gr.State.
"""

from __future__ import annotations

from dataclasses import fields
from functools import partial, wraps
from types import SimpleNamespace
from pathlib import Path

import gradio as gr
import pandas as pd

from studio import jobs
from studio.access import client_config, client_run
from studio.config import (
    LIMITS, PREFERENCE_STAGES, SAMPLES_DIR, RunConfig, from_dict, list_presets, load_config, save_preset, train_command,
)
from studio.estimate import GIB, estimate
from studio.events import follow, format_progress
from studio.jobs import JobManager, log_tail
from studio.methods import ADAPTER_METHODS, PROMPT_METHODS
from studio.data import SUFFIXES
from studio.plan import RunPlan, duration, passes_text, plan_run
from studio.preference import REWARD_METRICS
from studio.ui.common import default_preset
from studio.ui.i18n import EN, ZH, i18n
from studio.workspace import datasets_dir

DEFAULTS = RunConfig()
# Every setting but the run folder: each start makes a new one.
SETTINGS = [spec.name for spec in fields(RunConfig) if spec.name != "output_dir"]
CHOICES = {spec.name: spec.metadata["choices"] for spec in fields(RunConfig) if "choices" in spec.metadata}
BASIC_ROWS = (("epochs", "max_steps", "learning_rate"), ("batch_size", "cutoff_length", "validation_split"))
LORA_SETTINGS = ("lora_rank", "lora_alpha", "lora_dropout")
LORA_FAMILY = tuple(method for method in ADAPTER_METHODS if method != "ia3")
PREFERENCE_SETTINGS = ("preference_beta", "preference_loss")
PLACED = {"base_model", "dataset", "method", "stage", "target_modules", "num_virtual_tokens", "trainable_layers",
          *PREFERENCE_SETTINGS, "start_from",
          *LORA_SETTINGS, *(name for row in BASIC_ROWS for name in row)}
ADVANCED = [name for name in SETTINGS if name not in PLACED]
SLIDERS = {"validation_split": (0.0, 0.5, 0.01), "warmup_ratio": (0.0, 0.5, 0.01), "lora_dropout": (0.0, 0.5, 0.01)}
# The columns are named by their fields: Gradio shows Dataframe headers untranslated.
RUN_COLUMNS = ("run", "status", "method", "stage", "dataset", "train_loss", "eval_loss", "seconds")
PROBE_COLUMNS = ("step", "prompt", "answer")
LOG_LINES = 40
RESUMABLE = ("aborted", "failed")
CARD_FIELDS = ("train_loss", "eval_loss", "trained_tokens", "wall_seconds")
PROMPT_CHARACTERS = 120
# Gradio 6's Textbox autoscroll follows only its first update; this keeps the newest log line in view.
SCROLL_LOG_TO_END = ("() => { setTimeout(() => { const box = document.querySelector('#train-log textarea');"
                     " if (box) { box.scrollTop = box.scrollHeight; } }, 50); }")
# One colour per series, the same for every run.
SERIES_COLORS = {"loss": "#f97316", "eval_loss": "#2563eb"}
REWARD_COLORS = {"train": SERIES_COLORS["loss"], "validation": SERIES_COLORS["eval_loss"]}


def shows_errors(handler):
    """studio's ValueErrors reach the user as a gr.Error with the same message."""
    @wraps(handler)
    def wrapper(*args):
        try:
            return handler(*args)
        except gr.Error:
            raise
        except ValueError as error:
            raise gr.Error(str(error)) from None
    return wrapper


def read_settings(*values) -> RunConfig:
    """The RunConfig of the setting widgets' values, given in SETTINGS order.

    The values come from a request, whatever the widgets show: every path in them must resolve inside
    the workspace (or a folder the app was started with), and model code needs the app's own flag."""
    settings = dict(zip(SETTINGS, values))
    prompts = settings["probe_prompts"]
    settings["probe_prompts"] = [line.strip() for line in (prompts if isinstance(prompts, str) else "").splitlines()
                                 if line.strip()]
    return client_config(from_dict(settings)).validate()


def setting_values(config: RunConfig) -> list:
    """The widget values for a RunConfig, in SETTINGS order (the inverse of read_settings)."""
    return ["\n".join(config.probe_prompts) if name == "probe_prompts" else getattr(config, name) for name in SETTINGS]


def dataset_choices() -> list[tuple[str, str]]:
    """Workspace datasets, then the shipped samples: (what the user sees, the file path)."""
    def files(folder: Path) -> list[Path]:
        return [path for path in sorted(folder.iterdir()) if path.suffix in SUFFIXES and not path.name.startswith(".")]
    return ([(path.name, str(path)) for path in files(datasets_dir())]
            + [(f"samples/{path.name}", str(path)) for path in files(SAMPLES_DIR)])


def refreshed_choices() -> tuple:
    return gr.update(choices=dataset_choices()), gr.update(choices=list_presets())


@shows_errors
def apply_preset(preset: str, base_model: str, dataset: str) -> list:
    """A preset's settings (how to train); the base model and the dataset stay, and a preset never switches on
    model code: what runs on this machine is chosen here, not in a file."""
    if preset not in list_presets():
        raise ValueError(f"No preset '{preset}'. Use one of: {', '.join(list_presets())}.")
    config = load_config(preset, {"dataset": dataset, "base_model": base_model})
    config.trust_remote_code = False
    return setting_values(config)


def stage_view(stage: str) -> tuple:
    """The preference settings for dpo and orpo only; the loss type is DPO's alone."""
    return gr.update(visible=stage in PREFERENCE_STAGES), gr.update(visible=stage == "dpo")


def reward_view(run_path: str | None) -> tuple:
    """Preference accuracy and reward margin charts of a DPO / ORPO run (hidden for other runs)."""
    points = follow(Path(run_path))["reward_points"] if run_path else []
    if not points:
        return gr.update(visible=False), None, None
    frames = []
    for metric in REWARD_METRICS.values():
        rows = [{"step": point["step"], "series": point["series"], metric: point["value"]}
                for point in points if point["metric"] == metric]
        # As in loss_frame: every series in every frame, so the colours stay fixed from the first draw.
        rows += [{"step": points[0]["step"], "series": series, metric: None}
                 for series in sorted(set(REWARD_COLORS) - {row["series"] for row in rows})]
        frames.append(pd.DataFrame(rows, columns=["step", "series", metric]))
    return gr.update(visible=True), *frames


def method_view(method: str) -> tuple:
    """The method's description, and only the settings that method uses."""
    return (i18n(f"train.method.{method}"), gr.update(visible=method in LORA_FAMILY),
            gr.update(visible=method in ADAPTER_METHODS), gr.update(visible=method in PROMPT_METHODS),
            gr.update(visible=method == "freeze"))


@shows_errors
def estimate_settings(*values) -> tuple:
    config = read_settings(*values)
    if config.trust_remote_code:
        # Estimate loads the model inside the app: a model's own code never runs in the app's process.
        raise ValueError("Estimate loads the model inside the app, where a model's own code is never run. With "
                         "trust_remote_code, start the run (it trains in a process of its own) or estimate from the "
                         "command line.")
    result = estimate(config)
    if result.warning:
        gr.Warning(result.warning)
    return (f"{result.trainable / 1e6:,.2f} M / {result.total / 1e6:,.1f} M ({result.trainable / result.total:.2%})",
            f"{result.memory_bytes / GIB:.1f} / {result.available_bytes / GIB:.1f} GiB ({result.device})",
            f"{result.seconds_per_step:.1f} s × {result.total_steps} ≈ {result.total_seconds / 60:.1f} min",
            f"⚠️ {result.warning}" if result.warning else "")


def plan_line(request: gr.Request, *values) -> str:
    """What a run with these settings will do and why, said before Start (no model is loaded)."""
    words = browser_language(request)
    try:
        plan = plan_run(read_settings(*values))
    except (ValueError, OSError) as error:
        # Settings are often half-typed while this runs: the reason replaces the line, without a pop-up.
        return f"{words['train.plan.unavailable']}: {(str(error) or type(error).__name__).splitlines()[0]}"
    return plan_text(plan, words)


def browser_language(request: gr.Request | None) -> dict:
    """The labels of the browser's language. The plan line is put together here, in words: Gradio's
    browser side translates one key per text, and this line has several."""
    accepted = request.headers.get("accept-language", "") if request is not None else ""
    return {**EN, **ZH} if accepted.lower().startswith("zh") else EN


def plan_text(plan: RunPlan, words: dict) -> str:
    """studio.plan.describe's line in the words of one language."""
    time = duration(plan)
    about = f"{words['train.plan.about']} {time[0]} {words[f'train.plan.{time[1]}']}" if time else words["train.plan.unknown"]
    passes = words["train.plan.pass" if plan.passes == 1 else "train.plan.passes"]
    steps = words["train.plan.step" if plan.total_steps == 1 else "train.plan.steps"]
    comma, colon = words["train.plan.comma"], words["train.plan.colon"]
    return (f"{plan.rows:,} {words['train.plan.rows']} → {passes_text(plan)} {passes}{comma}{plan.total_steps:,} {steps}"
            f"{comma}{about}{colon}{words[f'train.plan.reason.{plan.reason}']}")


@shows_errors
def preview_command(*values) -> str:
    return train_command(read_settings(*values))


@shows_errors
def save_settings_as_preset(name: str, *values):
    path = save_preset(read_settings(*values), name)
    gr.Info(f"presets/{path.name} ✓")
    return gr.update(choices=list_presets(), value=path.stem)


@shows_errors
def start_run(manager: JobManager, *values) -> str:
    return str(manager.start(read_settings(*values)))


@shows_errors
def resume_run(manager: JobManager, run_path: str | None) -> str:
    if not run_path:
        raise ValueError("Select a run in the runs list to resume it.")
    return str(manager.resume(client_run(run_path)))


def run_card(run_path: str | None, status: str | None) -> list:
    """A stopped run's numbers for the card under the progress bar; hidden while it runs or with no run."""
    if not run_path or status in (None, "running", "created"):
        return [gr.update(visible=False), *[gr.skip()] * len(CARD_FIELDS)]
    summary = jobs.read_summary(Path(run_path))
    seconds = int(summary.get("wall_seconds") or 0)
    values = {
        "train_loss": f"{summary['train_loss']:.4f}" if summary.get("train_loss") is not None else "–",
        "eval_loss": f"{summary['eval_loss']:.4f}" if summary.get("eval_loss") is not None else "–",
        "trained_tokens": f"{summary.get('trained_tokens') or 0:,}"
                          + (f" · {summary['tokens_per_second']:,.0f}/s" if summary.get("tokens_per_second") else ""),
        "wall_seconds": f"{seconds // 60}:{seconds % 60:02d}",
    }
    return [gr.update(visible=True), *(values[name] for name in CARD_FIELDS)]


def run_settings(manager: JobManager, run_path: str | None) -> list:
    """The form as the running job was started, for a page that reattaches to it: Start (once the job ends) then
    launches what the page showed. A page that opens on a stopped run keeps the default preset: a newcomer's
    first run starts from the defaults, not from whatever ran last."""
    try:
        running = bool(run_path) and manager.status(client_run(run_path)) == "running"
        config = jobs.load_run_config(client_run(run_path)) if running else None
    except ValueError:  # a run folder whose config no longer reads: the form stays as it is
        config = None
    if config is None:
        return [gr.skip()] * len(SETTINGS)
    config.output_dir = ""
    return setting_values(config)


@shows_errors
def train_more(run_path: str | None) -> list:
    """The form set for a new run that goes on from the followed finished run (its adapter, or its model);
    the finished run itself stays as it is."""
    if not run_path:
        raise ValueError("Select a finished run in the runs list first.")
    return setting_values(jobs.train_more(client_run(run_path)))


def abort_run(manager: JobManager, run_path: str | None) -> None:
    """Stop after the current step with a checkpoint (the view then shows 'aborted')."""
    if run_path:
        manager.abort(client_run(run_path))


def followed_run(manager: JobManager) -> str | None:
    """The run a newly opened page follows: the running job, else the newest run."""
    runs = manager.list_runs()
    chosen = next((run for run in runs if run.status == "running"), runs[0] if runs else None)
    return str(chosen.path) if chosen else None


@shows_errors
def selected_run(event: gr.SelectData) -> str:
    """The run of the clicked row; the row's value comes from the request, so it must name a run of the workspace."""
    row = event.row_value if isinstance(event.row_value, list) else []
    return str(client_run(row[0] if row and isinstance(row[0], str) else ""))


def runs_table(manager: JobManager) -> list[list]:
    def rounded(value):
        return None if value is None else round(value, 4)
    return [[run.name, run.status, run.method, run.stage, run.dataset, rounded(run.train_loss), rounded(run.eval_loss),
             run.wall_seconds] for run in manager.list_runs()]


def run_view(manager: JobManager, run_path: str | None) -> tuple:
    """(status line, progress bar, loss points, latest probe answers, log tail) of one run."""
    if not run_path:
        return i18n("train.status.none"), "", None, [], ""
    run_dir = Path(run_path)
    info = manager.describe(run_dir)
    events = follow(run_dir)
    status = f"**{info.name}** · {i18n(f'train.status.{info.status}')}"
    if info.status == "failed" and info.error:
        status += f" — {info.error.splitlines()[0]}"
    probes = events["last_probes"]
    probe_rows = [[probes["step"], ending(probe["prompt"]), probe["answer"]] for probe in probes["probes"]] if probes else []
    return (status, progress_bar(events, info.status), loss_frame(events["loss_points"]), probe_rows,
            log_tail(run_dir / "train.log", LOG_LINES))


def ending(prompt: str, limit: int = PROMPT_CHARACTERS) -> str:
    """The end of a long prompt: where the question that differs between probes usually is."""
    return prompt if len(prompt) <= limit else "…" + prompt[-limit:]


def progress_bar(events: dict, status: str) -> str:
    """The progress line of a run's events as `studio.events.follow` gives them."""
    prepared = events["prepared"]
    if prepared is None:
        return f"<p>{i18n('train.preparing')}</p>" if status == "running" else ""
    total = prepared["total_steps"]
    last = events["last_loss"] or {"step": 0}
    if status != "running":
        last = {**last, "eta": 0}  # a stopped run has nothing left to wait for
    return (f'<progress value="{last["step"]}" max="{total}" style="width:100%;height:14px"></progress>'
            f"<div>{format_progress(last, total)}</div>")


def loss_frame(points: list[dict]) -> pd.DataFrame | None:
    """Loss points to plot; None until there are some (a plot drawn empty takes its axis types from nothing)."""
    points = list(points)
    if not points:
        return None
    # The plot fixes its colours at its first draw, so every series is in every frame; a series with
    # no point yet (validation loss comes later) gets one empty value, which draws nothing.
    missing = set(SERIES_COLORS) - {point["series"] for point in points}
    points += [{"step": points[0]["step"], "series": series, "loss": None} for series in sorted(missing)]
    return pd.DataFrame(points, columns=["step", "series", "loss"])


def show_run(manager: JobManager, run_path: str | None, with_runs: bool = True) -> list:
    """Everything the live view shows, with the status it shows (for `refresh`)."""
    status = manager.status(Path(run_path)) if run_path else None
    return [status, *run_view(manager, run_path), runs_table(manager) if with_runs else gr.skip()]


def refresh(manager: JobManager, run_path: str | None, shown_status: str | None) -> list:
    """Timer tick: redraw while the run is live or its status changed; the runs list (every run folder read)
    only on a change."""
    status = manager.status(Path(run_path)) if run_path else None
    if status == shown_status and status != "running":
        return [gr.skip()] * 7
    return show_run(manager, run_path, with_runs=status != shown_status)


def setting_widget(name: str, value, **extra) -> gr.components.Component:
    """The widget for one RunConfig field, labelled and explained in the user's language."""
    text = dict(label=i18n(f"train.setting.{name}"), info=i18n(f"train.help.{name}"),
                elem_id=f"train-{name.replace('_', '-')}", **extra)
    kind = type(getattr(DEFAULTS, name))
    if name in CHOICES:
        return (gr.Radio if len(CHOICES[name]) == 2 else gr.Dropdown)(list(CHOICES[name]), value=value, **text)
    if kind is bool:
        return gr.Checkbox(value, **text)
    if name in SLIDERS:
        minimum, maximum, step = SLIDERS[name]
        return gr.Slider(minimum, maximum, value=value, step=step, **text)
    low, high = LIMITS.get(name, (0, None))
    if kind is int:
        # Whole numbers are checked by RunConfig, not rounded by the widget: Gradio's rounding fails on NaN
        # with no message, where RunConfig names the setting.
        return gr.Number(value, step=1, minimum=low, maximum=high, **text)
    if kind is float:
        return gr.Number(value, minimum=0, maximum=high, step=10 ** -6 if name == "learning_rate" else 0.1, **text)
    if kind is list:
        return gr.Textbox("\n".join(value), lines=2, placeholder=i18n("train.probe_prompts_placeholder"), **text)
    return gr.Textbox(value, **text)


def build(manager: JobManager, tab: gr.Tab | None = None) -> SimpleNamespace:
    """The tab's widgets and events; `tab`, when given, refreshes the dataset list each time it is opened.

    Returns the next-step buttons shown once the followed run has finished (compare, chat, export) and
    the followed run, for the app to link to those tabs, and the dataset field, which follows the
    Dataset tab.
    """
    preset_name = default_preset()
    samples = [value for label, value in dataset_choices() if label == "samples/reviews-train.jsonl"]
    initial = load_config(preset_name, {"dataset": samples[0] if samples else ""})
    widgets = {}
    run_state = gr.State(None)
    shown_status = gr.State(None)
    with gr.Row():
        with gr.Column(scale=2):
            widgets["base_model"] = setting_widget("base_model", initial.base_model)
            refresh_choices = gr.Button("↻", size="sm")
            widgets["dataset"] = gr.Dropdown(
                dataset_choices(), value=initial.dataset, allow_custom_value=True, buttons=[refresh_choices],
                label=i18n("train.setting.dataset"), info=i18n("train.help.dataset"), elem_id="train-dataset")
            with gr.Row():
                widgets["method"] = setting_widget("method", initial.method)
                preset = gr.Dropdown(list_presets(), value=preset_name, label=i18n("train.preset"),
                                     info=i18n("train.preset_help"), elem_id="train-preset")
            description = gr.Markdown(i18n(f"train.method.{initial.method}"))
            widgets["start_from"] = setting_widget("start_from", initial.start_from)
            widgets["stage"] = setting_widget("stage", initial.stage)
            with gr.Row(visible=initial.stage in PREFERENCE_STAGES) as preference_row:
                for name in PREFERENCE_SETTINGS:
                    widgets[name] = setting_widget(name, getattr(initial, name), visible=name != "preference_loss"
                                                   or initial.stage == "dpo")
            for row in BASIC_ROWS:
                with gr.Row():
                    for name in row:
                        widgets[name] = setting_widget(name, getattr(initial, name))
            with gr.Row(visible=initial.method in LORA_FAMILY) as lora_row:
                for name in LORA_SETTINGS:
                    widgets[name] = setting_widget(name, getattr(initial, name))
            widgets["target_modules"] = setting_widget("target_modules", initial.target_modules,
                                                       visible=initial.method in ADAPTER_METHODS)
            widgets["num_virtual_tokens"] = setting_widget("num_virtual_tokens", initial.num_virtual_tokens,
                                                           visible=initial.method in PROMPT_METHODS)
            widgets["trainable_layers"] = setting_widget("trainable_layers", initial.trainable_layers,
                                                         visible=initial.method == "freeze")
            with gr.Accordion(i18n("train.advanced"), open=False):
                for start in range(0, len(ADVANCED), 3):
                    with gr.Row():
                        for name in ADVANCED[start:start + 3]:
                            widgets[name] = setting_widget(name, getattr(initial, name))
            with gr.Row():
                estimate_button = gr.Button(i18n("train.estimate"), elem_id="train-estimate")
                preview_button = gr.Button(i18n("train.preview"), elem_id="train-preview")
            with gr.Row():
                trainable = gr.Textbox(label=i18n("train.estimate_trainable"), interactive=False)
                memory = gr.Textbox(label=i18n("train.estimate_memory"), interactive=False)
                duration = gr.Textbox(label=i18n("train.estimate_time"), interactive=False)
            fit_warning = gr.Markdown()
            command = gr.Textbox(label=i18n("train.command"), max_lines=6, interactive=False, buttons=["copy"],
                                 elem_id="train-command")
            with gr.Row(equal_height=True):
                new_preset = gr.Textbox(label=i18n("train.preset_name"), scale=3)
                save_button = gr.Button(i18n("train.save_preset"), scale=1)
        with gr.Column(scale=3):
            status = gr.Markdown(i18n("train.status.none"), elem_id="train-status")
            plan_note = gr.Markdown(elem_id="train-plan")
            with gr.Row():
                start_button = gr.Button(i18n("train.start"), variant="primary", elem_id="train-start")
                abort_button = gr.Button(i18n("train.abort"), variant="stop", elem_id="train-abort")
                resume_button = gr.Button(i18n("train.resume"), visible=False, elem_id="train-resume")
                more_button = gr.Button(i18n("train.more"), visible=False, elem_id="train-more")
            progress = gr.HTML(elem_id="train-progress")
            # The end of a run: its numbers, and where to go next (shown once the followed run has stopped).
            with gr.Group(visible=False, elem_id="train-card") as card:
                with gr.Row():
                    card_values = [gr.Textbox(label=i18n(f"train.card.{name}"), interactive=False, min_width=120,
                                              elem_id=f"train-card-{name.replace('_', '-')}") for name in CARD_FIELDS]
                with gr.Row(visible=False) as next_steps:
                    chat_button = gr.Button(i18n("train.next.chat"), size="sm", elem_id="train-chat")
                    compare_button = gr.Button(i18n("compare.open_from_train"), size="sm", variant="primary",
                                               elem_id="train-compare")
                    export_button = gr.Button(i18n("train.next.export"), size="sm", elem_id="train-export")
            loss_plot = gr.LinePlot(None, x="step", y="loss", color="series", color_map=SERIES_COLORS,
                                    label=i18n("train.loss"), elem_id="train-loss-plot")
            with gr.Row(visible=False) as reward_row:
                accuracy_plot, margin_plot = (
                    gr.LinePlot(None, x="step", y=metric, color="series", color_map=REWARD_COLORS,
                                label=i18n(f"preference.chart.{metric}"), elem_id=f"train-{metric.replace('_', '-')}-plot")
                    for metric in REWARD_METRICS.values())
            probes = gr.Dataframe(headers=list(PROBE_COLUMNS), label=i18n("train.probes"), interactive=False,
                                  wrap=True, column_widths=["10%", "45%", "45%"], elem_id="train-probes")
            log = gr.Textbox(label=i18n("train.log"), lines=10, max_lines=10, interactive=False, autoscroll=True,
                             elem_id="train-log")
    runs = gr.Dataframe(headers=list(RUN_COLUMNS), label=i18n("train.runs"), interactive=False, max_height=320,
                        elem_id="train-runs")
    timer = gr.Timer(2.0)

    settings = [widgets[name] for name in SETTINGS]
    view = [shown_status, status, progress, loss_plot, probes, log, runs]
    show = partial(show_run, manager)
    gr.on(triggers=None, fn=refreshed_choices, outputs=[widgets["dataset"], preset])
    # A reloaded page shows the run it followed, and, while that run trains, the settings it was started with.
    followed = gr.on(triggers=None, fn=partial(followed_run, manager), outputs=run_state)
    followed.then(show, inputs=run_state, outputs=view, show_progress="hidden")
    followed.then(partial(run_settings, manager), inputs=run_state, outputs=settings, show_progress="hidden")
    refresh_choices.click(refreshed_choices, outputs=[widgets["dataset"], preset])
    if tab is not None:
        # A dataset saved in the Dataset tab a moment ago is offered without a click on the refresh button.
        tab.select(refreshed_choices, outputs=[widgets["dataset"], preset], show_progress="hidden")
    preset.input(apply_preset, inputs=[preset, widgets["base_model"], widgets["dataset"]], outputs=settings)
    widgets["method"].change(method_view, inputs=widgets["method"], outputs=[
        description, lora_row, widgets["target_modules"], widgets["num_virtual_tokens"], widgets["trainable_layers"]])
    estimate_button.click(estimate_settings, inputs=settings, outputs=[trainable, memory, duration, fit_warning])
    preview_button.click(preview_command, inputs=settings, outputs=command)
    # The plan is said again whenever a setting changes (a preset changes many at once: the last call wins).
    plan_settings = dict(fn=plan_line, inputs=settings, outputs=plan_note, show_progress="hidden")
    gr.on(triggers=None, **plan_settings)
    gr.on([widgets[name].change for name in SETTINGS], trigger_mode="always_last", **plan_settings)
    save_button.click(save_settings_as_preset, inputs=[new_preset, *settings], outputs=preset)
    start_button.click(partial(start_run, manager), inputs=settings, outputs=run_state, api_name="start_run").success(
        show, inputs=run_state, outputs=view)
    resume_button.click(partial(resume_run, manager), inputs=run_state, outputs=run_state, api_name="resume_run").success(
        show, inputs=run_state, outputs=view)
    abort_button.click(partial(abort_run, manager), inputs=run_state, api_name="abort_run").then(show, inputs=run_state, outputs=view)
    runs.select(selected_run, outputs=run_state).then(show, inputs=run_state, outputs=view, show_progress="hidden",
                                                      api_name="follow_run")
    timer.tick(partial(refresh, manager), inputs=[run_state, shown_status], outputs=view, show_progress="hidden")
    log.change(None, js=SCROLL_LOG_TO_END)
    widgets["stage"].change(stage_view, inputs=widgets["stage"], outputs=[preference_row, widgets["preference_loss"]])
    # The loss chart is redrawn whenever the run has new events; the reward charts follow it.
    loss_plot.change(reward_view, inputs=run_state, outputs=[reward_row, accuracy_plot, margin_plot],
                     show_progress="hidden")
    # Resume belongs to a run stopped part way; a finished run is compared (or trained further as a new run).
    shown_status.change(lambda status: (gr.update(visible=status == "finished"),
                                        gr.update(visible=status in RESUMABLE), gr.update(visible=status == "finished")),
                        inputs=shown_status, outputs=[next_steps, resume_button, more_button], show_progress="hidden")
    shown_status.change(run_card, inputs=[run_state, shown_status], outputs=[card, *card_values], show_progress="hidden")
    more_button.click(train_more, inputs=run_state, outputs=settings, api_name="train_more")
    return SimpleNamespace(compare=compare_button, chat=chat_button, export=export_button, run=run_state,
                           dataset=widgets["dataset"])

"""The Train tab: pick a model, data, method and settings; estimate, start, watch, abort and resume runs.

Each setting widget is one RunConfig field (its help text is the widget's info), and
`read_settings` turns the widget values into the RunConfig that start, estimate, preview and
save-as-preset all use. The live view reads only the run folder (events.jsonl, train.log), so a
closed or reloaded browser loses nothing: on page load the tab follows the running job, else the
newest run. Which run a browser follows lives in its gr.State.

What a handler writes itself (progress line, statuses, table headers, the loss chart's text) is in
the page's language (`studio.ui.lang`); labels are i18n keys that Gradio translates.
"""

from __future__ import annotations

import html
import math
import time
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from studio import jobs
from studio.access import client_config, client_dataset, client_model, client_run, run_bases
from studio.config import (
    LIMITS, PREFERENCE_STAGES, RunConfig, from_dict, list_presets, load_config, save_preset, train_command,
)
from studio.estimate import GIB, estimate
from studio.events import follow
from studio.jobs import JobManager, log_tail, named_run_dir
from studio.methods import ADAPTER_METHODS, PROMPT_METHODS
from studio.plan import RunPlan, duration, passes_text, plan_run
from studio.preference import REWARD_METRICS
from studio.ui.chart import SERIES_COLORS, loss_chart
from studio.ui.common import bind, dataset_choices, default_preset, error_text, user_error, user_errors
from studio.ui.i18n import i18n
from studio.ui.lang import language, say, words
from studio.workspace import PROJECT_ROOT, datasets_dir, training_holder

DEFAULTS = RunConfig()
# Every setting but the run folder: each start makes a new one.
SETTINGS = [spec.name for spec in fields(RunConfig) if spec.name != "output_dir"]
CHOICES = {spec.name: spec.metadata["choices"] for spec in fields(RunConfig) if "choices" in spec.metadata}
BASIC_ROWS = (("epochs", "max_steps", "learning_rate"), ("batch_size", "cutoff_length", "validation_split"))
LORA_SETTINGS = ("lora_rank", "lora_alpha", "lora_dropout")
LORA_FAMILY = tuple(method for method in ADAPTER_METHODS if method != "ia3")
PREFERENCE_SETTINGS = ("preference_beta", "preference_loss")
PLACED = {"base_model", "dataset", "method", "stage", "target_modules", "num_virtual_tokens", "trainable_layers",
          *PREFERENCE_SETTINGS, "start_from", "num_processes",
          *LORA_SETTINGS, *(name for row in BASIC_ROWS for name in row)}
ADVANCED = [name for name in SETTINGS if name not in PLACED]
SLIDERS = {"validation_split": (0.0, 0.5, 0.01), "warmup_ratio": (0.0, 0.5, 0.01), "lora_dropout": (0.0, 0.5, 0.01)}
# Table columns by key; their headers are written in the page's language (Gradio does not translate them).
RUN_COLUMNS = ("run", "status", "method", "stage", "dataset", "train_loss", "eval_loss", "seconds")
PROBE_COLUMNS = ("step", "prompt", "expected", "answer")
LOG_LINES = 40
RESUMABLE = ("aborted", "failed")
CARD_FIELDS = ("train_loss", "eval_loss", "trained_tokens", "wall_seconds")
PROMPT_CHARACTERS = 120
# Gradio 6's Textbox autoscroll follows only its first update; this keeps the newest log line in view.
SCROLL_LOG_TO_END = ("() => { setTimeout(() => { const box = document.querySelector('#train-log textarea');"
                     " if (box) { box.scrollTop = box.scrollHeight; } }, 50); }")
# The reward charts in the loss chart's colours.
REWARD_COLORS = {"train": SERIES_COLORS["loss"], "validation": SERIES_COLORS["eval_loss"]}
# What the view outputs, in order (see show_run).
VIEW_SIZE = 13
# Sessions whose Cancel was pressed while their estimate runs: the estimate stops at its next phase.
CANCELLED_ESTIMATES: set[str] = set()


class EstimateCancelled(Exception):
    """Raised inside an estimate whose Cancel was pressed."""


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


def form_values(config: RunConfig) -> list:
    """setting_values for the form to show a run's settings. A run started from the command line may name its data
    relative to where it ran ('presets/samples/reviews-train.jsonl') or a model the app may not open: such a value
    becomes the listed choice it names, or leaves the form's field as it is, never a value the form then refuses.
    A run trained by several processes on the command line comes back as one where the form hides that field."""
    values = setting_values(config)
    if not several_gpus():
        values[SETTINGS.index("num_processes")] = 1
    for name in ("dataset", "validation_dataset"):
        values[SETTINGS.index(name)] = form_dataset(getattr(config, name))
    try:
        client_model(config.base_model, run_bases())
    except ValueError:
        values[SETTINGS.index("base_model")] = gr.skip()
    return values


def form_dataset(value: str):
    """The dataset field's value for a run's dataset: a listed choice where it names one, else the value when the
    app accepts it, else gr.skip()."""
    if not value:
        return value
    listed = {Path(path).resolve(): path for _, path in dataset_choices()}
    path = Path(value).expanduser()
    for candidate in ([path] if path.is_absolute() else [PROJECT_ROOT / path, Path.cwd() / path, datasets_dir() / path]):
        if candidate.resolve() in listed:
            return listed[candidate.resolve()]
    try:
        accepted = client_dataset(value)
    except ValueError:
        return gr.skip()
    return listed.get(Path(accepted).resolve(), accepted)


def refreshed_choices() -> tuple:
    return gr.update(choices=dataset_choices()), gr.update(choices=list_presets())


def several_gpus() -> bool:
    """The form offers the number of training processes only where there is more than one GPU to give each one."""
    import torch

    return torch.cuda.device_count() > 1


def preset_settings(preset: str, base_model: str, dataset: str) -> list:
    """apply_preset for the form: the number of processes, chosen for this machine, stays as it is."""
    values = apply_preset(preset, base_model, dataset)
    values[SETTINGS.index("num_processes")] = gr.skip()
    return values


@user_errors
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
        # Every series in every frame, so the colours stay fixed from the first draw.
        rows += [{"step": points[0]["step"], "series": series, metric: None}
                 for series in sorted(set(REWARD_COLORS) - {row["series"] for row in rows})]
        frames.append(pd.DataFrame(rows, columns=["step", "series", metric]))
    return gr.update(visible=True), *frames


def method_view(method: str) -> tuple:
    """The method's description, and only the settings that method uses."""
    return (i18n(f"train.method.{method}"), gr.update(visible=method in LORA_FAMILY),
            gr.update(visible=method in ADAPTER_METHODS), gr.update(visible=method in PROMPT_METHODS),
            gr.update(visible=method == "freeze"))


# ---- estimate
def estimating(running: bool) -> tuple:
    """Estimate and Cancel: Cancel acts only while an estimate runs."""
    return gr.update(interactive=not running), gr.update(interactive=running)


def cancel_estimate(request: gr.Request) -> tuple:
    """Stop this page's estimate at its next phase (Gradio drops the event; this frees the CPU it holds)."""
    session = getattr(request, "session_hash", None)
    if session:
        CANCELLED_ESTIMATES.add(session)
    return estimating(False)


@user_errors
def estimate_settings(request: gr.Request, progress=gr.Progress(), *values) -> tuple:
    """Trainable parameters, memory and time of the settings, measured; a progress bar names each phase and the
    time left."""
    session = getattr(request, "session_hash", None)
    CANCELLED_ESTIMATES.discard(session)
    config = read_settings(*values)
    if config.trust_remote_code:
        # Estimate loads the model inside the app: a model's own code never runs in the app's process.
        raise ValueError("Estimate loads the model inside the app, where a model's own code is never run. With "
                         "trust_remote_code, start the run (it trains in a process of its own) or estimate from the "
                         "command line.")
    started = time.monotonic()

    def report(fraction: float, phase: str) -> None:
        if session in CANCELLED_ESTIMATES:
            raise EstimateCancelled
        text = say(request, f"train.estimate_phase.{phase}")
        elapsed = time.monotonic() - started
        if 0 < fraction < 1 and elapsed >= 1:
            text += " · " + say(request, "train.estimate_left", seconds=math.ceil(elapsed * (1 - fraction) / fraction))
        progress(fraction, desc=text)

    try:
        result = estimate(config, report)
    except EstimateCancelled:
        return tuple(gr.skip() for _ in range(4))
    finally:
        CANCELLED_ESTIMATES.discard(session)
    warning = error_text(result.warning, language(request)) if result.warning else ""
    if warning:
        gr.Warning(warning)
    if language(request) == "zh":  # counted in 万 (ten thousands), as Chinese counts
        parameters = f"{result.trainable / 1e4:,.1f} 万 / {result.total / 1e4:,.0f} 万"
    else:
        parameters = f"{result.trainable / 1e6:,.2f} M / {result.total / 1e6:,.1f} M"
    return (f"{parameters} ({result.trainable / result.total:.2%})",
            f"{result.memory_bytes / GIB:.1f} / {result.available_bytes / GIB:.1f} GiB ({result.device})",
            say(request, "train.estimate_time_value", step=f"{result.seconds_per_step:.1f}",
                steps=result.total_steps, minutes=f"{result.total_seconds / 60:.1f}"),
            f"⚠️ {warning}" if warning else "")


# ---- what a run will do
def plan_line(request: gr.Request, *values) -> str:
    """What a run with these settings will do and why, said before Start (no model is loaded)."""
    try:
        plan = plan_run(read_settings(*values))
    except (ValueError, OSError) as error:
        # Settings are often half-typed while this runs: the reason replaces the line, without a pop-up.
        reason = error_text((str(error) or type(error).__name__).splitlines()[0], language(request))
        return f"{say(request, 'train.plan.unavailable')}{say(request, 'train.plan.colon')}{reason}"
    return plan_text(plan, words(request))


def plan_text(plan: RunPlan, words: dict) -> str:
    """studio.plan.describe's line in the words of one language."""
    time = duration(plan)
    about = f"{words['train.plan.about']} {time[0]} {words[f'train.plan.{time[1]}']}" if time else words["train.plan.unknown"]
    passes = words["train.plan.pass" if plan.passes == 1 else "train.plan.passes"]
    steps = words["train.plan.step" if plan.total_steps == 1 else "train.plan.steps"]
    comma, colon = words["train.plan.comma"], words["train.plan.colon"]
    return (f"{plan.rows:,} {words['train.plan.rows']} → {passes_text(plan)} {passes}{comma}{plan.total_steps:,} {steps}"
            f"{comma}{about}{colon}{words[f'train.plan.reason.{plan.reason}']}")


@user_errors
def preview_command(request: gr.Request, *values) -> str:
    return train_command(read_settings(*values))


@user_errors
def save_settings_as_preset(request: gr.Request, name: str, *values):
    path = save_preset(read_settings(*values), name)
    gr.Info(f"presets/{path.name} ✓")
    return gr.update(choices=list_presets(), value=path.stem)


# ---- start, resume, abort
@user_errors
def start_run(manager: JobManager, request: gr.Request, run_name: str, *values) -> tuple:
    """Start a run of the settings, in a folder named `run_name` (empty: date, method and dataset); the name
    field is emptied for the next run."""
    config = read_settings(*values)
    if str(run_name or "").strip():
        config.output_dir = str(named_run_dir(run_name))
    return str(manager.start(config)), ""


@user_errors
def resume_run(manager: JobManager, run_path: str | None) -> str:
    if not run_path:
        raise ValueError("Select a run in the runs list to resume it.")
    return str(manager.resume(client_run(run_path)))


def run_card(run_path: str | None, status: str | None) -> list:
    """A stopped run's numbers for the card under the progress bar; hidden while it runs or with no run."""
    if not run_path or status in (None, "running", "created"):
        return [gr.update(visible=False), *[gr.skip()] * len(CARD_FIELDS)]
    summary = jobs.read_summary(Path(run_path))
    values = {
        "train_loss": f"{summary['train_loss']:.4f}" if summary.get("train_loss") is not None else "–",
        "eval_loss": f"{summary['eval_loss']:.4f}" if summary.get("eval_loss") is not None else "–",
        "trained_tokens": f"{summary.get('trained_tokens') or 0:,}"
                          + (f" · {summary['tokens_per_second']:,.0f}/s" if summary.get("tokens_per_second") else ""),
        "wall_seconds": clock(summary.get("wall_seconds") or 0),
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
    return form_values(config)


@user_errors
def train_more(run_path: str | None) -> list:
    """The form set for a new run that goes on from the followed finished run (its adapter, or its model), with the
    section that shows where it starts from opened; the finished run itself stays as it is."""
    if not run_path:
        raise ValueError("Select a finished run in the runs list first.")
    return [*form_values(jobs.train_more(client_run(run_path))), gr.update(open=True)]


def abort_run(manager: JobManager, run_path: str | None) -> None:
    """Stop after the current step with a checkpoint (the view then shows 'aborted')."""
    if run_path:
        manager.abort(client_run(run_path))


def followed_run(manager: JobManager) -> str | None:
    """The run a newly opened page follows: the running job, else the newest run."""
    runs = manager.list_runs()
    chosen = next((run for run in runs if run.status == "running"), runs[0] if runs else None)
    return str(chosen.path) if chosen else None


def selected_run(event: gr.SelectData, request: gr.Request) -> str:
    """The run of the clicked row; the row's value comes from the request, so it must name a run of the workspace.
    (Not wrapped in user_errors, which keeps only the gr.Request annotation, where Gradio needs gr.SelectData's.)"""
    row = event.row_value if isinstance(event.row_value, list) else []
    try:
        return str(client_run(row[0] if row and isinstance(row[0], str) else ""))
    except ValueError as error:
        raise user_error(str(error), request) from None


# ---- the live view
def clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


def runs_table(manager: JobManager, request: gr.Request | None = None) -> list[list]:
    """Every run, newest first, its status in the page's language."""
    def rounded(value):
        return None if value is None else round(value, 4)
    return [[run.name, say(request, f"train.status.{run.status}"), run.method, run.stage, run.dataset,
             rounded(run.train_loss), rounded(run.eval_loss), run.wall_seconds] for run in manager.list_runs()]


def runs_frame(manager: JobManager, request: gr.Request | None = None) -> pd.DataFrame:
    """runs_table with its headers in the page's language (Gradio shows a Dataframe's headers as they come)."""
    return pd.DataFrame(runs_table(manager, request), columns=[say(request, f"train.column.{name}") for name in RUN_COLUMNS])


def probe_table(probes: dict | None, request: gr.Request | None = None) -> pd.DataFrame:
    """The latest evaluation's probe answers beside the held-out answer each should have been (where known)."""
    rows = [[probes["step"], ending(probe["prompt"]), probe.get("expected", ""), probe["answer"]]
            for probe in probes["probes"]] if probes else []
    return pd.DataFrame(rows, columns=[say(request, f"train.column.{name}") for name in PROBE_COLUMNS])


def run_view(manager: JobManager, run_path: str | None, request: gr.Request | None = None) -> tuple:
    """(status line, progress bar, loss chart, latest probe answers, log tail) of one run."""
    if not run_path:
        return say(request, "train.status.none"), "", "", probe_table(None, request), ""
    run_dir = Path(run_path)
    info = manager.describe(run_dir)
    events = follow(run_dir)
    status = f"**{info.name}** · {say(request, f'train.status.{info.status}')}"
    if info.status == "failed" and info.error:
        status += f" — {error_text(info.error.splitlines()[0], language(request))}"
    return (status, progress_bar(events, info.status, request), loss_chart(events["loss_points"], request),
            probe_table(events["last_probes"], request), log_tail(run_dir / "train.log", LOG_LINES))


def ending(prompt: str, limit: int = PROMPT_CHARACTERS) -> str:
    """The end of a long prompt: where the question that differs between probes usually is."""
    return prompt if len(prompt) <= limit else "…" + prompt[-limit:]


def progress_bar(events: dict, status: str, request: gr.Request | None = None) -> str:
    """The progress line of a run's events as `studio.events.follow` gives them."""
    prepared = events["prepared"]
    if prepared is None:
        return f"<p>{say(request, 'train.preparing')}</p>" if status == "running" else ""
    total = prepared["total_steps"]
    last = events["last_loss"] or {"step": 0}
    if status != "running":
        last = {**last, "eta": 0}  # a stopped run has nothing left to wait for
    line = progress_text(last, total, prepared.get("warmup_steps") or 0, request)
    return (f'<progress value="{last["step"]}" max="{total}" style="width:100%;height:14px"></progress>'
            f"<div>{html.escape(line)}</div>")


def progress_text(event: dict, total_steps: int, warmup_steps: int, request: gr.Request | None = None) -> str:
    """One step's line in the page's language: step, losses, learning rate, speed, time. During warm-up the
    learning rate climbs from 0, which the line says, so a first step at 'lr 0' reads as planned."""
    parts = [say(request, "train.progress.step", step=event["step"], total=total_steps)]
    if event.get("loss") is not None:
        parts.append(say(request, "train.progress.loss", value=f"{event['loss']:.4f}"))
    if event.get("eval_loss") is not None:
        parts.append(say(request, "train.progress.eval_loss", value=f"{event['eval_loss']:.4f}"))
    if event.get("preference_accuracy") is not None:
        parts.append(say(request, "train.progress.preference", accuracy=f"{event['preference_accuracy']:.2f}",
                         margin=f"{event['reward_margin']:.3f}"))
    rate = event.get("learning_rate")
    if rate is not None:
        warming = 0 < event["step"] <= warmup_steps
        parts.append(say(request, "train.progress.lr_warmup" if warming else "train.progress.lr",
                         value="0" if rate == 0 else f"{rate:.2e}"))
    if event.get("tokens_per_second"):
        parts.append(say(request, "train.progress.speed", value=f"{event['tokens_per_second']:.0f}"))
    if event.get("elapsed") is not None:
        parts.append(say(request, "train.progress.time", elapsed=clock(event["elapsed"]), eta=clock(event.get("eta") or 0)))
    return " | ".join(parts)


def busy_now(status: str | None) -> bool:
    """A training job runs in this workspace (the followed one, or another holding the training lock)."""
    return status == "running" or training_holder() is not None


def controls(status: str | None, busy: bool) -> list:
    """Start, Abort, Resume, Train more and the next steps for the followed run's status: Start only while nothing
    trains; Abort red and live only while the followed run runs; Resume for a run stopped part way; Train more and
    the next steps for a finished run."""
    running = status == "running"
    return [gr.update(interactive=not busy),
            gr.update(interactive=running, variant="stop" if running else "secondary"),
            gr.update(visible=status in RESUMABLE, interactive=not busy),
            gr.update(visible=status == "finished", interactive=not busy),
            gr.update(visible=status == "finished")]


def show_run(manager: JobManager, run_path: str | None, request: gr.Request | None = None, with_runs: bool = True) -> list:
    """Everything the live view shows (VIEW_SIZE values): the status and busy flag it shows (for `refresh`), the run,
    the runs list, and the buttons for them."""
    status = manager.status(Path(run_path)) if run_path else None
    busy = busy_now(status)
    return [status, busy, *run_view(manager, run_path, request),
            runs_frame(manager, request) if with_runs else gr.skip(), *controls(status, busy)]


def refresh(manager: JobManager, run_path: str | None, shown_status: str | None, shown_busy: bool | None,
            request: gr.Request | None = None) -> list:
    """Timer tick: redraw while the run is live or what is shown changed; the runs list (every run folder read)
    only on a change."""
    status = manager.status(Path(run_path)) if run_path else None
    busy = busy_now(status)
    if status == shown_status and busy == shown_busy and status != "running":
        return [gr.skip()] * VIEW_SIZE
    return show_run(manager, run_path, request, with_runs=status != shown_status or busy != shown_busy)


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
    shown_busy = gr.State(None)
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
            for row in BASIC_ROWS:
                with gr.Row():
                    for name in row:
                        widgets[name] = setting_widget(name, getattr(initial, name))
            widgets["num_processes"] = setting_widget("num_processes", initial.num_processes, visible=several_gpus())
            with gr.Row(visible=initial.method in LORA_FAMILY) as lora_row:
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
            with gr.Accordion(i18n("train.stage_section"), open=False, elem_id="train-stage-section") as stage_section:
                widgets["stage"] = setting_widget("stage", initial.stage)
                with gr.Row(visible=initial.stage in PREFERENCE_STAGES) as preference_row:
                    for name in PREFERENCE_SETTINGS:
                        widgets[name] = setting_widget(name, getattr(initial, name), visible=name != "preference_loss"
                                                       or initial.stage == "dpo")
                widgets["start_from"] = setting_widget("start_from", initial.start_from)
            with gr.Accordion(i18n("train.advanced"), open=False):
                for start in range(0, len(ADVANCED), 3):
                    with gr.Row():
                        for name in ADVANCED[start:start + 3]:
                            widgets[name] = setting_widget(name, getattr(initial, name))
            with gr.Row():
                estimate_button = gr.Button(i18n("train.estimate"), size="md", elem_id="train-estimate")
                cancel_button = gr.Button(i18n("train.cancel"), size="md", interactive=False,
                                          elem_id="train-estimate-cancel")
            with gr.Row():
                trainable = gr.Textbox(label=i18n("train.estimate_trainable"), interactive=False)
                memory = gr.Textbox(label=i18n("train.estimate_memory"), interactive=False)
                duration = gr.Textbox(label=i18n("train.estimate_time"), interactive=False)
            fit_warning = gr.Markdown()
            with gr.Accordion(i18n("train.tools"), open=False, elem_id="train-tools"):
                preview_button = gr.Button(i18n("train.preview"), size="md", elem_id="train-preview")
                command = gr.Textbox(label=i18n("train.command"), max_lines=6, interactive=False, buttons=["copy"],
                                     elem_id="train-command")
                with gr.Row(elem_classes=["studio-align-end"]):
                    new_preset = gr.Textbox(label=i18n("train.preset_name"), scale=3)
                    save_button = gr.Button(i18n("train.save_preset"), size="md", scale=1, elem_id="train-save-preset")
        with gr.Column(scale=3):
            status = gr.Markdown(i18n("train.status.none"), elem_id="train-status")
            plan_note = gr.Markdown(elem_id="train-plan")
            run_name = gr.Textbox(label=i18n("train.run_name"), placeholder=i18n("train.run_name_placeholder"),
                                  info=i18n("train.run_name_help"), max_length=80, elem_id="train-run-name")
            with gr.Row(elem_id="train-actions"):
                start_button = gr.Button(i18n("train.start"), variant="primary", size="md", elem_id="train-start")
                abort_button = gr.Button(i18n("train.abort"), variant="secondary", size="md", interactive=False,
                                         elem_id="train-abort")
                resume_button = gr.Button(i18n("train.resume"), size="md", visible=False, elem_id="train-resume")
                more_button = gr.Button(i18n("train.more"), size="md", visible=False, elem_id="train-more")
            progress = gr.HTML(elem_id="train-progress")
            # The end of a run: its numbers, and where to go next (shown once the followed run has stopped).
            with gr.Group(visible=False, elem_id="train-card") as card:
                with gr.Row():
                    card_values = [gr.Textbox(label=i18n(f"train.card.{name}"), interactive=False, min_width=120,
                                              elem_id=f"train-card-{name.replace('_', '-')}") for name in CARD_FIELDS]
                with gr.Row(visible=False) as next_steps:
                    chat_button = gr.Button(i18n("train.next.chat"), size="md", elem_id="train-chat")
                    compare_button = gr.Button(i18n("compare.open_from_train"), size="md", variant="primary",
                                               elem_id="train-compare")
                    export_button = gr.Button(i18n("train.next.export"), size="md", elem_id="train-export")
            loss_chart_view = gr.HTML(label=i18n("train.loss"), show_label=True, container=True,
                                      elem_id="train-loss-plot")
            with gr.Row(visible=False) as reward_row:
                accuracy_plot, margin_plot = (
                    gr.LinePlot(None, x="step", y=metric, color="series", color_map=REWARD_COLORS,
                                label=i18n(f"preference.chart.{metric}"), elem_id=f"train-{metric.replace('_', '-')}-plot")
                    for metric in REWARD_METRICS.values())
            probes = gr.Dataframe(probe_table(None), label=i18n("train.probes"), interactive=False, wrap=True,
                                  column_widths=["8%", "40%", "26%", "26%"], elem_id="train-probes")
            runs = gr.Dataframe(runs_frame(manager), label=i18n("train.runs"), interactive=False, wrap=True,
                                max_height=320, column_widths=["18%", "13%", "9%", "8%", "16%", "11%", "14%", "11%"],
                                elem_id="train-runs")
            with gr.Accordion(i18n("train.log"), open=True):
                log = gr.Textbox(show_label=False, lines=8, max_lines=8, interactive=False, autoscroll=True,
                                 elem_id="train-log")
    timer = gr.Timer(2.0)

    settings = [widgets[name] for name in SETTINGS]
    view = [shown_status, shown_busy, status, progress, loss_chart_view, probes, log, runs,
            start_button, abort_button, resume_button, more_button, next_steps]
    show = bind(show_run, manager)
    gr.on(triggers=None, fn=refreshed_choices, outputs=[widgets["dataset"], preset])
    # A reloaded page shows the run it followed, and, while that run trains, the settings it was started with.
    followed = gr.on(triggers=None, fn=bind(followed_run, manager), outputs=run_state)
    followed.then(show, inputs=run_state, outputs=view, show_progress="hidden")
    followed.then(bind(run_settings, manager), inputs=run_state, outputs=settings, show_progress="hidden")
    refresh_choices.click(refreshed_choices, outputs=[widgets["dataset"], preset])
    if tab is not None:
        # A dataset saved in the Dataset tab a moment ago is offered without a click on the refresh button.
        tab.select(refreshed_choices, outputs=[widgets["dataset"], preset], show_progress="hidden")
    preset.input(preset_settings, inputs=[preset, widgets["base_model"], widgets["dataset"]], outputs=settings,
                 api_name="apply_preset")
    widgets["method"].change(method_view, inputs=widgets["method"], outputs=[
        description, lora_row, widgets["target_modules"], widgets["num_virtual_tokens"], widgets["trainable_layers"]])
    # Estimate takes half a minute: a progress bar over its results names each phase and the time left, and
    # Cancel (live only meanwhile) stops it; the buttons come back either way.
    estimate_buttons = [estimate_button, cancel_button]
    measuring = estimate_button.click(lambda: estimating(True), outputs=estimate_buttons, queue=False).then(
        estimate_settings, inputs=settings, outputs=[trainable, memory, duration, fit_warning],
        show_progress_on=[duration])
    measuring.then(lambda: estimating(False), outputs=estimate_buttons, show_progress="hidden")
    cancel_button.click(cancel_estimate, outputs=estimate_buttons, cancels=[measuring], queue=False)
    preview_button.click(preview_command, inputs=settings, outputs=command)
    # The plan is said again whenever a setting changes (a preset changes many at once: the last call wins).
    plan_settings = dict(fn=plan_line, inputs=settings, outputs=plan_note, show_progress="hidden")
    gr.on(triggers=None, **plan_settings)
    gr.on([widgets[name].change for name in SETTINGS], trigger_mode="always_last", **plan_settings)
    save_button.click(save_settings_as_preset, inputs=[new_preset, *settings], outputs=preset)
    start_button.click(bind(start_run, manager), inputs=[run_name, *settings], outputs=[run_state, run_name],
                       api_name="start_run", show_progress="hidden").success(show, inputs=run_state, outputs=view)
    resume_button.click(bind(resume_run, manager), inputs=run_state, outputs=run_state, api_name="resume_run").success(
        show, inputs=run_state, outputs=view)
    abort_button.click(bind(abort_run, manager), inputs=run_state, api_name="abort_run").then(
        show, inputs=run_state, outputs=view)
    runs.select(selected_run, outputs=run_state).then(show, inputs=run_state, outputs=view, show_progress="hidden",
                                                      api_name="follow_run")
    timer.tick(bind(refresh, manager), inputs=[run_state, shown_status, shown_busy], outputs=view,
               show_progress="hidden")
    log.change(None, js=SCROLL_LOG_TO_END)
    widgets["stage"].change(stage_view, inputs=widgets["stage"], outputs=[preference_row, widgets["preference_loss"]])
    # The loss chart is redrawn whenever the run has new events; the reward charts follow it.
    loss_chart_view.change(reward_view, inputs=run_state, outputs=[reward_row, accuracy_plot, margin_plot],
                           show_progress="hidden")
    shown_status.change(run_card, inputs=[run_state, shown_status], outputs=[card, *card_values], show_progress="hidden")
    more_button.click(train_more, inputs=run_state, outputs=[*settings, stage_section], api_name="train_more")
    return SimpleNamespace(compare=compare_button, chat=chat_button, export=export_button, run=run_state,
                           dataset=widgets["dataset"])

"""The Train tab's form: the settings widgets' values as a RunConfig and back, presets, the views that follow the
method and the stage, what the form can say before a run starts (the plan line, the estimate, the command), and the widget
of each setting.

Each setting widget is one RunConfig field, and `read_settings` turns the widget values (in SETTINGS order)
into the RunConfig that start, estimate, preview and save-as-preset all use.
"""

from __future__ import annotations

import math
import time
from dataclasses import fields
from pathlib import Path

import gradio as gr

from studio.access import client_config, client_dataset, client_model, run_bases
from studio.config import (
    LIMITS, RunConfig, from_dict, list_presets, load_config, save_preset, train_command,
)
from studio.training.estimate import GIB, estimate
from studio.methods import ADAPTER_METHODS, PROMPT_METHODS
from studio.training.plan import RunPlan, duration, passes_text, plan_run
from studio.chat import finished_runs, run_label
from studio.ui.common import dataset_choices, error_text, user_errors
from studio.ui.i18n import i18n
from studio.ui.lang import language, say, words
from studio.workspace import PROJECT_ROOT, datasets_dir

DEFAULTS = RunConfig()
# Every setting but the run folder: each start makes a new one.
SETTINGS = [spec.name for spec in fields(RunConfig) if spec.name != "output_dir"]
CHOICES = {spec.name: spec.metadata["choices"] for spec in fields(RunConfig) if "choices" in spec.metadata}
BASIC_ROWS = (("epochs", "max_steps", "learning_rate"), ("batch_size", "cutoff_length", "validation_split"))
LORA_SETTINGS = ("lora_rank", "lora_alpha", "lora_dropout")
LORA_FAMILY = tuple(method for method in ADAPTER_METHODS if method != "ia3")
PREFERENCE_SETTINGS = ("preference_beta", "preference_loss")
BETA_STAGES = ("dpo", "orpo", "kto", "grpo")  # the stages preference_beta weighs something in
# GRPO's settings, shown together in the stage section for stage grpo only: its rewards, then its sampling.
GRPO_ROWS = (("reward_model", "reward_rule", "reward_pattern"),
             ("reward_length", "grpo_generations", "grpo_max_new_tokens", "grpo_temperature"))
PLACED = {"base_model", "dataset", "method", "stage", "target_modules", "num_virtual_tokens", "trainable_layers",
          *PREFERENCE_SETTINGS, "start_from", "num_processes", *(name for row in GRPO_ROWS for name in row),
          *LORA_SETTINGS, *(name for row in BASIC_ROWS for name in row)}
ADVANCED = [name for name in SETTINGS if name not in PLACED]
SLIDERS = {"validation_split": (0.0, 0.5, 0.01), "warmup_ratio": (0.0, 0.5, 0.01), "lora_dropout": (0.0, 0.5, 0.01)}
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
    """Beta for the stages it weighs something in (DPO, ORPO, KTO, GRPO's KL); the loss type is DPO's alone."""
    return gr.update(visible=stage in BETA_STAGES), gr.update(visible=stage == "dpo")


def grpo_settings_view(stage: str) -> dict:
    """GRPO's rewards and sampling settings, for stage grpo only."""
    return gr.update(visible=stage == "grpo")


def reward_model_choices(manager) -> dict:
    """The reward_model field's choices: none, or a finished reward-model run (stage rm) of the workspace, newest
    first. The value (a run folder, resolved inside the workspace when a run starts) stays as it is."""
    runs = [run for run in finished_runs(manager.list_runs()) if run.stage == "rm"]
    return gr.update(choices=[("—", "")] + [(run_label(run), str(run.path)) for run in runs])


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


def setting_widget(name: str, value, **extra) -> gr.components.Component:
    """The widget for one RunConfig field, labelled and explained in the user's language."""
    text = dict(label=i18n(f"train.setting.{name}"), info=i18n(f"train.help.{name}"),
                elem_id=f"train-{name.replace('_', '-')}", **extra)
    kind = type(getattr(DEFAULTS, name))
    if name == "reward_model":  # a finished rm run, listed on page load (reward_model_choices)
        return gr.Dropdown([("—", "")], value=value, allow_custom_value=True, **text)
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

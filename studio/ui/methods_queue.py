"""The Methods tab's new comparison and queue: a comparison's form read and checked as a request may send it
(dataset, preset, what varies and its values, the held-out rows, the model and steps, a name) and queued with
studio.experiments; the runs training and waiting (studio.run_queue), and a waiting run taken out of the queue.
What a handler writes, refusals included, is in the page's language.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import fields

import gradio as gr
import pandas as pd

from studio import experiments, run_queue
from studio.access import client_dataset, client_model, run_bases
from studio.config import HELDOUT_VALIDATION, LIMITS, METHODS, RunConfig, check_range, list_presets
from studio.jobs import JobManager
from studio.runs import read_settings
from studio.ui.common import dataset_choices, user_errors
from studio.ui.i18n import EN, i18n
from studio.ui.lang import say, words
from studio.workspace import training_holder

MOST_RUNS = experiments.MAX_VALUES  # runs in one comparison
DEFAULT_METHODS = ("lora", "dora", "ia3")
HELDOUT_NONE = ""  # no held-out evaluation: the runs are compared on their losses, time, memory and size
HELDOUT_ROWS = LIMITS["heldout_rows"]
DEFAULT_HELDOUT_ROWS = 40
# A value list to start from for the settings a comparison often varies (the field is filled in when one is picked).
SUGGESTED = {"learning_rate": "1e-4, 5e-4, 2e-3", "lora_rank": "4, 8, 16", "lora_alpha": "8, 16, 32",
             "epochs": "1, 2, 3", "batch_size": "2, 4, 8", "cutoff_length": "128, 256, 512",
             "num_virtual_tokens": "8, 16, 32", "trainable_layers": "1, 2, 4", "warmup_ratio": "0, 0.05, 0.1",
             "lora_dropout": "0, 0.05, 0.1", "weight_decay": "0, 0.01, 0.1", "max_steps": "10, 20, 40",
             "gradient_accumulation": "1, 2, 4", "lr_scheduler": "cosine, linear, constant",
             "target_modules": "q_proj,v_proj; all-linear", "train_on_prompt": "false, true",
             "preference_beta": "0.05, 0.1, 0.5", "preference_loss": "sigmoid, ipo, hinge", "precision": "fp32, bf16"}
KINDS = {spec.name: type(spec.default) for spec in fields(RunConfig)}
QUEUE_COLUMNS = ("position", "run", "status", "method", "dataset")


# ---- choices the form offers
def variable_choices() -> list[tuple]:
    """What a comparison may vary: the method, then each setting of experiments.VARIABLES by its Train-tab label."""
    settings = [(i18n(f"train.setting.{name}") if f"train.setting.{name}" in EN else name, name)
                for name in experiments.VARIABLES if name != "method"]
    return [(i18n("methods.variable.method"), "method"), *settings]


def heldout_choices() -> list[tuple]:
    """The runs' own validation rows, none, then every dataset the Train tab offers."""
    return [(i18n("methods.heldout.validation"), HELDOUT_VALIDATION), (i18n("methods.heldout.none"), HELDOUT_NONE),
            *dataset_choices()]


def variable_view(variable: str) -> tuple:
    """The methods' boxes for a comparison of methods; the values field, filled with a suggestion, for a setting."""
    is_method = variable == "method"
    values = gr.update(visible=not is_method, value=SUGGESTED[variable]) if variable in SUGGESTED else \
        gr.update(visible=not is_method)
    return gr.update(visible=is_method), values


def refreshed_form() -> tuple:
    """The dataset, held-out and preset lists as they are now (a dataset saved a moment ago is offered)."""
    return (gr.update(choices=dataset_choices()), gr.update(choices=heldout_choices()),
            gr.update(choices=list_presets()))


# ---- a request's values, checked
def refuse(request: gr.Request | None, key: str, **values) -> ValueError:
    """A refusal in the page's language (user_errors shows it as it is)."""
    return ValueError(say(request, f"methods.error.{key}", **values))


def whole_number(value, name: str, low: int, high: int, request: gr.Request | None) -> int:
    """A whole number from low to high, whatever a request sent (text, NaN, 2.5, a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value) or not low <= value <= high:
        setting = words(request).get(f"methods.{name}", name)
        raise refuse(request, "number", setting=setting, low=f"{low:,}", high=f"{high:,}")
    return int(value)


def setting_label(name: str, request: gr.Request | None) -> str:
    return words(request).get(f"train.setting.{name}", name)


def parsed_values(variable: str, methods, text, request: gr.Request | None) -> list:
    """The runs' values: the methods ticked, or the setting's values written comma apart (semicolons apart where a
    value holds commas, as target modules do), numbers of the setting's kind and in its range; two to MOST_RUNS of
    them, all different."""
    if variable == "method":
        chosen = list(methods) if isinstance(methods, (list, tuple)) else []
        unknown = [method for method in chosen if method not in METHODS]
        if unknown:
            raise refuse(request, "method", method=str(unknown[0])[:80])
        chosen = list(dict.fromkeys(chosen))
        if not 2 <= len(chosen) <= MOST_RUNS:
            raise refuse(request, "methods", most=MOST_RUNS)
        return chosen
    if variable not in experiments.VARIABLES:
        raise refuse(request, "variable", variable=str(variable)[:80])
    example = SUGGESTED.get(variable, "1, 2, 4")
    text = (text if isinstance(text, str) else "").replace("，", ",").replace("；", ";")
    items = [item.strip() for item in re.split(r"[;\n]" if re.search(r"[;\n]", text) else ",", text)]
    items = [item for item in items if item]
    if not 2 <= len(items) <= MOST_RUNS:
        raise refuse(request, "values", most=MOST_RUNS, example=example)
    values = [setting_value(variable, item, example, request) for item in items]
    if len(set(values)) != len(values):
        raise refuse(request, "values", most=MOST_RUNS, example=example)
    return values


def setting_value(variable: str, item: str, example: str, request: gr.Request | None):
    """One written value as the setting's kind (a whole number for an int setting), within its range."""
    kind = KINDS.get(variable, str)
    if kind not in (int, float):
        return item[:200]
    try:
        number = float(item)
        value = int(number) if kind is int and number == int(number) else (number if kind is float else None)
    except (ValueError, OverflowError):
        value = None
    if value is None:
        raise refuse(request, "value", value=item[:80], setting=setting_label(variable, request), example=example)
    low, high = LIMITS.get(variable, (-math.inf, math.inf))
    check_range(variable, value, low, high)
    return value


def heldout_source(value, request: gr.Request | None) -> str:
    """'validation', none, or a dataset file inside the folders the app may open."""
    if value in (HELDOUT_VALIDATION, HELDOUT_NONE):
        return value
    if not isinstance(value, str) or not value.strip():
        raise refuse(request, "heldout")
    return client_dataset(value, "held-out dataset")


def comparison_overrides(variable: str, base_model, max_steps, request: gr.Request | None) -> dict:
    """What every run of the comparison sets beside its preset: the base model and, when given, its steps (not
    where the steps or epochs are what is compared)."""
    overrides = {}
    if isinstance(base_model, str) and base_model.strip():
        overrides["base_model"] = client_model(base_model, run_bases())
    steps = whole_number(0 if max_steps is None else max_steps, "max_steps", 0, LIMITS["max_steps"][1], request)
    if steps and variable not in experiments.BUDGET_VARIABLES:
        overrides["max_steps"] = steps
    return overrides


# ---- queue a comparison
@user_errors
def queue_comparison(dataset, preset, variable, methods, values, heldout, heldout_rows, base_model, max_steps,
                     name, request: gr.Request | None = None) -> tuple:
    """One run for each method or value, queued with the same data, split, seed and steps; the line says what was
    queued, and the view switches to the new comparison."""
    if not isinstance(dataset, str) or not dataset.strip():
        raise refuse(request, "dataset")
    dataset = client_dataset(dataset)
    if preset not in list_presets():
        raise refuse(request, "preset", preset=str(preset)[:80])
    if variable != "method" and variable not in experiments.VARIABLES:
        raise refuse(request, "variable", variable=str(variable)[:80])
    chosen = parsed_values(variable, methods, values, request)
    rows = whole_number(heldout_rows, "heldout_rows", *HELDOUT_ROWS, request)
    overrides = comparison_overrides(variable, base_model, max_steps, request)
    name = name.strip() if isinstance(name, str) else ""
    record = experiments.queue_experiment(name or f"{variable.replace('_', '-')}-{time.strftime('%m%d-%H%M%S')}",
                                          dataset, preset, variable, chosen, overrides=overrides,
                                          heldout=heldout_source(heldout, request), heldout_rows=rows)
    message = say(request, "methods.queued_message", name=record["name"], count=len(record["runs"]),
                  runs=", ".join(record["runs"]))
    return message, gr.update(value="experiment"), gr.update(choices=experiment_choices(), value=record["name"])


def experiment_choices() -> list[tuple[str, str]]:
    """The saved comparisons: (name · what varies · dataset, name)."""
    found = []
    for record in experiments.list_experiments():
        dataset = str(record.get("dataset") or "").rsplit("/", 1)[-1]
        found.append((f"{record['name']} · {record.get('variable', '')} · {dataset}", record["name"]))
    return found


# ---- the queue
def queue_state() -> tuple:
    """What the queue view shows, read cheaply: the run holding the training lock and the waiting runs' names."""
    return training_holder(), tuple(path.name for path in run_queue.queued())


def queue_frame(manager: JobManager, request: gr.Request | None = None) -> pd.DataFrame:
    """The running run (▶), then the waiting ones in the order they will start, with their method and data."""
    rows = []
    running = manager.running()
    if running is not None:
        rows.append(["▶", running.name, say(request, "methods.status.running"), running.method, running.dataset])
    for position, folder in enumerate(run_queue.queued(), start=1):
        settings = read_settings(folder)
        rows.append([str(position), folder.name, say(request, "methods.status.queued"), settings.get("method", ""),
                     str(settings.get("dataset", "")).rsplit("/", 1)[-1]])
    return pd.DataFrame(rows, columns=[say(request, f"methods.queue_column.{name}") for name in QUEUE_COLUMNS])


def queue_view(manager: JobManager, request: gr.Request | None = None) -> list:
    """(what was read, the queue table, the waiting runs to remove) as they are now."""
    state = queue_state()
    waiting = list(state[1])
    return [state, queue_frame(manager, request),
            gr.update(choices=waiting, value=waiting[0] if waiting else None, interactive=bool(waiting))]


def queue_tick(manager: JobManager, shown, request: gr.Request | None = None) -> list:
    """Timer tick: the queue redrawn only when the running or waiting runs changed."""
    state = queue_state()
    if shown is not None and tuple(shown[1]) == state[1] and shown[0] == state[0]:
        return [gr.skip()] * 3
    return queue_view(manager, request)


@user_errors
def remove_waiting(manager: JobManager, run, request: gr.Request | None = None) -> list:
    """Take a waiting run out of the queue (its folder goes); the message, then the queue as it is now."""
    waiting = [path.name for path in run_queue.queued()]
    if not isinstance(run, str) or run not in waiting:
        raise refuse(request, "not_queued", run=str(run or "")[:80])
    run_queue.remove(run)
    return [say(request, "methods.removed", run=run), *queue_view(manager, request)]

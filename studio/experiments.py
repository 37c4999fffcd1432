"""Experiments: several runs that differ in one setting (the method, the learning rate, the LoRA rank...), queued
together on the same data, split, seed and step budget, then read side by side.

    record = queue_experiment("methods", "reviews", "cpu-lora", "method", ["lora", "dora", "ia3"])
    rows = comparison_rows(run_dirs(record))     # one dict per run: memory, time, losses, held-out scores, size
    reading(rows, "en")                          # a few sentences the numbers support

Each run answers its held-out rows with the base and the tuned model after training (RunConfig.heldout), so the
runs are compared on what they learned, not on their losses alone. The record of an experiment is
`<workspace>/experiments/<name>.json`; the runs are ordinary run folders, queued through studio.run_queue.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from pathlib import Path

from studio import runs
from studio.config import (HELDOUT_VALIDATION, METHODS, PRESETS_DIR, RunConfig, check_range, from_dict, list_presets,
                           load_config, read_yaml)
from studio.report_words import metric_name, number, phrase
from studio.workspace import atomic_write_json, runs_dir, workspace_root

# The settings an experiment may vary besides "method": each changes how a run learns, not what it learns from.
VARIABLES = ("learning_rate", "lora_rank", "lora_alpha", "lora_dropout", "num_virtual_tokens", "trainable_layers",
             "epochs", "max_steps", "batch_size", "gradient_accumulation", "cutoff_length", "warmup_ratio",
             "weight_decay", "lr_scheduler", "target_modules", "train_on_prompt", "preference_beta",
             "preference_loss", "precision")
# Varying these varies the budget itself: each run keeps its own step count.
BUDGET_VARIABLES = ("epochs", "max_steps")
# What an experiment decides for every run alike, so overrides may not set it.
FIXED = ("dataset", "output_dir", "heldout", "heldout_rows")
MAX_VALUES = 12
MAX_COMPARED = 20  # runs read side by side at once
FOLDER = "experiments"


def experiments_dir() -> Path:
    folder = workspace_root() / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def method_learning_rates() -> dict[str, float]:
    """Each method's own learning rate, from the shipped preset named for it (prefix tuning 1e-2, prompt tuning
    3e-2, full 1e-5...); the LoRA family's presets set none."""
    rates = {}
    for path in sorted(PRESETS_DIR.glob("*.yaml")):
        values = read_yaml(path)
        if path.stem == values.get("method") and "learning_rate" in values:
            rates[path.stem] = float(values["learning_rate"])
    return rates


def value_label(value) -> str:
    """A value as it goes into a run's name: 0.0002 -> 0_0002, q_proj,v_proj -> q_proj_v_proj."""
    text = format(value, "g") if isinstance(value, float) else str(value)
    return re.sub(r"[^\w-]+", "_", text).strip("_") or "value"


def queue_experiment(name: str, dataset: str, preset: str, variable: str, values: list,
                     overrides: dict | None = None, heldout: str = HELDOUT_VALIDATION, heldout_rows: int = 40) -> dict:
    """One run per value of `variable` (or "method"), from the preset and the overrides, on the same dataset, split,
    seed and step budget, with the held-out evaluation on; each queued as `<name>-<value>` (value_label). Every
    config is checked before the first is queued, so a value that cannot run queues nothing. Returns the record
    saved as experiments/<name>.json."""
    from studio import run_queue

    name = check_name(name)
    configs = experiment_configs(name, dataset, preset, variable, values, overrides, heldout, heldout_rows)
    queued: list[str] = []
    try:
        for run_name, config in configs.items():
            run_queue.enqueue(config, name=run_name)
            queued.append(run_name)
    except BaseException:
        for run_name in queued:  # nothing half-queued: what went in goes out again (but a run that started)
            with contextlib.suppress(ValueError):
                run_queue.remove(run_name)
        raise
    first = next(iter(configs.values()))
    record = {"name": name, "dataset": first.dataset, "preset": preset, "variable": variable,
              "values": [getattr(config, variable) for config in configs.values()], "runs": list(configs),
              "created": datetime.now().isoformat(timespec="seconds"), "overrides": dict(overrides or {}),
              "heldout": first.heldout, "heldout_rows": first.heldout_rows,
              "max_steps": None if variable in BUDGET_VARIABLES else first.max_steps}
    atomic_write_json(experiments_dir() / f"{name}.json", record)
    return record


def experiment_configs(name: str, dataset: str, preset: str, variable: str, values: list, overrides: dict | None,
                       heldout: str, heldout_rows: int) -> dict[str, RunConfig]:
    """run name -> its checked config (ValueError for the first thing that cannot run, before anything is queued)."""
    from studio.access import client_config, client_dataset
    from studio.preflight import check_run

    if overrides is not None and not isinstance(overrides, dict):
        raise ValueError("overrides must be settings and their values.")
    if variable != "method" and variable not in VARIABLES:
        raise ValueError(f"Vary one of: method, {', '.join(VARIABLES)} (not '{variable}').")
    if not isinstance(values, (list, tuple)) or not 2 <= len(values) <= MAX_VALUES:
        raise ValueError(f"Give from 2 to {MAX_VALUES} values of {variable} to compare.")
    fixed = sorted(set(overrides or {}) & {*FIXED, variable})
    if fixed:
        raise ValueError(f"The experiment sets {', '.join(fixed)} itself; leave it out of the overrides.")
    if preset and preset not in list_presets():
        raise ValueError(f"No preset '{preset}'. Use one of: {', '.join(list_presets())}.")
    check_range("heldout_rows", heldout_rows, 1, 10_000)
    heldout = heldout if heldout in ("", HELDOUT_VALIDATION) else client_dataset(heldout, "held-out dataset")
    base = client_config(load_config(preset, {**(overrides or {}), "dataset": dataset}))
    # Methods that train a few weights (prefix, prompt and P-tuning, IA3, AdaLoRA) take their own preset's larger
    # rate: at LoRA's 2e-4, prefix tuning from PEFT's random start ended 30 steps at loss 7.9 on the review sample.
    # None goes below the chosen preset's rate, which was picked for the run's length (full and freeze presets' low
    # rates are for long runs), and a rate in the overrides is for all.
    rates = method_learning_rates() if variable == "method" and "learning_rate" not in (overrides or {}) else {}
    configs: dict[str, RunConfig] = {}
    for value in values:
        if variable == "method" and value not in METHODS:
            raise ValueError(f"method '{value}' is not one of: {', '.join(METHODS)}.")
        own = {"learning_rate": max(rates[value], base.learning_rate)} if value in rates else {}
        config = from_dict({**base.to_dict(), variable: value, **own, "heldout": heldout, "heldout_rows": heldout_rows})
        if variable == "epochs":
            config.max_steps = 0  # the epochs are what is compared
        run_name = f"{name}-{value_label(getattr(config, variable))}"
        if run_name in configs:
            raise ValueError(f"{variable} {value} is given twice; give each value once.")
        configs[run_name] = config.validate()
    for run_name, config in configs.items():
        runs.named_run_dir(run_name)  # a free, valid run name, or ValueError
        check_run(config)
    if variable not in BUDGET_VARIABLES:
        fix_budget(list(configs.values()))
    return configs


def check_name(name: str) -> str:
    """An experiment's name: a run name's letters, short enough to leave room for the value, and not used yet."""
    text = str(name or "").strip()
    if not runs.RUN_NAME.fullmatch(text) or len(text) > 40:
        raise ValueError(f"Experiment name '{text}': use letters, digits, - and _ only, up to 40 characters.")
    if (experiments_dir() / f"{text}.json").exists():
        raise ValueError(f"An experiment named '{text}' already exists; choose another name.")
    return text


def fix_budget(configs: list[RunConfig]) -> None:
    """Every run trains as many optimizer steps as the first one's plan (studio.training.plan), so a method that
    packs its examples differently still gets the same budget."""
    from studio.training.plan import plan_run

    steps = plan_run(configs[0]).total_steps
    for config in configs:
        config.max_steps = steps


def list_experiments() -> list[dict]:
    """The workspace's experiment records, newest first."""
    found = [runs.read_json(path) for path in experiments_dir().glob("*.json")]
    records = [record for record in found if record and isinstance(record.get("runs"), list)]
    return sorted(records, key=lambda record: str(record.get("created")), reverse=True)


def load_experiment(name: str) -> dict:
    from studio.access import plain_name

    record = runs.read_json(experiments_dir() / f"{plain_name(name, 'experiment')}.json")
    if not record:
        raise ValueError(f"No experiment '{name}' in this workspace; queue one in the Methods tab first.")
    return record


def run_dirs(record: dict) -> list[Path]:
    """The run folders of an experiment that are still there (a queued run removed from the queue is not)."""
    return [runs_dir() / run for run in record["runs"] if runs.is_run(runs_dir() / run)]


# ---------------------------------------------------------------- reading the runs side by side


def resolved(run_dirs: list) -> list[Path]:
    """Run folders of this workspace from names or paths a request sent (ValueError for any other), at most
    MAX_COMPARED of them."""
    from studio.access import client_run

    if not isinstance(run_dirs, (list, tuple)) or len(run_dirs) > MAX_COMPARED:
        raise ValueError(f"Pick at most {MAX_COMPARED} runs to compare.")
    return [client_run(run) for run in run_dirs]


def labels(folders: list[Path]) -> dict[Path, str]:
    """Each run's label: the settings in which the runs differ, or the run's name where that says nothing apart.
    Runs of different methods each are labelled by the method alone: what else differs (its learning rate, its
    virtual tokens) comes with the method."""
    settings = {folder: runs.read_settings(folder) for folder in folders}
    keys = sorted({key for values in settings.values() for key in values
                   if key != "output_dir" and len({repr(values.get(key)) for values in settings.values()}) > 1},
                  key=lambda key: (key != "method", key))
    if "method" in keys and len({repr(values.get("method")) for values in settings.values()}) == len(folders):
        keys = ["method"]
    if not keys or len(keys) > 2 or len(folders) < 2:
        return {folder: folder.name for folder in folders}
    found = {folder: ", ".join(str(values.get(key)) if key == "method" else f"{key} {values.get(key)}"
                               for key in keys) for folder, values in settings.items()}
    return found if len(set(found.values())) == len(found) else {folder: folder.name for folder in folders}


def comparison_rows(run_dirs: list) -> list[dict]:
    """One row per run (a run name, or its folder in runs/): run, label, method, status, trainable_parameters,
    peak_memory_mb, minutes, tokens_per_second, eval_loss, heldout_metric, heldout_base, heldout_tuned, saved_mb,
    heldout_error; None where not known yet. The numbers are the run's own summary.json and stored held-out result."""
    folders = resolved(run_dirs)
    named = labels(folders)
    return [run_row(folder, named[folder]) for folder in folders]


def run_row(folder: Path, label: str) -> dict:
    from studio.compare import stored_heldout

    summary, settings = runs.read_summary(folder), runs.read_settings(folder)
    heldout = stored_heldout(folder)
    metric = heldout["headline"] if heldout else None
    seconds = summary.get("wall_seconds")
    return {
        "run": folder.name, "label": label, "method": settings.get("method", RunConfig().method),
        "status": run_status(folder), "trainable_parameters": summary.get("trainable_parameters"),
        "peak_memory_mb": summary.get("peak_memory_mb"), "minutes": seconds / 60 if seconds is not None else None,
        "tokens_per_second": summary.get("tokens_per_second"), "eval_loss": summary.get("eval_loss"),
        "heldout_metric": metric, "heldout_base": heldout["base"][metric] if heldout else None,
        "heldout_tuned": heldout["tuned"][metric] if heldout else None, "saved_mb": saved_mb(folder),
        "heldout_error": summary.get("heldout_error"),
    }


def run_status(folder: Path) -> str:
    """The job manager's status of the run (queued, running, finished, aborted, failed...)."""
    from studio.jobs import JobManager

    return JobManager().status(folder)


def saved_mb(folder: Path) -> float | None:
    """The size of what the run saved (adapter/ or model/) in MiB, or None before it saved anything."""
    try:
        _, weights = runs.trained_weights(folder)
    except ValueError:
        return None
    return round(sum(path.stat().st_size for path in weights.rglob("*") if path.is_file()) / 2**20, 3)


def curves(run_dirs: list) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """label -> {"loss": [(step, value)], "eval_loss": [(step, value)]} for each run, to overlay in one chart."""
    from studio.events import loss_points, read_events

    folders = resolved(run_dirs)
    named = labels(folders)
    found = {}
    for folder in folders:
        points = loss_points(read_events(folder))
        found[named[folder]] = {series: [(point["step"], point["loss"]) for point in points
                                         if point["series"] == series] for series in ("loss", "eval_loss")}
    return found


# ---------------------------------------------------------------- what the numbers say


def reading(rows: list[dict], language: str = "en") -> list[str]:
    """Sentences written from the numbers of comparison_rows: which run learned most on its held-out rows and most
    per minute, which saved the smallest file, trained fastest, used least memory, reached the lowest validation
    loss; which are still queued, training, or failed. A claim whose numbers are missing is not made."""
    sentences = learning_sentences(rows, language)
    for key, field, unit in (("smallest_file", "saved_mb", "MB"), ("fastest", "minutes", "min"),
                             ("least_memory", "peak_memory_mb", "MB"), ("lowest_eval_loss", "eval_loss", "")):
        known = [row for row in rows if row.get(field) is not None]
        if len(known) >= 2:
            low, high = min(known, key=lambda row: row[field]), max(known, key=lambda row: row[field])
            if low[field] < high[field]:
                sentences.append(phrase(language, f"reading.{key}", label=low["label"], value=number(low[field]),
                                        other=high["label"], other_value=number(high[field]), unit=unit))
    for status in ("queued", "running", "failed", "aborted"):
        waiting = [row["label"] for row in rows if row.get("status") == status]
        if waiting:
            sentences.append(phrase(language, f"reading.{status}", labels=phrase(language, "list").join(waiting)))
    failed = [row["label"] for row in rows if row.get("heldout_error")]
    if failed:
        sentences.append(phrase(language, "reading.heldout_failed", labels=phrase(language, "list").join(failed)))
    return sentences


def learning_sentences(rows: list[dict], language: str) -> list[str]:
    """Which run gained most on the held-out metric over its base, and most per minute of training."""
    measured = [row for row in rows if row.get("heldout_base") is not None and row.get("heldout_tuned") is not None]
    if not measured:
        return []
    metric = measured[0]["heldout_metric"]
    measured = [row for row in measured if row["heldout_metric"] == metric]
    best = max(measured, key=lambda row: row["heldout_tuned"] - row["heldout_base"])
    values = dict(label=best["label"], metric=metric_name(language, metric), base=number(best["heldout_base"]),
                  tuned=number(best["heldout_tuned"]))
    if best["heldout_tuned"] <= best["heldout_base"]:
        return [phrase(language, "reading.none_learned", **values)]
    if len(measured) == 1:
        return [phrase(language, "reading.learned", **values)]
    sentences = [phrase(language, "reading.learned_most", **values)]
    paced = [row for row in measured if row.get("minutes") and row["heldout_tuned"] > row["heldout_base"]]
    if len(paced) >= 2:
        fastest = max(paced, key=lambda row: (row["heldout_tuned"] - row["heldout_base"]) / row["minutes"])
        rate = (fastest["heldout_tuned"] - fastest["heldout_base"]) / fastest["minutes"]
        sentences.append(phrase(language, "reading.per_minute", label=fastest["label"], value=number(rate),
                                metric=metric_name(language, metric)))
    return sentences

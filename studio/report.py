"""Reports: one HTML file that tells what a run (or an experiment of several runs) did, to read and pass on away
from the app. Everything is inside the file (styles, SVG charts from studio.charts), it loads nothing from anywhere,
and every text a user wrote is escaped. What was not measured is said, with how to measure it.

    path = run_report("20260101-120000-lora-reviews", language="zh")   # <workspace>/exports/report-....html
    path = experiment_report("methods")                                  # an experiment queued in the Methods tab
"""

from __future__ import annotations

import json
from pathlib import Path

from studio import runs
from studio.charts import line_chart
from studio.config import RunConfig
from studio.report_page import Words, clip, esc, facts, figure, note, section, table, write_page

EXAMPLE_ROWS = 3  # rows of the dataset shown
SHOWN_ROWS = 5  # rows of a batch compare shown with both answers
STORED_SHOWN = 3  # batch compare results shown, newest first
PROBE_EVALUATIONS = 12  # evaluations shown per probe prompt (spread over the run)


# ---------------------------------------------------------------- one run


def run_report(run, language: str = "en") -> Path:
    """The report of one run (its name in runs/, or its folder there) as one HTML file in the workspace's exports/:
    the data, the settings, the curves, the probe answers, before/after, votes, knowledge drift, time and hardware."""
    from studio.access import client_run
    from studio.events import read_events

    words = Words(language)
    run_dir = client_run(run)
    config, summary, events = runs.load_run_config(run_dir), runs.read_summary(run_dir), read_events(run_dir)
    prepared = next((event for event in reversed(events) if event.get("event") == "prepared"), {})
    body = [glance(run_dir, config, summary, words), data_section(config, prepared, words),
            settings_section(config, words), curves_section(run_dir, words), probes_section(events, words), compare_section(run_dir, summary, words),
            votes_section(run_dir, summary, words), general_section(run_dir, summary, words),
            hardware_section(summary, prepared, words)]
    return write_page(f"report-{run_dir.name}-{language}", words("title.run", name=run_dir.name), body, language)


def glance(run_dir: Path, config: RunConfig, summary: dict, words: Words) -> str:
    from studio.experiments import run_status

    heldout = summary.get("heldout") or {}
    metric = heldout.get("metric")
    return section(words("section.glance"), facts([
        (words("fact.status"), words.status(run_status(run_dir))),
        (words("fact.error"), summary.get("error") or None), (words("fact.base_model"), config.base_model),
        (words("fact.method"), config.method), (words("fact.stage"), config.stage),
        (words("fact.train_loss"), figure(summary.get("train_loss"))),
        (words("fact.eval_loss"), figure(summary["eval_loss"]) if summary.get("eval_loss") is not None else None),
        (words("fact.steps"), figure(summary.get("steps"))),
        (words("fact.heldout", metric=words.metric(metric or "")),
         f"{figure(heldout.get('base'))} → {figure(heldout.get('tuned'))}" if metric else None),
        (words("fact.error"), summary.get("heldout_error")),
    ]))


def data_section(config: RunConfig, prepared: dict, words: Words) -> str:
    """The dataset file, its shape and rows, how the run split them, and its first rows."""
    from studio import data
    from studio.examples import resolve_dataset_path

    try:
        loaded = data.load_dataset(resolve_dataset_path(config.dataset))
    except (ValueError, OSError) as error:
        loaded, problem = None, note(words("missing.data", error=clip(str(error), 300)))
    listed = facts([
        (words("fact.dataset"), Path(config.dataset).name),
        (words("fact.validation_dataset"), Path(config.validation_dataset).name or None),
        (words("fact.shape"), loaded.shape if loaded else None),
        (words("fact.file_rows"), figure(len(loaded.rows)) if loaded else None),
        (words("fact.train_rows"), figure(prepared.get("train_rows"))),
        (words("fact.validation_rows"), figure(prepared.get("validation_rows"))),
        (words("fact.truncated_rows"), figure(prepared.get("truncated_rows"))),
    ])
    if loaded is None:
        return section(words("section.data"), listed, problem)
    examples = "".join(f"<pre>{esc(clip(json.dumps(row, ensure_ascii=False, indent=1), 800))}</pre>"
                       for row in loaded.rows[:EXAMPLE_ROWS])
    return section(words("section.data"), listed, f"<p>{esc(words('example_rows'))}</p>", examples)


def settings_section(config: RunConfig, words: Words) -> str:
    """The settings that differ from the defaults first; the rest folded away."""
    defaults, values = RunConfig().to_dict(), config.to_dict()
    changed = [name for name in values if values[name] != defaults[name] and name != "output_dir"]
    same = [name for name in values if name not in changed and name != "output_dir"]
    first = table([words("column.setting"), words("column.value"), words("column.default")],
                  [[name, setting_text(values[name]), setting_text(defaults[name])] for name in changed], (1,))
    rest = table([words("column.setting"), words("column.value")],
                 [[name, setting_text(values[name])] for name in same], (1,))
    return section(words("section.settings"), first,
                   f"<details><summary>{esc(words('more_settings', count=len(same)))}</summary>{rest}</details>")


def setting_text(value) -> str:
    if isinstance(value, list):
        return " | ".join(str(item) for item in value)
    return str(value)


def curves_section(run_dir: Path, words: Words) -> str:
    """Training and validation loss per step, and the reward metrics of preference, KTO and GRPO runs."""
    from studio.events import RunEvents

    events = RunEvents(Path(run_dir) / runs.EVENTS).update()
    loss = {"loss": [], "eval_loss": []}
    for point in events.loss_points():
        loss[point["series"]].append((point["step"], point["loss"]))
    wide = words.language == "zh"
    charts = [line_chart(loss, words("chart.step"), words("chart.loss"), marked=("eval_loss",), wide=wide,
                         labels={"loss": words("chart.training_loss"), "eval_loss": words("chart.validation_loss")})]
    rewards: dict[str, dict[str, list]] = {}
    for point in events.reward_points():
        rewards.setdefault(point["metric"], {"train": [], "validation": []})[point["series"]].append(
            (point["step"], point["value"]))
    for metric, series in rewards.items():
        title = words(f"chart.{metric}") if f"chart.{metric}" in CHART_KEYS else metric
        charts.append(f"<h3>{esc(title)}</h3>" + line_chart(
            series, words("chart.step"), title, marked=("validation",), wide=wide,
            labels={"train": words("chart.train"), "validation": words("chart.validation")}))
    if not charts[0]:
        return section(words("section.curves"), note(words("missing.curve")))
    return section(words("section.curves"), *charts)


CHART_KEYS = {f"chart.{name}" for name in ("preference_accuracy", "reward_margin", "reward_good", "reward_bad",
                                           "reference_kl", "reward", "reward_rule", "reward_length", "reward_model",
                                           "answer_length")}


def probes_section(events: list[dict], words: Words) -> str:
    """Each probe prompt's answers at the evaluations, spread over the run, with the answer it should give."""
    from studio.events import thin

    answers: dict[str, list] = {}
    expected: dict[str, str] = {}
    for event in events:
        for probe in event.get("probes") or []:
            answers.setdefault(probe["prompt"], []).append((event.get("step"), probe.get("answer", "")))
            expected[probe["prompt"]] = probe.get("expected", "")
    if not answers:
        return section(words("section.probes"), note(words("missing.probes")))
    parts = []
    for prompt, given in answers.items():
        parts.append(f"<h3>{esc(clip(prompt, 200))}</h3>")
        if expected.get(prompt):
            parts.append(f"<p>{esc(words('expected', text=clip(expected[prompt])))}</p>")
        parts.append(table([words("column.step"), words("column.answer")],
                           [list(pair) for pair in thin(given, PROBE_EVALUATIONS)], (1,)))
    return section(words("section.probes"), *parts)


def compare_section(run_dir: Path, summary: dict, words: Words) -> str:
    """The stored batch compare results (the held-out evaluation after training among them): totals, then the
    first rows with both answers."""
    from studio.compare import HELDOUT, comparison_rows, stored_results, totals

    stored = stored_results(run_dir)
    if not stored:
        waiting = summary.get("status") != "finished"
        return section(words("section.compare"), note(words("missing.unfinished" if waiting else "missing.compare")))
    parts = []
    for result in stored[:STORED_SHOWN]:
        heading = "compare.heldout" if result["file"] == f"{HELDOUT}.json" else "compare.heading"
        parts.append(f"<h3>{esc(words(heading, dataset=result['dataset'], rows=result['base']['rows']))}</h3>")
        parts.append(f"<p>{esc(words('compare.read', metric=words.metric(result['headline'])))}</p>")
        parts.append(table([words("column.metric"), words("column.base"), words("column.tuned"),
                            words("column.change")],
                           [[words.metric(row["metric"]), figure(row["base"]), figure(row["tuned"]),
                             figure(row["change"])] for row in totals(result)]))
        examples = comparison_rows(result)[:SHOWN_ROWS]
        parts.append(f"<p>{esc(words('compare.examples'))}</p>" + table(
            [words("column.row"), words("column.prompt"), words("column.reference"), words("column.base"),
             words("column.tuned")],
            [[row["row"], row["prompt"], row["reference"], row["base"], row["tuned"]] for row in examples],
            (1, 2, 3, 4)))
    return section(words("section.compare"), *parts)


def votes_section(run_dir: Path, summary: dict, words: Words) -> str:
    from studio.votes import vote_tally

    if summary.get("status") != "finished" or not runs.has_weights(run_dir):
        return section(words("section.votes"), note(words("missing.unfinished")))
    tally = vote_tally(run_dir)
    if not tally["votes"]:
        return section(words("section.votes"), note(words("missing.votes")))
    return section(words("section.votes"), f"<p>{esc(words('votes.tally', **tally))}</p>", table(
        [words("column.winner"), words("column.votes")],
        [[words("column.tuned"), tally["tuned"]], [words("column.base"), tally["base"]],
         [words("column.tie"), tally["tie"]]]))


def general_section(run_dir: Path, summary: dict, words: Words) -> str:
    from studio.compare import stored_general_check

    check = stored_general_check(run_dir)
    if check is None or check.get("drift") is None:
        waiting = summary.get("status") != "finished"
        return section(words("section.general"), note(words("missing.unfinished" if waiting else "missing.general")))
    return section(words("section.general"), f"<p>{esc(words('general.drift', drift=figure(check['drift'])))}</p>",
                   table([words("column.prompt"), words("column.base"), words("column.tuned"),
                          words("column.similarity")],
                         [[row["prompt"], row["base"], row["tuned"], figure(row["similarity"])]
                          for row in check["rows"]], (0, 1, 2)))


def hardware_section(summary: dict, prepared: dict, words: Words) -> str:
    """How long the run took, how fast, how much memory, on what."""
    from studio.models import device_summary

    seconds = summary.get("wall_seconds")
    memory = summary.get("peak_memory_mb")
    trainable, total = prepared.get("trainable_parameters"), prepared.get("total_parameters")
    heldout_seconds = summary.get("heldout_seconds")
    return section(words("section.hardware"), facts([
        (words("fact.wall"), words("fact.seconds", seconds=figure(seconds, 1), minutes=figure(seconds / 60, 1))
         if seconds is not None else None),
        (words("fact.trained_tokens"), figure(summary.get("trained_tokens"))),
        (words("fact.tokens_per_second"), figure(summary.get("tokens_per_second"), 1)),
        (words("fact.peak_memory"), f"{figure(memory, 1)} MB" if memory is not None
         else words("missing.memory") if summary.get("status") == "finished" else None),
        (words("fact.parameters"), words("fact.of", part=figure(trainable), whole=figure(total))
         if trainable is not None and total else None),
        (words("fact.trained_on"), prepared.get("device")),
        (words("fact.heldout_seconds"), words("fact.seconds", seconds=figure(heldout_seconds, 1),
                                              minutes=figure(heldout_seconds / 60, 1))
         if heldout_seconds is not None else None),
        (words("fact.made_on"), device_summary(words("fact.cores"), words("fact.threads"))),
    ]))


# ---------------------------------------------------------------- several runs


def experiment_report(name: str | None = None, runs: list | None = None, language: str = "en") -> Path:
    """The report of an experiment (by its name) or of runs picked to compare, as one HTML file in exports/: the
    reading, the table side by side, the overlaid curves, and each run's settings in brief."""
    from studio import experiments

    words = Words(language)
    if name:
        record = experiments.load_experiment(name)
        folders, title, stem = experiments.run_dirs(record), words("title.experiment", name=name), f"experiment-{name}"
    elif runs:
        folders, record = experiments.resolved(runs), None
        title = words("title.runs", count=len(folders))
        stem = "comparison-" + "-".join(folder.name for folder in folders)
    else:
        raise ValueError("Name an experiment, or pick at least one run to compare.")
    if not folders:
        raise ValueError("None of the experiment's runs is there any more.")
    rows = experiments.comparison_rows(folders)
    reading = experiments.reading(rows, language)
    body = [experiment_facts(record, words) if record else "",
            section(words("section.reading"), "<ul>" + "".join(f"<li>{esc(text)}</li>" for text in reading) + "</ul>"
                    if reading else note(words("missing.reading"))),
            section(words("section.table"), comparison_table(rows, words)),
            overlaid_curves(experiments.curves(folders), words), runs_settings(folders, rows, words)]
    return write_page(f"{stem[:100]}-{language}", title, body, language)


TABLE_COLUMNS = ("label", "method", "status", "trainable_parameters", "peak_memory_mb", "minutes",
                 "tokens_per_second", "eval_loss", "heldout_metric", "heldout_base", "heldout_tuned", "saved_mb")


COLUMN_DIGITS = {"peak_memory_mb": 1, "minutes": 2, "tokens_per_second": 1, "saved_mb": 3}


def comparison_table(rows: list[dict], words: Words) -> str:
    def cell(row: dict, column: str):
        value = row.get(column)
        if column == "status":
            return words.status(value)
        if column == "heldout_metric" and value:
            return words.metric(value)
        return figure(value, COLUMN_DIGITS.get(column, 4))

    return table([words(f"column.{column}") for column in TABLE_COLUMNS],
                 [[cell(row, column) for column in TABLE_COLUMNS] for row in rows])


def experiment_facts(record: dict, words: Words) -> str:
    return section(words("section.glance"), facts([
        (words("fact.dataset"), Path(str(record.get("dataset", ""))).name),
        (words("fact.preset"), record.get("preset") or None), (words("fact.variable"), record.get("variable")),
        (words("fact.values"), ", ".join(str(value) for value in record.get("values", []))),
        (words("fact.budget"), record["max_steps"] if record.get("max_steps") else words("fact.budget_own")),
        (words("fact.heldout_rows"), f"{record.get('heldout')}, {record.get('heldout_rows')}"
         if record.get("heldout") else words("fact.heldout_off")),
        (words("fact.created"), record.get("created")),
    ]))


def overlaid_curves(curves: dict, words: Words) -> str:
    """Every run's training loss in one chart, and its validation loss in another."""
    wide = words.language == "zh"
    charts = []
    for series, title in (("loss", "chart.training_loss"), ("eval_loss", "chart.validation_loss")):
        lines = {label: points[series] for label, points in curves.items() if points[series]}
        marked = tuple(lines) if series == "eval_loss" else ()
        chart = line_chart(lines, words("chart.step"), words(title), marked=marked, wide=wide)
        if chart:
            charts.append(f"<h3>{esc(words(title))}</h3>{chart}")
    return section(words("section.curves"), *(charts or [note(words("missing.curve"))]))


def runs_settings(folders: list[Path], rows: list[dict], words: Words) -> str:
    """The settings every run shares (where they differ from the defaults), then what sets each run apart."""
    defaults = RunConfig().to_dict()
    settings = [{key: value for key, value in runs.read_settings(folder).items()
                 if key in defaults and key != "output_dir"} for folder in folders]
    shared = {key: value for key, value in settings[0].items()
              if value != defaults[key] and all(other.get(key) == value for other in settings[1:])}
    differing = [key for key in defaults if len({repr(own.get(key, defaults[key])) for own in settings}) > 1]
    lines = [[row["label"], folder.name, ", ".join(f"{key}={setting_text(own.get(key, defaults[key]))}"
                                                   for key in differing)]
             for folder, row, own in zip(folders, rows, settings)]
    common = table([words("column.setting"), words("column.value")],
                   [[key, setting_text(value)] for key, value in shared.items()], (1,))
    return section(words("section.runs"), table([words("column.label"), words("column.run"), words("column.own")],
                                                lines, (2,)), f"<h3>{esc(words('shared'))}</h3>", common)

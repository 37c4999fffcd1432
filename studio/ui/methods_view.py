"""The Methods tab's view of a comparison: a saved comparison (studio.experiments) or runs picked from the runs
list, shown as overlaid loss curves (studio.charts), a table of each run's numbers, the reading written from
them, and the report (studio.report) to download. A timer tick redraws only while a shown run is queued or
training and something changed; a view of stopped runs costs no file read.
"""

from __future__ import annotations

import html

import gradio as gr
import pandas as pd

from studio import experiments, report
from studio.access import client_run
from studio.charts import colors_for, line_chart
from studio.chat import finished_runs, run_label
from studio.jobs import JobManager
from studio.report_words import metric_name, number
from studio.runs import EVENTS
from studio.ui.common import user_errors
from studio.ui.lang import language, say
from studio.ui.methods_queue import experiment_choices

MOST_SHOWN = 12  # runs in one view: one line each on the charts
SOURCES = ("experiment", "runs")
LIVE = ("queued", "running", "created")  # statuses a shown run may still leave
STATUSES = ("queued", "created", "running", "finished", "aborted", "failed")
NUMBERS = {"peak_memory_mb": "{:,.0f}", "minutes": "{:.1f}", "tokens_per_second": "{:,.0f}", "eval_loss": "{:.4f}"}
COLUMNS = ("label", "method", "status", "trainable_parameters", "peak_memory_mb", "minutes", "tokens_per_second",
           "eval_loss", "heldout", "saved_mb")
COLUMN_WIDTHS = ["13%", "9%", "9%", "10%", "9%", "7%", "8%", "9%", "16%", "10%"]
VIEW_SIZE = 6  # what show_view returns: the state read, two charts, the table, the reading, the download


# ---- the lists
def run_choices(manager: JobManager) -> list[tuple[str, str]]:
    """The finished runs, newest first: (name · method · dataset, name)."""
    return [(run_label(run), run.name) for run in finished_runs(manager.list_runs())]


# ---- what is shown
def shown_runs(source, experiment, runs, request: gr.Request | None = None) -> tuple[str | None, list]:
    """(the comparison's name or None, its run folders) for the view's choice, whatever a request sent: a saved
    comparison by name, or run names each resolved inside the workspace. A comparison's run removed from the queue
    is left out."""
    if source == "experiment":
        names = [record["name"] for record in experiments.list_experiments()]
        if not isinstance(experiment, str) or experiment not in names:
            if not experiment:
                return None, []
            raise ValueError(say(request, "methods.error.experiment", name=str(experiment)[:80]))
        folders = []
        for name in experiments.load_experiment(experiment).get("runs", []):
            try:
                folders.append(client_run(name))
            except ValueError:
                continue
        return experiment, folders
    picked = [runs] if isinstance(runs, str) else list(runs or []) if isinstance(runs, (list, tuple)) else []
    if len(picked) > MOST_SHOWN:
        raise ValueError(say(request, "methods.error.runs", most=MOST_SHOWN))
    return None, list(dict.fromkeys(client_run(name) for name in picked if name))


def state_of(manager: JobManager, source, experiment, runs, folders: list) -> dict:
    """What the view was drawn from: the choice, and each run's status with the size of its events while live."""
    statuses = []
    for folder in folders:
        status = manager.status(folder)
        events = folder / EVENTS
        statuses.append([folder.name, status, events.stat().st_size if status in LIVE and events.exists() else 0])
    return {"choice": [source, experiment, list(runs or []) if isinstance(runs, (list, tuple)) else runs],
            "runs": statuses}


def live(state: dict | None) -> bool:
    return bool(state) and any(status in LIVE for _, status, _ in state["runs"])


# ---- drawing
def charts(folders: list, request: gr.Request | None = None) -> tuple[str, str]:
    """Training and validation loss of every run, one line each in the same colour on both charts."""
    curves = experiments.curves(folders) if folders else {}
    colors = colors_for(curves)
    step, loss = say(request, "methods.chart.step"), say(request, "methods.chart.loss")
    training = {label: curve.get("loss") or [] for label, curve in curves.items()}
    validation = {label: curve.get("eval_loss") or [] for label, curve in curves.items()}
    return (line_chart(training, step, loss, colors=colors, title=say(request, "methods.chart.train")),
            line_chart(validation, step, loss, colors=colors, marked=tuple(validation),
                       title=say(request, "methods.chart.eval")))


def count_text(value, request: gr.Request | None = None) -> str:
    """A count of parameters as the page's language counts: 1.23 M in English, 123.4 万 in Chinese."""
    units = [(int(size), unit) for size, unit in (pair.split(":") for pair in say(request, "methods.count.units").split(","))]
    for size, unit in reversed(units):
        if value >= size:
            shown = value / size
            return f"{shown:,.2f} {unit}" if shown < 100 else f"{shown:,.1f} {unit}"
    return f"{value:,}"


def cell(name: str, row: dict, request: gr.Request | None = None) -> str:
    """One table cell, formatted for reading ('–' where not known yet)."""
    if name == "heldout":
        base, tuned = row.get("heldout_base"), row.get("heldout_tuned")
        if base is None and tuned is None:
            return "–"
        return " → ".join("–" if value is None else number(value) for value in (base, tuned))
    value = row.get(name)
    if name == "status":
        return say(request, f"methods.status.{value}") if f"{value}" in STATUSES else str(value or "–")
    if value is None or value == "":
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if name == "trainable_parameters":
        return count_text(value, request)
    if name == "saved_mb":
        return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    return NUMBERS[name].format(value) if name in NUMBERS else number(value)


def table(rows: list[dict], request: gr.Request | None = None) -> pd.DataFrame:
    """The comparison's rows with headers in the page's language; the held-out column names its metric."""
    metrics = {row.get("heldout_metric") for row in rows if row.get("heldout_metric")}
    headers = []
    for name in COLUMNS:
        if name == "heldout" and len(metrics) == 1:
            metric = metric_name(language(request), next(iter(metrics)))
            headers.append(say(request, "methods.column.heldout_metric", metric=metric))
        else:
            headers.append(say(request, f"methods.column.{name}"))
    return pd.DataFrame([[cell(name, row, request) for name in COLUMNS] for row in rows], columns=headers)


def reading_text(rows: list[dict], request: gr.Request | None = None) -> str:
    """The reading's sentences as a list; a line that says what to do while there is nothing to read."""
    if not rows:
        return say(request, "methods.reading_none")
    sentences = experiments.reading(rows, language(request))
    if not sentences:
        return say(request, "methods.reading_waiting")
    return "\n".join(f"- {html.escape(sentence)}" for sentence in sentences)


def drawn(folders: list, request: gr.Request | None = None) -> list:
    """(training chart, validation chart, table, reading) of the runs."""
    rows = experiments.comparison_rows(folders) if folders else []
    return [*charts(folders, request), table(rows, request), reading_text(rows, request)]


# ---- the handlers
@user_errors
def show_view(manager: JobManager, source, experiment, runs, request: gr.Request | None = None) -> list:
    """Everything the view shows for a choice (VIEW_SIZE values); the download hides until a new report is made."""
    if source not in SOURCES:
        source = "experiment"
    _, folders = shown_runs(source, experiment, runs, request)
    return [state_of(manager, source, experiment, runs, folders), *drawn(folders, request),
            gr.update(visible=False, value=None)]


def view_tick(manager: JobManager, source, experiment, runs, shown, request: gr.Request | None = None) -> list:
    """Timer tick: the view redrawn only while one of its runs is queued or training and something changed (a
    status, or new events); a view of stopped runs reads nothing. Never a message: a choice that no longer
    resolves stays as drawn until the user picks again."""
    skip = [gr.skip()] * VIEW_SIZE
    if not live(shown) or source not in SOURCES:
        return skip
    try:
        _, folders = shown_runs(source, experiment, runs, request)
    except ValueError:
        return skip
    state = state_of(manager, source, experiment, runs, folders)
    if state == shown:
        return skip
    return [state, *drawn(folders, request), gr.skip()]


@user_errors
def make_report(source, experiment, runs, request: gr.Request | None = None) -> dict:
    """The comparison's report, one HTML file in the page's language, offered for download."""
    name, folders = shown_runs(source if source in SOURCES else "experiment", experiment, runs, request)
    if not folders:
        raise ValueError(say(request, "methods.error.nothing"))
    if name:
        path = report.experiment_report(name=name, language=language(request))
    else:
        path = report.experiment_report(runs=folders, language=language(request))
    return gr.update(value=str(path), visible=True)


def source_view(source) -> tuple:
    """The comparison's list for a saved comparison, the runs' list for runs picked by hand."""
    return gr.update(visible=source != "runs"), gr.update(visible=source == "runs")


def refreshed_lists(manager: JobManager, experiment, runs) -> tuple:
    """The saved comparisons and the finished runs as they are now, keeping the choices still there."""
    comparisons = experiment_choices()
    names = [value for _, value in comparisons]
    finished = run_choices(manager)
    kept = [name for name in (runs or []) if name in {value for _, value in finished}] \
        if isinstance(runs, (list, tuple)) else []
    return (gr.update(choices=comparisons, value=experiment if experiment in names else (names[0] if names else None)),
            gr.update(choices=finished, value=kept))

"""The Train tab's runs: start, add to the queue, take out of it, resume, abort and Train more, and the live view of
the followed run (status line, progress bar, loss chart, reward charts, probe answers, log, the runs list, the card
of a stopped run, and the buttons its status allows).

The live view reads only the run folder (events.jsonl, train.log), so a closed or reloaded browser loses
nothing: on page load the tab follows the running job, else the newest run. Which run a browser follows
lives in its gr.State. What a handler writes itself (progress line, statuses, table headers, the loss chart's
text) is in the page's language (`studio.ui.lang`).
"""

from __future__ import annotations

import html
from pathlib import Path

import gradio as gr
import pandas as pd

from studio.access import client_run
from studio.events import follow
from studio.jobs import JobManager
from studio.run_queue import enqueue, position, remove
from studio.runs import load_run_config, log_tail, named_run_dir, read_summary
from studio.runs import train_more as settings_to_go_on
from studio.events import REWARD_METRICS
from studio.ui.chart import SERIES_COLORS, loss_chart
from studio.ui.common import error_text, user_error, user_errors
from studio.ui.lang import language, say
from studio.ui.train_form import SETTINGS, form_values, read_settings
from studio.workspace import training_holder

# Table columns by key; their headers are written in the page's language (Gradio does not translate them).
RUN_COLUMNS = ("run", "status", "method", "stage", "dataset", "train_loss", "eval_loss", "seconds")
PROBE_COLUMNS = ("step", "prompt", "expected", "answer")
SAMPLE_COLUMNS = ("step", "prompt", "reference", "answer", "reward")
LOG_LINES = 40
RESUMABLE = ("aborted", "failed")
CARD_FIELDS = ("train_loss", "eval_loss", "trained_tokens", "wall_seconds")
PROMPT_CHARACTERS = 120
# The reward charts in the loss chart's colours.
REWARD_COLORS = {"train": SERIES_COLORS["loss"], "validation": SERIES_COLORS["eval_loss"]}
# GRPO's charts (a metric of studio.events' each), and the colours of each reward's own mean beside the total.
GRPO_CHARTS = ("reward", "reference_kl", "answer_length")
REWARD_PARTS = {"reward_rule": "rule", "reward_length": "length", "reward_model": "reward_model"}
GRPO_COLORS = {**REWARD_COLORS, "rule": "#2ca02c", "length": "#9467bd", "reward_model": "#8c564b"}
# What the view outputs, in order (see show_run).
VIEW_SIZE = 15


def reward_view(run_path: str | None) -> tuple:
    """Preference accuracy and reward margin charts of a DPO / ORPO run (hidden for other runs)."""
    points = follow(Path(run_path))["reward_points"] if run_path else []
    points = [point for point in points if point["metric"] in REWARD_METRICS.values()]
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


def grpo_charts(run_path: str | None, request: gr.Request | None = None) -> tuple:
    """A GRPO run's charts (mean reward, with each reward's own when there are several; KL from the reference, shown
    when the run has a KL penalty; mean answer length) and its latest sampled answers; hidden for other runs."""
    events = follow(Path(run_path)) if run_path else {"reward_points": [], "last_samples": None}
    points = events["reward_points"]
    if not any(point["metric"] == "reward" for point in points):
        return gr.update(visible=False), None, None, None, sample_table(None, request)
    parts = {point["metric"] for point in points if point["metric"] in REWARD_PARTS and point["series"] == "train"}
    frames = []
    for metric in GRPO_CHARTS:
        rows = [{"step": point["step"], "series": point["series"], metric: point["value"]}
                for point in points if point["metric"] == metric]
        if metric == "reward" and len(parts) > 1:
            rows += [{"step": point["step"], "series": REWARD_PARTS[point["metric"]], "reward": point["value"]}
                     for point in points if point["metric"] in parts and point["series"] == "train"]
        shown = bool(rows)
        # Every series in every frame, so the colours stay fixed from the first draw.
        rows += [{"step": points[0]["step"], "series": series, metric: None}
                 for series in sorted(set(REWARD_COLORS) - {row["series"] for row in rows})]
        frames.append(gr.update(value=pd.DataFrame(rows, columns=["step", "series", metric]), visible=shown))
    return gr.update(visible=True), *frames, sample_table(events["last_samples"], request)


def sample_table(event: dict | None, request: gr.Request | None = None) -> pd.DataFrame:
    """The latest sampled answers of a GRPO run, each with its prompt's end, the reference answer and its reward
    (the sum, and each reward's own where there are several)."""
    rows = []
    for sample in (event or {}).get("samples") or []:
        parts = sample.get("rewards") or {}
        detail = f" ({', '.join(f'{name} {value:.2f}' for name, value in parts.items())})" if len(parts) > 1 else ""
        rows.append([event["step"], ending(sample["prompt"]), sample.get("reference", ""), sample["answer"],
                     f"{sample['reward']:.3f}{detail}"])
    return pd.DataFrame(rows, columns=[say(request, f"train.column.{name}") for name in SAMPLE_COLUMNS])


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
def enqueue_run(manager: JobManager, request: gr.Request, run_path: str | None, run_name: str, *values) -> tuple:
    """Put a run of the settings last in the queue, in a folder named `run_name` (empty: date, method and dataset),
    checked as Start checks it; it starts once nothing trains. The page follows it when nothing trains now (it
    starts in a moment), else stays on the run it follows; the name field is emptied for the next run."""
    folder = enqueue(read_settings(*values), run_name)
    gr.Info(say(request, "train.queued_note", name=folder.name, position=position(folder) or 1))
    try:
        followed = str(client_run(run_path)) if run_path and manager.running() is not None else str(folder)
    except ValueError:  # the followed run is gone meanwhile
        followed = str(folder)
    return followed, ""


@user_errors
def remove_queued(manager: JobManager, run_path: str | None) -> str | None:
    """Take the followed run out of the queue before it starts (its folder, which holds only its settings, goes);
    the page then follows the running job, else the newest run."""
    if not run_path:
        raise ValueError("Select a queued run in the runs list to remove it from the queue.")
    remove(run_path)
    return followed_run(manager)


@user_errors
def resume_run(manager: JobManager, run_path: str | None) -> str:
    if not run_path:
        raise ValueError("Select a run in the runs list to resume it.")
    return str(manager.resume(client_run(run_path)))


def run_card(run_path: str | None, status: str | None) -> list:
    """A stopped run's numbers for the card under the progress bar; hidden while it runs or with no run."""
    if not run_path or status in (None, "running", "created", "queued"):
        return [gr.update(visible=False), *[gr.skip()] * len(CARD_FIELDS)]
    summary = read_summary(Path(run_path))
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
        config = load_run_config(client_run(run_path)) if running else None
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
    return [*form_values(settings_to_go_on(client_run(run_path))), gr.update(open=True)]


def abort_run(manager: JobManager, run_path: str | None) -> None:
    """Stop after the current step with a checkpoint (the view then shows 'aborted')."""
    if run_path:
        manager.abort(client_run(run_path))


def followed_run(manager: JobManager) -> str | None:
    """The run a newly opened page follows: the running job, else the next queued run, else the newest run."""
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
    if info.status == "queued":
        status += f" · {say(request, 'train.queue_position', position=position(run_dir) or 1)}"
    if info.status == "failed" and info.error:
        status += f" — {error_text(info.error.splitlines()[0], language(request))}"
    return (status, progress_bar(events, info.status, request), loss_chart(events["loss_points"], request),
            probe_table(events["last_probes"], request), log_tail(run_dir, LOG_LINES))


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
    if event.get("reward") is not None:  # GRPO
        parts.append(say(request, "train.progress.reward", value=f"{event['reward']:.3f}"))
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
    """Start, Abort, Resume, Train more, the next steps, Add to queue and Remove from queue for the followed run's
    status: Start only while nothing trains, Add to queue always (the main button while a job trains); Abort red
    and live only while the followed run runs; Resume for a run stopped part way; Train more and the next steps for
    a finished run; Remove from queue for a queued one."""
    running = status == "running"
    return [gr.update(interactive=not busy),
            gr.update(interactive=running, variant="stop" if running else "secondary"),
            gr.update(visible=status in RESUMABLE, interactive=not busy),
            gr.update(visible=status == "finished", interactive=not busy),
            gr.update(visible=status == "finished"),
            gr.update(variant="primary" if busy else "secondary"),
            gr.update(visible=status == "queued")]


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

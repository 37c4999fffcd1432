"""The run folder: the one module that knows its files, names and rules (see docs/design.md).

    runs/<name>/config.yaml     the resolved RunConfig
                job.json        pid, start time and command of the process training it
                events.jsonl    appended while training (studio.events reads it)
                summary.json    status (finished | aborted | failed), losses, time, error
                adapter/ | model/   the result: a PEFT adapter, or a whole model (freeze, full)
                checkpoints/    for resume
                abort           present = stop after the current step
                train.log       the job's output
                votes.jsonl, comparisons/   blind votes and reports from the Compare tab

It imports no torch: the app lists, reads and checks runs without loading a model library.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import yaml

from studio.config import RunConfig, from_dict
from studio.workspace import atomic_write_json, atomic_write_text, inside, runs_dir

CONFIG = "config.yaml"
JOB = "job.json"
EVENTS = "events.jsonl"
SUMMARY = "summary.json"
ADAPTER = "adapter"
MODEL = "model"
CHECKPOINTS = "checkpoints"
ABORT = "abort"
LOG = "train.log"
VOTES = "votes.jsonl"
COMPARISONS = "comparisons"
# Set in the environment of a job the app's job manager started (it writes job.json and clears abort itself).
MANAGED_ENV = "STUDIO_MANAGED_JOB"
# A run name the user chooses: letters (any script), digits, - and _; it names the run's folder under runs/.
RUN_NAME = re.compile(r"\w[\w-]{0,79}")


# ------------------------------------------------------------------------------------- naming


def new_run_dir(config: RunConfig) -> Path:
    """The folder of a run nobody named: date, method and dataset."""
    stem = Path(config.dataset).stem or "run"
    return runs_dir() / f"{datetime.now():%Y%m%d-%H%M%S}-{config.method}-{stem}"


def named_run_dir(name: str) -> Path:
    """The folder under runs/ of a new run the user named; ValueError for a name with folders in it, other
    characters, or one another run already has (a run folder is never reused)."""
    text = str(name or "").strip()
    if not RUN_NAME.fullmatch(text):
        raise ValueError(f"Run name '{text}': use letters, digits, - and _ only, up to 80 characters.")
    folder = inside(runs_dir(), text)
    if folder.exists():
        raise ValueError(f"A run named '{text}' already exists; choose another name, or leave it empty for an "
                         "automatic one.")
    return folder


def is_run(folder: Path) -> bool:
    return (Path(folder) / CONFIG).is_file()


def run_folders() -> list[Path]:
    """Every run folder of the workspace, in no particular order."""
    folder = runs_dir()
    return [path for path in folder.iterdir() if is_run(path)] if folder.is_dir() else []


# ------------------------------------------------------------------------------ reading, writing


def read_json(path: Path) -> dict | None:
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_settings(run_dir: Path) -> dict:
    """config.yaml as it is written ({} when missing or unreadable): for listing, where a bad file must not stop the list."""
    try:
        values = yaml.safe_load((Path(run_dir) / CONFIG).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return values if isinstance(values, dict) else {}


def load_run_config(run_dir: Path) -> RunConfig:
    return from_dict(read_settings(run_dir))


def write_config(run_dir: Path, config: RunConfig) -> None:
    atomic_write_text(Path(run_dir) / CONFIG, config.to_yaml())


def base_model(path: str | Path) -> str | None:
    """The base model a run was trained from, given its folder or its adapter/ or model/ folder, if known."""
    for folder in (Path(path), Path(path).parent):
        if is_run(folder):
            return read_settings(folder).get("base_model")
    return None


def read_summary(run_dir: Path) -> dict:
    """The run's summary.json, or {} while it has none."""
    return read_json(Path(run_dir) / SUMMARY) or {}


def write_summary(run_dir: Path, summary: dict) -> None:
    atomic_write_json(Path(run_dir) / SUMMARY, summary)


def read_job(run_dir: Path) -> dict:
    return read_json(Path(run_dir) / JOB) or {}


def write_job(run_dir: Path, pid: int, started: float, command: list[str]) -> None:
    atomic_write_json(Path(run_dir) / JOB, {"pid": pid, "started": started, "command": command})


def log_tail(run_dir: Path, lines: int) -> str:
    """The last lines of the job's output."""
    try:
        return "\n".join((Path(run_dir) / LOG).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------------------------- the result


def result_folder(run_dir: Path, saves_adapter: bool) -> Path:
    """Where a run saves what it trained: adapter/ for PEFT methods, model/ for freeze and full."""
    return Path(run_dir) / (ADAPTER if saves_adapter else MODEL)


def has_weights(run_dir: Path) -> bool:
    return any((Path(run_dir) / name).is_dir() for name in (ADAPTER, MODEL))


def trained_weights(path: str | Path) -> tuple[str, Path]:
    """('adapter' | 'model', folder) from a run folder or an adapter/model folder itself."""
    path = Path(path).expanduser()
    for kind in (ADAPTER, MODEL):
        if (path / kind).is_dir():
            return kind, path / kind
    if (path / "adapter_config.json").exists():
        return ADAPTER, path
    if (path / "config.json").exists():
        return MODEL, path
    raise ValueError(f"{path} holds no adapter/ or model/; is the run finished?")


# ---------------------------------------------------------------------------------- checkpoints


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest whole checkpoint; one cut short by a kill mid-save is passed over."""
    checkpoints = [path for path in Path(run_dir).glob(f"{CHECKPOINTS}/checkpoint-*")
                   if path.name.split("-")[-1].isdigit() and complete_checkpoint(path)]
    return max(checkpoints, key=lambda path: int(path.name.split("-")[-1]), default=None)


def complete_checkpoint(folder: Path) -> bool:
    """The Trainer writes trainer_state.json after the weights, optimizer and random state; readable, it ends a save."""
    return read_json(Path(folder) / "trainer_state.json") is not None


# ---------------------------------------------------------------------------------------- abort


def request_abort(run_dir: Path) -> None:
    (Path(run_dir) / ABORT).touch()


def abort_requested(run_dir: Path) -> bool:
    return (Path(run_dir) / ABORT).exists()


def clear_abort(run_dir: Path) -> None:
    (Path(run_dir) / ABORT).unlink(missing_ok=True)


# ----------------------------------------------------------------------------- going on from a run


def refuse_finished(run_dir: Path, status: str) -> None:
    """Resume belongs to aborted and failed runs: on a finished one it would train again and overwrite its result."""
    if status == "finished":
        raise ValueError(f"{Path(run_dir).name} has finished; resuming it would train it again and overwrite its "
                         "result. To train it further, use Train more: a new run that starts from this one.")
    if status == "running":
        raise ValueError(f"{Path(run_dir).name} is still running.")


def start_from_run(config: RunConfig) -> Path:
    """The finished run `start_from` names (a path, or a run in the workspace), checked against this config: its
    adapter is what this run goes on training (Train more; DPO / ORPO after SFT)."""
    folder = Path(config.start_from).expanduser()
    if not folder.is_dir():
        folder = runs_dir() / config.start_from
    if not is_run(folder):
        raise ValueError(f"start_from: '{config.start_from}' is not a run folder (no config.yaml in it).")
    if not (folder / ADAPTER / "adapter_config.json").is_file():
        if (folder / MODEL).is_dir():
            raise ValueError(f"start_from: {folder.name} saved a whole model (freeze/full); set base_model to "
                             f"{folder / MODEL} instead and leave start_from empty.")
        raise ValueError(f"start_from: {folder.name} has no adapter/ yet; pick a finished run.")
    earlier, defaults = read_settings(folder), RunConfig()
    method = earlier.get("method", defaults.method)
    base = earlier.get("base_model", defaults.base_model)
    if method != config.method:
        raise ValueError(f"start_from: {folder.name} trained a {method} adapter; set method to {method} to go on with it.")
    if method == "adalora":
        raise ValueError(f"start_from: {folder.name} is an AdaLoRA run, whose ranks were shared out over its own "
                         "schedule; train a new AdaLoRA run (or use LoRA) instead.")
    if base != config.base_model:
        raise ValueError(f"start_from: {folder.name} was trained on base model '{base}', this run uses "
                         f"'{config.base_model}'; set base_model to '{base}'.")
    return folder


def train_more(run_dir: Path) -> RunConfig:
    """The settings of a new run that goes on from a finished one: its config, starting from its adapter (or, for
    freeze and full runs, from its saved model as the base)."""
    run_dir = Path(run_dir)
    if read_summary(run_dir).get("status") != "finished":
        raise ValueError(f"{run_dir.name} has not finished; resume it instead, or pick a finished run.")
    config = load_run_config(run_dir)
    config.output_dir = ""
    if (run_dir / ADAPTER / "adapter_config.json").is_file():
        config.start_from = run_dir.name
    elif (run_dir / MODEL / "config.json").is_file():
        config.base_model, config.start_from = str(run_dir / MODEL), ""
    else:
        raise ValueError(f"{run_dir.name} saved no adapter/ or model/ to go on from.")
    return config

"""Training jobs: start, watch, abort and resume `python -m studio train` subprocesses; list runs.

A run with `num_processes` above 1 trains under `accelerate launch` (see `launch_command`), one process per
GPU; its first process writes the run folder, and an abort stops every process at the same step.

Everything a job's state needs is in its run folder (job.json, events.jsonl, summary.json),
so a restarted app finds running jobs again, and a job killed without a summary is reported
as failed rather than running forever.

    manager = JobManager()
    run_dir = manager.start(config)
    manager.status(run_dir)   # running | finished | aborted | failed
    manager.abort(run_dir)
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from studio.config import RunConfig
from studio.workspace import (
    PROJECT_ROOT, atomic_write_json, atomic_write_text, runs_dir, training_holder, workspace_root,
)

JOB_FILE = "job.json"
# A run name the user chooses: letters (any script), digits, - and _; it names the run's folder under runs/.
RUN_NAME = re.compile(r"\w[\w-]{0,79}")


@dataclass
class RunInfo:
    name: str
    path: Path
    status: str
    method: str = ""
    stage: str = ""
    dataset: str = ""
    base_model: str = ""
    train_loss: float | None = None
    eval_loss: float | None = None
    wall_seconds: float | None = None
    started: float | None = None
    error: str | None = None


class JobManager:
    """One shared manager per app; one training job at a time on the machine."""

    def __init__(self):
        self._processes: dict[Path, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def start(self, config: RunConfig) -> Path:
        from studio.preflight import check_run
        from studio.train import new_run_dir

        config.validate()
        check_run(config)
        with self._lock:
            self._refuse_if_busy()
            # Resolved, as the job's command line names it: a restarted app finds the job by that path.
            run_dir = (Path(config.output_dir) if config.output_dir else new_run_dir(config)).resolve()
            if (run_dir / "summary.json").exists() or (run_dir / JOB_FILE).exists():
                raise ValueError(f"{run_dir.name} already holds a run; choose another output folder or resume it.")
            check_processes(config.num_processes)
            config.output_dir = str(run_dir.resolve())
            run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(run_dir / "config.yaml", config.to_yaml())
            self._spawn(run_dir, config.num_processes, resume=False)
        return run_dir

    def resume(self, run_dir: Path) -> Path:
        from studio.train import latest_checkpoint

        run_dir = Path(run_dir)
        with self._lock:
            self._refuse_if_busy()
            refuse_finished(run_dir, self.status(run_dir))
            if latest_checkpoint(run_dir) is None:
                raise ValueError(f"{run_dir.name} has no checkpoint to resume from.")
            # As many processes as before: each goes on with its own share of the batches from the checkpoint.
            processes = load_run_config(run_dir).num_processes
            check_processes(processes)
            (run_dir / "summary.json").unlink(missing_ok=True)
            self._spawn(run_dir, processes, resume=True)
        return run_dir

    def _refuse_if_busy(self) -> None:
        running = self.running()
        holder = training_holder()
        if running is not None or holder is not None:
            name = running.name if running is not None else Path(holder).name
            raise ValueError(f"A training job is already running ({name}). Wait for it or abort it first.")

    def _spawn(self, run_dir: Path, processes: int, resume: bool) -> None:
        from studio.train import MANAGED_ENV

        command = launch_command(processes, ["train", "--config", str(run_dir / "config.yaml"),
                                             *(["--resume"] if resume else [])])
        (run_dir / "abort").unlink(missing_ok=True)
        log = open(run_dir / "train.log", "ab")
        environment = {**os.environ, "STUDIO_WORKSPACE": str(workspace_root()), "PYTHONUNBUFFERED": "1",
                       MANAGED_ENV: "1", "PYTHONWARNINGS": "ignore::FutureWarning,ignore::DeprecationWarning"}
        # A session of its own: the job outlives a closed browser and ignores the app's Ctrl-C.
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=environment, start_new_session=True)
        log.close()
        self._processes[run_dir.resolve()] = process
        atomic_write_json(run_dir / JOB_FILE, {"pid": process.pid, "started": time.time(), "command": command})

    def is_alive(self, run_dir: Path) -> bool:
        run_dir = Path(run_dir).resolve()
        process = self._processes.get(run_dir)
        if process is not None:
            return process.poll() is None
        job = _read_json(run_dir / JOB_FILE)
        if job and _pid_runs_studio(job.get("pid"), run_dir):
            return True
        # A job started elsewhere (the command line, another app) holds the workspace's training lock.
        return training_holder() == str(run_dir)

    def status(self, run_dir: Path) -> str:
        """running | finished | aborted | failed; a dead job without a summary is marked failed."""
        run_dir = Path(run_dir)
        summary = _read_json(run_dir / "summary.json")
        if summary:
            return summary.get("status", "failed")
        if not (run_dir / JOB_FILE).exists():
            return "failed" if (run_dir / "events.jsonl").exists() else "created"
        if self.is_alive(run_dir):
            return "running"
        self._mark_failed(run_dir)
        return "failed"

    def _mark_failed(self, run_dir: Path) -> None:
        from studio.train import latest_checkpoint

        checkpoint = latest_checkpoint(run_dir)
        tail = log_tail(run_dir / "train.log", 5)
        error = "The training process ended without finishing (killed or crashed)."
        if checkpoint:
            error += f" Its last checkpoint, {checkpoint.name}, can be resumed."
        if tail:
            error += f"\nLast output:\n{tail}"
        atomic_write_json(run_dir / "summary.json", {"status": "failed", "error": error})

    def abort(self, run_dir: Path, timeout: float = 120.0) -> str:
        """Ask the job to stop after its current step (it saves a checkpoint); kill it if it hangs."""
        run_dir = Path(run_dir)
        if self.status(run_dir) != "running":
            return self.status(run_dir)
        (run_dir / "abort").touch()
        deadline = time.time() + timeout
        while time.time() < deadline and self.is_alive(run_dir):
            time.sleep(0.2)
        if self.is_alive(run_dir):
            job = _read_json(run_dir / JOB_FILE)
            os.killpg(job["pid"], signal.SIGKILL)
            # The launcher of a several-process run starts each process in a session of its own.
            for pid in run_processes(run_dir):
                _kill(pid)
            time.sleep(0.5)
        return self.status(run_dir)

    def running(self) -> RunInfo | None:
        return next((run for run in self.list_runs() if run.status == "running"), None)

    def list_runs(self) -> list[RunInfo]:
        runs = [self.describe(path) for path in runs_dir().iterdir() if (path / "config.yaml").exists()]
        return sorted(runs, key=lambda run: run.started or 0, reverse=True)

    def describe(self, run_dir: Path) -> RunInfo:
        run_dir = Path(run_dir)
        status = self.status(run_dir)
        config = _read_yaml(run_dir / "config.yaml")
        summary = _read_json(run_dir / "summary.json") or {}
        job = _read_json(run_dir / JOB_FILE) or {}
        return RunInfo(
            name=run_dir.name, path=run_dir, status=status, method=config.get("method", ""),
            stage=config.get("stage", ""), dataset=Path(config.get("dataset", "")).name,
            base_model=config.get("base_model", ""), train_loss=summary.get("train_loss"),
            eval_loss=summary.get("eval_loss"), wall_seconds=summary.get("wall_seconds"),
            started=job.get("started") or run_dir.stat().st_mtime, error=summary.get("error"),
        )

    def wait(self, run_dir: Path, timeout: float | None = None) -> str:
        deadline = None if timeout is None else time.time() + timeout
        while self.status(run_dir) == "running":
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"{Path(run_dir).name} still running after {timeout} s.")
            time.sleep(0.5)
        return self.status(run_dir)


def launch_command(processes: int, arguments: list[str]) -> list[str]:
    """The command line of `python -m studio <arguments>`, under `accelerate launch` for more than one process.

    accelerate's torchrun launcher (`--multi_gpu`) starts the processes and each picks its device itself: the GPU of
    its local rank, or, without CUDA, the CPU, with the gloo backend. accelerate's `--cpu` would start one process
    only (its several-CPU-process path needs MPI). Port 0: a free port, so two launches on a machine never collide.
    """
    studio = ["-m", "studio", *arguments]
    if processes <= 1:
        return [sys.executable, *studio]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
            *studio]


def check_processes(processes: int) -> None:
    """Refuse more training processes than this machine has devices for: one per CUDA GPU, else one per CPU core."""
    if processes <= 1:
        return
    from studio.models import pick_device

    device = pick_device()
    if device == "cuda":
        import torch

        gpus = torch.cuda.device_count()
        if processes > gpus:
            raise ValueError(f"num_processes is {processes}, but this machine has {gpus} GPU(s); set it to {gpus} "
                             "or fewer (one process per GPU).")
    elif device != "cpu":
        raise ValueError(f"num_processes is {processes}, but several processes need CUDA GPUs (or the CPU), not "
                         f"{device}; set num_processes to 1.")
    elif processes > (os.cpu_count() or 1):
        raise ValueError(f"num_processes is {processes}, but this machine has no GPU and {os.cpu_count()} CPU "
                         "core(s); set it to that many or fewer.")


def run_processes(run_dir: Path) -> list[int]:
    """The pids of the processes training this run: the launcher and each training process (whose command lines
    name its folder); none where /proc cannot be read."""
    run_dir = Path(run_dir).resolve()
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            named = bool((entry / "cmdline").read_bytes())
        except OSError:  # ended meanwhile, or not ours to read
            continue
        if named and int(entry.name) != os.getpid() and _pid_runs_studio(entry.name, run_dir):
            pids.append(int(entry.name))
    return pids


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:  # it ended meanwhile
        pass


def named_run_dir(name: str) -> Path:
    """The folder under runs/ of a new run the user named; ValueError for a name with folders in it, other
    characters, or one another run already has (a run folder is never reused)."""
    from studio.access import plain_name
    from studio.workspace import inside

    text = str(name or "").strip()
    folder = inside(runs_dir(), plain_name(text, "run"))
    if not RUN_NAME.fullmatch(text):
        raise ValueError(f"Run name '{text}': use letters, digits, - and _ only, up to 80 characters.")
    if folder.exists():
        raise ValueError(f"A run named '{text}' already exists; choose another name, or leave it empty for an "
                         "automatic one.")
    return folder


def read_summary(run_dir: Path) -> dict:
    """The run's summary.json, or {} while it has none."""
    return _read_json(Path(run_dir) / "summary.json") or {}


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
    if not (folder / "config.yaml").is_file():
        raise ValueError(f"start_from: '{config.start_from}' is not a run folder (no config.yaml in it).")
    if not (folder / "adapter" / "adapter_config.json").is_file():
        if (folder / "model").is_dir():
            raise ValueError(f"start_from: {folder.name} saved a whole model (freeze/full); set base_model to "
                             f"{folder / 'model'} instead and leave start_from empty.")
        raise ValueError(f"start_from: {folder.name} has no adapter/ yet; pick a finished run.")
    earlier = _read_yaml(folder / "config.yaml")
    defaults = RunConfig()
    method = earlier.get("method", defaults.method)
    base_model = earlier.get("base_model", defaults.base_model)
    if method != config.method:
        raise ValueError(f"start_from: {folder.name} trained a {method} adapter; set method to {method} to go on with it.")
    if method == "adalora":
        raise ValueError(f"start_from: {folder.name} is an AdaLoRA run, whose ranks were shared out over its own "
                         "schedule; train a new AdaLoRA run (or use LoRA) instead.")
    if base_model != config.base_model:
        raise ValueError(f"start_from: {folder.name} was trained on base model '{base_model}', this run uses "
                         f"'{config.base_model}'; set base_model to '{base_model}'.")
    return folder


def train_more(run_dir: Path) -> RunConfig:
    """The settings of a new run that goes on from a finished one: its config, starting from its adapter (or, for
    freeze and full runs, from its saved model as the base)."""
    run_dir = Path(run_dir)
    if read_summary(run_dir).get("status") != "finished":
        raise ValueError(f"{run_dir.name} has not finished; resume it instead, or pick a finished run.")
    config = load_run_config(run_dir)
    config.output_dir = ""
    if (run_dir / "adapter" / "adapter_config.json").is_file():
        config.start_from = run_dir.name
    elif (run_dir / "model" / "config.json").is_file():
        config.base_model, config.start_from = str(run_dir / "model"), ""
    else:
        raise ValueError(f"{run_dir.name} saved no adapter/ or model/ to go on from.")
    return config


def load_run_config(run_dir: Path) -> RunConfig:
    from studio.config import from_dict

    return from_dict(_read_yaml(Path(run_dir) / "config.yaml"))


def _pid_runs_studio(pid, run_dir: Path) -> bool:
    """The pid is alive and is our training command for this run (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{int(pid)}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, TypeError, ValueError):
        return _pid_exists(pid)
    # A zombie has exited; only its parent has not collected it yet.
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return "studio" in cmdline and str(run_dir) in cmdline


def _pid_exists(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _read_yaml(path: Path) -> dict:
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}


def log_tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""

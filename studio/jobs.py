"""Training jobs: start, watch, abort and resume `python -m studio train` subprocesses; list runs.

A run with `num_processes` above 1 trains under `accelerate launch` (see `launch_command`), one process per
GPU; its first process writes the run folder, and an abort stops every process at the same step.

Everything a job's state needs is in its run folder (job.json, events.jsonl, summary.json),
so a restarted app finds running jobs again, and a job killed without a summary is reported
as failed rather than running forever.

Runs may also wait in the queue (`studio.run_queue`): `advance` starts the first one whenever nothing trains
in the workspace, so queued runs train one after another, each once the one before it ended, however it ended.

    manager = JobManager()
    run_dir = manager.start(config)
    manager.status(run_dir)   # queued | running | finished | aborted | failed
    manager.abort(run_dir)
    manager.advance()         # the next queued run, when nothing trains
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from studio import run_queue, runs
from studio.config import RunConfig
from studio.runs import load_run_config, log_tail, read_job, read_settings, read_summary, refuse_finished
from studio.workspace import PROJECT_ROOT, training_holder, workspace_root


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


class Busy(ValueError):
    """A training job already runs in this workspace: a new one must wait (or be queued)."""


class JobManager:
    """One shared manager per app; one training job at a time on the machine."""

    def __init__(self):
        self._processes: dict[Path, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def start(self, config: RunConfig) -> Path:
        """Start a run of `config` in config.output_dir (a new folder under runs/ when empty); a folder that holds
        only its config.yaml (a queued run's) may be started. ValueError when it cannot start, Busy while a job
        trains."""
        from studio.preflight import check_run

        config.validate()
        check_run(config)
        with self._lock, run_queue.locked():
            return self._launch(config)

    def _launch(self, config: RunConfig) -> Path:
        """Start the checked `config`; call under the manager's lock and the queue's, which every start in the
        workspace takes (the app's, the queue runner's, another app's), so no two see it free at once."""
        self._refuse_if_busy()
        # Resolved, as the job's command line names it: a restarted app finds the job by that path.
        run_dir = (Path(config.output_dir) if config.output_dir else runs.new_run_dir(config)).resolve()
        if (run_dir / runs.SUMMARY).exists() or (run_dir / runs.JOB).exists():
            raise ValueError(f"{run_dir.name} already holds a run; choose another output folder or resume it.")
        check_processes(config.num_processes)
        config.output_dir = str(run_dir.resolve())
        run_dir.mkdir(parents=True, exist_ok=True)
        runs.write_config(run_dir, config)
        self._spawn(run_dir, config.num_processes, resume=False)
        return run_dir

    def advance(self) -> Path | None:
        """Start the first queued run when nothing trains in the workspace; the run started, or None.

        A queued run that cannot start here (its settings refused by the checks before a run, e.g. not enough
        memory) gets a failed summary saying why, and the next one is tried. A job that ends however it ends,
        aborted included, frees the workspace: the next call goes on with the next queued run. Runs one at a time
        across processes: the queue's lock is held from the pick to the start, as every start holds it."""
        from studio.preflight import check_run

        self._reap()
        if not run_queue.queued():
            return None
        with self._lock, run_queue.locked():
            if self.running() is not None or training_holder() is not None:
                return None
            for run_dir in run_queue.queued():
                try:
                    config = load_run_config(run_dir)
                    config.output_dir = str(run_dir)
                    config.validate()
                    check_run(config)
                    return self._launch(config)
                except Busy:
                    return None
                except (ValueError, OSError) as error:
                    runs.write_summary(run_dir, {"status": "failed", "error": str(error)})
                finally:
                    run_queue.drop_started()
        return None

    def resume(self, run_dir: Path) -> Path:
        run_dir = Path(run_dir)
        with self._lock, run_queue.locked():
            self._refuse_if_busy()
            refuse_finished(run_dir, self.status(run_dir))
            if runs.latest_checkpoint(run_dir) is None:
                raise ValueError(f"{run_dir.name} has no checkpoint to resume from.")
            # As many processes as before: each goes on with its own share of the batches from the checkpoint.
            processes = load_run_config(run_dir).num_processes
            check_processes(processes)
            (run_dir / runs.SUMMARY).unlink(missing_ok=True)
            self._spawn(run_dir, processes, resume=True)
        return run_dir

    def _reap(self) -> None:
        """Forget this manager's jobs that ended (collecting their exit status): their folders tell the rest."""
        for run_dir, process in list(self._processes.items()):
            if process.poll() is not None:
                self._processes.pop(run_dir, None)

    def _refuse_if_busy(self) -> None:
        running = self.running()
        holder = training_holder()
        if running is not None or holder is not None:
            name = running.name if running is not None else Path(holder).name
            raise Busy(f"A training job is already running ({name}). Wait for it or abort it first, or add this "
                       "run to the queue: it starts when the workspace is free.")

    def _spawn(self, run_dir: Path, processes: int, resume: bool) -> None:
        command = launch_command(processes, ["train", "--config", str(run_dir / runs.CONFIG),
                                             *(["--resume"] if resume else [])])
        runs.clear_abort(run_dir)
        log = open(run_dir / runs.LOG, "ab")
        environment = {**os.environ, "STUDIO_WORKSPACE": str(workspace_root()), "PYTHONUNBUFFERED": "1",
                       runs.MANAGED_ENV: "1", "PYTHONWARNINGS": "ignore::FutureWarning,ignore::DeprecationWarning"}
        # A session of its own: the job outlives a closed browser and ignores the app's Ctrl-C.
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=environment, start_new_session=True)
        log.close()
        self._processes[run_dir.resolve()] = process
        runs.write_job(run_dir, process.pid, time.time(), command)

    def is_alive(self, run_dir: Path) -> bool:
        run_dir = Path(run_dir).resolve()
        process = self._processes.get(run_dir)
        if process is not None:
            return process.poll() is None
        job = read_job(run_dir)
        if job and _pid_runs_studio(job.get("pid"), run_dir):
            return True
        # A job started elsewhere (the command line, another app) holds the workspace's training lock.
        return training_holder() == str(run_dir)

    def status(self, run_dir: Path) -> str:
        """queued | running | finished | aborted | failed (created: a folder with only its settings, not queued);
        a dead job without a summary is marked failed."""
        run_dir = Path(run_dir)
        summary = read_summary(run_dir)
        if summary:
            return summary.get("status", "failed")
        if not (run_dir / runs.JOB).exists():
            if (run_dir / runs.EVENTS).exists():
                return "failed"
            return "queued" if run_queue.is_queued(run_dir) else "created"
        if self.is_alive(run_dir):
            return "running"
        self._mark_failed(run_dir)
        return "failed"

    def _mark_failed(self, run_dir: Path) -> None:
        checkpoint = runs.latest_checkpoint(run_dir)
        tail = log_tail(run_dir, 5)
        error = "The training process ended without finishing (killed or crashed)."
        if checkpoint:
            error += f" Its last checkpoint, {checkpoint.name}, can be resumed."
        if tail:
            error += f"\nLast output:\n{tail}"
        runs.write_summary(run_dir, {"status": "failed", "error": error})

    def abort(self, run_dir: Path, timeout: float = 120.0) -> str:
        """Ask the job to stop after its current step (it saves a checkpoint); kill it if it hangs."""
        run_dir = Path(run_dir)
        if self.status(run_dir) != "running":
            return self.status(run_dir)
        runs.request_abort(run_dir)
        deadline = time.time() + timeout
        while time.time() < deadline and self.is_alive(run_dir):
            time.sleep(0.2)
        if self.is_alive(run_dir):
            job = read_job(run_dir)
            os.killpg(job["pid"], signal.SIGKILL)
            # The launcher of a several-process run starts each process in a session of its own.
            for pid in run_processes(run_dir):
                _kill(pid)
            time.sleep(0.5)
        return self.status(run_dir)

    def running(self) -> RunInfo | None:
        """The job training now, if any (only folders with a job and no summary are looked at: the queue's runner
        asks every few seconds)."""
        for path in runs.run_folders():
            if (path / runs.JOB).exists() and not (path / runs.SUMMARY).exists() and self.status(path) == "running":
                return self.describe(path)
        return None

    def list_runs(self) -> list[RunInfo]:
        """Every run: the running job first, then the queued runs in the order they will start, then the others,
        the latest started first."""
        found = [self.describe(path) for path in runs.run_folders()]
        order = {path.name: index for index, path in enumerate(run_queue.queued())}

        def rank(run: RunInfo) -> tuple:
            if run.status == "running":
                return 0, 0
            if run.status == "queued":
                return 1, order.get(run.name, len(order))
            return 2, -(run.started or 0)
        return sorted(found, key=rank)

    def describe(self, run_dir: Path) -> RunInfo:
        run_dir = Path(run_dir)
        status = self.status(run_dir)
        config = read_settings(run_dir)
        summary = read_summary(run_dir)
        job = read_job(run_dir)
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

"""The queue of training runs: runs waiting their turn, started one after another whenever nothing trains.

A queued run is a run folder holding only its config.yaml, named in `runs/queue.json` in the order it was
added. The app's runner (`start_runner`, a thread calling `JobManager.advance`) or `python -m studio queue
run` starts the first one once no job trains in the workspace; the others wait. Everything lives in files, so
the queue goes on after a closed browser and after an app restart, and several processes (the app, the
command line) may add to it at once: every change is made under an exclusive lock on `runs/.queue.lock` and
written atomically. An entry whose folder is gone is dropped without a word.

    folder = enqueue(config, name="lora-r16")   # runs/lora-r16/config.yaml, last in the queue
    queued()                                    # [Path(...), ...] in order
    remove("lora-r16")                          # the folder and its entry go
    start_runner(manager)                       # the app: start queued runs as the workspace frees up
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import threading
from pathlib import Path

from studio import runs
from studio.access import client_run
from studio.config import RunConfig
from studio.workspace import atomic_write_json, runs_dir

QUEUE = "queue.json"
LOCK = ".queue.lock"
# Tried after the dated name of an unnamed run when another run took it within the same second.
MAX_SUFFIX = 100


@contextlib.contextmanager
def locked():
    """Hold the queue's lock: one change at a time, across threads and processes (flock conflicts between two
    opens of the file even within one process)."""
    import fcntl

    with open(runs_dir() / LOCK, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_names() -> list[str]:
    """The names in the queue file, as written (a missing or unreadable file is an empty queue)."""
    try:
        value = json.loads((runs_dir() / QUEUE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    names = value.get("runs") if isinstance(value, dict) else None
    return [name for name in names if isinstance(name, str)] if isinstance(names, list) else []


def write_names(names: list[str]) -> None:
    """Write the queue (call under `locked()`); entries whose folder is gone or whose run started are left out."""
    kept = [name for name in dict.fromkeys(names) if runs.RUN_NAME.fullmatch(name) and waiting(runs_dir() / name)]
    atomic_write_json(runs_dir() / QUEUE, {"runs": kept})


def waiting(folder: Path) -> bool:
    """A run folder that has not started: a config.yaml, no job.json, no summary.json."""
    return (runs.is_run(folder) and not folder.is_symlink() and not (folder / runs.JOB).exists()
            and not (folder / runs.SUMMARY).exists())


def queued() -> list[Path]:
    """The queued runs not started yet, first to start first."""
    folder = runs_dir()
    return [folder / name for name in dict.fromkeys(read_names())
            if runs.RUN_NAME.fullmatch(name) and waiting(folder / name)]


def is_queued(run_dir: Path) -> bool:
    """The run is in the queue and has not started."""
    run_dir = Path(run_dir)
    return run_dir.name in read_names() and run_dir.parent.resolve() == runs_dir() and waiting(run_dir)


def position(run_dir: Path) -> int | None:
    """Where a run stands in the queue (1 = next to start), or None when it is not queued."""
    names = [path.name for path in queued()]
    name = Path(run_dir).name
    return names.index(name) + 1 if name in names and Path(run_dir).parent.resolve() == runs_dir() else None


def enqueue(config: RunConfig, name: str = "") -> Path:
    """Check the run as Start would, write its folder (runs/<name>, or dated when no name is given) with its
    config.yaml, and put it last in the queue; the folder. ValueError for a name taken or not allowed, or
    settings that cannot run here."""
    from studio.preflight import check_run

    config.validate()
    check_run(config)
    with locked():
        folder = new_folder(config, name)
        try:
            config.output_dir = str(folder)
            runs.write_config(folder, config)
            write_names([*read_names(), folder.name])
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return folder


def new_folder(config: RunConfig, name: str) -> Path:
    """The queued run's folder, made here so no other run (queued or started) takes its name meanwhile."""
    if str(name or "").strip():
        folder = runs.named_run_dir(name)
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            runs.named_run_dir(name)  # says the name is taken
            raise
        return folder.resolve()
    dated = runs.new_run_dir(config)
    for candidate in [dated, *(dated.with_name(f"{dated.name}-{count}") for count in range(2, MAX_SUFFIX))]:
        try:
            candidate.mkdir(parents=True)
        except FileExistsError:
            continue
        return candidate.resolve()
    raise ValueError(f"{dated.name} and its numbered variants are all taken; name the run instead.")


def remove(name: str) -> None:
    """Take a run that has not started out of the queue and delete its folder (it holds only its config.yaml).
    ValueError for anything else: a run that started, one not queued, or a name outside the workspace's runs."""
    folder = client_run(name)
    with locked():
        names = read_names()
        if folder.name not in names or not waiting(folder):
            raise ValueError(f"{folder.name} is not waiting in the queue; only a queued run that has not started "
                             "can be removed from it.")
        write_names([entry for entry in names if entry != folder.name])
        shutil.rmtree(folder)


def drop_started() -> None:
    """Rewrite the queue without the runs that started or cannot start (those with a summary); call under
    `locked()`."""
    write_names(read_names())


class Runner(threading.Thread):
    """A daemon thread that asks the job manager to start the next queued run every `interval` seconds: one small
    file read while the queue is empty."""

    def __init__(self, manager, interval: float = 2.0):
        super().__init__(name="run-queue", daemon=True)
        self.manager, self.interval = manager, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.manager.advance()
            except Exception as error:  # noqa: BLE001 -- one bad moment (a disk full) must not end the queue
                print(f"run queue: {error}", file=sys.stderr)

    def stop(self) -> None:
        self.stopped.set()


def start_runner(manager, interval: float = 2.0) -> Runner:
    """Start the queue's runner for `manager` (a JobManager): the queue goes on with no browser open."""
    runner = Runner(manager, interval)
    runner.start()
    return runner

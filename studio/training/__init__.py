"""The training job: RunConfig -> run folder (see studio.runs), one recipe per stage.

Run by the job manager as a subprocess (`python -m studio train --config run/config.yaml`), or directly from
the command line. `run_training` opens the run folder, holds the workspace's training lock and hands the job
to its stage's recipe; while the recipe trains it appends to `events.jsonl`, and at the end `summary.json`
says finished, aborted or failed. A finished run with `heldout` set first answers those rows with the base and the
tuned model (compare's batch compare, kept in comparisons/); its failure is noted in the summary, the run stays
finished. Touching `<run>/abort` (or SIGTERM) stops it after the current step with a
checkpoint.

Each recipe is one module with the same shape, `train(job) -> summary`, over the pieces in `common`:

    sft.py          sft, pretrain      transformers' Trainer on packed batches
    reward.py       rm                 TRL's RewardTrainer: a score head learns which answer of a pair is preferred
    grpo.py         grpo               TRL's GRPOTrainer: answers sampled per prompt learn from their rewards
    preference.py   dpo, orpo          TRL's DPOTrainer (ORPO as a loss on it)
    kto.py          kto                TRL's KTOTrainer: single answers marked good or bad

A new stage is a new module of that shape and a line in RECIPES.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path

import torch

from studio import runs
from studio.config import RunConfig
from studio.preflight import check_run
from studio.training.common import Job, describe_error, evaluate_heldout, is_main_process, world_size
from studio.workspace import TrainingLock

RECIPES = {"sft": "sft", "pretrain": "sft", "rm": "reward", "grpo": "grpo", "dpo": "preference", "orpo": "preference",
           "kto": "kto"}


def recipe(stage: str):
    """The module that trains this stage."""
    return importlib.import_module(f"studio.training.{RECIPES[stage]}")


def run_training(config: RunConfig, resume: bool = False) -> dict:
    """Train one run end to end; returns the summary (also written to summary.json)."""
    config.validate()
    check_run(config)
    if world_size() > 1 and not config.output_dir:
        # Each process would name its own folder by the clock, a second apart.
        raise ValueError("Several processes train one run folder: name it with --output (or output_dir).")
    run_dir = Path(config.output_dir) if config.output_dir else runs.new_run_dir(config)
    config.output_dir = str(run_dir.resolve())
    # Under `accelerate launch` every process trains; only the first writes the run folder.
    job = Job(config, run_dir, resume, time.time(), is_main_process())
    if world_size() > 1:
        # The launcher's count is the one training: config.yaml records it, so a resume starts as many.
        config.num_processes = world_size()
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # each process loads onto its own GPU
    if resume:
        runs.refuse_finished(run_dir, runs.read_summary(run_dir).get("status", ""))
    lock = TrainingLock(run_dir).acquire() if job.main else None
    try:
        if job.main:
            open_run_folder(config, run_dir, resume)
        job.record({"event": "resumed" if resume else "started", "time": job.started, "pid": os.getpid()})
        summary = run_recipe(job)
    finally:
        if lock is not None:
            lock.release()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # Closed before exit: a process group left open can crash its process as the interpreter ends (gloo).
        torch.distributed.destroy_process_group()
    return summary


def run_recipe(job: Job) -> dict:
    """The stage's recipe, its summary written at the end whether it finished, was aborted or failed."""
    try:
        summary = recipe(job.config.stage).train(job)
    except BaseException as error:
        message = "Stopped by the user." if isinstance(error, KeyboardInterrupt) else describe_error(error)
        summary = {"status": "failed", "error": message, "wall_seconds": round(time.time() - job.started, 1)}
        if job.main:
            runs.write_summary(job.run_dir, summary)
        job.record({"event": "failed", "error": message, "time": time.time()})
        raise
    if job.main and summary["status"] == "finished" and job.config.heldout:
        # Still holding the training lock: the next queued run starts once this process is done with the model.
        summary.update(evaluate_heldout(job))
    if job.main:
        runs.write_summary(job.run_dir, summary)
    job.record({"event": summary["status"], "time": time.time()})
    return summary


def open_run_folder(config: RunConfig, run_dir: Path, resume: bool) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    if not os.environ.get(runs.MANAGED_ENV):
        # The job manager clears a stale abort request itself, before the job starts, so that
        # an abort made while this process is still loading is not lost.
        runs.clear_abort(run_dir)
    (run_dir / runs.SUMMARY).unlink(missing_ok=True)
    runs.write_config(run_dir, config)
    if not os.environ.get(runs.MANAGED_ENV):
        # The app's job manager writes job.json for the jobs it starts; a run from the command line writes
        # its own, so the app lists it as running (not failed) and starts no second job beside it.
        runs.write_job(run_dir, os.getpid(), time.time(), sys.argv)
    if not resume:
        (run_dir / runs.EVENTS).unlink(missing_ok=True)

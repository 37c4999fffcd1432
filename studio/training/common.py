"""What every training recipe shares: the precision policy, TrainingArguments, the `prepared` event,
the probes, fit (train, evaluate the last step, save, summarise, with the peak memory), saving the result, and the
held-out evaluation after a finished run (RunConfig.heldout: compare's batch compare, stored in comparisons/)."""

from __future__ import annotations

import gc
import os
import random
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from studio import runs
from studio.config import HELDOUT_VALIDATION, RunConfig
from studio.messages import to_messages, training_messages
from studio.methods import (
    PROMPT_METHODS, WEIGHT_METHODS, apply_method, count_parameters, method_bits, peft_config, saves_adapter,
)
from studio.models import load_model, pick_device
from studio.training.plan import RunPlan, count_tokens, describe, plan_steps, tokens_per_second, warmup_steps
from studio.workspace import append_jsonl, replace_folder


@dataclass
class Job:
    """One training process's part in a run: its settings, its folder, and whether it writes that folder
    (under `accelerate launch` every process trains, and only the first writes)."""

    config: RunConfig
    run_dir: Path
    resume: bool
    started: float
    main: bool = True

    def record(self, event: dict) -> None:
        """Append one line to events.jsonl (the first process only)."""
        if self.main:
            append_jsonl(self.run_dir / runs.EVENTS, event)

    def prepared(self, plan: RunPlan, model, train_set: list, validation_set: list, truncated: int,
                 probes: list[str], **extra) -> dict:
        """Record the `prepared` event (what the data and the model came to); returns the facts the summary keeps."""
        trainable, total = count_parameters(model)
        self.record({
            "event": "prepared", "train_rows": len(train_set), "validation_rows": len(validation_set),
            "truncated_rows": truncated, "total_steps": plan.total_steps, "trainable_parameters": trainable,
            "total_parameters": total, "device": pick_device(), "probe_prompts": probes, **extra,
            **plan_facts(plan),
        })
        return {"total_steps": plan.total_steps, "truncated_rows": truncated, "trainable_parameters": trainable}


def seed_everything(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed)
    random.seed(seed)


def default_probes(config: RunConfig, shape: str, validation_rows: list[dict]) -> list[str]:
    """Without probe prompts of the user's, watch two held-out questions."""
    if config.probe_prompts:
        return list(config.probe_prompts)
    if config.stage == "pretrain":
        return []
    probes = []
    for row in validation_rows[:2]:
        messages = to_messages(row, shape)
        users = [message["content"] for message in messages if message["role"] == "user"]
        if users:
            probes.append(users[-1])
    return probes


def probe_references(config: RunConfig, shape: str, validation_rows: list[dict]) -> list[str]:
    """The held-out answers to default_probes' prompts, in the same order ("" for the user's own prompts):
    shown beside the model's answers, so a reader sees what it should have said."""
    if config.probe_prompts:
        return [""] * len(config.probe_prompts)
    if config.stage == "pretrain":
        return []
    references = []
    for row in validation_rows[:2]:
        messages = training_messages(row, shape)
        users = [index for index, message in enumerate(messages) if message["role"] == "user"]
        if users:
            replies = [message["content"] for message in messages[users[-1] + 1:] if message["role"] == "assistant"]
            references.append(replies[0] if replies else "")
    return references


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def world_size() -> int:
    """How many processes train this run: the launcher's WORLD_SIZE, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def describe_error(error: BaseException) -> str:
    if isinstance(error, torch.OutOfMemoryError):
        return "Out of memory. Lower batch_size or cutoff_length, or use qlora / gradient_checkpointing."
    return str(error) or type(error).__name__


def announce_plan(job: Job, train_set: list[dict]) -> RunPlan:
    """How many steps this run takes (studio.training.plan's rule), printed as the run's first log line."""
    plan = plan_steps(job.config, len(train_set), count_tokens(train_set), world_size(),
                      tokens_per_second(job.config) if job.main else None)
    if job.main:
        print(describe(plan), flush=True)
    return plan


def plan_facts(plan: RunPlan) -> dict:
    """The plan as the `prepared` event records it."""
    return {"plan": describe(plan), "passes": round(plan.passes, 3), "warmup_steps": plan.warmup_steps,
            "planned_seconds": round(plan.seconds, 1) if plan.seconds else None}


def fit(job: Job, trainer, callback, save, facts: dict) -> dict:
    """Train (from the last checkpoint on resume), evaluate the last step, save, and summarise; every recipe alike."""
    signal.signal(signal.SIGTERM, lambda *_: callback.request_abort())
    checkpoint = runs.latest_checkpoint(job.run_dir) if job.resume else None
    if job.resume and checkpoint is None:
        raise ValueError(f"{job.run_dir} has no checkpoint to resume from; start a new run instead.")
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    if trainer.eval_dataset is not None and not callback.aborted and callback.last_eval_step != trainer.state.global_step:
        trainer.evaluate()
    if job.main:
        save()
    train_seconds = callback.train_seconds()
    return {
        "status": "aborted" if callback.aborted else "finished",
        "train_loss": callback.last_loss if callback.last_loss is not None else result.training_loss,
        "eval_loss": callback.last_eval_loss,
        "trained_tokens": callback.trained_tokens,
        "wall_seconds": round(time.time() - job.started, 1),
        "tokens_per_second": round(callback.trained_tokens / train_seconds, 1) if train_seconds else None,
        "steps": trainer.state.global_step,
        "peak_memory_mb": peak_memory_mb(),
        **facts,
        "error": None,
    }


def peak_memory_mb() -> float:
    """The most memory this process has held, in MiB: on a GPU what torch allocated there, else the process's peak
    resident size (the main process's own; the Trainer's data loaders run in it)."""
    if pick_device() == "cuda":
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / 2**20 if sys.platform == "darwin" else peak / 2**10, 1)  # bytes on macOS, KiB on Linux


def evaluate_heldout(job: Job) -> dict:
    """After a finished run, batch compare of the base and the tuned model on the held-out rows
    (RunConfig.heldout), stored in the run's comparisons/ (compare.stored_heldout reads it): the summary's facts
    of it. It never fails the run: an error is recorded as the summary's heldout_error instead."""
    started = time.time()
    try:
        result = heldout_result(job)
    except (Exception, KeyboardInterrupt) as error:
        message = "Stopped by the user." if isinstance(error, KeyboardInterrupt) else describe_error(error)
        job.record({"event": "heldout", "error": message, "time": time.time()})
        return {"heldout": None, "heldout_error": message, "heldout_seconds": round(time.time() - started, 1)}
    from studio.compare import HELDOUT, headline_metric

    metric = headline_metric(result)
    facts = {"dataset": result["dataset"], "rows": result["base"]["rows"], "metric": metric,
             "base": result["base"][metric], "tuned": result["tuned"][metric], "file": f"{HELDOUT}.json"}
    job.record({"event": "heldout", **facts, "time": time.time()})
    return {"heldout": facts, "heldout_error": None, "heldout_seconds": round(time.time() - started, 1)}


def heldout_result(job: Job) -> dict:
    """The held-out rows answered by base and tuned (the Compare tab's batch compare), the result written as its
    report is; an abort request stops it between batches."""
    from studio import compare, data
    from studio.examples import prepare_rows, resolve_dataset_path

    config = job.config
    if config.heldout == HELDOUT_VALIDATION:
        shape, _, rows = prepare_rows(config)
        name = f"{job.run_dir.name}-validation"
    else:
        loaded = data.load_dataset(resolve_dataset_path(config.heldout))
        shape, rows, name = loaded.shape, loaded.rows, Path(loaded.source).stem
    if not rows:
        raise ValueError("The held-out evaluation found no rows to answer.")
    print(f"Held-out evaluation: base and tuned answer {min(len(rows), config.heldout_rows)} rows of {name}",
          flush=True)
    gc.collect()  # the trained model is let go of: make room for the two the comparison loads
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    for result in compare.stream_rows_compare(job.run_dir, rows[:config.heldout_rows], shape, name):
        if runs.abort_requested(job.run_dir):
            raise ValueError("Stopped by the user before the held-out evaluation ended.")
    compare.write_report(result, job.run_dir, compare.HELDOUT)
    return result


def mixed_precision(precision: str, device: str) -> dict:
    """TrainingArguments flags for the matmuls' number format; weights and adapters stay as loaded.

    On a CPU with native bf16 matrix units (AVX512-BF16, AMX) bf16 matmuls run about three times
    faster than fp32 and "auto" uses them, with fp32 master weights as on a GPU.
    """
    if precision in ("auto", "bf16") and device == "cuda" and torch.cuda.is_bf16_supported():
        return {"bf16": True}
    if precision == "fp16" or (precision == "auto" and device == "cuda"):
        return {"fp16": True}
    if device == "cpu" and (precision == "bf16" or (precision == "auto" and cpu_has_fast_bf16())):
        return {"bf16": True}
    return {}


def weight_precision(config: RunConfig) -> str:
    """The number format to load the base in for training.

    Adapters train in fp32 on a frozen base, so where the CPU does bf16 matmuls natively "auto"
    keeps the frozen weights in bf16, as on a GPU: half the memory traffic, no per-step casts.
    Full and freeze runs update the weights themselves and keep them fp32 (bf16 matmuls still).
    """
    if (config.precision == "auto" and pick_device() == "cpu" and cpu_has_fast_bf16()
            and saves_adapter(config.method) and config.method not in PROMPT_METHODS and method_bits(config.method) == 0):
        return "bf16"
    return config.precision


def cpu_has_fast_bf16() -> bool:
    return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def training_arguments(config: RunConfig, run_dir: Path, total_steps: int, has_validation: bool):
    from transformers import TrainingArguments

    device = pick_device()
    dtype_flags = mixed_precision(config.precision, device)
    eval_every = config.eval_steps or total_steps
    return TrainingArguments(
        output_dir=str(run_dir / runs.CHECKPOINTS),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=total_steps,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=warmup_steps(config, total_steps),
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        logging_steps=config.logging_steps,
        eval_strategy="steps" if has_validation else "no",
        eval_steps=eval_every,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        seed=config.seed,
        gradient_checkpointing=config.gradient_checkpointing and method_bits(config.method) == 0,
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        report_to=[],
        disable_tqdm=True,
        use_cpu=device == "cpu",
        dataloader_pin_memory=device == "cuda",
        **dtype_flags,
    )


def save_result(model, tokenizer, config: RunConfig, run_dir: Path) -> None:
    """adapter/ or model/, loadable with plain PEFT / transformers; a save cut short leaves the last one whole."""
    target = runs.result_folder(run_dir, saves_adapter(config.method))
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)  # left by a save that was killed
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    replace_folder(staging, target)


def policy_and_reference(config: RunConfig, model, total_steps: int, frozen_copy: bool):
    """What TRL's preference and RL trainers take: (the model, a PEFT config for TRL to apply or None, a separate
    reference model or None).

    With a PEFT method the reference is the model with the adapter switched off; from a finished run (`start_from`)
    its adapter trains on and TRL keeps a frozen copy of it as the reference adapter, so the stage moves away from
    that run's model. Freeze and full runs change every weight: where `frozen_copy` (DPO, KTO), the reference is a
    second, frozen copy of the base; where not, the stage needs none (ORPO) or TRL makes its own (GRPO).
    """
    from peft import PeftModel, prepare_model_for_kbit_training

    if config.method in WEIGHT_METHODS:
        reference = None
        if frozen_copy:
            reference, _ = load_model(config.base_model, config.precision, 0, config.trust_remote_code)
            reference.requires_grad_(False).eval()
        return apply_method(model, config, total_steps), None, reference
    if method_bits(config.method):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    if config.start_from:
        folder = runs.start_from_run(config) / runs.ADAPTER
        return PeftModel.from_pretrained(model, str(folder), is_trainable=True), None, None
    return model, peft_config(config, model, total_steps), None


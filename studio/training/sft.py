"""The training job: RunConfig -> run folder, with transformers' Trainer and PEFT.

Run by the job manager as a subprocess (`python -m studio train --config run/config.yaml`),
or directly from the CLI. While it trains it appends to `events.jsonl`; at the end it writes
`summary.json` (finished | aborted | failed) and `adapter/` or `model/` (see DESIGN.md).
Touching `<run>/abort` (or SIGTERM) stops it after the current step with a checkpoint.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

import torch

from studio import data, tokens
from studio.config import PREFERENCE_STAGES, RunConfig
from studio.methods import PROMPT_METHODS, apply_method, count_parameters, method_bits, saves_adapter
from studio.models import load_model, pick_device
from studio.packing import PackingCollator, model_inputs, packs_exactly
from studio.plan import RunPlan, count_tokens, describe, plan_steps, tokens_per_second, warmup_steps
from studio.preflight import check_run
from studio.jobs import read_summary, refuse_finished
from studio.workspace import (
    TrainingLock, append_jsonl, atomic_write_json, atomic_write_text, datasets_dir, replace_folder, runs_dir,
)

ABORT_FILE = "abort"
MANAGED_ENV = "STUDIO_MANAGED_JOB"
TEXT_SHAPES = ("text",)
SFT_SHAPES = ("instruction", "chat")
PREFERENCE_SHAPES = ("preference",)


def new_run_dir(config: RunConfig) -> Path:
    stem = Path(config.dataset).stem or "run"
    name = f"{datetime.now():%Y%m%d-%H%M%S}-{config.method}-{stem}"
    return runs_dir() / name


def resolve_dataset_path(name: str) -> Path:
    """A file path, or the name of a dataset saved in the workspace."""
    for candidate in (Path(name).expanduser(), datasets_dir() / name, datasets_dir() / f"{name}.jsonl"):
        if candidate.is_file():
            return candidate
    raise ValueError(f"No dataset file '{name}'. Give a path to a .jsonl/.json/.csv/.txt file or a workspace dataset name.")


def prepare_rows(config: RunConfig) -> tuple[str, list[dict], list[dict]]:
    """Load, check and split the data; (shape, train rows, validation rows)."""
    dataset = data.load_dataset(resolve_dataset_path(config.dataset))
    expected = {"pretrain": TEXT_SHAPES, "sft": SFT_SHAPES}.get(config.stage, PREFERENCE_SHAPES)
    if dataset.shape not in expected:
        hint = {"pretrain": "raw text rows ({\"text\": ...}) or a .txt file",
                "sft": "instruction rows (instruction/input/output) or chat rows (messages)"}.get(
                    config.stage, "preference rows (prompt, chosen, rejected)")
        raise ValueError(f"Stage '{config.stage}' needs {hint}, but {config.dataset} holds {dataset.shape} rows.")
    if config.validation_dataset:
        validation = data.load_dataset(resolve_dataset_path(config.validation_dataset))
        if validation.shape != dataset.shape:
            raise ValueError(f"The validation file holds {validation.shape} rows, the training file {dataset.shape}.")
        return dataset.shape, dataset.rows, validation.rows
    train_rows, validation_rows = data.split_rows(dataset.rows, config.validation_split, config.seed)
    return dataset.shape, train_rows, validation_rows


def tokenize(config: RunConfig, shape: str, rows: list[dict], tokenizer) -> tuple[list[dict], int]:
    if config.stage == "pretrain":
        return tokens.tokenize_text(rows, tokenizer, config.cutoff_length), 0
    return tokens.tokenize_sft(rows, shape, tokenizer, config.cutoff_length, config.train_on_prompt)


def apply_chat_template_override(tokenizer, template: str) -> None:
    if template == "chatml":
        tokenizer.chat_template = data.CHATML_TEMPLATE
    elif template:
        tokenizer.chat_template = template


def default_probes(config: RunConfig, shape: str, validation_rows: list[dict]) -> list[str]:
    """Without probe prompts of the user's, watch two held-out questions."""
    if config.probe_prompts:
        return list(config.probe_prompts)
    if config.stage == "pretrain":
        return []
    probes = []
    for row in validation_rows[:2]:
        messages = data.to_messages(row, shape)
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
        messages = data.training_messages(row, shape)
        users = [index for index, message in enumerate(messages) if message["role"] == "user"]
        if users:
            replies = [message["content"] for message in messages[users[-1] + 1:] if message["role"] == "assistant"]
            references.append(replies[0] if replies else "")
    return references


def run_training(config: RunConfig, resume: bool = False) -> dict:
    """Train one run end to end; returns the summary (also written to summary.json)."""
    config.validate()
    check_run(config)
    if world_size() > 1 and not config.output_dir:
        # Each process would name its own folder by the clock, a second apart.
        raise ValueError("Several processes train one run folder: name it with --output (or output_dir).")
    run_dir = Path(config.output_dir) if config.output_dir else new_run_dir(config)
    config.output_dir = str(run_dir.resolve())
    events = run_dir / "events.jsonl"
    started = time.time()
    # Under `accelerate launch` every process trains; only the first writes the run folder.
    main = is_main_process()
    if world_size() > 1:
        # The launcher's count is the one training: config.yaml records it, so a resume starts as many.
        config.num_processes = world_size()
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # each process loads onto its own GPU
    if resume:
        refuse_finished(run_dir, read_summary(run_dir).get("status", ""))
    lock = TrainingLock(run_dir).acquire() if main else None
    try:
        if main:
            _open_run_folder(config, run_dir, resume)
            append_jsonl(events, {"event": "resumed" if resume else "started", "time": started, "pid": os.getpid()})
        summary = _run(config, run_dir, resume, started, main, events)
    finally:
        if lock is not None:
            lock.release()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # Closed before exit: a process group left open can crash its process as the interpreter ends (gloo).
        torch.distributed.destroy_process_group()
    return summary


def _run(config: RunConfig, run_dir: Path, resume: bool, started: float, main: bool, events: Path) -> dict:
    try:
        summary = _train(config, run_dir, resume, started, main)
    except BaseException as error:
        message = "Stopped by the user." if isinstance(error, KeyboardInterrupt) else _describe(error)
        summary = {"status": "failed", "error": message, "wall_seconds": round(time.time() - started, 1)}
        if main:
            atomic_write_json(run_dir / "summary.json", summary)
            append_jsonl(events, {"event": "failed", "error": message, "time": time.time()})
        raise
    if main:
        atomic_write_json(run_dir / "summary.json", summary)
        append_jsonl(events, {"event": summary["status"], "time": time.time()})
    return summary


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def world_size() -> int:
    """How many processes train this run: the launcher's WORLD_SIZE, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _open_run_folder(config: RunConfig, run_dir: Path, resume: bool) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    if not os.environ.get(MANAGED_ENV):
        # The job manager clears a stale abort request itself, before the job starts, so that
        # an abort made while this process is still loading is not lost.
        (run_dir / ABORT_FILE).unlink(missing_ok=True)
    (run_dir / "summary.json").unlink(missing_ok=True)
    atomic_write_text(run_dir / "config.yaml", config.to_yaml())
    if not os.environ.get(MANAGED_ENV):
        # The app's job manager writes job.json for the jobs it starts; a run from the command line writes
        # its own, so the app lists it as running (not failed) and starts no second job beside it.
        atomic_write_json(run_dir / "job.json", {"pid": os.getpid(), "started": time.time(), "command": sys.argv})
    if not resume:
        (run_dir / "events.jsonl").unlink(missing_ok=True)


def _describe(error: BaseException) -> str:
    if isinstance(error, torch.OutOfMemoryError):
        return "Out of memory. Lower batch_size or cutoff_length, or use qlora / gradient_checkpointing."
    return str(error) or type(error).__name__


def _train(config: RunConfig, run_dir: Path, resume: bool, started: float, main: bool) -> dict:
    from transformers import DataCollatorForSeq2Seq, PrinterCallback, set_seed

    if config.stage in PREFERENCE_STAGES:
        from studio.preference import train_pairs

        return train_pairs(config, run_dir, resume, started, main)

    set_seed(config.seed)
    random.seed(config.seed)
    shape, train_rows, validation_rows = prepare_rows(config)
    model, tokenizer = load_model(config.base_model, weight_precision(config), method_bits(config.method),
                                  config.trust_remote_code)
    apply_chat_template_override(tokenizer, config.chat_template)
    train_set, truncated = tokenize(config, shape, train_rows, tokenizer)
    validation_set, _ = tokenize(config, shape, validation_rows, tokenizer) if validation_rows else ([], 0)
    if not train_set:
        raise ValueError("No training example is left after tokenising; raise cutoff_length.")
    plan = announce_plan(config, train_set, main)
    total_steps = plan.total_steps
    model = apply_method(model, config, total_steps)
    trainable, total = count_parameters(model)
    probes = default_probes(config, shape, validation_rows)
    packing = packs_exactly(model)
    if main:
        append_jsonl(run_dir / "events.jsonl", {
            "event": "prepared", "train_rows": len(train_set), "validation_rows": len(validation_set),
            "truncated_rows": truncated, "total_steps": total_steps, "trainable_parameters": trainable,
            "total_parameters": total, "device": pick_device(), "probe_prompts": probes, "packing": packing,
            **plan_facts(plan),
        })
    from studio.callback import StudioCallback

    callback = StudioCallback(run_dir, total_steps, tokenizer, probes, config,
                              expected=probe_references(config, shape, validation_rows))
    trainer = make_trainer_class()(
        model=model,
        args=_training_arguments(config, run_dir, total_steps, has_validation=bool(validation_set)),
        train_dataset=train_set,
        eval_dataset=validation_set or None,
        data_collator=PackingCollator(tokenizer.pad_token_id or 0) if packing
        else DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100),
        processing_class=tokenizer,
        callbacks=[callback],
    )
    # Our callback prints one readable line per log; the Trainer's own printer would repeat it as a dict.
    trainer.remove_callback(PrinterCallback)
    return fit(trainer, callback, run_dir, resume, main, started,
               save=lambda: _save_result(model, tokenizer, config, run_dir),
               facts={"total_steps": total_steps, "truncated_rows": truncated, "trainable_parameters": trainable})


def announce_plan(config: RunConfig, train_set: list[dict], main: bool) -> RunPlan:
    """How many steps this run takes (studio.plan's rule), printed as the run's first log line."""
    plan = plan_steps(config, len(train_set), count_tokens(train_set), world_size(),
                      tokens_per_second(config) if main else None)
    if main:
        print(describe(plan), flush=True)
    return plan


def plan_facts(plan: RunPlan) -> dict:
    """The plan as the `prepared` event records it."""
    return {"plan": describe(plan), "passes": round(plan.passes, 3), "warmup_steps": plan.warmup_steps,
            "planned_seconds": round(plan.seconds, 1) if plan.seconds else None}


def fit(trainer, callback, run_dir: Path, resume: bool, main: bool, started: float, save, facts: dict) -> dict:
    """Train (from the last checkpoint on resume), evaluate the last step, save, and summarise; SFT and preference runs alike."""
    signal.signal(signal.SIGTERM, lambda *_: callback.request_abort())
    checkpoint = latest_checkpoint(run_dir) if resume else None
    if resume and checkpoint is None:
        raise ValueError(f"{run_dir} has no checkpoint to resume from; start a new run instead.")
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    if trainer.eval_dataset is not None and not callback.aborted and callback.last_eval_step != trainer.state.global_step:
        trainer.evaluate()
    if main:
        save()
    train_seconds = callback.train_seconds()
    return {
        "status": "aborted" if callback.aborted else "finished",
        "train_loss": callback.last_loss if callback.last_loss is not None else result.training_loss,
        "eval_loss": callback.last_eval_loss,
        "trained_tokens": callback.trained_tokens,
        "wall_seconds": round(time.time() - started, 1),
        "tokens_per_second": round(callback.trained_tokens / train_seconds, 1) if train_seconds else None,
        "steps": trainer.state.global_step,
        **facts,
        "error": None,
    }


def make_trainer_class():
    """Trainer for packed batches whose loss projects onto the vocabulary only where a label is trained.

    In SFT most tokens are masked prompt; the vocabulary projection (49k columns for the embedded
    model) and its softmax are a fifth of the work per token, so skipping them where no label is
    learned saves that share for the same loss. Models without `logits_to_keep` take the usual path.
    """
    from transformers import Trainer

    class StudioTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = model_inputs(inputs)
            if return_outputs or not accepts_logits_mask(model):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            return trained_token_loss(model, inputs, num_items_in_batch)

    return StudioTrainer


def accepts_logits_mask(model) -> bool:
    """True for models that take a boolean `logits_to_keep`; prompt methods shift positions, so no."""
    import inspect

    if getattr(model, "peft_config", None) and any(
        config.is_prompt_learning for config in model.peft_config.values()
    ):
        return False
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(inner.forward).parameters


def trained_token_loss(model, inputs: dict, num_items_in_batch=None) -> torch.Tensor:
    """Causal LM loss equal to the model's own, computing logits only before trained labels."""
    labels = inputs["labels"]
    targets = labels[:, 1:]
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = targets != -100
    if not keep.any():
        # A batch with nothing to learn still needs a graph for the backward pass.
        keep[:, 0] = True
    logits = model(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"),
                   position_ids=inputs.get("position_ids"), use_cache=inputs.get("use_cache"),
                   logits_to_keep=keep).logits
    loss = torch.nn.functional.cross_entropy(logits.float(), targets[keep[:, :-1]], ignore_index=-100, reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else (targets != -100).sum()
    return loss / torch.clamp(torch.as_tensor(count, device=loss.device), min=1)


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


def _training_arguments(config: RunConfig, run_dir: Path, total_steps: int, has_validation: bool):
    from transformers import TrainingArguments

    device = pick_device()
    dtype_flags = mixed_precision(config.precision, device)
    eval_every = config.eval_steps or total_steps
    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
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


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest whole checkpoint; one cut short by a kill mid-save is passed over."""
    checkpoints = [path for path in Path(run_dir).glob("checkpoints/checkpoint-*")
                   if path.name.split("-")[-1].isdigit() and complete_checkpoint(path)]
    return max(checkpoints, key=lambda path: int(path.name.split("-")[-1]), default=None)


def complete_checkpoint(folder: Path) -> bool:
    """The Trainer writes trainer_state.json after the weights, optimizer and random state; readable, it ends a save."""
    try:
        json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def _save_result(model, tokenizer, config: RunConfig, run_dir: Path) -> None:
    target = run_dir / ("adapter" if saves_adapter(config.method) else "model")
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)  # left by a save that was killed
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    replace_folder(staging, target)

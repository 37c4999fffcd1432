"""Before a run starts: trainable parameters, memory and time, measured on this machine.

The model is loaded and prepared as the training job would (`load_model` with the method's
bits, `apply_method`), then one forward and backward pass runs on the longest real batch
(its peak memory) and one on a typical batch (its time). No optimizer state is kept: the
optimizer's share is counted from the trainable parameters. It takes a few seconds on the
embedded model, so the UI runs it only on request.

    result = estimate(load_config("cpu-lora", {"dataset": "data.jsonl"}), progress=print)
    result.fits, result.memory_bytes, result.total_seconds, result.warning

`progress(fraction, phase)` is called as each phase begins (PHASES: the share of the work done
before it, from timings of the embedded model on a laptop CPU), and with 1.0 and "done" at the end.
An exception it raises (a cancelled estimate) stops the estimate there, and the model is let go.
"""

from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from studio.config import RunConfig
from studio.examples import apply_chat_template_override, prepare_rows, tokenize
from studio.evaluate import accepts_logits_mask
from studio.methods import ADAPTER_METHODS, WEIGHT_METHODS, apply_method, count_parameters, method_bits
from studio.models import load_model, load_reward_model, pick_device
from studio.preflight import available_memory, check_run
from studio.tokens import IGNORED_LABEL
from studio.training.common import mixed_precision, weight_precision
from studio.training.plan import count_tokens, plan_steps
from studio.training.sft import trained_token_loss

# Some memory is always taken by what the estimate cannot see (fragmentation, the job's own runtime).
FIT_SHARE = 0.9
GIB = 2**30
# Each phase and the share of an estimate's time spent before it begins.
PHASES = {"data": 0.0, "model": 0.01, "tokenize": 0.11, "method": 0.12, "memory": 0.18, "time": 0.59, "done": 1.0}


@dataclass
class Estimate:
    trainable: int
    total: int
    memory_bytes: int
    available_bytes: int
    seconds_per_step: float
    total_steps: int
    total_seconds: float
    fits: bool
    warning: str
    device: str


def estimate(config: RunConfig, progress: Callable[[float, str], None] | None = None) -> Estimate:
    """Measure one configuration; raises ValueError for settings or data that cannot train."""
    def phase(name: str) -> None:
        if progress is not None:
            progress(PHASES[name], name)

    config.validate()
    check_run(config)  # before loading: a model larger than the memory would take the app down with it
    device = pick_device()
    available = available_memory(device)
    started = time.perf_counter()
    phase("data")
    shape, train_rows, validation_rows = prepare_rows(config)
    phase("model")
    # At the precision the job loads it in (a bf16 base where the CPU has bf16 matrix units), for its memory.
    loader = load_reward_model if config.stage == "rm" else load_model  # a reward model: the base with a score head
    model, tokenizer = loader(config.base_model, weight_precision(config), method_bits(config.method),
                                  config.trust_remote_code)
    try:
        phase("tokenize")
        apply_chat_template_override(tokenizer, config.chat_template)
        examples, _ = tokenize(config, shape, train_rows, tokenizer)
        if not examples:
            raise ValueError("No training example is left after tokenising; raise cutoff_length.")
        # The steps the job will take, each process taking every step on its share of the rows.
        total_steps = plan_steps(config, len(examples), count_tokens(examples), config.num_processes).total_steps
        phase("method")
        model = apply_method(model, config, total_steps)
        if config.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        trainable, total = count_parameters(model)
        setup_seconds = time.perf_counter() - started
        try:
            rows = sequences(examples, labels=config.stage != "rm")
            flags = mixed_precision(config.precision, device)  # the matmuls' format in training (autocast)
            with torch.autocast(device, dtype=torch.bfloat16 if "bf16" in flags else torch.float16, enabled=bool(flags)):
                measured = _measure(model, tokenizer, rows, config.batch_size * len(rows) // len(examples), device, phase)
        except torch.OutOfMemoryError:
            raise ValueError(f"One training step already runs out of memory on the {device}. "
                             f"To fit: {ways_to_fit(config, device)}.") from None
    finally:
        del model
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
    seconds_per_step = measured["step_seconds"] * config.gradient_accumulation
    evaluations = (math.ceil(total_steps / config.eval_steps) if config.eval_steps else 1) if validation_rows else 0
    # A forward pass alone is about a third of forward plus backward; not worth a pass of its own.
    evaluation_seconds = evaluations * math.ceil(len(validation_rows) / config.batch_size) * measured["step_seconds"] / 3
    memory = measured["weights"] + measured["activations"] + measured["trainable_bytes"] * 3  # grad + 2 AdamW moments
    fits = memory < FIT_SHARE * available
    phase("done")
    return Estimate(
        trainable=trainable, total=total, memory_bytes=int(memory), available_bytes=int(available),
        seconds_per_step=seconds_per_step, total_steps=total_steps,
        total_seconds=setup_seconds + total_steps * seconds_per_step + evaluation_seconds,
        fits=fits, device=device, warning="" if fits else (
            f"This run needs about {memory / GIB:.1f} GiB but {available / GIB:.1f} GiB is free on the {device}; "
            f"it will likely run out of memory. To fit: {ways_to_fit(config, device)}."),
    )


def sequences(examples: list[dict], labels: bool = True) -> list[dict]:
    """The sequences a step reads: an SFT or text example as it is, a preference pair as its two answers after the
    prompt (the policy reads both; DPO's reference pass, without gradients, is left out), a feedback example as its
    answer after the prompt (KTO's KL and reference passes, without gradients, are left out). labels=False: the
    sequences alone, as a reward model (stage rm) reads them, scoring each at its last token."""
    if not examples or "input_ids" in examples[0]:
        return examples
    if not labels:
        return [{"input_ids": row["input_ids"]} for row in sequences(examples)]
    if "answer_ids" in examples[0]:  # GRPO: a prompt's sampled answers (the reference standing in for each)
        return [{"input_ids": example["prompt_ids"] + example["answer_ids"],
                 "labels": [IGNORED_LABEL] * len(example["prompt_ids"]) + example["answer_ids"]}
                for example in examples for _ in range(example["generations"])]
    if "completion_ids" in examples[0]:
        return [{"input_ids": example["prompt_ids"] + example["completion_ids"],
                 "labels": [IGNORED_LABEL] * len(example["prompt_ids"]) + example["completion_ids"]}
                for example in examples]
    return [{"input_ids": pair["prompt_ids"] + pair[key],
             "labels": [IGNORED_LABEL] * len(pair["prompt_ids"]) + pair[key]}
            for pair in examples for key in ("chosen_ids", "rejected_ids")]


def _measure(model, tokenizer, examples: list[dict], batch_size: int, device: str, phase=lambda name: None) -> dict:
    """Peak memory of the longest batch, then the time of a typical one (the first pass also warms up)."""
    from transformers import DataCollatorForSeq2Seq

    collate = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORED_LABEL)
    target = next(model.parameters()).device
    longest = sorted(examples, key=lambda example: len(example["input_ids"]), reverse=True)[:batch_size]
    typical = examples[:batch_size]

    def batch_of(rows):
        # Rows without labels (a reward model's) come back with labels None.
        return {key: value.to(target) for key, value in collate([dict(row) for row in rows]).items() if value is not None}

    parameters = list(model.parameters())
    weights = sum(parameter.numel() * parameter.element_size() for parameter in parameters)
    weights += sum(buffer.numel() * buffer.element_size() for buffer in model.buffers())
    trainable_bytes = sum(parameter.numel() * parameter.element_size() for parameter in parameters if parameter.requires_grad)
    model.train()
    phase("memory")
    baseline = _reset_peak(device)
    _train_pass(model, batch_of(longest))
    # The peak holds the gradients too; they are counted apart, with the optimizer's moments.
    activations = max(_peak(device) - baseline - trainable_bytes, 0)
    model.zero_grad(set_to_none=True)
    phase("time")
    batch = batch_of(typical)
    step_seconds = _timed(lambda: _train_pass(model, batch), device)
    model.zero_grad(set_to_none=True)
    return {"weights": weights, "activations": activations, "trainable_bytes": trainable_bytes,
            "step_seconds": step_seconds}


def _train_pass(model, batch: dict) -> None:
    """The loss the Trainer computes (see studio.training.sft.make_trainer_class), and its backward pass."""
    if "labels" not in batch:  # a reward model: a score per sequence, whose pair loss costs next to nothing
        loss = model(**batch).logits.float().mean()
    elif accepts_logits_mask(model):
        loss = trained_token_loss(model, batch)
    else:
        loss = model(**batch).loss
    loss.backward()


def _timed(work, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    work()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def _reset_peak(device: str) -> int:
    """Start a peak measurement; returns the memory in use now."""
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    try:
        # "5" resets the process's peak resident size (VmHWM) to its current size (Linux 4.0+).
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _process_memory("VmRSS")


def _peak(device: str) -> int:
    if device == "cuda":
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    return _process_memory("VmHWM")


def _process_memory(field: str) -> int:
    """Resident memory of this process from /proc (bytes); 0 where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def ways_to_fit(config: RunConfig, device: str) -> str:
    """What to change when a run will not fit, most effective first."""
    changes = [f"lower batch_size (now {config.batch_size}) or cutoff_length (now {config.cutoff_length})"]
    if not config.gradient_checkpointing:
        changes.append("turn on gradient_checkpointing")
    if config.method in WEIGHT_METHODS:
        changes.append("use lora, which trains far fewer weights")
    elif device == "cuda" and config.method in ADAPTER_METHODS and method_bits(config.method) != 4:
        changes.append("use qlora (a 4-bit base)")
    return "; ".join(changes)

"""How long a run trains, and why: passes and optimizer steps sized to the data, and about how long that takes.

`epochs: 0` means auto (cpu-lora's choice): a small dataset gets several passes, so its few examples
are seen often enough and the optimizer takes enough steps to learn them; a large one gets one pass,
and no auto run trains on more than a token budget, so auto never trains for hours. Explicit `epochs`
or `max_steps` win. Training (every recipe of studio.training), the pre-run estimate (studio.training.estimate)
and the Train tab's plan line all count steps with `plan_steps`, the one rule:

    steps per pass = ceil(rows / (batch_size x gradient_accumulation x processes))
    auto passes    = the whole number of passes nearest AUTO_STEPS steps, from 1 to AUTO_MAX_PASSES,
                     then cut to AUTO_TOKENS tokens (part of one pass when a single pass is larger)

`plan_run` does it for a config without loading the model (the tokenizer counts the tokens), so the
UI can say what a run will do whenever a setting changes:

    print(describe(plan_run(load_config("cpu-lora", {"dataset": "data.jsonl"}))))
    # 38 rows → 6 passes, 30 steps, about 2 min: small datasets need several passes
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

from studio import runs
from studio.config import RunConfig
from studio.examples import apply_chat_template_override, prepare_rows, tokenize

AUTO_STEPS = 30  # about what LoRA at cpu-lora's rate needs to learn a few dozen examples
AUTO_MAX_PASSES = 10  # beyond this a tiny set is memorised, not learned
AUTO_TOKENS = 400_000  # about half an hour of the embedded model on a 2-core CPU
# Tokenising a large file to count its tokens would keep the UI waiting; an even sample is close enough.
SAMPLED_ROWS = 2_000
# A conservative training speed where no run has been measured: FLOPs a device sustains in training,
# against about 6 FLOPs per weight per token (forward and backward). 2-core CPU: about 120 tokens/s
# for the 135M embedded model, where a measured run does 130-240 (end to end, start-up included).
SUSTAINED_FLOPS = {"cpu": 1e11, "cuda": 3e13, "mps": 3e12}
STARTUP_SECONDS = 15  # start a process, load the model and the data
REASONS = {
    "max_steps": "max_steps is set",
    "epochs": "epochs is set",
    "small": "small datasets need several passes",
    "most_passes": "small datasets need several passes (auto's most)",
    "one_pass": "one pass is enough for this many rows",
    "budget": "auto's token budget is reached; set epochs to go through every row",
}


@dataclass(frozen=True)
class RunPlan:
    rows: int  # training examples (after tokenising, per process group)
    tokens: int  # tokens in one pass over them
    steps_per_pass: int
    total_steps: int
    warmup_steps: int
    reason: str  # a key of REASONS
    seconds: float | None = None  # approximate wall time, start-up included; None = not estimated

    @property
    def passes(self) -> float:
        return self.total_steps / self.steps_per_pass

    @property
    def trained_tokens(self) -> int:
        return round(self.tokens * self.passes)


def plan_steps(config: RunConfig, rows: int, tokens: int, processes: int = 1,
               tokens_per_second: float | None = None) -> RunPlan:
    """The rule: how many optimizer steps a run of `rows` examples holding `tokens` tokens takes."""
    batch = config.batch_size * config.gradient_accumulation * processes
    steps_per_pass = max(1, math.ceil(rows / batch))
    if config.max_steps:
        total, reason = config.max_steps, "max_steps"
    elif config.epochs:
        total, reason = max(1, math.ceil(steps_per_pass * config.epochs)), "epochs"
    else:
        passes = min(AUTO_MAX_PASSES, max(1, round(AUTO_STEPS / steps_per_pass)))
        reason = "one_pass" if passes == 1 else "most_passes" if passes == AUTO_MAX_PASSES else "small"
        total = passes * steps_per_pass
        if tokens * passes > AUTO_TOKENS:
            # Whole passes while they fit, else the steps of the budget's share of one pass.
            fitting = AUTO_TOKENS // tokens
            total = fitting * steps_per_pass if fitting else max(1, AUTO_TOKENS * steps_per_pass // tokens)
            reason = "budget"
    seconds = None
    if tokens_per_second:
        seconds = STARTUP_SECONDS + tokens * (total / steps_per_pass) / tokens_per_second
    return RunPlan(rows=rows, tokens=tokens, steps_per_pass=steps_per_pass, total_steps=total,
                   warmup_steps=warmup_steps(config, total), reason=reason, seconds=seconds)


def warmup_steps(config: RunConfig, total_steps: int) -> int:
    """Steps of rising learning rate: warmup_ratio of the run, at least one when the ratio is above 0, so a
    short run still warms up (from 0 at the first step) and then decays over the rest."""
    if config.warmup_ratio <= 0:
        return 0
    return min(max(1, math.ceil(config.warmup_ratio * total_steps)), max(total_steps - 1, 1))


def describe(plan: RunPlan) -> str:
    """One line: what the run will do and why, e.g. '38 rows → 6 passes, 30 steps, about 2 min: ...'.
    The Train tab says the same in the user's language (studio/ui/train_tab.py)."""
    time = duration(plan)
    return (f"{plan.rows:,} rows → {passes_text(plan)} {'pass' if plan.passes == 1 else 'passes'}, "
            f"{plan.total_steps:,} {'step' if plan.total_steps == 1 else 'steps'}, "
            f"{f'about {time[0]} {time[1]}' if time else 'time unknown'}: {REASONS[plan.reason]}")


def passes_text(plan: RunPlan) -> str:
    passes = plan.passes
    return f"{passes:.0f}" if passes.is_integer() else f"{passes:.2g}" if passes < 1 else f"{passes:.1f}"


def duration(plan: RunPlan) -> tuple[str, str] | None:
    """('2', 'min') or ('1.5', 'h'), never below a minute: the time is approximate by design."""
    if plan.seconds is None:
        return None
    minutes = plan.seconds / 60
    if minutes >= 90:
        return f"{minutes / 60:.1f}", "h"
    return str(max(1, round(minutes))), "min"


# ------------------------------------------------------------------ without loading the model


def plan_run(config: RunConfig) -> RunPlan:
    """The plan of a config: rows and tokens from its data and the base model's tokenizer, no model load."""
    shape, train_rows, _ = prepare_rows(config)
    if config.chat_template:
        tokenizer = load_base_tokenizer.__wrapped__(config.base_model, config.trust_remote_code)
        apply_chat_template_override(tokenizer, config.chat_template)
    else:
        tokenizer = load_base_tokenizer(config.base_model, config.trust_remote_code)
    step = max(1, len(train_rows) // SAMPLED_ROWS)
    sample = train_rows[::step]
    examples, _ = tokenize(config, shape, sample, tokenizer)
    scale = len(train_rows) / len(sample) if sample else 1
    return plan_steps(config, round(len(examples) * scale), round(count_tokens(examples) * scale),
                      config.num_processes, tokens_per_second(config))


@functools.lru_cache(maxsize=4)
def load_base_tokenizer(base_model: str, trust_remote_code: bool):
    """The base model's tokenizer, kept: the Train tab asks for a plan on every change of a setting.
    A chat template override changes the tokenizer, so plan_run loads a fresh one for that."""
    from studio.models import load_tokenizer, resolve_source

    return load_tokenizer(resolve_source(base_model, trust_remote_code), trust_remote_code)


def count_tokens(examples: list[dict]) -> int:
    """Tokens the model reads: padding excluded, a preference pair's prompt once per answer, a feedback answer
    with its prompt once (KTO's passes without gradients, its KL estimate and the reference, are left out, as the
    Trainer's token count leaves them out)."""
    total = 0
    for example in examples:
        if "input_ids" in example:
            total += len(example["input_ids"])
        elif "completion_ids" in example:
            total += len(example["prompt_ids"]) + len(example["completion_ids"])
        elif "answer_ids" in example:  # GRPO: every sampled answer with its prompt, the reference standing in
            total += example["generations"] * (len(example["prompt_ids"]) + len(example["answer_ids"]))
        else:
            total += 2 * len(example["prompt_ids"]) + len(example["chosen_ids"]) + len(example["rejected_ids"])
    return total


def tokens_per_second(config: RunConfig) -> float | None:
    """Training speed, end to end: the newest finished run of this base model and method in the
    workspace, else a conservative guess from the model's size and the device (None if unknown)."""
    measured = measured_speed(config)
    if measured:
        return measured
    from studio.models import pick_device
    from studio.preflight import model_folder, parameter_count

    folder = model_folder(config.base_model)
    parameters = parameter_count(folder) if folder else None
    flops = SUSTAINED_FLOPS.get(pick_device())
    return flops / (flops_per_weight(config) * parameters) if parameters and flops else None


def flops_per_weight(config: RunConfig) -> int:
    """FLOPs per weight per trained token of this run, for the guess: 6 for a forward and a backward pass, 2 more
    for each further forward: gradient checkpointing's recomputation, a reference model's pass (DPO, KTO, GRPO
    with a KL penalty), GRPO's sampling, which reads every prompt again. (The embedded model on 2 AMD EPYC cores:
    cpu-dpo trains at 61 tokens/s, cpu-grpo at 80, SFT at about 105.)"""
    reference = config.stage in ("dpo", "kto") or (config.stage == "grpo" and config.preference_beta > 0)
    return 6 + 2 * (bool(config.gradient_checkpointing) + reference + (config.stage == "grpo"))


def measured_speed(config: RunConfig) -> float | None:
    """Trained tokens per wall second of the newest finished run with the same base model and method."""
    summaries = [(folder, runs.read_summary(folder)) for folder in runs.run_folders()]
    finished = sorted(((folder, summary) for folder, summary in summaries if summary.get("status") == "finished"),
                      key=lambda item: os.path.getmtime(item[0] / runs.SUMMARY), reverse=True)
    for folder, summary in finished:
        settings = runs.read_settings(folder)
        if (summary.get("trained_tokens") and summary.get("wall_seconds")
                and settings.get("base_model") == config.base_model and settings.get("method") == config.method
                and settings.get("stage", "sft") == config.stage):
            # The run's own start-up is in its wall time; STARTUP_SECONDS is added back for the new run.
            return summary["trained_tokens"] / max(summary["wall_seconds"] - STARTUP_SECONDS, 1.0)
    return None

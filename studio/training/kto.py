"""KTO (Kahneman-Tversky Optimization): teach a model from single answers marked good or bad, no pairs needed.

The data are feedback rows (a prompt, one answer and a label: true = good, false = bad; see docs/design.md).
KTO raises the tuned model's log-probability of good answers and lowers that of bad ones, each relative to a
frozen reference model and measured against a reference point: an estimate of how far the model has drifted
from the reference overall (the KL term, from each prompt paired with another row's answer). So a good answer
counts as a gain only where it rose more than answers in general (Ethayarajh et al., 2024).

Training runs on TRL's KTOTrainer, a transformers Trainer, so the studio's callback (events, probes, abort) and
checkpoints (resume) work unchanged. The rows are tokenised by studio.tokens (through the chat template with the
studio's cut-off and counts); the KL pairs are built here as TRL builds them, which needs at least two rows a
batch and the rows in a fixed order (shuffled once, with the run's seed).

The reference, as for DPO: with a PEFT method the base model with the adapter switched off; from a finished SFT
run (`start_from`) a frozen copy of that run's adapter; with freeze and full fine-tuning a second, frozen copy.

    python -m studio train --preset cpu-kto --dataset presets/samples/concise-feedback-train.jsonl --output runs/kto
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from studio.config import RunConfig
from studio.events import FEEDBACK_METRICS, REWARD_METRICS
from studio.examples import apply_chat_template_override, prepare_rows, tokenize
from studio.messages import feedback_parts
from studio.methods import method_bits
from studio.models import load_model, pick_device
from studio.training.callback import StudioCallback
from studio.training.common import (
    Job, announce_plan, default_probes, fit, policy_and_reference, save_result, seed_everything,
    training_arguments as common_arguments,
)
from studio.training.preference import REFERENCE_ADAPTER, use_small_log_prob_tiles
from studio.training.unpadded import unpad_trainer_batches

# The KTO paper's advice on unequal counts (Ethayarajh et al., 2024, eq. 8): weigh the losses so that
# desirable_weight x good answers : undesirable_weight x bad answers lies between 1:1 and 4:3, raising the weight
# of the rarer kind. Counts already in that range keep both weights at 1; others are brought to the middle, 7:6.
BALANCED_RATIOS = (1.0, 4 / 3)
TARGET_RATIO = 7 / 6


def loss_weights(labels: list[bool]) -> tuple[float, float]:
    """(desirable_weight, undesirable_weight) for these labels, by the paper's rule above."""
    good = max(sum(labels), 1)
    bad = max(len(labels) - sum(labels), 1)
    ratio = good / bad
    if BALANCED_RATIOS[0] <= ratio <= BALANCED_RATIOS[1]:
        return 1.0, 1.0
    if ratio < BALANCED_RATIOS[0]:  # fewer good answers: raise their weight
        return round(TARGET_RATIO / ratio, 2), 1.0
    return 1.0, round(ratio / TARGET_RATIO, 2)  # fewer bad answers: raise theirs


def with_kl_completions(examples: list[dict], batch_size: int) -> list[dict]:
    """Each example with `KL_completion_ids`: within each batch of `batch_size` (in order), the answers rotated by
    one, so each prompt meets another row's answer, as TRL's KTOTrainer pairs them for its KL estimate."""
    paired = []
    for start in range(0, len(examples), batch_size):
        batch = examples[start:start + batch_size]
        rotated = batch[-1:] + batch[:-1]
        paired += [{**example, "KL_completion_ids": other["completion_ids"]} for example, other in zip(batch, rotated)]
    return paired


def trainer_class():
    """TRL's KTOTrainer on examples tokenised by `studio.tokens.tokenize_feedback`, with their KL pairs."""
    from trl import KTOTrainer

    class FeedbackTrainer(KTOTrainer):
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset  # tokenize_feedback and with_kl_completions did it, with the studio's cut-off and counts

    return FeedbackTrainer


def training_arguments(config: RunConfig, run_dir: Path, total_steps: int, has_validation: bool,
                       weights: tuple[float, float]):
    """The studio's TrainingArguments as TRL's KTOConfig, with KTO's beta and loss weights."""
    from dataclasses import fields

    from trl import KTOConfig

    base = common_arguments(config, run_dir, total_steps, has_validation)
    values = {spec.name: getattr(base, spec.name) for spec in fields(base) if spec.init and not spec.name.startswith("_")}
    values["prediction_loss_only"] = True  # evaluation needs the loss and the reward metrics, not the logits
    values["train_sampling_strategy"] = "sequential"  # the KL pairs are built for batches in this order
    return KTOConfig(**values, beta=config.preference_beta, loss_type="kto", desirable_weight=weights[0],
                     undesirable_weight=weights[1], max_length=None)


def probe_references(config: RunConfig, validation_rows: list[dict]) -> list[str]:
    """What each default probe should answer: the held-out answer where it is labelled good, else "" (a bad
    answer is what the model should not say)."""
    if config.probe_prompts:
        return [""] * len(config.probe_prompts)
    references = []
    for row in validation_rows[:2]:
        _, answer, label = feedback_parts(row)
        references.append(answer if label else "")
    return references


def prepare_examples(config: RunConfig, train_rows: list[dict], validation_rows: list[dict],
                     tokenizer) -> tuple[list[dict], list[dict], int]:
    """(train examples with their KL pairs, validation examples with theirs, rows cut or dropped)."""
    train_set, truncated = tokenize(config, "feedback", train_rows, tokenizer)
    validation_set, _ = tokenize(config, "feedback", validation_rows, tokenizer)
    if not train_set:
        raise ValueError("No answer is left after tokenising; raise cutoff_length.")
    random.Random(config.seed).shuffle(train_set)  # TRL reads the rows in order; mix good and bad answers once
    return (with_kl_completions(train_set, config.batch_size), with_kl_completions(validation_set, config.batch_size),
            truncated)


def train(job: Job) -> dict:
    """Stage kto: the same run folder, events and summary as every recipe, with KTO's rewards."""
    # TRL's trainers report usage to the Hub unless told not to; a local studio keeps to itself.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from datasets import Dataset
    from transformers import PrinterCallback

    config = job.config
    if config.batch_size < 2:
        raise ValueError("KTO needs batch_size 2 or more: its reference point pairs each prompt with another "
                         "answer of the same batch.")
    seed_everything(config.seed)
    _, train_rows, validation_rows = prepare_rows(config)
    model, tokenizer = load_model(config.base_model, config.precision, method_bits(config.method), config.trust_remote_code)
    apply_chat_template_override(tokenizer, config.chat_template)
    train_set, validation_set, truncated = prepare_examples(config, train_rows, validation_rows, tokenizer)
    plan = announce_plan(job, train_set)
    weights = loss_weights([example["label"] for example in train_set])
    model, adapter_settings, reference = policy_and_reference(config, model, plan.total_steps, frozen_copy=True)
    if pick_device() == "cpu":
        use_small_log_prob_tiles()
    probes = default_probes(config, "feedback", validation_rows)
    callback = StudioCallback(job.run_dir, plan.total_steps, tokenizer, probes, config,
                              expected=probe_references(config, validation_rows))
    trainer = trainer_class()(
        model=model, ref_model=reference, peft_config=adapter_settings, processing_class=tokenizer, callbacks=[callback],
        args=training_arguments(config, job.run_dir, plan.total_steps, bool(validation_set), weights),
        train_dataset=Dataset.from_list(train_set),
        eval_dataset=Dataset.from_list(validation_set) if validation_set else None,
    )
    trainer.remove_callback(PrinterCallback)
    model = trainer.accelerator.unwrap_model(trainer.model)
    good = sum(example["label"] for example in train_set)
    facts = job.prepared(plan, model, train_set, validation_set, truncated, probes, packing=unpad_trainer_batches(trainer),
                         good_answers=good,
                         bad_answers=len(train_set) - good, desirable_weight=weights[0], undesirable_weight=weights[1])

    def save():
        if REFERENCE_ADAPTER in getattr(model, "peft_config", {}):
            model.delete_adapter(REFERENCE_ADAPTER)  # the run's adapter/ holds the tuned adapter only
        save_result(model, tokenizer, config, job.run_dir)

    summary = fit(job, trainer, callback, save, facts)
    return {**summary, **last_reward_metrics(trainer.state.log_history)}


def last_reward_metrics(log_history: list[dict]) -> dict:
    """KTO's rewards (good and bad answers, their margin, the KL estimate) at the latest evaluation, None before
    there is one or where its batches held only one kind of answer."""
    latest = next((entry for entry in reversed(log_history) if "eval_kl" in entry), {})
    names = {key: name for key, name in {**REWARD_METRICS, **FEEDBACK_METRICS}.items() if key != "rewards/accuracies"}
    return {name: latest.get(f"eval_{key}") for key, name in names.items()}

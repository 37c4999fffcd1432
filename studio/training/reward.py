"""A reward model (stage rm): a score head learns which answer of a preference pair people preferred.

The textbook pipeline's third step, between SFT and reinforcement learning: the base model, loaded as a sequence
classifier with one output (`studio.models.load_reward_model`), reads prompt + answer and gives one number, read
at the last token. It learns from preference rows (prompt, chosen answer, rejected answer) to score the chosen
answer above the rejected one: the loss is -log sigmoid(score(chosen) - score(rejected)) (Bradley-Terry, as in
InstructGPT). The validation pairs' accuracy (the share scored the right way round) and mean margin go to
events.jsonl as `preference_accuracy` and `reward_margin`, the names DPO's curves have.

Training runs on TRL's RewardTrainer, a transformers Trainer, so the studio's callback (events, abort) and
checkpoints (resume) work unchanged. The pairs are tokenised by studio.tokens through the chat template, with the
studio's cut-off and counts, exactly as studio.scoring renders an answer to score it. A reward model writes no
answers, so there are no probe answers. LoRA and the other adapter methods train PEFT's sequence-classification
adapters with the new score head beside them (`studio.methods`); freeze and full save a whole model/.

    python -m studio train --preset cpu-rm --dataset presets/samples/concise-preference-train.jsonl --output runs/rm
    score_answers("runs/rm", [[{"role": "user", "content": "What is 2 + 2?"}]], ["4."])   # studio.scoring
"""

from __future__ import annotations

import os
from pathlib import Path

from studio.config import RunConfig
from studio.events import SCORE_METRICS
from studio.examples import apply_chat_template_override, prepare_rows, tokenize
from studio.methods import apply_method, method_bits, score_heads
from studio.models import load_reward_model
from studio.training.callback import StudioCallback
from studio.training.common import (
    Job, announce_plan, fit, save_result, seed_everything, training_arguments as common_arguments, weight_precision,
)
from studio.training.unpadded import unpad_classified_batches


def pair_sequences(examples: list[dict]) -> list[dict]:
    """Tokenised pairs (prompt_ids, chosen_ids, rejected_ids) as the two whole sequences the score head reads."""
    return [{"chosen_ids": pair["prompt_ids"] + pair["chosen_ids"], "rejected_ids": pair["prompt_ids"] + pair["rejected_ids"]}
            for pair in examples]


def training_arguments(config: RunConfig, run_dir: Path, total_steps: int, has_validation: bool):
    """The studio's TrainingArguments as TRL's RewardConfig."""
    from dataclasses import fields

    from trl import RewardConfig

    base = common_arguments(config, run_dir, total_steps, has_validation)
    values = {spec.name: getattr(base, spec.name) for spec in fields(base) if spec.init and not spec.name.startswith("_")}
    # Evaluation needs only the loss and the pair metrics, not the scores gathered into predictions.
    values["prediction_loss_only"] = True
    # The studio's cut-off already shortened every pair; TRL's own limit would drop the long ones.
    return RewardConfig(**values, max_length=None)


def train(job: Job) -> dict:
    """Stage rm: the same run folder, events and summary as every recipe, with the pair metrics."""
    # TRL's trainers report usage to the Hub unless told not to; a local studio keeps to itself.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import RewardTrainer

    config = job.config
    seed_everything(config.seed)  # before loading: the new score head starts from random weights
    _, train_rows, validation_rows = prepare_rows(config)
    model, tokenizer = load_reward_model(config.base_model, weight_precision(config), method_bits(config.method),
                                         config.trust_remote_code)
    apply_chat_template_override(tokenizer, config.chat_template)
    train_set, truncated = tokenize(config, "preference", train_rows, tokenizer)
    validation_set, _ = tokenize(config, "preference", validation_rows, tokenizer)
    if not train_set:
        raise ValueError("No pair is left after tokenising; raise cutoff_length.")
    plan = announce_plan(job, train_set)
    for name in score_heads(model):
        # The new head trains whole, so it keeps float32 weights (a bf16 base runs its matmuls under autocast).
        getattr(model, name).float()
    model = apply_method(model, config, plan.total_steps)
    callback = StudioCallback(job.run_dir, plan.total_steps, tokenizer, [], config)  # a reward model writes no answers
    trainer = RewardTrainer(
        model=model, processing_class=tokenizer, callbacks=[callback],
        args=training_arguments(config, job.run_dir, plan.total_steps, bool(validation_set)),
        train_dataset=Dataset.from_list(pair_sequences(train_set)),
        eval_dataset=Dataset.from_list(pair_sequences(validation_set)) if validation_set else None,
    )
    trainer.remove_callback(PrinterCallback)
    model = trainer.accelerator.unwrap_model(trainer.model)
    facts = job.prepared(plan, model, train_set, validation_set, truncated, [],
                         packing=unpad_classified_batches(model))
    summary = fit(job, trainer, callback, lambda: save_result(model, tokenizer, config, job.run_dir), facts)
    return {**summary, **last_pair_metrics(trainer.state.log_history)}


def last_pair_metrics(log_history: list[dict]) -> dict:
    """Preference accuracy and reward margin of the latest evaluation, None before there is one."""
    latest = next((entry for entry in reversed(log_history) if "eval_accuracy" in entry), {})
    return {name: latest.get(f"eval_{key}") for key, name in SCORE_METRICS.items()}

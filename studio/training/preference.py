"""Preference tuning (DPO and ORPO): teach a model which of two answers to one prompt to prefer.

The data are preference rows (prompt, chosen answer, rejected answer; see DESIGN.md). DPO raises
the tuned model's log-probability of the chosen answer over the rejected one, relative to a frozen
reference model, which reaches what RLHF's reward model + PPO reach from the same pairs, with no
reward model. ORPO needs no reference: the SFT loss on the chosen answer plus an odds-ratio term.

Training runs on TRL's DPOTrainer: it is a transformers Trainer, so the studio's callback (events,
probes, abort) and checkpoints (resume) work unchanged. The pairs are tokenised here, through the
chat template with the studio's cut-off and counts. ORPO is a loss written on the same trainer:
TRL keeps its ORPOTrainer in `trl.experimental`, where it tokenises by itself, learns the prompt
tokens as well as the answer and builds the full vocabulary logits of every token.

The reference: with a PEFT method it is the base model with the adapter switched off (no second
copy in memory). From a finished SFT run (`start_from`), that run's adapter is trained on and TRL
keeps a frozen copy of it as a second adapter, so the reference is the SFT model. Freeze and full
fine-tuning need a second, frozen copy of the model for DPO.

    python -m studio train --preset cpu-dpo --dataset presets/samples/concise-preference-train.jsonl --output runs/dpo
    python -m studio eval --adapter runs/dpo --dataset presets/samples/concise-preference-test.jsonl
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from studio import data, tokens
from studio.config import RunConfig
from studio.jobs import start_from_run
from studio.methods import WEIGHT_METHODS, count_parameters, method_bits, peft_config
from studio.workspace import append_jsonl

# TRL's metric names -> the keys of events.jsonl lines (and of the run summary).
REWARD_METRICS = {"rewards/accuracies": "preference_accuracy", "rewards/margins": "reward_margin"}
REFERENCE_ADAPTER = "ref"  # the name TRL gives the frozen copy of an adapter trained on
ANSWER_TOKENS = 200  # longest greedy answer when comparing answer lengths


# -------------------------------------------------------------------------------- tokenising



# ------------------------------------------------------------------------------------ losses


def log1mexp(values: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x < 0, accurate near 0 and far below it."""
    values = values.clamp(max=-1e-7)
    return torch.where(values > -math.log(2), torch.log(-torch.expm1(values)), torch.log1p(-torch.exp(values)))


def orpo_loss(chosen_mean_logps: torch.Tensor, rejected_mean_logps: torch.Tensor, chosen_nll: torch.Tensor,
              weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, chosen rewards, rejected rewards) of ORPO from per-token mean log-probabilities of each answer.

    loss = NLL(chosen) - weight * log sigmoid(log odds(chosen) - log odds(rejected)), where the odds of an
    answer are p / (1 - p) with p its per-token mean probability (Hong et al., 2024, eq. 6-7)."""
    log_odds = (chosen_mean_logps - rejected_mean_logps) - (log1mexp(chosen_mean_logps) - log1mexp(rejected_mean_logps))
    loss = chosen_nll - weight * F.logsigmoid(log_odds).mean()
    return loss, weight * chosen_mean_logps.detach(), weight * rejected_mean_logps.detach()


def pair_metrics(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> dict:
    """Preference accuracy (share of pairs whose chosen answer earns the higher reward) and mean reward margin."""
    return {"preference_accuracy": float((chosen_rewards > rejected_rewards).float().mean()),
            "reward_margin": float((chosen_rewards - rejected_rewards).mean())}


# ------------------------------------------------------------------------------------ trainer


def trainer_class(stage: str):
    """TRL's DPOTrainer on pairs tokenised by `tokenize_pairs`; for stage orpo, with the ORPO loss."""
    from trl import DPOTrainer

    orpo = stage == "orpo"

    class PreferenceTrainer(DPOTrainer):
        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset  # tokenize_pairs did it, with the studio's cut-off and counts

        def _precompute_ref_logps(self, dataset, name, batch_size):
            # ORPO has no reference; `precompute_ref_log_probs` is only set to keep TRL from loading one.
            return dataset if orpo else super()._precompute_ref_logps(dataset, name, batch_size)

        def _compute_loss(self, model, inputs, return_outputs):
            if not orpo:
                return super()._compute_loss(model, inputs, return_outputs)
            mode = "train" if self.model.training else "eval"
            completion = inputs["completion_mask"]
            labels = inputs["input_ids"].masked_fill(completion == 0, -100)
            outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], labels=labels,
                            use_cache=False, fused_lm_head=True)
            mask = completion[:, 1:]
            per_token = outputs.log_probs[:, -mask.size(1):] * mask  # prompt methods prepend virtual tokens
            sums, counts = per_token.sum(1), mask.sum(1).clamp(min=1)
            chosen_sums, rejected_sums = sums.chunk(2)
            chosen_counts, rejected_counts = counts.chunk(2)
            nll = -chosen_sums.sum() / chosen_counts.sum()
            loss, chosen_rewards, rejected_rewards = orpo_loss(
                chosen_sums / chosen_counts, rejected_sums / rejected_counts, nll, self.beta)
            for key, value in (("rewards/chosen", chosen_rewards.mean()), ("rewards/rejected", rejected_rewards.mean()),
                               ("rewards/accuracies", (chosen_rewards > rejected_rewards).float().mean()),
                               ("rewards/margins", (chosen_rewards - rejected_rewards).mean()), ("nll_loss", nll.detach())):
                self._metrics[mode][key].append(float(value))
            return (loss, outputs) if return_outputs else loss

    return PreferenceTrainer


def training_arguments(config: RunConfig, run_dir: Path, total_steps: int, has_validation: bool, no_reference: bool):
    """The studio's TrainingArguments as TRL's DPOConfig, with the preference settings."""
    from dataclasses import fields

    from trl import DPOConfig

    from studio.train import _training_arguments

    base = _training_arguments(config, run_dir, total_steps, has_validation)
    values = {spec.name: getattr(base, spec.name) for spec in fields(base) if spec.init and not spec.name.startswith("_")}
    # Evaluation needs only the loss and the reward metrics, not the logits that would take one more forward pass.
    values["prediction_loss_only"] = True
    return DPOConfig(**values, beta=config.preference_beta, loss_type=[config.preference_loss], max_length=None,
                     precompute_ref_log_probs=no_reference)


def policy_and_reference(config: RunConfig, model, total_steps: int):
    """(model to hand TRL, PEFT config for TRL to apply or None, separate reference model or None)."""
    from peft import PeftModel, prepare_model_for_kbit_training

    from studio.methods import apply_method
    from studio.models import load_model

    if config.method in WEIGHT_METHODS:
        reference = None
        if config.stage == "dpo":
            # Every weight may change, so the reference is a second, frozen copy; ORPO needs none.
            reference, _ = load_model(config.base_model, config.precision, 0, config.trust_remote_code)
            reference.requires_grad_(False).eval()
        return apply_method(model, config, total_steps), None, reference
    if method_bits(config.method):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    if config.start_from:
        # TRL copies this adapter as a frozen reference adapter: DPO then moves away from the SFT model.
        folder = start_from_run(config) / "adapter"
        return PeftModel.from_pretrained(model, str(folder), is_trainable=True), None, None
    # A new adapter: TRL applies it, and with the adapter switched off the model is the reference.
    return model, peft_config(config, model, total_steps), None


def use_small_log_prob_tiles(tokens: int = 512, vocabulary: int = 4096) -> None:
    """TRL scores answer tokens in tiles of 4096 tokens x 32768 vocabulary entries, sized for GPU kernels; on
    a CPU its torch fallback holds several float copies of a whole tile at once (GBs for one batch of pairs).
    Smaller tiles give the same log-probabilities within a few hundred MB."""
    from trl.kernels import chunked_logprob
    from trl.trainer import utils

    chunked_logprob.TOKEN_CHUNK_SIZE = tokens
    utils._CHUNKED_LOGPROB_CHUNK_SIZE = vocabulary


def train_pairs(config: RunConfig, run_dir: Path, resume: bool, started: float, main: bool) -> dict:
    """studio.train's job for stages dpo and orpo: the same run folder, events and summary."""
    # TRL's trainers report usage to the Hub unless told not to; a local studio keeps to itself.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from datasets import Dataset
    from transformers import PrinterCallback, set_seed

    from studio import train
    from studio.callback import StudioCallback
    from studio.models import load_model, pick_device

    set_seed(config.seed)
    random.seed(config.seed)
    _, train_rows, validation_rows = train.prepare_rows(config)
    model, tokenizer = load_model(config.base_model, config.precision, method_bits(config.method), config.trust_remote_code)
    train.apply_chat_template_override(tokenizer, config.chat_template)
    train_set, truncated = tokens.tokenize_pairs(train_rows, tokenizer, config.cutoff_length)
    validation_set, _ = tokens.tokenize_pairs(validation_rows, tokenizer, config.cutoff_length)
    if not train_set:
        raise ValueError("No pair is left after tokenising; raise cutoff_length.")
    plan = train.announce_plan(config, train_set, main)
    total_steps = plan.total_steps
    model, adapter_settings, reference = policy_and_reference(config, model, total_steps)
    if pick_device() == "cpu":
        use_small_log_prob_tiles()
    probes = train.default_probes(config, "preference", validation_rows)
    callback = StudioCallback(run_dir, total_steps, tokenizer, probes, config,
                              expected=train.probe_references(config, "preference", validation_rows))
    no_reference = config.stage == "orpo" and adapter_settings is None and not config.start_from
    trainer = trainer_class(config.stage)(
        model=model, ref_model=reference, peft_config=adapter_settings, processing_class=tokenizer, callbacks=[callback],
        args=training_arguments(config, run_dir, total_steps, bool(validation_set), no_reference),
        train_dataset=Dataset.from_list(train_set),
        eval_dataset=Dataset.from_list(validation_set) if validation_set else None,
    )
    trainer.remove_callback(PrinterCallback)
    model = trainer.accelerator.unwrap_model(trainer.model)
    trainable, total = count_parameters(model)
    if main:
        append_jsonl(run_dir / "events.jsonl", {
            "event": "prepared", "train_rows": len(train_set), "validation_rows": len(validation_set),
            "truncated_rows": truncated, "total_steps": total_steps, "trainable_parameters": trainable,
            "total_parameters": total, "device": pick_device(), "probe_prompts": probes, **train.plan_facts(plan),
        })
    def save():
        if REFERENCE_ADAPTER in getattr(model, "peft_config", {}):
            model.delete_adapter(REFERENCE_ADAPTER)  # the run's adapter/ holds the tuned adapter only
        train._save_result(model, tokenizer, config, run_dir)

    summary = train.fit(trainer, callback, run_dir, resume, main, started, save,
                        facts={"total_steps": total_steps, "truncated_rows": truncated, "trainable_parameters": trainable})
    return {**summary, **last_reward_metrics(trainer.state.log_history)}


def last_reward_metrics(log_history: list[dict]) -> dict:
    """Preference accuracy and reward margin of the latest evaluation, None before there is one."""
    latest = next((entry for entry in reversed(log_history) if "eval_rewards/accuracies" in entry), {})
    return {name: latest.get(f"eval_{key}") for key, name in REWARD_METRICS.items()}


def reward_events(metrics: dict, prefix: str = "") -> dict:
    """The reward metrics of a Trainer log or evaluation, under their events.jsonl names."""
    return {name: float(metrics[prefix + key]) for key, name in REWARD_METRICS.items() if prefix + key in metrics}


def reward_points(events: list[dict]) -> list[dict]:
    """Preference accuracy and reward margin per step for the charts: on the training batches and on the
    validation pairs, the last value winning after a resume."""
    points = {}
    for event in events:
        if "step" not in event:
            continue
        split = "validation" if "eval_loss" in event else "train"
        for name in REWARD_METRICS.values():
            if event.get(name) is not None:
                points[(name, event["step"], split)] = event[name]
    return [{"metric": name, "step": step, "series": split, "value": value}
            for (name, step, split), value in sorted(points.items())]


# -------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def answer_log_probs(model, examples: list[dict], pad_token_id: int, batch_size: int = 4) -> torch.Tensor:
    """Per pair: [chosen sum, rejected sum, chosen tokens, rejected tokens] of the answers' log-probabilities."""
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    collate = DataCollatorForPreference(pad_token_id=pad_token_id)
    device = next(model.parameters()).device
    rows = []
    for start in range(0, len(examples), batch_size):
        batch = {key: value.to(device) for key, value in collate(examples[start:start + batch_size]).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        mask = batch["completion_mask"][:, 1:]
        logits = logits[:, -mask.size(1) - 1:-1].float()  # prompt methods prepend virtual tokens
        targets = batch["input_ids"][:, 1:]
        per_token = torch.gather(logits.log_softmax(-1), 2, targets.unsqueeze(-1)).squeeze(-1) * mask
        sums, counts = per_token.sum(1), mask.sum(1).float()
        chosen_sums, rejected_sums = sums.chunk(2)
        chosen_counts, rejected_counts = counts.chunk(2)
        rows.append(torch.stack([chosen_sums, rejected_sums, chosen_counts, rejected_counts], dim=1).cpu())
    return torch.cat(rows)


def evaluate_pairs(model, tokenizer, rows: list[dict], beta: float = 0.1, cutoff_length: int = 1024,
                   answers: bool = True, max_new_tokens: int | None = None) -> dict:
    """Held-out pairs scored three ways, comparable before and after tuning:

    - likelihood_accuracy: share of pairs where the model gives the chosen answer the higher mean
      per-token log-probability (its own preference, no reference needed);
    - preference_accuracy and reward_margin: DPO's implicit reward beta * log(model / reference), the
      reference being the base model with the adapter switched off (None for a model without adapter);
    - with `answers`, the greedy answers to the prompts and their mean length in words, beside the
      mean lengths of the chosen and the rejected answers.
    """
    if not rows:
        raise ValueError("No rows to evaluate.")
    examples, _ = tokens.tokenize_pairs(rows, tokenizer, cutoff_length)
    policy = answer_log_probs(model, examples, tokenizer.pad_token_id)
    result = {"rows": len(examples),
              "likelihood_accuracy": round(float((policy[:, 0] / policy[:, 2] > policy[:, 1] / policy[:, 3]).float().mean()), 4)}
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            reference = answer_log_probs(model, examples, tokenizer.pad_token_id)
        chosen_rewards = beta * (policy[:, 0] - reference[:, 0])
        rejected_rewards = beta * (policy[:, 1] - reference[:, 1])
        result.update({key: round(value, 4) for key, value in pair_metrics(chosen_rewards, rejected_rewards).items()})
    else:
        result.update(preference_accuracy=None, reward_margin=None)
    if answers:
        result.update(answer_lengths(model, tokenizer, rows, max_new_tokens or ANSWER_TOKENS))
    return result


def words(text: str) -> int:
    return len(text.split())


def answer_lengths(model, tokenizer, rows: list[dict], max_new_tokens: int) -> dict:
    """Greedy answers to the pairs' prompts, and mean lengths in words of those and of both answers."""
    from studio.generate import generate_batch

    parts = [data.preference_parts(row) for row in rows]
    predictions = generate_batch(model, tokenizer, [prompt for prompt, _, _ in parts], max_new_tokens)

    def mean(values) -> float:
        values = list(values)
        return round(sum(values) / len(values), 1)

    return {
        "mean_answer_words": mean(words(answer) for answer in predictions),
        "mean_chosen_words": mean(words(chosen) for _, chosen, _ in parts),
        "mean_rejected_words": mean(words(rejected) for _, _, rejected in parts),
        "max_new_tokens": max_new_tokens,
        "details": [{"prompt": prompt[-1]["content"], "answer": answer, "answer_words": words(answer)}
                    for (prompt, _, _), answer in zip(parts, predictions)],
    }


# ------------------------------------------------------------------------------- the editor



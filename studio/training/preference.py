"""Preference tuning (DPO and ORPO): teach a model which of two answers to one prompt to prefer.

The data are preference rows (prompt, chosen answer, rejected answer; see docs/design.md). DPO raises
the tuned model's log-probability of the chosen answer over the rejected one, relative to a frozen
reference model, which reaches what RLHF's reward model + PPO reach from the same pairs, with no
reward model. ORPO needs no reference: the SFT loss on the chosen answer plus an odds-ratio term.

Training runs on TRL's DPOTrainer: it is a transformers Trainer, so the studio's callback (events,
probes, abort) and checkpoints (resume) work unchanged. The pairs are tokenised by studio.tokens, through the
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
from pathlib import Path

import torch
import torch.nn.functional as F

from studio.config import RunConfig
from studio.events import REWARD_METRICS
from studio.examples import apply_chat_template_override, prepare_rows, tokenize
from studio.methods import method_bits
from studio.models import load_model, pick_device
from studio.tokens import IGNORED_LABEL
from studio.training.callback import StudioCallback
from studio.training.common import (
    Job, announce_plan, default_probes, fit, policy_and_reference, probe_references, save_result, seed_everything,
    training_arguments as common_arguments,
)
from studio.training.unpadded import unpad_trainer_batches

REFERENCE_ADAPTER = "ref"  # the name TRL gives the frozen copy of an adapter trained on


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


# ------------------------------------------------------------------------------------ trainer


def trainer_class(stage: str):
    """TRL's DPOTrainer on pairs tokenised by `studio.tokens.tokenize_pairs`; for stage orpo, with the ORPO loss."""
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
            labels = inputs["input_ids"].masked_fill(completion == 0, IGNORED_LABEL)
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

    base = common_arguments(config, run_dir, total_steps, has_validation)
    values = {spec.name: getattr(base, spec.name) for spec in fields(base) if spec.init and not spec.name.startswith("_")}
    # Evaluation needs only the loss and the reward metrics, not the logits that would take one more forward pass.
    values["prediction_loss_only"] = True
    return DPOConfig(**values, beta=config.preference_beta, loss_type=[config.preference_loss], max_length=None,
                     precompute_ref_log_probs=no_reference)


def use_small_log_prob_tiles(tokens: int = 512, vocabulary: int = 4096) -> None:
    """TRL scores answer tokens in tiles of 4096 tokens x 32768 vocabulary entries, sized for GPU kernels; on
    a CPU its torch fallback holds several float copies of a whole tile at once (GBs for one batch of pairs).
    Smaller tiles give the same log-probabilities within a few hundred MB."""
    from trl.kernels import chunked_logprob
    from trl.trainer import utils

    chunked_logprob.TOKEN_CHUNK_SIZE = tokens
    utils._CHUNKED_LOGPROB_CHUNK_SIZE = vocabulary


def train(job: Job) -> dict:
    """Stages dpo and orpo: the same run folder, events and summary as every recipe, with the reward metrics."""
    # TRL's trainers report usage to the Hub unless told not to; a local studio keeps to itself.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from datasets import Dataset
    from transformers import PrinterCallback

    config = job.config
    seed_everything(config.seed)
    _, train_rows, validation_rows = prepare_rows(config)
    model, tokenizer = load_model(config.base_model, config.precision, method_bits(config.method), config.trust_remote_code)
    apply_chat_template_override(tokenizer, config.chat_template)
    train_set, truncated = tokenize(config, "preference", train_rows, tokenizer)
    validation_set, _ = tokenize(config, "preference", validation_rows, tokenizer)
    if not train_set:
        raise ValueError("No pair is left after tokenising; raise cutoff_length.")
    plan = announce_plan(job, train_set)
    model, adapter_settings, reference = policy_and_reference(config, model, plan.total_steps,
                                                             frozen_copy=config.stage == "dpo")
    if pick_device() == "cpu":
        use_small_log_prob_tiles()
    probes = default_probes(config, "preference", validation_rows)
    callback = StudioCallback(job.run_dir, plan.total_steps, tokenizer, probes, config,
                              expected=probe_references(config, "preference", validation_rows))
    no_reference = config.stage == "orpo" and adapter_settings is None and not config.start_from
    trainer = trainer_class(config.stage)(
        model=model, ref_model=reference, peft_config=adapter_settings, processing_class=tokenizer, callbacks=[callback],
        args=training_arguments(config, job.run_dir, plan.total_steps, bool(validation_set), no_reference),
        train_dataset=Dataset.from_list(train_set),
        eval_dataset=Dataset.from_list(validation_set) if validation_set else None,
    )
    trainer.remove_callback(PrinterCallback)
    model = trainer.accelerator.unwrap_model(trainer.model)
    facts = job.prepared(plan, model, train_set, validation_set, truncated, probes,
                         packing=unpad_trainer_batches(trainer))

    def save():
        if REFERENCE_ADAPTER in getattr(model, "peft_config", {}):
            model.delete_adapter(REFERENCE_ADAPTER)  # the run's adapter/ holds the tuned adapter only
        save_result(model, tokenizer, config, job.run_dir)

    summary = fit(job, trainer, callback, save, facts)
    return {**summary, **last_reward_metrics(trainer.state.log_history)}


def last_reward_metrics(log_history: list[dict]) -> dict:
    """Preference accuracy and reward margin of the latest evaluation, None before there is one."""
    latest = next((entry for entry in reversed(log_history) if "eval_rewards/accuracies" in entry), {})
    return {name: latest.get(f"eval_{key}") for key, name in REWARD_METRICS.items()}

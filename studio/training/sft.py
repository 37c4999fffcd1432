"""Supervised fine-tuning and continued pre-training: transformers' Trainer on packed batches.

SFT learns the answers of instruction or chat rows (the prompt is masked unless `train_on_prompt`);
pre-training learns every token of raw text. Batches are packed (no padding, no example attending to another)
and the loss projects onto the vocabulary only where a label is trained.
"""

from __future__ import annotations

import torch

from studio.evaluate import accepts_logits_mask, positions_before
from studio.examples import apply_chat_template_override, prepare_rows, tokenize
from studio.methods import apply_method, method_bits
from studio.models import load_model
from studio.tokens import IGNORED_LABEL
from studio.training.callback import StudioCallback
from studio.training.common import (
    Job, announce_plan, default_probes, fit, probe_references, save_result, seed_everything, training_arguments,
    weight_precision,
)
from studio.training.packing import model_inputs, packing_collator


def train(job: Job) -> dict:
    from transformers import DataCollatorForSeq2Seq, PrinterCallback

    config = job.config
    seed_everything(config.seed)
    shape, train_rows, validation_rows = prepare_rows(config)
    model, tokenizer = load_model(config.base_model, weight_precision(config), method_bits(config.method),
                                  config.trust_remote_code)
    apply_chat_template_override(tokenizer, config.chat_template)
    train_set, truncated = tokenize(config, shape, train_rows, tokenizer)
    validation_set, _ = tokenize(config, shape, validation_rows, tokenizer) if validation_rows else ([], 0)
    if not train_set:
        raise ValueError("No training example is left after tokenising; raise cutoff_length.")
    plan = announce_plan(job, train_set)
    model = apply_method(model, config, plan.total_steps)
    probes = default_probes(config, shape, validation_rows)
    packer = packing_collator(model, tokenizer.pad_token_id or 0)
    facts = job.prepared(plan, model, train_set, validation_set, truncated, probes, packing=packer is not None)
    callback = StudioCallback(job.run_dir, plan.total_steps, tokenizer, probes, config,
                              expected=probe_references(config, shape, validation_rows))
    trainer = make_trainer_class()(
        model=model,
        args=training_arguments(config, job.run_dir, plan.total_steps, has_validation=bool(validation_set)),
        train_dataset=train_set,
        eval_dataset=validation_set or None,
        data_collator=packer or DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORED_LABEL),
        processing_class=tokenizer,
        callbacks=[callback],
    )
    # Our callback prints one readable line per log; the Trainer's own printer would repeat it as a dict.
    trainer.remove_callback(PrinterCallback)
    return fit(job, trainer, callback, save=lambda: save_result(model, tokenizer, config, job.run_dir), facts=facts)


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

        def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
            # The Trainer's evaluation asks for the outputs too, so it would project every position onto the
            # vocabulary (for a batch of eight rows, half a gigabyte of fp32 logits) only to keep the loss. The
            # validation loss is the language model's alone: AdaLoRA's regularisation would make it 1.4 higher
            # than LoRA's on the same answers (embedded model), and the comparison of methods reads it.
            if not prediction_loss_only or not accepts_logits_mask(model, own_loss=False):
                return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)
            inputs = self._prepare_inputs(inputs)
            with torch.no_grad(), self.compute_loss_context_manager():
                count = self._get_num_items_in_batch([inputs], self.args.device)
                loss = trained_token_loss(model, model_inputs(inputs), count)
            return loss.detach(), None, None

    return StudioTrainer


def trained_token_loss(model, inputs: dict, num_items_in_batch=None) -> torch.Tensor:
    """Causal LM loss equal to the model's own, computing logits only before trained labels."""
    labels = inputs["labels"]
    targets = labels[:, 1:]
    keep = positions_before(targets != IGNORED_LABEL)
    if not keep.any():
        # A batch with nothing to learn still needs a graph for the backward pass.
        keep[:, 0] = True
    logits = model(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"),
                   position_ids=inputs.get("position_ids"), use_cache=inputs.get("use_cache"),
                   logits_to_keep=keep).logits
    loss = torch.nn.functional.cross_entropy(logits.float(), targets[keep[:, :-1]], ignore_index=IGNORED_LABEL, reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else (targets != IGNORED_LABEL).sum()
    return loss / torch.clamp(torch.as_tensor(count, device=loss.device), min=1)

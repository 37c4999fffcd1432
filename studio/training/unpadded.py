"""Padded batches scored as one packed row, under the trainers that pad.

TRL's preference, KTO and GRPO trainers and its reward trainer pad each batch to its longest sequence: padding
was 39% of a batch of eight concise-vs-rambling pairs (chosen answers of ~30 tokens beside rejected ones of
~160). Where per-example attention keeps packing exact (a CPU, `packing.use_packed_attention`), the model's
forward is wrapped so that such a batch runs as its real tokens laid end to end, each sequence attending alone
from position 0, and what the trainer reads comes back in the padded layout it expects: the same numbers
(within float error), none of the padding's work. A batch of another form passes through unchanged.
"""

from __future__ import annotations

import dataclasses
import functools

import torch

from studio.methods import inner_model, is_prompt_learning, score_heads
from studio.tokens import IGNORED_LABEL
from studio.training.packing import packed_attention_if_exact, use_packed_attention

PER_TOKEN_OUTPUTS = ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1", "label_mask")


def unpad_scored_batches(model) -> bool:
    """Score padded batches as one packed row: `model(input_ids, attention_mask, labels=..., fused_lm_head=True)`,
    TRL's fused LM head (per-token log-probabilities instead of logits), which its preference and GRPO trainers
    call on batches padded to the longest sequence, then runs on the batch's real tokens laid end to end, each
    sequence attending alone from position 0, and gives back every per-token output in the padded layout. Padding
    was 39% of a batch of eight concise-vs-rambling pairs. A row's real tokens must be one block (padding on the
    right as DPO has it, or on both sides as GRPO's prompt + answer has it); positions restart at the block, which
    rotary embeddings do not tell from the padded row's (they see offsets only). True when installed: where
    per-example attention keeps packing exact (a CPU; see use_packed_attention); elsewhere nothing changes."""
    inner = inner_model(model)
    if not packed_attention_if_exact(model):
        return False
    fused = inner.forward

    @functools.wraps(fused)
    def forward(*args, fused_lm_head=False, input_ids=None, attention_mask=None, labels=None, **kwargs):
        blocks = None if args or input_ids is None or labels is None or kwargs.get("position_ids") is not None \
            else _token_blocks(attention_mask)
        if not fused_lm_head or blocks is None:
            return fused(*args, fused_lm_head=fused_lm_head, input_ids=input_ids, attention_mask=attention_mask,
                         labels=labels, **kwargs)
        real = attention_mask.bool()
        first, lengths, starts, positions = blocks
        packed_labels = labels[real].clone()
        packed_labels[starts] = IGNORED_LABEL  # a sequence's first token follows another sequence's last
        columns = torch.arange(real.shape[1], device=real.device)
        outputs = fused(input_ids=input_ids[real][None], position_ids=positions[None], labels=packed_labels[None],
                        fused_lm_head=True, **kwargs)
        # Back to the padded layout: the prediction of row b's token j + 1 sits at packed position
        # starts[b] + j - first[b].
        predicted = real[:, :-1] & real[:, 1:]
        index = (starts[:, None] - first[:, None] + columns[:-1])[predicted]
        values = {field.name: getattr(outputs, field.name) for field in dataclasses.fields(outputs)}
        for name in PER_TOKEN_OUTPUTS:
            if values.get(name) is not None:
                values[name] = values[name].new_zeros(predicted.shape).masked_scatter(predicted, values[name][0, index])
        return type(outputs)(**values)

    inner.forward = forward
    return True


def unpad_trainer_batches(trainer) -> bool:
    """unpad_scored_batches on a TRL trainer's model (DPO, ORPO, KTO, GRPO) and on its frozen reference copy, if
    it has one: True where the model was switched."""
    reference = getattr(trainer, "ref_model", None)
    if reference is not None:
        unpad_scored_batches(reference)
    return unpad_scored_batches(trainer.accelerator.unwrap_model(trainer.model))


def _token_blocks(mask) -> tuple[torch.Tensor, ...] | None:
    """Where a 2-D mask marks one block of real tokens a row, the packed layout of those blocks: (first column,
    length, start in the packed row) of each row, and the packed row's positions (restarting at every block);
    None for any other mask."""
    if mask is None or mask.dim() != 2 or mask.shape[1] < 2:
        return None
    real = mask.bool()
    lengths = real.sum(1)
    first = real.int().argmax(1)
    columns = torch.arange(mask.shape[1], device=mask.device)
    block = (columns >= first[:, None]) & (columns < (first + lengths)[:, None])
    if not (bool(lengths.min() > 0) and torch.equal(real, block)):
        return None
    return first, lengths, torch.cumsum(lengths, 0) - lengths, (columns - first[:, None]).expand_as(real)[real]


def unpad_classified_batches(model) -> bool:
    """The same for a sequence classifier (a reward model: a score head reading one token of each sequence, the
    rightmost that is not padding), whose trainer (TRL's RewardTrainer) calls `model(input_ids, attention_mask)`
    on padded pairs and reads `logits`, one row per sequence. The backbone runs on the packed row and the head on
    the token the model's own forward would read. True when installed, after a check that a padded batch scores
    as the model scores it; otherwise nothing changes."""
    inner = inner_model(model)
    heads = score_heads(inner)
    pad = inner.config.get_text_config().pad_token_id
    if len(heads) != 1 or pad is None or is_prompt_learning(model) or not use_packed_attention(model):
        return False
    own = inner.forward

    @functools.wraps(own)
    def forward(*args, input_ids=None, attention_mask=None, **kwargs):
        unusual = args or input_ids is None or any(kwargs.get(key) is not None for key in UNPACKED_INPUTS)
        blocks = None if unusual else _token_blocks(attention_mask)
        if blocks is not None:
            first, lengths, starts, positions = blocks
            columns = torch.arange(input_ids.shape[1], device=input_ids.device)
            read = (columns * (input_ids != pad)).argmax(-1)  # the model's own rule: the rightmost non-pad token
            if bool(((read >= first) & (read < first + lengths)).all()):
                return _classified(inner, heads[0], input_ids[attention_mask.bool()], positions, starts + read - first,
                                   kwargs)
        return own(*args, input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    inner.forward = forward
    if _scores_as_padded(model, own, pad):
        return True
    inner.forward = own
    inner.set_attn_implementation("sdpa")
    return False


UNPACKED_INPUTS = ("labels", "position_ids", "inputs_embeds", "past_key_values")


def _classified(inner, head: str, packed_ids, positions, read, kwargs):
    """The backbone on the packed row, the score head on the tokens `read` (packed positions), one per sequence."""
    from transformers.modeling_outputs import SequenceClassifierOutputWithPast

    kwargs = {key: value for key, value in kwargs.items() if value is not None and key not in ("use_cache", "return_dict")}
    hidden = getattr(inner, inner.base_model_prefix)(input_ids=packed_ids[None], position_ids=positions[None],
                                                     use_cache=False, **kwargs).last_hidden_state
    return SequenceClassifierOutputWithPast(logits=getattr(inner, head)(hidden[0, read]))


@torch.no_grad()
def _scores_as_padded(model, own, pad: int, tolerance: float = 1e-3) -> bool:
    """True when a right-padded batch of two sequences scores through the wrapped forward as through `own`."""
    device = next(model.parameters()).device
    vocabulary = min(model.config.get_text_config().vocab_size, 1000)
    ids = torch.randint(3, vocabulary, (2, 7), generator=torch.Generator().manual_seed(0))
    ids[ids == pad] = 3 if pad != 3 else 4
    mask = torch.ones_like(ids)
    ids[1, 5:], mask[1, 5:] = pad, 0
    was_training = model.training
    model.eval()
    try:
        expected = own(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        packed = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
    except (TypeError, ValueError, RuntimeError):
        return False
    finally:
        model.train(was_training)
    scale = expected.abs().max().clamp(min=1.0)
    return packed.shape == expected.shape and bool(((packed - expected).abs().max() / scale) < tolerance)

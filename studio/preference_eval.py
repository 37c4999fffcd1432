"""Before/after evaluation on held-out preference pairs: which answer the model finds likelier, DPO's implicit
reward against the base, and the length of its own greedy answers beside the chosen and rejected ones.

    python -m studio eval --adapter runs/dpo --dataset presets/samples/concise-preference-test.jsonl
"""

from __future__ import annotations

import torch

from studio import tokens
from studio.evaluate import kept_logits, positions_before
from studio.messages import preference_parts

ANSWER_TOKENS = 200  # longest greedy answer when comparing answer lengths


def pair_metrics(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> dict:
    """Preference accuracy (share of pairs whose chosen answer earns the higher reward) and mean reward margin."""
    return {"preference_accuracy": float((chosen_rewards > rejected_rewards).float().mean()),
            "reward_margin": float((chosen_rewards - rejected_rewards).mean())}


@torch.no_grad()
def answer_log_probs(model, examples: list[dict], pad_token_id: int, batch_size: int = 4) -> torch.Tensor:
    """Per pair: [chosen sum, rejected sum, chosen tokens, rejected tokens] of the answers' log-probabilities."""
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    collate = DataCollatorForPreference(pad_token_id=pad_token_id)
    device = next(model.parameters()).device
    rows = []
    for start in range(0, len(examples), batch_size):
        batch = {key: value.to(device) for key, value in collate(examples[start:start + batch_size]).items()}
        mask = batch["completion_mask"][:, 1:].bool()
        logits = kept_logits(model, batch["input_ids"], batch["attention_mask"], positions_before(mask)).float()
        answer_token = logits.log_softmax(-1).gather(1, batch["input_ids"][:, 1:][mask].unsqueeze(1)).squeeze(1)
        per_token = torch.zeros(mask.shape, dtype=answer_token.dtype, device=answer_token.device)
        per_token[mask] = answer_token
        sums, counts = per_token.sum(1), mask.sum(1).float()
        chosen_sums, rejected_sums = sums.chunk(2)
        chosen_counts, rejected_counts = counts.chunk(2)
        rows.append(torch.stack([chosen_sums, rejected_sums, chosen_counts, rejected_counts], dim=1).cpu())
    return torch.cat(rows)


def likelihood_accuracy(log_probs: torch.Tensor) -> float:
    """Share of pairs whose chosen answer has the higher mean per-token log-probability."""
    return round(float((log_probs[:, 0] / log_probs[:, 2] > log_probs[:, 1] / log_probs[:, 3]).float().mean()), 4)


def evaluate_pairs(model, tokenizer, rows: list[dict], beta: float = 0.1, cutoff_length: int = 1024,
                   answers: bool = True, max_new_tokens: int | None = None) -> dict:
    """Held-out pairs scored three ways, comparable before and after tuning:

    - likelihood_accuracy: share of pairs where the model gives the chosen answer the higher mean
      per-token log-probability (its own preference, no reference needed), and for a model with an adapter the
      base's (the adapter switched off) as base_likelihood_accuracy: before and after in one call;
    - preference_accuracy and reward_margin: DPO's implicit reward beta * log(model / reference), the
      reference being the base model with the adapter switched off (None for a model without adapter);
    - with `answers`, the greedy answers to the prompts and their mean length in words, beside the
      mean lengths of the chosen and the rejected answers.
    """
    if not rows:
        raise ValueError("No rows to evaluate.")
    examples, _ = tokens.tokenize_pairs(rows, tokenizer, cutoff_length)
    policy = answer_log_probs(model, examples, tokenizer.pad_token_id)
    result = {"rows": len(examples), "likelihood_accuracy": likelihood_accuracy(policy)}
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            reference = answer_log_probs(model, examples, tokenizer.pad_token_id)
        result["base_likelihood_accuracy"] = likelihood_accuracy(reference)
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

    parts = [preference_parts(row) for row in rows]
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

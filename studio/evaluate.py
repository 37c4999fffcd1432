"""Metrics for before/after evaluation: exact match, BLEU-4, ROUGE-1/2/L and perplexity.

    python -m studio eval --adapter runs/demo --dataset test.jsonl

Text metrics compare the greedy answer with the reference answer of each held-out row: exact match
(0–1, ignoring case, spaces and punctuation) and BLEU-4 and ROUGE-1/2/L (0–100, computed as
LLaMA-Factory's predict computes them: see studio/metrics.py). Perplexity is measured on the reference
answers themselves (lower = the model finds them likelier).
"""

from __future__ import annotations

import math
import re
import string
import unicodedata

import torch

from studio import tokens
from studio.messages import to_messages
from studio.methods import inner_model, is_prompt_learning
from studio.metrics import ANSWER_METRICS, similarity
from studio.tokens import IGNORED_LABEL

_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\s\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_PUNCTUATION = set(string.punctuation) | {"。", "，", "！", "？", "：", "；", "、", "“", "”", "（", "）"}


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().strip()
    return "".join(char for char in text if char not in _PUNCTUATION).strip()


def words(text: str) -> list[str]:
    return _WORD.findall(normalize(text))


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize(prediction) == normalize(reference))


def rouge_l(prediction: str, reference: str) -> float:
    """F-measure of the longest common subsequence of normalized words, Chinese by character (0–1): the
    general-knowledge check's similarity of two answers. The ROUGE-L reported with the metrics is
    studio.metrics' (jieba words, as LLaMA-Factory reports it)."""
    predicted, expected = words(prediction), words(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    previous = [0] * (len(expected) + 1)
    for word in predicted:
        current = [0]
        for index, other in enumerate(expected):
            current.append(previous[index] + 1 if word == other else max(previous[index + 1], current[-1]))
        previous = current
    longest = previous[-1]
    if longest == 0:
        return 0.0
    precision, recall = longest / len(predicted), longest / len(expected)
    return 2 * precision * recall / (precision + recall)


def split_prompt(row: dict, shape: str) -> tuple[list[dict], str]:
    """(the conversation up to the last answer, that answer) for one held-out row."""
    messages = to_messages(row, shape)
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError("Evaluation rows must end with an answer to compare against.")
    return messages[:-1], messages[-1]["content"]


def accepts_logits_mask(model, own_loss: bool = True) -> bool:
    """True for models that take a boolean `logits_to_keep` (prompt methods shift positions) and, with `own_loss`,
    whose own loss is the language-model loss alone: AdaLoRA adds its orthogonal regularisation to it, which
    training must minimise; an evaluation's loss is the language model's alone (`own_loss=False`)."""
    import inspect

    if is_prompt_learning(model) or own_loss and any(
            config.peft_type == "ADALORA" for config in (getattr(model, "peft_config", None) or {}).values()):
        return False
    inner = inner_model(model)
    return "logits_to_keep" in inspect.signature(inner.forward).parameters


def positions_before(targets: torch.Tensor) -> torch.Tensor:
    """The positions whose logits predict the marked tokens: `targets` marks tokens 1.. of each row (batch ×
    length-1); the result is a batch × length mask for `kept_logits`."""
    keep = torch.zeros(targets.shape[0], targets.shape[1] + 1, dtype=torch.bool, device=targets.device)
    keep[:, :-1] = targets
    return keep


def kept_logits(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The logits at the positions `keep` (a boolean batch × length mask) marks, one row each: (kept, vocabulary).

    Scores need the vocabulary only where an answer token is predicted; projecting every prompt position onto it
    (49k columns for the embedded model, 152k for Qwen) is most of the memory of a batch and a fifth of its work.
    Models that take a boolean `logits_to_keep` project only those positions; the others (prompt methods, whose
    virtual tokens come first in the logits, and AdaLoRA) project all and keep the same rows."""
    if accepts_logits_mask(model):
        return model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=keep).logits
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    return logits[:, -input_ids.shape[1]:][keep]


@torch.no_grad()
def perplexity(model, tokenizer, rows: list[dict], shape: str, cutoff_length: int = 1024, batch_size: int = 8) -> float:
    """exp(mean loss) over the answer tokens only, as the training loss counts them."""
    from transformers import DataCollatorForSeq2Seq

    examples, _ = tokens.tokenize_sft(rows, shape, tokenizer, cutoff_length)
    collate = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORED_LABEL)
    device = next(model.parameters()).device
    total_loss, total_tokens = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = collate(examples[start:start + batch_size]).to(device)
        targets = batch["labels"][:, 1:]
        keep = positions_before(targets != IGNORED_LABEL)
        if not keep.any():
            continue
        logits = kept_logits(model, batch["input_ids"], batch["attention_mask"], keep)
        total_loss += torch.nn.functional.cross_entropy(logits.float(), targets[keep[:, :-1]], reduction="sum").item()
        total_tokens += int(keep.sum())
    return math.exp(total_loss / total_tokens) if total_tokens else float("nan")


def evaluation_prompts(tokenizer, rows: list[dict], shape: str, max_new_tokens: int | None = None) -> tuple[list, list, int]:
    """(conversations up to each answer, reference answers, max new tokens) of held-out rows."""
    if shape not in ("instruction", "chat"):
        raise ValueError(f"Evaluation needs instruction or chat rows, not {shape}.")
    if not rows:
        raise ValueError("No rows to evaluate.")
    prompts, references = zip(*(split_prompt(row, shape) for row in rows))
    if max_new_tokens is None:
        # Answers much longer than the longest reference cannot match it; don't pay for them.
        longest = max(len(tokenizer(reference, add_special_tokens=False)["input_ids"]) for reference in references)
        max_new_tokens = min(256, longest + 16)
    return list(prompts), list(references), max_new_tokens


def answer_rows(model, tokenizer, prompts: list, references: list, max_new_tokens: int, batch_size: int = 8) -> list[dict]:
    """Greedy answers to these prompts, each scored against its reference (a part of the rows at a time,
    so a caller can show progress)."""
    from studio.generate import generate_batch

    predictions = generate_batch(model, tokenizer, list(prompts), max_new_tokens, batch_size)
    return [
        {"prompt": prompt[-1]["content"], "reference": reference, "prediction": prediction,
         "exact_match": exact_match(prediction, reference), **similarity(prediction, reference)}
        for prompt, reference, prediction in zip(prompts, references, predictions)
    ]


def summarize(details: list[dict], perplexity_value: float, max_new_tokens: int) -> dict:
    """The metrics over every row (means), with the per-row details."""
    totals = {key: round(sum(row[key] for row in details) / len(details), 4) for key in ANSWER_METRICS}
    return {"rows": len(details), **totals, "perplexity": round(perplexity_value, 4), "max_new_tokens": max_new_tokens,
            "details": details}


def evaluate_rows(model, tokenizer, rows: list[dict], shape: str, max_new_tokens: int | None = None,
                  batch_size: int = 8) -> dict:
    """Greedy answers to held-out rows and the metrics over them (per row and in total)."""
    prompts, references, max_new_tokens = evaluation_prompts(tokenizer, rows, shape, max_new_tokens)
    details = answer_rows(model, tokenizer, prompts, references, max_new_tokens, batch_size)
    return summarize(details, perplexity(model, tokenizer, rows, shape), max_new_tokens)

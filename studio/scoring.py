"""Scoring answers with a finished reward model (a run of stage rm, see studio.training.reward).

    is_reward_run("runs/rm")                                                    # True for a run of stage rm
    score_answers("runs/rm", [[{"role": "user", "content": "Hi"}]], ["Hello!"])  # -> [1.73]

A score is the reward model's one output for the prompt and the answer rendered through the run's chat template,
cut at its cutoff_length, exactly as training rendered a prompt and its chosen answer: higher is preferred. The
scale is the run's own (only differences between answers to one prompt were trained). The model loads once and
stays in a small cache, like studio.generate.cached_model; a run trained again into its folder loads afresh.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from pathlib import Path

import torch

from studio import runs
from studio.messages import preference_parts
from studio.tokens import NO_CHAT_TEMPLATE

MODEL_CACHE_SIZE = 2
_models: OrderedDict = OrderedDict()
_models_lock = threading.Lock()  # held while one model loads: reward models are small, and callers few


def is_reward_run(run_dir: str | Path) -> bool:
    """True for a run folder whose config.yaml says stage rm (finished or not)."""
    run_dir = Path(run_dir)
    return runs.is_run(run_dir) and runs.read_settings(run_dir).get("stage") == "rm"


def reward_weights(run: str | Path) -> tuple[str, Path]:
    """('adapter' | 'model', folder) of a finished reward-model run; ValueError saying what to pick otherwise."""
    run = Path(run)
    if not is_reward_run(run):
        raise ValueError(f"{run.name} is not a reward-model run; pick a finished run trained with stage rm.")
    status = runs.read_summary(run).get("status") or "running"
    if status != "finished":
        raise ValueError(f"The reward model {run.name} has not finished ({status}); pick a finished run of stage rm.")
    return runs.trained_weights(run)


def load_reward_run(run: str | Path):
    """(model, tokenizer, cutoff_length) of a finished reward-model run, in eval mode."""
    from studio.models import load_reward_model, load_tokenizer

    kind, folder = reward_weights(run)
    config = runs.load_run_config(Path(run))
    if kind == runs.MODEL:
        model, _ = load_reward_model(str(folder))
    else:
        from peft import PeftModel

        model, _ = load_reward_model(config.base_model)
        model = PeftModel.from_pretrained(model, str(folder))
    tokenizer = load_tokenizer(folder)  # the run's own: it carries any chat template override it trained with
    model.config.get_text_config().pad_token_id = tokenizer.pad_token_id
    model.eval()
    return model, tokenizer, config.cutoff_length


def cached_reward_run(run: str | Path):
    """load_reward_run from a small cache keyed by the run folder and the time its weights were written."""
    _, weights = reward_weights(run)
    key = (str(Path(run).resolve()), max((item.stat().st_mtime for item in weights.iterdir()), default=0))
    with _models_lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
        _models[key] = load_reward_run(run)
        evicted = [_models.popitem(last=False) for _ in range(len(_models) - MODEL_CACHE_SIZE)]
        if evicted:  # a dropped model's reference cycles hold its weights until a collection (as in generate)
            evicted.clear()
            gc.collect()
        return _models[key]


def scored_ids(tokenizer, prompt: list[dict] | str, answer: str, cutoff_length: int) -> list[int]:
    """The tokens the reward model reads for one answer: prompt + answer through the chat template, cut at the
    run's cutoff_length, as studio.tokens.tokenize_pairs renders a prompt and its chosen answer for training."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(NO_CHAT_TEMPLATE)
    messages, answer, _ = preference_parts({"prompt": prompt, "chosen": answer, "rejected": ""})
    ids = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": answer}], tokenize=True,
                                        return_dict=False)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)[:cutoff_length]


def score_answers(run: str | Path, prompts: list[list[dict]], answers: list[str], batch_size: int = 8) -> list[float]:
    """The reward model's score of each (prompt, answer), in order: prompts are chat messages (the user's turns,
    maybe a system turn), answers the assistant's text. `run` is a finished rm run's folder."""
    if len(prompts) != len(answers):
        raise ValueError(f"{len(prompts)} prompts but {len(answers)} answers; give one prompt per answer.")
    model, tokenizer, cutoff_length = cached_reward_run(run)
    sequences = [scored_ids(tokenizer, prompt, answer, cutoff_length) for prompt, answer in zip(prompts, answers)]
    # Batches of similar lengths pad little; the score is read at each sequence's own last token either way.
    order = sorted(range(len(sequences)), key=lambda index: len(sequences[index]))
    scores = [0.0] * len(sequences)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id
    with torch.no_grad():
        for start in range(0, len(order), max(1, batch_size)):
            batch = [sequences[index] for index in order[start:start + max(1, batch_size)]]
            longest = max(len(ids) for ids in batch)
            input_ids = torch.tensor([ids + [pad] * (longest - len(ids)) for ids in batch], device=device)
            mask = torch.tensor([[1] * len(ids) + [0] * (longest - len(ids)) for ids in batch], device=device)
            values = model(input_ids=input_ids, attention_mask=mask).logits[:, 0].float().tolist()
            for index, value in zip(order[start:start + len(batch)], values):
                scores[index] = value
    return scores

"""Scoring answers with a finished reward model: the tokens training read, batching, the cache, and refusals."""

from __future__ import annotations

import pytest

from studio import runs, scoring, tokens
from studio.models import load_tokenizer
from studio.scoring import is_reward_run, score_answers, scored_ids
from tests.conftest import PAIRS

PROMPTS = [[{"role": "user", "content": prompt}] for prompt, _, _ in PAIRS]
CHOSEN = [chosen for _, chosen, _ in PAIRS]
REJECTED = [rejected for _, _, rejected in PAIRS]


def test_an_answer_is_scored_on_the_tokens_training_read(reward_run):
    tokenizer = load_tokenizer(reward_run / "adapter")
    cut = 0
    for prompt, (text, chosen, rejected) in zip(PROMPTS, PAIRS):
        row = {"prompt": text, "chosen": chosen, "rejected": rejected}
        whole = tokens.tokenize_pairs([row], tokenizer, 64)[0][0]
        # Whole, and with the longer (rejected) answer cut short as training cut it.
        for cutoff in (64, len(whole["prompt_ids"]) + len(whole["chosen_ids"])):
            examples, truncated = tokens.tokenize_pairs([row], tokenizer, cutoff)
            cut += truncated
            example = examples[0]
            assert scored_ids(tokenizer, prompt, chosen, cutoff) == example["prompt_ids"] + example["chosen_ids"]
            assert scored_ids(tokenizer, text, rejected, cutoff) == example["prompt_ids"] + example["rejected_ids"]
    assert cut == 3
    system = [{"role": "system", "content": "Be brief."}, *PROMPTS[0]]
    assert tokenizer.decode(scored_ids(tokenizer, system, "ok", 64)).startswith("<|im_start|>system\nBe brief.")


def test_scores_keep_their_order_whatever_the_batch(reward_run):
    prompts, answers = PROMPTS * 2, CHOSEN + REJECTED
    scores = score_answers(reward_run, prompts, answers)
    assert len(scores) == 6 and all(isinstance(score, float) for score in scores)
    assert all(chosen > rejected for chosen, rejected in zip(scores[:3], scores[3:]))  # it learned the pairs
    assert score_answers(reward_run, prompts, answers, batch_size=1) == pytest.approx(scores, abs=1e-4)
    assert score_answers(reward_run, prompts[::-1], answers[::-1], batch_size=4) == pytest.approx(scores[::-1], abs=1e-4)
    assert score_answers(reward_run, [], []) == []


def test_the_model_loads_once(reward_run, monkeypatch):
    loads = []
    original = scoring.load_reward_run
    monkeypatch.setattr(scoring, "load_reward_run", lambda run: loads.append(run) or original(run))
    scoring._models.clear()
    first = score_answers(reward_run, PROMPTS[:1], CHOSEN[:1])
    assert score_answers(str(reward_run), PROMPTS[:1], CHOSEN[:1]) == first
    assert len(loads) == 1
    model, _, _ = scoring.cached_reward_run(reward_run)
    assert not model.training


def test_only_a_finished_reward_model_scores(reward_run, trained_run, tmp_path):
    assert is_reward_run(reward_run) and not is_reward_run(trained_run) and not is_reward_run(tmp_path)
    with pytest.raises(ValueError, match="tiny-lora is not a reward-model run; pick a finished run trained with stage rm"):
        score_answers(trained_run, PROMPTS[:1], CHOSEN[:1])
    unfinished = tmp_path / "rm-running"
    unfinished.mkdir()
    runs.write_config(unfinished, runs.load_run_config(reward_run))
    assert is_reward_run(unfinished)
    with pytest.raises(ValueError, match="has not finished .*pick a finished run of stage rm"):
        score_answers(unfinished, PROMPTS[:1], CHOSEN[:1])
    with pytest.raises(ValueError, match="2 prompts but 1 answers"):
        score_answers(reward_run, PROMPTS[:2], CHOSEN[:1])

"""Held-out preference pairs scored before and after tuning (studio.preference_eval), and the eval command on them."""

from __future__ import annotations

import json

from studio import data
from studio.preference_eval import evaluate_pairs
from studio.training import run_training
from tests.conftest import pair_config


def test_evaluate_pairs_scores_before_and_after(tiny_model_dir, tiny_pairs_file, tmp_path, workspace):
    from studio.generate import load_for_chat

    rows = data.load_dataset(tiny_pairs_file).rows[:3]
    base, tokenizer = load_for_chat(str(tiny_model_dir))
    before = evaluate_pairs(base, tokenizer, rows, max_new_tokens=3)
    assert before["preference_accuracy"] is None and 0 <= before["likelihood_accuracy"] <= 1
    assert before["mean_chosen_words"] < before["mean_rejected_words"] and len(before["details"]) == 3
    run_training(pair_config(tiny_model_dir, tiny_pairs_file, tmp_path / "dpo", eval_steps=0))
    tuned, tokenizer = load_for_chat(None, tmp_path / "dpo")
    after = evaluate_pairs(tuned, tokenizer, rows, answers=False)
    assert 0 <= after["preference_accuracy"] <= 1 and "mean_answer_words" not in after
    assert after["base_likelihood_accuracy"] == before["likelihood_accuracy"]  # the adapter switched off is the base
    assert json.loads(json.dumps(after)) == after  # the CLI prints it as JSON


def test_the_eval_command_scores_preference_pairs(tiny_model_dir, tiny_pairs_file, capsys, workspace):
    from studio.__main__ import main

    assert main(["eval", "--base", str(tiny_model_dir), "--dataset", str(tiny_pairs_file), "--limit", "3",
                 "--max-new-tokens", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rows"] == 3 and "likelihood_accuracy" in result and "details" not in result


def test_answer_log_probs_project_only_the_answers_and_equal_the_full_projection(tiny_model_dir, tiny_pairs_file,
                                                                                 monkeypatch):
    """The answers' log-probabilities from the answer positions alone equal those from every position's logits."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio import tokens
    from studio.preference_eval import answer_log_probs
    from studio import evaluate

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples, _ = tokens.tokenize_pairs(data.load_dataset(tiny_pairs_file).rows[:5], tokenizer, 1024)
    with torch.no_grad():
        kept = answer_log_probs(model, examples, tokenizer.pad_token_id)
        monkeypatch.setattr(evaluate, "accepts_logits_mask", lambda model: False)
        full = answer_log_probs(model, examples, tokenizer.pad_token_id)
    assert kept.shape == (5, 4) and torch.allclose(kept, full, atol=1e-4)
    assert (kept[:, 2:] > 0).all() and (kept[:, :2] < 0).all()

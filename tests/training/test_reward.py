"""The reward model (stage rm) on the tiny model: it learns, logs the pair metrics, saves a folder plain
transformers and PEFT load with the same scores, resumes, and refuses the methods that cannot train it."""

from __future__ import annotations

import json

import pytest
import torch

from studio.events import follow, read_events, reward_events
from studio.preflight import check_run
from studio.scoring import score_answers
from studio.training import run_training
from studio.training.estimate import estimate
from tests.conftest import PAIRS, pair_config

PROMPTS = [[{"role": "user", "content": prompt}] for prompt, _, _ in PAIRS]
CHOSEN = [chosen for _, chosen, _ in PAIRS]
REJECTED = [rejected for _, _, rejected in PAIRS]


def plain_scores(model, tokenizer) -> list[float]:
    """Scores of the chosen and rejected answers, one sequence at a time, through the chat template."""
    scores = []
    for prompt, answer in zip(PROMPTS * 2, CHOSEN + REJECTED):
        ids = tokenizer.apply_chat_template(prompt + [{"role": "assistant", "content": answer}], tokenize=True,
                                            return_dict=True, return_tensors="pt")
        with torch.no_grad():
            scores.append(float(model(**ids).logits[0, 0]))
    return scores


def test_a_reward_model_learns_and_logs_the_pair_metrics(reward_run):
    events = read_events(reward_run)
    losses = [event["loss"] for event in events if "loss" in event]
    assert len(losses) == 8 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses
    prepared = next(event for event in events if event.get("event") == "prepared")
    assert prepared["train_rows"] == 9 and prepared["validation_rows"] == 3 and prepared["probe_prompts"] == []
    evaluations = [event for event in events if "eval_loss" in event]
    assert [event["step"] for event in evaluations] == [4, 8]
    assert all({"preference_accuracy", "reward_margin"} <= set(event) and "probes" not in event for event in evaluations)
    first = next(event for event in events if "loss" in event)
    assert evaluations[-1]["reward_margin"] > first["reward_margin"] + 0.5  # the chosen answers pull ahead
    summary = json.loads((reward_run / "summary.json").read_text())
    assert summary["preference_accuracy"] == evaluations[-1]["preference_accuracy"] == 1.0
    assert summary["reward_margin"] == evaluations[-1]["reward_margin"]
    assert {point["series"] for point in follow(reward_run)["reward_points"]} == {"train", "validation"}
    settings = json.loads((reward_run / "adapter" / "adapter_config.json").read_text())
    assert settings["task_type"] == "SEQ_CLS" and "score" in settings["modules_to_save"]
    from safetensors.torch import load_file

    assert any(name.endswith("score.weight") for name in load_file(reward_run / "adapter" / "adapter_model.safetensors"))


def test_reward_trainer_metrics_keep_the_dpo_names():
    assert reward_events({"accuracy": 0.75, "margin": 1.5, "loss": 0.3}) == {"preference_accuracy": 0.75,
                                                                             "reward_margin": 1.5}
    assert reward_events({"eval_accuracy": 1.0, "eval_margin": 2.0}, prefix="eval_") == {
        "preference_accuracy": 1.0, "reward_margin": 2.0}


def test_the_adapter_loads_with_plain_transformers_and_peft(reward_run, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
    model = PeftModel.from_pretrained(base, str(reward_run / "adapter")).eval()
    tokenizer = AutoTokenizer.from_pretrained(reward_run / "adapter")
    ours = score_answers(reward_run, PROMPTS * 2, CHOSEN + REJECTED)
    assert ours == pytest.approx(plain_scores(model, tokenizer), abs=1e-4)
    assert all(chosen > rejected for chosen, rejected in zip(ours[:3], ours[3:]))


def test_freeze_saves_a_whole_reward_model(tiny_model_dir, tiny_pairs_file, tmp_path, workspace):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    run = tmp_path / "rm-freeze"
    summary = run_training(pair_config(tiny_model_dir, tiny_pairs_file, run, stage="rm", method="freeze",
                                       trainable_layers=1, learning_rate=3e-3))
    assert summary["status"] == "finished" and summary["preference_accuracy"] is not None
    # The top layer and the new score head train; nothing else.
    trainable = next(event for event in read_events(run) if event.get("event") == "prepared")["trainable_parameters"]
    model = AutoModelForSequenceClassification.from_pretrained(run / "model").eval()
    layer = sum(parameter.numel() for parameter in model.model.layers[-1].parameters())
    assert trainable == layer + model.score.weight.numel()
    assert model.config.architectures == ["LlamaForSequenceClassification"] and model.config.num_labels == 1
    tokenizer = AutoTokenizer.from_pretrained(run / "model")
    assert score_answers(run, PROMPTS * 2, CHOSEN + REJECTED) == pytest.approx(plain_scores(model, tokenizer), abs=1e-4)


def test_prefix_tuning_trains_a_reward_model(tiny_model_dir, tiny_pairs_file, tmp_path, workspace):
    run = tmp_path / "rm-prefix"
    summary = run_training(pair_config(tiny_model_dir, tiny_pairs_file, run, stage="rm", method="prefix-tuning",
                                       num_virtual_tokens=4, max_steps=2, eval_steps=0))
    assert summary["status"] == "finished" and summary["preference_accuracy"] is not None
    assert len(score_answers(run, PROMPTS, CHOSEN)) == 3


def test_an_aborted_reward_run_resumes_to_the_end(tiny_model_dir, tiny_pairs_file, tmp_path, workspace, monkeypatch):
    run = tmp_path / "rm"
    run.mkdir()
    (run / "abort").touch()  # as the job manager leaves it for a job it stops; kept because the job is managed
    monkeypatch.setenv("STUDIO_MANAGED_JOB", "1")
    config = pair_config(tiny_model_dir, tiny_pairs_file, run, stage="rm", eval_steps=0, save_steps=1)
    assert run_training(config)["status"] == "aborted"
    (run / "abort").unlink()
    summary = run_training(config, resume=True)
    assert summary["status"] == "finished" and summary["steps"] == 4
    assert [event["step"] for event in read_events(run) if "loss" in event] == [1, 2, 3, 4]
    assert summary["preference_accuracy"] is not None


def test_the_estimate_measures_a_reward_model(tiny_model_dir, tiny_pairs_file, tmp_path, workspace):
    result = estimate(pair_config(tiny_model_dir, tiny_pairs_file, tmp_path / "rm", stage="rm"))
    assert result.trainable > 0 and result.total_steps == 4 and result.seconds_per_step > 0 and result.memory_bytes > 0


@pytest.mark.parametrize("method", ["prompt-tuning", "p-tuning"])
def test_methods_that_cannot_score_are_refused_before_the_run(method, tiny_model_dir, tiny_pairs_file, tmp_path,
                                                              workspace):
    config = pair_config(tiny_model_dir, tiny_pairs_file, tmp_path / "rm", stage="rm", method=method)
    with pytest.raises(ValueError, match=f"{method} cannot train a reward model.*Choose lora"):
        check_run(config)
    with pytest.raises(ValueError, match="cannot train a reward model"):
        run_training(config)
    assert not (tmp_path / "rm").exists()


def test_a_reward_model_goes_on_only_from_a_reward_model(reward_run, trained_run, tiny_model_dir, tiny_pairs_file,
                                                         tmp_path):
    with pytest.raises(ValueError, match="is a sft run; a reward model goes on only from a reward-model run"):
        check_run(pair_config(tiny_model_dir, tiny_pairs_file, tmp_path / "x", stage="rm", start_from=str(trained_run)))
    with pytest.raises(ValueError, match="is a reward model .* stage dpo cannot go on from it"):
        check_run(pair_config(tiny_model_dir, tiny_pairs_file, tmp_path / "x", start_from=str(reward_run)))
    check_run(pair_config(tiny_model_dir, tiny_pairs_file, tmp_path / "x", stage="rm", start_from=str(reward_run)))

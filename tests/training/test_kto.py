"""KTO on the tiny model: the loss weights, the KL pairs, the loss against its formula, the reference, runs end to end."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from studio import tokens
from studio.config import load_config
from studio.events import follow, read_events
from studio.examples import prepare_rows
from studio.training import kto, run_training
from studio.training.common import policy_and_reference
from studio.training.estimate import estimate, sequences
from studio.training.plan import count_tokens, plan_run
from tests.conftest import feedback_config


def kto_trainer(model_dir, dataset, tmp_path, **overrides):
    """A FeedbackTrainer on the tiny model as kto.train builds it, and its examples with their KL pairs."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = feedback_config(model_dir, dataset, tmp_path / "run", validation_split=0.0, **overrides)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    _, rows, _ = prepare_rows(config)
    examples, _, _ = kto.prepare_examples(config, rows, [], tokenizer)
    weights = kto.loss_weights([example["label"] for example in examples])
    model, adapter, reference = policy_and_reference(config, AutoModelForCausalLM.from_pretrained(model_dir),
                                                     config.max_steps, frozen_copy=True)
    trainer = kto.trainer_class()(
        model=model, ref_model=reference, peft_config=adapter, processing_class=tokenizer,
        args=kto.training_arguments(config, Path(config.output_dir), config.max_steps, False, weights),
        train_dataset=Dataset.from_list(examples))
    return trainer, examples


def answer_log_prob_sums(model, input_ids: torch.Tensor, completion_mask: torch.Tensor) -> torch.Tensor:
    """Per row, the summed log-probability of its answer tokens."""
    logits = model(input_ids=input_ids).logits[:, :-1].float()
    per_token = torch.gather(logits.log_softmax(-1), 2, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (per_token * completion_mask[:, 1:]).sum(1)


def test_loss_weights_follow_the_papers_ratio_of_good_to_bad():
    assert kto.loss_weights([True, False] * 5) == (1.0, 1.0)
    assert kto.loss_weights([True] * 4 + [False] * 3) == (1.0, 1.0)  # 4:3 is still within 1:1 to 4:3
    for good, bad in ((1, 10), (3, 7), (10, 1), (9, 2)):
        desirable, undesirable = kto.loss_weights([True] * good + [False] * bad)
        assert min(desirable, undesirable) == 1.0  # only the rarer kind is weighed up
        assert 1.0 <= desirable * good / (undesirable * bad) <= 4 / 3


def test_kl_pairs_rotate_the_answers_within_each_batch():
    examples = [{"prompt_ids": [number], "completion_ids": [10 + number], "label": True} for number in range(5)]
    paired = kto.with_kl_completions(examples, 2)
    assert [example["KL_completion_ids"] for example in paired] == [[11], [10], [13], [12], [14]]
    assert [example["completion_ids"] for example in paired] == [[10 + number] for number in range(5)]


def test_kto_loss_and_rewards_equal_the_formula(tiny_model_dir, tiny_feedback_file, tmp_path, workspace):
    """TRL's loss on our examples: 1 - sigmoid(beta (log ratio - KL)) for a good answer, 1 - sigmoid(beta (KL - log
    ratio)) for a bad one, the KL estimated from each prompt with its neighbour's answer."""
    trainer, examples = kto_trainer(tiny_model_dir, tiny_feedback_file, tmp_path, preference_beta=0.5, batch_size=4)
    model = trainer.model
    torch.manual_seed(1)
    with torch.no_grad():  # a fresh adapter changes nothing; give it weights so policy and reference differ
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    model.eval()
    batch = trainer.data_collator(examples[:4])
    labels = batch["label"]
    assert 0 < int(labels.sum()) < 4  # the batch holds good and bad answers (shuffled with the seed)
    loss = trainer.compute_loss(model, batch)
    with torch.no_grad():
        policy = answer_log_prob_sums(model, batch["input_ids"], batch["completion_mask"])
        policy_kl = answer_log_prob_sums(model, batch["KL_input_ids"], batch["KL_completion_mask"])
        with model.disable_adapter():
            reference = answer_log_prob_sums(model, batch["input_ids"], batch["completion_mask"])
            reference_kl = answer_log_prob_sums(model, batch["KL_input_ids"], batch["KL_completion_mask"])
    kl = (policy_kl - reference_kl).mean().clamp(min=0)
    ratios = policy - reference
    losses = torch.where(labels, 1 - torch.sigmoid(0.5 * (ratios - kl)), 1 - torch.sigmoid(0.5 * (kl - ratios)))
    assert loss.item() == pytest.approx(losses.mean().item(), rel=1e-4, abs=1e-5)
    logged = {key: values[-1] for key, values in trainer._metrics["eval"].items()}
    assert logged["rewards/chosen"] == pytest.approx((0.5 * ratios[labels]).mean().item(), rel=1e-4, abs=1e-5)
    assert logged["rewards/rejected"] == pytest.approx((0.5 * ratios[~labels]).mean().item(), rel=1e-4, abs=1e-5)
    assert logged["kl"] == pytest.approx(kl.item(), rel=1e-4, abs=1e-5)


def test_the_reference_is_the_base_for_adapters_and_a_frozen_copy_for_full(tiny_model_dir, tiny_feedback_file,
                                                                          tmp_path, workspace):
    trainer, _ = kto_trainer(tiny_model_dir, tiny_feedback_file, tmp_path)
    assert trainer.ref_model is None and list(trainer.model.peft_config) == ["default"]
    assert (trainer.args.desirable_weight, trainer.args.undesirable_weight) == (1.0, 1.0)  # 6 good, 6 bad
    assert trainer.args.train_sampling_strategy == "sequential"
    trainer, _ = kto_trainer(tiny_model_dir, tiny_feedback_file, tmp_path, method="full", learning_rate=1e-3)
    assert trainer.ref_model is not None
    assert not any(parameter.requires_grad for parameter in trainer.ref_model.parameters())


def test_a_kto_run_learns_logs_its_rewards_and_saves_a_plain_adapter(tiny_model_dir, tiny_feedback_file, tmp_path,
                                                                     workspace):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run = tmp_path / "kto"
    # 12 rows, 4 held out: 8 to train on, 2 steps a pass at batch 4, three passes over the same batches in order.
    config = feedback_config(tiny_model_dir, tiny_feedback_file, run, validation_split=1 / 3, batch_size=4,
                             max_steps=6, eval_steps=3, save_steps=6, logging_steps=1, warmup_ratio=0.0)
    summary = run_training(config)
    assert summary["status"] == "finished" and summary["steps"] == 6 and summary["trained_tokens"] > 0
    assert all(summary[name] is not None for name in ("reward_margin", "reward_good", "reward_bad", "reference_kl"))
    events = read_events(run)
    prepared = next(event for event in events if event.get("event") == "prepared")
    assert (prepared["train_rows"], prepared["validation_rows"]) == (8, 4)
    assert prepared["good_answers"] + prepared["bad_answers"] == 8 and prepared["desirable_weight"] >= 1
    losses = [event["loss"] for event in events if "loss" in event]
    assert len(losses) == 6 and sum(losses[4:]) < sum(losses[:2])  # the same two batches, two passes later
    step_one = next(event for event in events if "loss" in event)
    first = {name: value for name, value in step_one.items() if name in ("reward_good", "reward_bad")}
    assert first and all(value == pytest.approx(0.0, abs=1e-6) for value in first.values())  # fresh: policy = reference
    evaluations = [event for event in events if "eval_loss" in event]
    assert [event["step"] for event in evaluations] == [3, 6]
    assert evaluations[-1]["reward_margin"] > evaluations[0]["reward_margin"] > 0  # good answers pull ahead of bad
    assert evaluations[-1]["reward_good"] > evaluations[-1]["reward_bad"]
    assert all(len(event["probes"]) == 2 for event in evaluations)
    _, _, validation_rows = prepare_rows(config)
    expected = [row["completion"] if row["label"] else "" for row in validation_rows[:2]]
    assert [probe["expected"] for probe in evaluations[-1]["probes"]] == expected
    assert {point["metric"] for point in follow(run)["reward_points"]} >= {"reward_margin", "reward_good", "reward_bad"}
    adapter = run / "adapter"
    assert (adapter / "adapter_model.safetensors").exists() and not (adapter / "ref").exists()
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(adapter))
    assert any(parameter.abs().sum() > 0 for name, parameter in tuned.named_parameters() if "lora_B" in name)


def test_an_aborted_kto_run_resumes_from_its_checkpoint(tiny_model_dir, tiny_feedback_file, tmp_path, workspace,
                                                        monkeypatch):
    run = tmp_path / "kto"
    run.mkdir()
    (run / "abort").touch()  # as the job manager leaves it for a job it stops; kept because the job is managed
    monkeypatch.setenv("STUDIO_MANAGED_JOB", "1")
    config = feedback_config(tiny_model_dir, tiny_feedback_file, run, max_steps=2, eval_steps=0, logging_steps=1,
                             probe_max_new_tokens=1)
    assert run_training(config)["status"] == "aborted"
    (run / "abort").unlink()
    summary = run_training(config, resume=True)
    assert summary["status"] == "finished" and summary["steps"] == 2 and math.isfinite(summary["train_loss"])
    assert [event["step"] for event in read_events(run) if "loss" in event] == [1, 2]


def test_the_plan_and_the_estimate_cover_kto(tiny_model_dir, tiny_feedback_file, tiny_tokenizer, workspace):
    rows = [{"prompt": "hello how are you", "completion": "i am fine thank you", "label": True}]
    examples, _ = tokens.tokenize_feedback(rows, tiny_tokenizer, 64)
    assert count_tokens(examples) == len(examples[0]["prompt_ids"]) + len(examples[0]["completion_ids"])
    assert sequences(examples)[0]["input_ids"] == examples[0]["prompt_ids"] + examples[0]["completion_ids"]
    config = feedback_config(tiny_model_dir, tiny_feedback_file, "unused", max_steps=0, epochs=2)
    assert plan_run(config).total_steps == 10  # 9 rows to train on, in batches of 2, twice
    result = estimate(config)
    assert result.total_steps == 10 and 0 < result.trainable < result.total and result.seconds_per_step > 0


def test_pairs_batches_of_one_and_the_preset(tiny_model_dir, tiny_pairs_file, tiny_feedback_file, tmp_path, workspace):
    with pytest.raises(ValueError, match=r"Stage 'kto' needs feedback rows \(a prompt and one answer with a label"):
        prepare_rows(feedback_config(tiny_model_dir, tiny_pairs_file, tmp_path / "x"))
    with pytest.raises(ValueError, match="KTO needs batch_size 2 or more"):
        run_training(feedback_config(tiny_model_dir, tiny_feedback_file, tmp_path / "one", batch_size=1))
    config = load_config("cpu-kto", {"dataset": str(tiny_feedback_file)}).validate()
    assert config.stage == "kto" and config.method == "lora" and config.batch_size >= 2

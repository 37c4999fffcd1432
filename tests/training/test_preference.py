"""Preference tuning on the tiny model: tokenising pairs, the DPO and ORPO losses, the reference, runs end to end."""

from __future__ import annotations

import gc
import json
import math
from pathlib import Path

import pytest
import torch

from studio import data, editing, preference, tokens
from studio.config import RunConfig, load_config
from studio.events import read_events
from studio.train import prepare_rows, run_training
from tests.conftest import FIXTURES, write_jsonl

PAIRS = [
    ("what is the colour of the sky", "the sky is blue", "the sky is blue and the dog ate the bone and the cat sat on the mat"),
    ("hello how are you", "i am fine thank you", "one two three four five six seven eight nine ten i am fine thank you"),
    ("classify the review as positive or negative", "positive", "the quick brown fox jumps over the lazy dog positive"),
]


@pytest.fixture
def tiny_pairs_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": prompt, "chosen": chosen, "rejected": rejected}
                                                  for prompt, chosen, rejected in PAIRS * 4])


def tiny_config(model_dir, dataset, output, **overrides) -> RunConfig:
    values = dict(base_model=str(model_dir), dataset=str(dataset), output_dir=str(output), stage="dpo", max_steps=4,
                  batch_size=2, learning_rate=1e-2, validation_split=0.25, eval_steps=2, save_steps=2,
                  cutoff_length=64, probe_max_new_tokens=2, lora_dropout=0.0)
    values.update(overrides)
    return RunConfig(**values)


def dpo_trainer(model_dir, dataset, tmp_path, **overrides):
    """A PreferenceTrainer on the tiny model as train_pairs builds it, and its tokenised pairs."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = tiny_config(model_dir, dataset, tmp_path / "run", **overrides)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    _, rows, _ = prepare_rows(config)
    examples, _ = tokens.tokenize_pairs(rows, tokenizer, config.cutoff_length)
    model, adapter, reference = preference.policy_and_reference(
        config, AutoModelForCausalLM.from_pretrained(model_dir), config.max_steps)
    trainer = preference.trainer_class(config.stage)(
        model=model, ref_model=reference, peft_config=adapter, processing_class=tokenizer,
        args=preference.training_arguments(config, Path(config.output_dir), config.max_steps, False, False),
        train_dataset=Dataset.from_list(examples))
    return trainer, examples


def test_pairs_are_tokenised_through_the_chat_template(tiny_tokenizer):
    rows = [{"prompt": prompt, "chosen": chosen, "rejected": rejected} for prompt, chosen, rejected in PAIRS]
    examples, truncated = tokens.tokenize_pairs(rows, tiny_tokenizer, cutoff_length=256)
    assert truncated == 0 and len(examples) == 3
    end = tiny_tokenizer.convert_tokens_to_ids("<|im_end|>")
    for example, (prompt, chosen, rejected) in zip(examples, PAIRS):
        assert tiny_tokenizer.decode(example["prompt_ids"]).endswith("<|im_start|>assistant\n")
        assert prompt in tiny_tokenizer.decode(example["prompt_ids"])
        assert tiny_tokenizer.decode(example["chosen_ids"]).startswith(chosen)
        assert tiny_tokenizer.decode(example["rejected_ids"]).startswith(rejected)
        assert end in example["chosen_ids"] and end in example["rejected_ids"]  # the model learns where to stop
    # A cut-off that leaves the long answer cut is counted; one that leaves nothing to tell apart drops the pair.
    prompt_length = len(examples[2]["prompt_ids"])
    cut, truncated = tokens.tokenize_pairs(rows[2:], tiny_tokenizer, prompt_length + 6)
    assert truncated == 1 and len(cut[0]["rejected_ids"]) == 6
    same_start = [{"prompt": "hello", "chosen": "the sky is blue", "rejected": "the sky is blue and the dog ate the bone"}]
    prompt_length = len(tokens.tokenize_pairs(same_start, tiny_tokenizer, 256)[0][0]["prompt_ids"])
    dropped, truncated = tokens.tokenize_pairs(same_start, tiny_tokenizer, prompt_length + 2)
    assert dropped == [] and truncated == 1


def test_orpo_loss_on_a_hand_made_case():
    chosen, rejected = torch.tensor([-0.5, -2.0]), torch.tensor([-1.0, -1.0])
    nll = torch.tensor(0.75)
    loss, chosen_rewards, rejected_rewards = preference.orpo_loss(chosen, rejected, nll, weight=0.2)

    def log_odds(logp):
        probability = math.exp(logp)
        return math.log(probability / (1 - probability))

    terms = [math.log(1 / (1 + math.exp(-(log_odds(c) - log_odds(r))))) for c, r in ((-0.5, -1.0), (-2.0, -1.0))]
    assert loss.item() == pytest.approx(0.75 - 0.2 * sum(terms) / 2, rel=1e-5)
    assert torch.allclose(chosen_rewards, 0.2 * chosen) and torch.allclose(rejected_rewards, 0.2 * rejected)
    assert preference.pair_metrics(chosen_rewards, rejected_rewards) == pytest.approx(
        {"preference_accuracy": 0.5, "reward_margin": 0.2 * (0.5 - 1.0) / 2})


def test_dpo_loss_and_metrics_equal_the_formula(tiny_model_dir, tiny_pairs_file, tmp_path, workspace):
    """TRL's loss on our pairs is -log sigmoid(beta * ((chosen - ref chosen) - (rejected - ref rejected)))."""
    trainer, examples = dpo_trainer(tiny_model_dir, tiny_pairs_file, tmp_path, preference_beta=0.5)
    model = trainer.model
    torch.manual_seed(1)
    with torch.no_grad():  # a fresh adapter changes nothing; give it weights so policy and reference differ
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    model.eval()
    batch = trainer.data_collator(examples[:3])
    loss = trainer.compute_loss(model, batch)
    policy = preference.answer_log_probs(model, examples[:3], 3)
    with model.disable_adapter():
        reference = preference.answer_log_probs(model, examples[:3], 3)
    chosen_rewards = 0.5 * (policy[:, 0] - reference[:, 0])
    rejected_rewards = 0.5 * (policy[:, 1] - reference[:, 1])
    expected = -torch.nn.functional.logsigmoid(chosen_rewards - rejected_rewards).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-5)
    logged = {key: values[-1] for key, values in trainer._metrics["eval"].items()}
    metrics = preference.pair_metrics(chosen_rewards, rejected_rewards)
    assert logged["rewards/accuracies"] == pytest.approx(metrics["preference_accuracy"])
    assert logged["rewards/margins"] == pytest.approx(metrics["reward_margin"], abs=1e-5)


def test_reference_is_the_base_with_the_adapter_off(tiny_model_dir, tiny_pairs_file, tmp_path, workspace):
    from transformers import LlamaForCausalLM

    def models_in_memory() -> int:
        gc.collect()
        return sum(isinstance(item, LlamaForCausalLM) for item in gc.get_objects())

    before = models_in_memory()  # other tests' cached chat models may still be alive
    trainer, _ = dpo_trainer(tiny_model_dir, tiny_pairs_file, tmp_path)
    assert trainer.ref_model is None
    assert list(trainer.model.peft_config) == ["default"]  # no frozen copy of the adapter either
    assert models_in_memory() - before == 1


def test_full_fine_tuning_keeps_a_frozen_reference_copy(tiny_model_dir, tiny_pairs_file, tmp_path, workspace):
    trainer, _ = dpo_trainer(tiny_model_dir, tiny_pairs_file, tmp_path, method="full")
    assert trainer.ref_model is not None
    assert not any(parameter.requires_grad for parameter in trainer.ref_model.parameters())


def test_dpo_run_logs_reward_metrics_and_saves_a_plain_adapter(tiny_model_dir, tiny_pairs_file, tmp_path, workspace):
    summary = run_training(tiny_config(tiny_model_dir, tiny_pairs_file, tmp_path / "dpo", logging_steps=1))
    assert summary["status"] == "finished" and summary["steps"] == 4 and summary["trained_tokens"] > 0
    assert summary["preference_accuracy"] is not None and summary["reward_margin"] is not None
    events = read_events(tmp_path / "dpo")
    prepared = next(event for event in events if event.get("event") == "prepared")
    assert prepared["train_rows"] == 9 and prepared["validation_rows"] == 3 and len(prepared["probe_prompts"]) == 2
    evaluations = [event for event in events if "eval_loss" in event]
    assert [event["step"] for event in evaluations] == [2, 4]
    assert all({"preference_accuracy", "reward_margin", "probes"} <= set(event) for event in evaluations)
    logs = [event for event in events if "loss" in event]
    # Before the first update the adapter is fresh (zero) and the reference is the adapter switched off.
    assert logs[0]["reward_margin"] == pytest.approx(0.0, abs=1e-6)
    assert {point["series"] for point in preference.reward_points(events)} == {"train", "validation"}
    adapter = tmp_path / "dpo" / "adapter"
    assert (adapter / "adapter_model.safetensors").exists() and not (adapter / "ref").exists()


def test_orpo_run_needs_no_reference(tiny_model_dir, tiny_pairs_file, tmp_path, workspace):
    summary = run_training(tiny_config(tiny_model_dir, tiny_pairs_file, tmp_path / "orpo", stage="orpo",
                                       method="freeze", trainable_layers=1, preference_beta=0.2))
    assert summary["status"] == "finished" and math.isfinite(summary["train_loss"])
    assert summary["preference_accuracy"] is not None
    assert (tmp_path / "orpo" / "model" / "config.json").exists()


def test_dpo_goes_on_from_an_sft_run(tiny_model_dir, tiny_sft_file, tiny_pairs_file, tmp_path, workspace):
    sft = tiny_config(tiny_model_dir, tiny_sft_file, tmp_path / "sft", stage="sft", max_steps=2, validation_split=0.0)
    assert run_training(sft)["status"] == "finished"
    config = tiny_config(tiny_model_dir, tiny_pairs_file, tmp_path / "dpo", start_from=str(tmp_path / "sft"),
                         logging_steps=1, max_steps=2)
    summary = run_training(config)
    assert summary["status"] == "finished"
    # The trained SFT adapter differs from the base; a margin of zero before the first update shows
    # the reference is the SFT model (its frozen copy), not the base.
    first = next(event for event in read_events(tmp_path / "dpo") if "loss" in event)
    assert first["reward_margin"] == pytest.approx(0.0, abs=1e-6)
    from safetensors.torch import load_file

    before = load_file(tmp_path / "sft" / "adapter" / "adapter_model.safetensors")
    after = load_file(tmp_path / "dpo" / "adapter" / "adapter_model.safetensors")
    assert before.keys() == after.keys() and any(not torch.equal(before[key], after[key]) for key in before)
    with pytest.raises(ValueError, match="set method to lora"):
        tiny_config(tiny_model_dir, tiny_pairs_file, tmp_path / "x", start_from=str(tmp_path / "sft"), method="dora").validate()
    with pytest.raises(ValueError, match="not a run folder"):
        tiny_config(tiny_model_dir, tiny_pairs_file, tmp_path / "x", start_from=str(tmp_path / "nowhere")).validate()


def test_an_aborted_dpo_run_resumes_from_its_checkpoint(tiny_model_dir, tiny_pairs_file, tmp_path, workspace, monkeypatch):
    run = tmp_path / "dpo"
    run.mkdir()
    (run / "abort").touch()  # as the job manager leaves it for a job it stops; kept because the job is managed
    monkeypatch.setenv("STUDIO_MANAGED_JOB", "1")
    config = tiny_config(tiny_model_dir, tiny_pairs_file, run, eval_steps=0, logging_steps=1)
    assert run_training(config)["status"] == "aborted"
    (run / "abort").unlink()
    summary = run_training(config, resume=True)
    assert summary["status"] == "finished" and summary["steps"] == 4
    steps = [event["step"] for event in read_events(run) if "loss" in event]
    assert steps == [1, 2, 3, 4]


def test_stages_settings_and_presets_check_what_they_need(tiny_sft_file, tiny_pairs_file, workspace):
    with pytest.raises(ValueError, match="Stage 'dpo' needs preference rows"):
        prepare_rows(RunConfig(dataset=str(tiny_sft_file), stage="dpo"))
    with pytest.raises(ValueError, match="Stage 'sft' needs instruction rows"):
        prepare_rows(RunConfig(dataset=str(tiny_pairs_file)))
    with pytest.raises(ValueError, match="preference_beta must be a number from"):
        RunConfig(dataset="x.jsonl", stage="dpo", preference_beta=0).validate()
    with pytest.raises(ValueError, match="start_from: .runs/sft. is not a run folder"):
        RunConfig(dataset="x.jsonl", start_from="runs/sft").validate()
    with pytest.raises(ValueError, match="preference_loss 'kto' is not one of"):
        RunConfig(dataset="x.jsonl", stage="dpo", preference_loss="kto").validate()
    for name in ("dpo", "cpu-dpo"):
        config = load_config(name, {"dataset": str(tiny_pairs_file)}).validate()
        assert config.stage == "dpo" and config.method == "lora"


def test_the_llamafactory_dpo_demo_imports_and_tokenises(tiny_tokenizer, workspace):
    path = data.import_dataset(FIXTURES / "dpo_en_demo.json")
    dataset = data.load_dataset(path)
    assert dataset.shape == "preference" and len(dataset.rows) == 300
    examples, truncated = tokens.tokenize_pairs(dataset.rows[:40], tiny_tokenizer, cutoff_length=100_000)
    assert len(examples) == 40 and truncated == 0
    # The editor's prompt / chosen / rejected columns hold the same pairs as the file.
    editable = [editing.editable_pair(row) for row in dataset.rows]
    assert data.validate(editable, "preference") == []
    assert [data.preference_parts(row) for row in editable] == [data.preference_parts(row) for row in dataset.rows]
    single = next(row for row in editable if isinstance(row["prompt"], str))
    assert set(single) == {"prompt", "chosen", "rejected"} and isinstance(single["chosen"], str)
    assert any(isinstance(row["prompt"], list) for row in editable)  # conversations with several turns stay lists
    prompt, chosen, rejected = editing.pair_texts(editable, 1)
    assert chosen == dataset.rows[0]["chosen"]["value"] and rejected == dataset.rows[0]["rejected"]["value"]
    with pytest.raises(ValueError, match="does not exist"):
        editing.pair_texts(editable, 301)


def test_evaluate_pairs_scores_before_and_after(tiny_model_dir, tiny_pairs_file, tmp_path, workspace):
    from studio.generate import load_for_chat

    rows = data.load_dataset(tiny_pairs_file).rows[:3]
    base, tokenizer = load_for_chat(str(tiny_model_dir))
    before = preference.evaluate_pairs(base, tokenizer, rows, max_new_tokens=3)
    assert before["preference_accuracy"] is None and 0 <= before["likelihood_accuracy"] <= 1
    assert before["mean_chosen_words"] < before["mean_rejected_words"] and len(before["details"]) == 3
    run_training(tiny_config(tiny_model_dir, tiny_pairs_file, tmp_path / "dpo", eval_steps=0))
    tuned, tokenizer = load_for_chat(None, tmp_path / "dpo")
    after = preference.evaluate_pairs(tuned, tokenizer, rows, answers=False)
    assert 0 <= after["preference_accuracy"] <= 1 and "mean_answer_words" not in after
    assert json.dumps(after)  # the CLI prints it as JSON


def test_the_eval_command_scores_preference_pairs(tiny_model_dir, tiny_pairs_file, capsys, workspace):
    from studio.__main__ import main

    assert main(["eval", "--base", str(tiny_model_dir), "--dataset", str(tiny_pairs_file), "--limit", "3",
                 "--max-new-tokens", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rows"] == 3 and "likelihood_accuracy" in result and "details" not in result

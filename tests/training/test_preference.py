"""Preference tuning on the tiny model: tokenising pairs, the DPO and ORPO losses, the reference, runs end to end."""

from __future__ import annotations

import gc
import math
from pathlib import Path

import pytest
import torch

from studio import data, editing, tokens
from studio.config import RunConfig, load_config
from studio.events import follow, read_events
from studio.examples import prepare_rows
from studio.messages import preference_parts
from studio.preference_eval import answer_log_probs, pair_metrics
from studio.preflight import check_run
from studio.shapes import validate
from studio.training import preference
from studio.training.common import policy_and_reference
from studio.training import run_training
from tests.conftest import FIXTURES, PAIRS, pair_config

def dpo_trainer(model_dir, dataset, tmp_path, **overrides):
    """A PreferenceTrainer on the tiny model as train_pairs builds it, and its tokenised pairs."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = pair_config(model_dir, dataset, tmp_path / "run", **overrides)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    _, rows, _ = prepare_rows(config)
    examples, _ = tokens.tokenize_pairs(rows, tokenizer, config.cutoff_length)
    model, adapter, reference = policy_and_reference(
        config, AutoModelForCausalLM.from_pretrained(model_dir), config.max_steps, frozen_copy=config.stage == "dpo")
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
    assert pair_metrics(chosen_rewards, rejected_rewards) == pytest.approx(
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
    policy = answer_log_probs(model, examples[:3], 3)
    with model.disable_adapter():
        reference = answer_log_probs(model, examples[:3], 3)
    chosen_rewards = 0.5 * (policy[:, 0] - reference[:, 0])
    rejected_rewards = 0.5 * (policy[:, 1] - reference[:, 1])
    expected = -torch.nn.functional.logsigmoid(chosen_rewards - rejected_rewards).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-5)
    logged = {key: values[-1] for key, values in trainer._metrics["eval"].items()}
    metrics = pair_metrics(chosen_rewards, rejected_rewards)
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
    summary = run_training(pair_config(tiny_model_dir, tiny_pairs_file, tmp_path / "dpo", logging_steps=1))
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
    assert {point["series"] for point in follow(tmp_path / "dpo")["reward_points"]} == {"train", "validation"}
    adapter = tmp_path / "dpo" / "adapter"
    assert (adapter / "adapter_model.safetensors").exists() and not (adapter / "ref").exists()


def test_orpo_run_needs_no_reference(tiny_model_dir, tiny_pairs_file, tmp_path, workspace):
    summary = run_training(pair_config(tiny_model_dir, tiny_pairs_file, tmp_path / "orpo", stage="orpo",
                                       method="freeze", trainable_layers=1, preference_beta=0.2))
    assert summary["status"] == "finished" and math.isfinite(summary["train_loss"])
    assert summary["preference_accuracy"] is not None
    assert (tmp_path / "orpo" / "model" / "config.json").exists()


def test_dpo_goes_on_from_an_sft_run(tiny_model_dir, tiny_sft_file, tiny_pairs_file, tmp_path, workspace):
    sft = pair_config(tiny_model_dir, tiny_sft_file, tmp_path / "sft", stage="sft", max_steps=2, validation_split=0.0)
    assert run_training(sft)["status"] == "finished"
    config = pair_config(tiny_model_dir, tiny_pairs_file, tmp_path / "dpo", start_from=str(tmp_path / "sft"),
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
        check_run(pair_config(tiny_model_dir, tiny_pairs_file, tmp_path / "x", start_from=str(tmp_path / "sft"), method="dora"))
    with pytest.raises(ValueError, match="not a run folder"):
        check_run(pair_config(tiny_model_dir, tiny_pairs_file, tmp_path / "x", start_from=str(tmp_path / "nowhere")))


def test_an_aborted_dpo_run_resumes_from_its_checkpoint(tiny_model_dir, tiny_pairs_file, tmp_path, workspace, monkeypatch):
    run = tmp_path / "dpo"
    run.mkdir()
    (run / "abort").touch()  # as the job manager leaves it for a job it stops; kept because the job is managed
    monkeypatch.setenv("STUDIO_MANAGED_JOB", "1")
    config = pair_config(tiny_model_dir, tiny_pairs_file, run, eval_steps=0, logging_steps=1)
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
        check_run(RunConfig(dataset="x.jsonl", start_from="runs/sft"))
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
    assert validate(editable, "preference") == []
    assert [preference_parts(row) for row in editable] == [preference_parts(row) for row in dataset.rows]
    single = next(row for row in editable if isinstance(row["prompt"], str))
    assert set(single) == {"prompt", "chosen", "rejected"} and isinstance(single["chosen"], str)
    assert any(isinstance(row["prompt"], list) for row in editable)  # conversations with several turns stay lists
    prompt, chosen, rejected = editing.pair_texts(editable, 1)
    assert chosen == dataset.rows[0]["chosen"]["value"] and rejected == dataset.rows[0]["rejected"]["value"]
    with pytest.raises(ValueError, match="does not exist"):
        editing.pair_texts(editable, 301)

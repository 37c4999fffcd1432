"""GRPO on the tiny model: prompts and references from the rows, TRL's settings, the reference, rewards in the events,
a plain PEFT adapter, abort and resume, and the plan and estimate of the stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio import tokens
from studio.config import RunConfig
from studio.events import follow, read_events
from studio.examples import prepare_rows, tokenize
from studio.training import grpo, run_training
from studio.training.common import policy_and_reference
from studio.training.estimate import estimate, sequences
from studio.training.plan import count_tokens, plan_run
from tests.conftest import write_jsonl

ROWS = [{"instruction": "classify the review as positive or negative", "input": text, "output": label}
        for text, label in [("great food and friendly staff", "positive"), ("terrible service and cold soup", "negative")] * 6]


def grpo_config(model_dir, dataset, output, **overrides) -> RunConfig:
    values = dict(base_model=str(model_dir), dataset=str(dataset), output_dir=str(output), stage="grpo", max_steps=3,
                  batch_size=2, learning_rate=1e-2, validation_split=0.25, eval_steps=2, save_steps=2, cutoff_length=64,
                  probe_max_new_tokens=2, lora_dropout=0.0, reward_rule="exact", grpo_generations=2,
                  grpo_max_new_tokens=3, preference_beta=0.1, precision="fp32")
    values.update(overrides)
    return RunConfig(**values)


@pytest.fixture(scope="module")
def grpo_run(tmp_path_factory, tiny_model_dir) -> Path:
    """One short GRPO run of the tiny model with a rule and a length reward, trained once for the tests below."""
    root = tmp_path_factory.mktemp("grpo")
    dataset = write_jsonl(root / "reviews.jsonl", ROWS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_WORKSPACE", str(root / "workspace"))
        summary = run_training(grpo_config(tiny_model_dir, dataset, root / "run", reward_length=1))
    assert summary["status"] == "finished" and summary["steps"] == 3
    return root / "run"


def test_prompts_and_references_come_from_the_rows(tiny_tokenizer):
    examples, dropped = tokens.tokenize_prompts(ROWS[:2], "instruction", tiny_tokenizer, 64, max_new_tokens=1,
                                                generations=4)
    assert dropped == 0 and [example["reference"] for example in examples] == ["positive", "negative"]
    assert examples[0]["prompt"] == [{"role": "user", "content": "classify the review as positive or negative\n\n"
                                                                 "great food and friendly staff"}]
    assert tiny_tokenizer.decode(examples[0]["prompt_ids"]).endswith("<|im_start|>assistant\n")
    assert len(examples[0]["answer_ids"]) == 1 and examples[0]["generations"] == 4  # cut to the longest answer
    # Each prompt is read with each of its answers: by the plan's count and the estimate's sequences alike.
    assert count_tokens(examples) == 4 * sum(len(example["prompt_ids"]) + 1 for example in examples)
    assert len(sequences(examples)) == 8 and sequences(examples)[0]["labels"][-1] == examples[0]["answer_ids"][0]
    # A prompt that leaves no room for an answer within cutoff_length is dropped and counted.
    shortest = min(len(example["prompt_ids"]) for example in examples)
    short, dropped = tokens.tokenize_prompts(ROWS[:2], "instruction", tiny_tokenizer, shortest, 8, 2)
    assert short == [] and dropped == 2
    chat = [{"messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"},
                          {"role": "user", "content": "what is the colour of the sky"},
                          {"role": "assistant", "content": "blue"}]}]
    example = tokens.tokenize_prompts(chat, "chat", tiny_tokenizer, 64, 8, 2)[0][0]
    assert len(example["prompt"]) == 3 and example["reference"] == "blue"  # the history is part of the prompt


def test_trl_gets_the_studio_settings(tiny_sft_file, tmp_path, workspace):
    config = grpo_config("embedded", tiny_sft_file, tmp_path / "run", batch_size=3, grpo_generations=4,
                         grpo_max_new_tokens=16, grpo_temperature=0.7, preference_beta=0.0, gradient_accumulation=2)
    arguments = grpo.training_arguments(config, tmp_path / "run", 10, has_validation=True)
    assert (arguments.num_generations, arguments.max_completion_length, arguments.temperature, arguments.beta) == (4, 16, 0.7, 0.0)
    # batch_size counts prompts: a device batch holds their groups of answers, for training and evaluation alike.
    assert arguments.per_device_train_batch_size == arguments.per_device_eval_batch_size == 12
    assert arguments.generation_batch_size == 24 and not arguments.use_vllm
    assert arguments.max_steps == 10 and arguments.learning_rate == config.learning_rate and arguments.eval_steps == 2


def test_the_reference_is_the_base_with_the_adapter_off(tiny_model_dir, tiny_sft_file, tmp_path, workspace):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = grpo_config(tiny_model_dir, tiny_sft_file, tmp_path / "run")
    model, adapter, _ = policy_and_reference(config, AutoModelForCausalLM.from_pretrained(tiny_model_dir), 3,
                                             frozen_copy=False)
    _, rows, _ = prepare_rows(config)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    trainer = grpo.trainer_class()(
        model=model, reward_funcs=grpo.reward_functions(config), peft_config=adapter, processing_class=tokenizer,
        args=grpo.training_arguments(config, tmp_path / "run", 3, False),
        train_dataset=grpo.prompt_dataset(tokenize(config, "instruction", rows, tokenizer)[0]))
    assert trainer.ref_model is None and list(trainer.model.peft_config) == ["default"]
    assert trainer.reward_func_names == ["rule"]


def test_each_prompt_is_read_once_and_the_answers_are_those_generate_gives(tiny_model_dir, tiny_tokenizer):
    """A group of answers per prompt, as GRPO samples them: left-padded prompts of two lengths, each three times in a
    row. Reading each prompt once and repeating its cache gives generate's own answers (greedy), with one pass over
    the two prompts instead of six; a batch of other prompts goes to generate unchanged."""
    import types

    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    tiny_tokenizer.padding_side = "left"
    batch = tiny_tokenizer(["the cat sat on the mat", "hello"], return_tensors="pt", padding=True)
    repeated = {key: value.repeat_interleave(3, dim=0) for key, value in batch.items() if key != "token_type_ids"}
    settings = dict(max_new_tokens=6, do_sample=False, pad_token_id=tiny_tokenizer.pad_token_id)
    expected = model.generate(**repeated, **settings)
    read = []
    hook = model.register_forward_pre_hook(lambda module, args, kwargs: read.append(kwargs["input_ids"].shape),
                                           with_kwargs=True)
    model.generate = types.MethodType(grpo.generate_reading_each_prompt_once(3), model)
    try:
        assert torch.equal(model.generate(**repeated, **settings), expected)
        assert read[0] == (2, repeated["input_ids"].shape[1] - 1) and all(shape[0] == 6 for shape in read[1:])
        others = {key: value[[0, 3, 4, 5, 1, 2]] for key, value in repeated.items()}  # not in groups of three
        read.clear()
        assert torch.equal(model.generate(**others, **settings), expected[[0, 3, 4, 5, 1, 2]])
        assert read[0][0] == 6
    finally:
        hook.remove()
        del model.generate


def test_a_run_logs_rewards_kl_lengths_and_samples(grpo_run):
    events = read_events(grpo_run)
    prepared = next(event for event in events if event.get("event") == "prepared")
    assert prepared["rewards"] == ["rule", "length"] and prepared["train_rows"] == 9
    steps = [event for event in events if "loss" in event]
    assert [event["step"] for event in steps] == [1, 2, 3]
    for event in steps:
        assert {"reward", "reward_rule", "reward_length", "reference_kl", "answer_length"} <= set(event)
        assert event["reward"] == pytest.approx(event["reward_rule"] + event["reward_length"], abs=1e-5)
        assert 0 < event["answer_length"] <= 3
    assert steps[0]["reference_kl"] == pytest.approx(0.0, abs=1e-6)  # a fresh adapter is the reference
    # Sampled answers on the first and the last step's lines (and every eval_steps), and at each evaluation.
    assert [event["step"] for event in steps if event.get("samples")] == [1, 2, 3]
    evaluations = [event for event in events if "eval_loss" in event]
    assert [event["step"] for event in evaluations] == [2, 3]
    assert all(event.get("samples") and event.get("probes") and "reward" in event for event in evaluations)
    sample = steps[0]["samples"][0]
    assert sample["reference"] in ("positive", "negative") and "friendly staff" in sample["prompt"] + "soup" * (
        "soup" in sample["prompt"])
    assert sample["reward"] == pytest.approx(sum(sample["rewards"].values()), abs=1e-3)
    assert set(sample["rewards"]) == {"rule", "length"} and len(steps[0]["samples"]) == 4
    view = follow(grpo_run)
    assert {point["metric"] for point in view["reward_points"]} >= {"reward", "reward_rule", "reference_kl", "answer_length"}
    assert {point["series"] for point in view["reward_points"]} == {"train", "validation"}
    assert view["last_samples"]["step"] == 3


def test_the_adapter_loads_with_plain_peft(grpo_run, tiny_model_dir):
    import json

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = grpo_run / "adapter"
    assert not (adapter / "ref").exists()
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(adapter))
    assert list(model.peft_config) == ["default"]
    summary = json.loads((grpo_run / "summary.json").read_text())
    assert summary["reward"] is not None and summary["eval_reward"] is not None and summary["trained_tokens"] > 0


def test_an_aborted_run_resumes_from_its_checkpoint(tiny_model_dir, tiny_sft_file, tmp_path, workspace, monkeypatch):
    run = tmp_path / "grpo"
    run.mkdir()
    (run / "abort").touch()  # as the job manager leaves it for a job it stops; kept because the job is managed
    monkeypatch.setenv("STUDIO_MANAGED_JOB", "1")
    config = grpo_config(tiny_model_dir, tiny_sft_file, run, eval_steps=0, validation_split=0.0, max_steps=2,
                         save_steps=1, preference_beta=0.0)
    assert run_training(config)["status"] == "aborted"
    (run / "abort").unlink()
    summary = run_training(config, resume=True)
    assert summary["status"] == "finished" and summary["steps"] == 2
    assert [event["step"] for event in read_events(run) if "loss" in event] == [1, 2]


def test_the_plan_and_the_estimate_cover_the_stage(tiny_model_dir, tiny_sft_file, workspace):
    config = grpo_config(tiny_model_dir, tiny_sft_file, "", max_steps=0, epochs=1, validation_split=0.0)
    plan = plan_run(config)
    assert plan.rows == 12 and plan.total_steps == 6  # batch_size prompts a step
    result = estimate(config)
    assert result.total_steps == 6 and result.seconds_per_step > 0 and result.memory_bytes > 0 and result.fits


def test_a_reward_model_run_rewards_the_answers(reward_workspace, tiny_model_dir, tiny_sft_file, tmp_path, workspace):
    """A finished rm run of the tiny model scores every sampled answer (0 to 1, its score through a sigmoid)."""
    config = grpo_config(tiny_model_dir, tiny_sft_file, tmp_path / "run", reward_rule="", max_steps=1,
                         validation_split=0.0, reward_model=str(reward_workspace / "runs" / "tiny-rm"))
    assert run_training(config)["status"] == "finished"
    step = next(event for event in read_events(tmp_path / "run") if "loss" in event)
    assert 0 < step["reward_model"] < 1 and step["reward"] == pytest.approx(step["reward_model"])
    assert all(set(sample["rewards"]) == {"reward_model"} for sample in step["samples"])

"""GRPO: reinforcement learning from rewards. For each prompt the model samples a group of answers, each answer is
scored by the run's rewards (studio.rewards: a rule against the row's reference answer, a target length, a
reward-model run; several add up), and the model learns to make the answers that scored above their group's mean
likelier and those below it less likely.

It is PPO's clipped objective without PPO's value model: the group's mean reward is the baseline a value model
would have learned (Shao et al., 2024, DeepSeekMath). A KL penalty weighted by `preference_beta` keeps the policy
near the reference (0 = none, and no reference pass). With a PEFT method the reference is the base model with
the adapter switched off (no second copy in memory); from a finished run (`start_from`) it is a frozen copy of
that run's adapter; freeze and full fine-tuning load a second, frozen copy of the model.

The data are instruction or chat rows: the conversation up to the last answer is the prompt, the answer is the
reference the rewards compare with (a dataset column, `reference`, handed to every reward). `batch_size` counts
prompts: a step samples batch_size x grpo_generations answers (x gradient_accumulation), so the plan's rule of
steps holds as it does for every stage.

Training runs on TRL's GRPOTrainer, which samples with transformers' generate (no vLLM; it runs on a CPU): a
transformers Trainer, so the studio's callback (events, probes, abort) and checkpoints (resume) work unchanged.
Each step's line in events.jsonl carries the mean reward (`reward`, and each reward's own: `reward_rule`,
`reward_length`, `reward_model`), the KL from the reference (`reference_kl`) and the mean answer length in tokens
(`answer_length`); every SAMPLE_EVERY steps (the evaluation's, by default) and at each evaluation, a few sampled
answers with their rewards (`samples`).

    python -m studio train --preset cpu-grpo --dataset presets/samples/reviews-train.jsonl --output runs/grpo
    python -m studio eval --adapter runs/grpo --dataset presets/samples/reviews-test.jsonl
"""

from __future__ import annotations

import os
import types
from pathlib import Path

from studio.config import RunConfig
from studio.examples import apply_chat_template_override, prepare_rows, tokenize
from studio.methods import is_prompt_learning, method_bits
from studio.models import load_model
from studio.rewards import answer_text, reward_functions
from studio.training.callback import StudioCallback
from studio.training.common import (
    Job, announce_plan, default_probes, fit, policy_and_reference, probe_references, save_result, seed_everything,
    training_arguments as common_arguments, weight_precision,
)
from studio.training.unpadded import unpad_trainer_batches

REFERENCE_ADAPTER = "ref"  # the name TRL gives the frozen copy of an adapter trained on
SAMPLES = 4  # sampled answers an event carries: one prompt's group (or its first SAMPLES answers)
PROMPT_CHARACTERS = 200  # of a sample's prompt, its end (where the question is)
ANSWER_CHARACTERS = 400


def trainer_class():
    """TRL's GRPOTrainer that keeps the latest sampled answers of each split, with their rewards, for the events."""
    from trl import GRPOTrainer

    class StudioGRPOTrainer(GRPOTrainer):
        latest_samples: dict

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            if not hasattr(self, "latest_samples"):
                self.latest_samples = {}
            split = "train" if self.model.training else "validation"
            local = rewards[self.accelerator.process_index * len(prompts):][:len(prompts)].tolist()
            self.latest_samples[split] = group_samples(
                prompts, completions, [example.get("reference", "") for example in inputs], local,
                self.reward_func_names)
            return rewards

        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
            model = self.accelerator.unwrap_model(self.model_wrapped)
            shared = not (self.use_vllm or images or is_prompt_learning(model))
            if shared:
                model.generate = types.MethodType(generate_reading_each_prompt_once(num_generations), model)
            try:
                return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                     has_tool_images)
            finally:
                if shared:
                    del model.generate

    return StudioGRPOTrainer


def generate_reading_each_prompt_once(answers_per_prompt: int):
    """A `generate` for a batch that holds each prompt `answers_per_prompt` times in a row (TRL's GRPO samples a
    group of answers per prompt that way): the prompts are read once each, their cache repeated for every answer,
    then `generate` goes on from it as from its own. Reading a prompt is most of sampling a short answer: on the
    embedded model (cpu-grpo, 4 answers per prompt, one core) sampling took 21.2 s over 3 steps, 6.9 s this way,
    and a step 17 s instead of 22. Positions are counted from the attention mask as `generate` counts them, so the
    answers are the ones it would sample (within float rounding). Another batch goes to `generate` unchanged."""
    import torch
    from transformers import DynamicCache

    def generate(model, input_ids=None, attention_mask=None, **kwargs):
        copies = answers_per_prompt
        if (copies > 1 and input_ids is not None and attention_mask is not None and input_ids.shape[0] % copies == 0
                and input_ids.shape[1] > 1 and "past_key_values" not in kwargs):
            rows = torch.cat([input_ids, attention_mask.to(input_ids.dtype)], dim=1)
            groups = rows.view(-1, copies, rows.shape[1])
            if bool((groups == groups[:, :1]).all()):
                prompts, mask = input_ids[::copies], attention_mask[::copies]
                positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
                cache = DynamicCache(config=model.config)
                with torch.no_grad():
                    model(input_ids=prompts[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1],
                          past_key_values=cache, use_cache=True)
                cache.batch_repeat_interleave(copies)
                kwargs["past_key_values"] = cache
        return type(model).generate(model, input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    return generate


def group_samples(prompts: list, completions: list, references: list, rewards: list[list[float]],
                  names: list[str]) -> list[dict]:
    """The first SAMPLES answers (one prompt's group: TRL keeps a group together) with their rewards, each reward
    by name and their sum, the prompt's end and the reference answer."""
    samples = []
    for prompt, completion, reference, values in list(zip(prompts, completions, references, rewards))[:SAMPLES]:
        question = prompt if isinstance(prompt, str) else next(
            (message["content"] for message in reversed(prompt) if message["role"] == "user"), "")
        question = " ".join(str(question).split())
        samples.append({
            "prompt": question if len(question) <= PROMPT_CHARACTERS else "…" + question[-PROMPT_CHARACTERS:],
            "reference": str(reference or ""), "answer": answer_text(completion)[:ANSWER_CHARACTERS],
            "reward": round(sum(value for value in values if value == value), 4),  # NaN: a reward that did not apply
            "rewards": {name: round(value, 4) for name, value in zip(names, values) if value == value},
        })
    return samples


def sample_steps(config: RunConfig, total_steps: int) -> int:
    """Every how many steps a step's line carries sampled answers: the evaluations' interval, else a tenth of the run."""
    return config.eval_steps or max(1, total_steps // 10)


def training_arguments(config: RunConfig, run_dir: Path, total_steps: int, has_validation: bool):
    """The studio's TrainingArguments as TRL's GRPOConfig, with the GRPO settings. A device batch holds
    batch_size prompts' groups of answers, for training and evaluation alike."""
    from dataclasses import fields

    from trl import GRPOConfig

    base = common_arguments(config, run_dir, total_steps, has_validation)
    values = {spec.name: getattr(base, spec.name) for spec in fields(base) if spec.init and not spec.name.startswith("_")}
    answers = config.batch_size * config.grpo_generations
    values.update(per_device_train_batch_size=answers, per_device_eval_batch_size=answers,
                  # TRL counts the tokens itself (each prompt with each of its answers); the Trainer finds no input_ids.
                  include_num_input_tokens_seen="no", prediction_loss_only=True)
    return GRPOConfig(**values, num_generations=config.grpo_generations, max_completion_length=config.grpo_max_new_tokens,
                      temperature=config.grpo_temperature, beta=config.preference_beta, use_vllm=False,
                      log_completions=False)


def prompt_dataset(examples: list[dict]):
    """What TRL reads of the examples: the prompt (TRL renders it through the chat template) and the reference."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": example["prompt"], "reference": example["reference"]} for example in examples])


def train(job: Job) -> dict:
    """Stage grpo: the same run folder, events and summary as every recipe, with the reward metrics."""
    # TRL's trainers report usage to the Hub unless told not to; a local studio keeps to itself.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from transformers import PrinterCallback

    config = job.config
    seed_everything(config.seed)
    rewards = reward_functions(config)  # a reward-model run that cannot score fails here, before the model loads
    shape, train_rows, validation_rows = prepare_rows(config)
    model, tokenizer = load_model(config.base_model, weight_precision(config), method_bits(config.method),
                                  config.trust_remote_code)
    apply_chat_template_override(tokenizer, config.chat_template)
    train_set, truncated = tokenize(config, shape, train_rows, tokenizer)
    validation_set, _ = tokenize(config, shape, validation_rows, tokenizer) if validation_rows else ([], 0)
    if not train_set:
        raise ValueError("No prompt is left after tokenising: every prompt is longer than cutoff_length; raise it.")
    plan = announce_plan(job, train_set)
    model, adapter_settings, _ = policy_and_reference(config, model, plan.total_steps, frozen_copy=False)
    probes = default_probes(config, shape, validation_rows)
    callback = StudioCallback(job.run_dir, plan.total_steps, tokenizer, probes, config,
                              expected=probe_references(config, shape, validation_rows))
    trainer = trainer_class()(
        model=model, reward_funcs=rewards, peft_config=adapter_settings, processing_class=tokenizer,
        args=training_arguments(config, job.run_dir, plan.total_steps, bool(validation_set)),
        train_dataset=prompt_dataset(train_set), eval_dataset=prompt_dataset(validation_set) if validation_set else None,
        callbacks=[callback],
    )
    trainer.remove_callback(PrinterCallback)
    callback.extra = sample_events(trainer, sample_steps(config, plan.total_steps), plan.total_steps)
    model = trainer.accelerator.unwrap_model(trainer.model)
    facts = job.prepared(plan, model, train_set, validation_set, truncated, probes,
                         rewards=list(trainer.reward_func_names), packing=unpad_trainer_batches(trainer))

    def save():
        if REFERENCE_ADAPTER in getattr(model, "peft_config", {}):
            model.delete_adapter(REFERENCE_ADAPTER)  # the run's adapter/ holds the tuned adapter only
        save_result(model, tokenizer, config, job.run_dir)

    summary = fit(job, trainer, callback, save, facts)
    return {**summary, **last_rewards(trainer.state.log_history)}


def sample_events(trainer, every: int, total_steps: int):
    """The callback's `extra`: the latest sampled answers on the first step's line, every `every` steps' and the
    last's, and at each evaluation."""
    def extra(state, split: str) -> dict:
        samples = getattr(trainer, "latest_samples", {}).get(split)
        due = split == "validation" or state.global_step in (1, total_steps) or state.global_step % every == 0
        return {"samples": samples} if samples and due else {}

    return extra


def last_rewards(log_history: list[dict]) -> dict:
    """The mean reward and the KL of the last training log, and of the last evaluation (None where there is none)."""
    train = next((entry for entry in reversed(log_history) if "reward" in entry), {})
    evaluation = next((entry for entry in reversed(log_history) if "eval_reward" in entry), {})
    return {"reward": train.get("reward"), "reference_kl": train.get("kl"), "eval_reward": evaluation.get("eval_reward")}

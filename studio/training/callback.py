"""The Trainer callback that writes a run's `events.jsonl`: progress, evaluations, probe answers (with the
held-out reference answer, `expected`, where the data gives one).

It also turns an abort request (the run's `abort` file, or SIGTERM) into a clean stop with a
checkpoint; under several processes every process stops at the same step, and only the first writes.
Readers of the file live in `studio.events`, which stays free of transformers so the UI starts quickly.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from transformers import TrainerCallback

from studio import runs
from studio.events import format_progress, reward_events
from studio.methods import is_prompt_learning, update_adalora
from studio.workspace import append_jsonl


class StudioCallback(TrainerCallback):
    """Logs progress, answers probe prompts at each evaluation, and stops on request."""

    def __init__(self, run_dir: Path, total_steps: int, tokenizer, probes: list[str], config,
                 expected: list[str] | None = None):
        self.run_dir = Path(run_dir)
        self.events = self.run_dir / runs.EVENTS
        self.total_steps = total_steps
        self.tokenizer = tokenizer
        self.probes = probes
        self.expected = expected or []  # the reference answer of each probe, where the data holds one
        self.config = config
        # A recipe may add to each event: a function of (Trainer state, "train" | "validation") returning more keys
        # for the step's line or the evaluation's (GRPO: sampled answers with their rewards).
        self.extra = None
        self.aborted = False
        self.last_loss = None
        self.last_eval_loss = None
        self.last_eval_step = None
        self.trained_tokens = 0
        self._abort_requested = False
        self._train_seconds = 0.0
        self._step_started = None
        self._tokens_at_start = 0
        self._steps_at_start = 0
        self._started = time.time()

    def request_abort(self) -> None:
        self._abort_requested = True

    def train_seconds(self) -> float:
        return self._train_seconds

    def on_train_begin(self, args, state, control, **kwargs):
        self._tokens_at_start = state.num_input_tokens_seen
        self._steps_at_start = state.global_step
        self._started = time.time()

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_started = time.perf_counter()

    def on_optimizer_step(self, args, state, control, model=None, **kwargs):
        if self.config.method == "adalora":
            update_adalora(model, state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self._step_started is not None:
            self._train_seconds += time.perf_counter() - self._step_started
        self.trained_tokens = int(state.num_input_tokens_seen)
        if any_process(self._abort_requested or runs.abort_requested(self.run_dir), args.device):
            self.aborted = True
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs or not state.is_world_process_zero:
            return
        self.last_loss = float(logs["loss"])
        event = {
            "step": state.global_step, "epoch": round(state.epoch or 0, 3), "loss": self.last_loss,
            "learning_rate": logs.get("learning_rate"), "grad_norm": _number(logs.get("grad_norm")),
            **reward_events(logs), **self._speed(state), **(self.extra(state, "train") if self.extra else {}),
        }
        append_jsonl(self.events, event)
        print(format_progress(event, self.total_steps), flush=True)

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        metrics = metrics or {}
        # Every process keeps the step: the run's last evaluation is a collective, which all or none must start.
        self.last_eval_step = state.global_step
        if "eval_loss" in metrics:
            self.last_eval_loss = float(metrics["eval_loss"])
        if not state.is_world_process_zero:
            return
        event = {"step": state.global_step, "epoch": round(state.epoch or 0, 3)}
        if "eval_loss" in metrics:
            event["eval_loss"] = self.last_eval_loss
        event.update(reward_events(metrics, prefix="eval_"))
        event.update(self.extra(state, "validation") if self.extra else {})
        if self.probes and model is not None:
            answers = answer_probes(model, self.tokenizer, self.probes, self.config)
            event["probes"] = [{"prompt": prompt, "answer": answer,
                                **({"expected": self.expected[index]} if index < len(self.expected) else {})}
                               for index, (prompt, answer) in enumerate(zip(self.probes, answers))]
        append_jsonl(self.events, event)
        print(format_progress(event, self.total_steps), flush=True)

    def _speed(self, state) -> dict:
        session_tokens = state.num_input_tokens_seen - self._tokens_at_start
        session_steps = state.global_step - self._steps_at_start
        elapsed = time.time() - self._started
        seconds_per_step = elapsed / session_steps if session_steps else 0.0
        return {
            "tokens_per_second": round(session_tokens / self._train_seconds, 1) if self._train_seconds else None,
            "trained_tokens": int(state.num_input_tokens_seen),
            "elapsed": round(elapsed, 1),
            "eta": round(seconds_per_step * max(self.total_steps - state.global_step, 0), 1),
        }


def any_process(flag: bool, device) -> bool:
    """True on every process when it is true on any. Each process sees the abort file (or its SIGTERM) on its own
    time; one that stopped alone would leave the others waiting for it at the next exchange of gradients."""
    import torch.distributed as distributed

    if not (distributed.is_available() and distributed.is_initialized()) or distributed.get_world_size() == 1:
        return flag
    vote = torch.tensor([1 if flag else 0], device=device)
    distributed.all_reduce(vote, op=distributed.ReduceOp.MAX)
    return bool(vote.item())


def _number(value):
    if value is None:
        return None
    return float(value.item() if hasattr(value, "item") else value)


@torch.no_grad()
def answer_probes(model, tokenizer, prompts: list[str], config) -> list[str]:
    """Greedy answers to the probe prompts, with the chat template for SFT and raw text for pretrain: in one
    left-padded batch (each decoding step reads the weights once for every probe: 1.7x faster for two), or one at
    a time for prompt methods, whose virtual tokens would sit before the padding, and where nothing can pad."""
    was_training = model.training
    model.eval()
    raw = config.stage == "pretrain" or not tokenizer.chat_template
    texts = prompts if raw else [tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                                               add_generation_prompt=True, tokenize=False)
                                 for prompt in prompts]
    prompt_method = is_prompt_learning(model)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    groups = [[text] for text in texts] if prompt_method or pad is None or len(texts) < 2 else [texts]
    side, pad_token = tokenizer.padding_side, tokenizer.pad_token
    device = next(model.parameters()).device
    answers = []
    try:
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None and pad is not None:
            tokenizer.pad_token = tokenizer.eos_token
        for group in groups:
            ids = tokenizer(group, return_tensors="pt", padding=True, add_special_tokens=raw).to(device)
            output = model.generate(**ids, max_new_tokens=config.probe_max_new_tokens, do_sample=False,
                                    pad_token_id=pad)
            answers.extend(text.strip() for text in
                           tokenizer.batch_decode(output[:, ids["input_ids"].shape[1]:], skip_special_tokens=True))
    finally:
        tokenizer.padding_side, tokenizer.pad_token = side, pad_token
        if was_training:
            model.train()
    return answers

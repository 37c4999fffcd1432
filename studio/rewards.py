"""The rewards GRPO learns from: a rule against each row's reference answer, a target length, a reward-model run.

Each reward is a callable in the form TRL's GRPOTrainer takes for `reward_funcs`, which is also a plain function
of three lists:

    reward(prompts, completions, reference) -> list[float]     # one reward per answer

`prompts` are the conversations each answer replies to (lists of {"role", "content"}, or text), `completions`
the sampled answers (text, or TRL's [{"role": "assistant", "content": ...}]), and `reference` the reference
answer of each answer's row: the training rows' answers travel beside the prompts as a dataset column of that
name, which TRL hands every reward function as a keyword (with `trainer_state` and a few more, ignored here).

    rule       exact: 1 when the answer has the same words as the reference after normalising case, spaces and
               punctuation (studio.evaluate.words), else 0; contains: 1 when the reference's words appear in the
               answer, in order and together; regex: 1 when `reward_pattern` is found anywhere in the answer
    length     exp(-((words - target) / width)^2 / 2), width = max(target / 2, 2): 1 at the target length in
               words, about 0.6 a width away and near 0 at three widths; smooth on both sides
    model      a finished reward-model run's score of the answer (studio.scoring.score_answers) through a
               sigmoid: 0 to 1, above one half where the reward model rates the answer better than a neutral one

Several rewards add up: an answer's reward is the plain sum of every reward the run sets (TRL's reward weights,
all 1; `total_reward` computes the same), so each counts alike, from 0 to 1. GRPO then compares each answer's
sum with the other answers to the same prompt, so what is learned is which answers of a group did better.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from studio.config import RunConfig


def answer_text(completion) -> str:
    """The text of an answer: a string, or the content of TRL's conversational [{"role", "content"}]."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content") or "")
    return "".join(answer_text(part) for part in completion or [])


def prompt_messages(prompt) -> list[dict]:
    """A prompt as chat messages: a conversation as it is, text as one user turn."""
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


def normalized_words(text: str) -> list[str]:
    from studio.evaluate import words

    return words(text)


def length_score(count: int, target: int) -> float:
    """1 at the target length, smoothly less with distance on either side (see the module's docstring)."""
    width = max(target / 2, 2.0)
    return math.exp(-0.5 * ((count - target) / width) ** 2)


class Reward:
    """One reward function: called with prompts, answers and their reference answers, returns a float each."""

    __name__ = "reward"

    def __call__(self, prompts: list, completions: list, reference: list | None = None, **_) -> list[float]:
        references = list(reference) if reference is not None else [""] * len(completions)
        return [self.score(answer_text(completion), str(ref or "")) for completion, ref in zip(completions, references)]

    def score(self, answer: str, reference: str) -> float:
        raise NotImplementedError


class RuleReward(Reward):
    """1 when the answer meets the rule (exact, contains, regex), else 0."""

    __name__ = "rule"

    def __init__(self, rule: str, pattern: str = ""):
        if rule not in ("exact", "contains", "regex"):
            raise ValueError(f"reward_rule '{rule}' is not one of: exact, contains, regex.")
        if rule == "regex" and not pattern:
            raise ValueError("reward_rule regex needs reward_pattern, the pattern a good answer matches.")
        self.rule = rule
        self.pattern = re.compile(pattern) if rule == "regex" else None

    def score(self, answer: str, reference: str) -> float:
        if self.pattern is not None:
            return float(self.pattern.search(answer) is not None)
        expected, given = normalized_words(reference), normalized_words(answer)
        if self.rule == "exact":
            return float(given == expected)
        return float(bool(expected) and f" {' '.join(expected)} " in f" {' '.join(given)} ")


class LengthReward(Reward):
    """1 at `target` words, less the further the answer is from it."""

    __name__ = "length"

    def __init__(self, target: int):
        if target < 1:
            raise ValueError("reward_length must be at least 1 word.")
        self.target = target

    def score(self, answer: str, reference: str) -> float:
        return length_score(len(normalized_words(answer)), self.target)


class ModelReward(Reward):
    """A finished reward-model run's score of each answer to its prompt, through a sigmoid (0 to 1)."""

    __name__ = "reward_model"

    def __init__(self, run: str | Path, batch_size: int = 8):
        from studio.scoring import reward_weights  # the reward-model stage's scorer, loaded only when a run uses it

        self.run = reward_run(run)
        reward_weights(self.run)  # a finished run of stage rm, or a ValueError that says what to pick
        self.batch_size = batch_size

    def __call__(self, prompts: list, completions: list, reference: list | None = None, **_) -> list[float]:
        from studio.scoring import score_answers

        scores = score_answers(self.run, [prompt_messages(prompt) for prompt in prompts],
                               [answer_text(completion) for completion in completions], batch_size=self.batch_size)
        return [1 / (1 + math.exp(-max(min(float(score), 60.0), -60.0))) for score in scores]


def reward_run(value: str | Path) -> Path:
    """The folder of a reward-model run: a path to it, or the name of a run in the workspace's runs/."""
    from studio.runs import is_run
    from studio.workspace import runs_dir

    for candidate in (Path(value).expanduser(), runs_dir() / str(value)):
        if str(value).strip() and is_run(candidate):
            return candidate.resolve()
    raise ValueError(f"reward_model: no run '{value}'; give a finished run of stage rm (its folder or its name).")


def reward_functions(config: RunConfig) -> list[Reward]:
    """The rewards a GRPO run sets, in a fixed order: the reward model, the rule, the length."""
    functions: list[Reward] = []
    if config.reward_model:
        functions.append(ModelReward(config.reward_model))
    if config.reward_rule:
        functions.append(RuleReward(config.reward_rule, config.reward_pattern))
    if config.reward_length:
        functions.append(LengthReward(config.reward_length))
    if not functions:
        raise ValueError("GRPO learns from rewards: set reward_model, reward_rule or reward_length, or several.")
    return functions


def total_reward(functions: list, prompts: list, completions: list, references: list) -> list[float]:
    """Each answer's reward: the sum of every function's (what GRPO learns from)."""
    totals = [0.0] * len(completions)
    for function in functions:
        for index, value in enumerate(function(prompts, completions, references)):
            totals[index] += value
    return totals

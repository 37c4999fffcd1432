"""Reward-model scores beside Compare's answers: which run may score (a finished run of stage rm), and the
scores it gives answers to their prompts.

The scoring itself is `studio.scoring` (the reward model stage), imported only when a score is asked for,
so Compare works as before where it is missing or no reward model is chosen.

    run_dir = reward_run("rm-run")                      # a request's choice, resolved and checked; None = no scores
    scores(run_dir, [messages, ...], ["answer", ...])   # one number per answer: higher = better
"""

from __future__ import annotations

from pathlib import Path

from studio import runs

REWARD_STAGE = "rm"
DIGITS = 4  # a score as shown and written in reports


def is_reward(run_dir: Path) -> bool:
    """A finished run of stage rm that studio.scoring can load."""
    if runs.read_settings(run_dir).get("stage") != REWARD_STAGE:
        return False
    if runs.read_summary(run_dir).get("status") != "finished":
        return False
    try:
        from studio.scoring import is_reward_run
    except ImportError:  # the reward model stage is not in this version
        return False
    return bool(is_reward_run(run_dir))


def reward_run(value: str | Path | None) -> Path | None:
    """The reward model run a request names, inside the workspace; None when it names none."""
    from studio.access import client_run

    if not str(value or "").strip():
        return None
    run_dir = client_run(value)
    if not is_reward(run_dir):
        raise ValueError(f"'{run_dir.name}' is not a finished reward model run; pick one in the list, or none.")
    return run_dir


def scores(run_dir: Path, prompts: list[list[dict]], answers: list[str], batch_size: int = 8) -> list[float]:
    """The reward model's score of each answer to its prompt (chat messages up to the question)."""
    from studio.scoring import score_answers

    if not answers:
        return []
    given = score_answers(run_dir, [list(prompt) for prompt in prompts], list(answers), batch_size=batch_size)
    if len(given) != len(answers):
        raise ValueError(f"The reward model gave {len(given)} scores for {len(answers)} answers.")
    return [round(float(score), DIGITS) for score in given]


def mean(values: list[float]) -> float:
    return round(sum(values) / len(values), DIGITS) if values else 0.0

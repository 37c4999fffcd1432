"""The run's event stream: readers of `events.jsonl` (written by `studio.training.callback.StudioCallback`).

The UI's live chart and log need nothing but this file, so a browser can close and reopen,
or the app restart, at any point of a run.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from studio import runs
from studio.workspace import read_jsonl


def format_progress(event: dict, total_steps: int) -> str:
    """One line a person reads: step, losses, speed, time."""
    parts = [f"step {event['step']}/{total_steps}"]
    if event.get("loss") is not None:
        parts.append(f"loss {event['loss']:.4f}")
    if event.get("eval_loss") is not None:
        parts.append(f"eval_loss {event['eval_loss']:.4f}")
    if event.get("preference_accuracy") is not None:
        parts.append(f"preference accuracy {event['preference_accuracy']:.2f}, margin {event['reward_margin']:.3f}")
    elif event.get("reward_margin") is not None:  # KTO: no pairs to be accurate about, the good answers' lead
        parts.append(f"reward margin {event['reward_margin']:.3f}")
    if event.get("reward") is not None:  # GRPO: the sampled answers' mean reward
        parts.append(f"reward {event['reward']:.3f}" + (f", answer {event['answer_length']:.0f} tokens"
                                                        if event.get("answer_length") is not None else ""))
    if event.get("learning_rate") is not None:
        parts.append(f"lr {event['learning_rate']:.2e}")
    if event.get("tokens_per_second"):
        parts.append(f"{event['tokens_per_second']:.0f} tok/s")
    if event.get("elapsed") is not None:
        parts.append(f"{_clock(event['elapsed'])} elapsed, ETA {_clock(event.get('eta') or 0)}")
    line = " | ".join(parts)
    for probe in event.get("probes", []):
        line += f"\n  probe: {_tail(probe['prompt'], 60)!r} -> {probe['answer'][:120]!r}"
    return line


def _tail(text: str, limit: int) -> str:
    """The end of a long prompt: where the question that differs between probes usually is."""
    text = " ".join(text.split())
    return text if len(text) <= limit else "..." + text[-limit:]


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


def read_events(run_dir: Path) -> list[dict]:
    return read_jsonl(Path(run_dir) / runs.EVENTS)


def loss_points(events: list[dict]) -> list[dict]:
    """Training and validation loss per step, the last value winning after a resume."""
    points = {}
    for event in events:
        for key in ("loss", "eval_loss"):
            if event.get(key) is not None and "step" in event:
                points[(event["step"], key)] = event[key]
    return [{"step": step, "series": key, "loss": value} for (step, key), value in sorted(points.items())]


PLOT_POINTS = 250  # per series: a chart of a 200,000-step run stays a few hundred points
# TRL's metric names -> the keys of events.jsonl lines (and of the run summary).
REWARD_METRICS = {"rewards/accuracies": "preference_accuracy", "rewards/margins": "reward_margin"}
REWARD_NAMES = tuple(REWARD_METRICS.values())
# RewardTrainer's names for the same two (stage rm): the share of pairs whose chosen answer scores above the
# rejected one, and the mean score difference.
SCORE_METRICS = {"accuracy": "preference_accuracy", "margin": "reward_margin"}
# The rewards of good (chosen) and bad (rejected) answers, beta x log(policy / reference), which KTO (and DPO) log,
# and KTO's estimate of the policy's KL divergence from the reference, the point its rewards are measured from.
FEEDBACK_METRICS = {"rewards/chosen": "reward_good", "rewards/rejected": "reward_bad", "kl": "reference_kl"}
# GRPOTrainer's names (stage grpo): the mean reward of the sampled answers (the sum of the run's rewards) and each
# reward's own mean (studio.rewards names them rule, length, reward_model), the KL divergence from the reference
# (KTO's name for it), and the mean answer length in tokens.
GRPO_METRICS = {"reward": "reward", "rewards/rule/mean": "reward_rule", "rewards/length/mean": "reward_length",
                "rewards/reward_model/mean": "reward_model", "kl": "reference_kl",
                "completions/mean_length": "answer_length"}


class RunEvents:
    """What the live view needs from a run's events.jsonl, read on from where the last read stopped.

    A page refreshes every two seconds; reading a long run's whole file each time would cost seconds of
    CPU a refresh. `update()` reads only the lines appended since (and starts over when the file was
    replaced, e.g. by a new run in the same folder). Steps arrive in order, so each series is a dict in
    step order; a resume logs steps again and the last value wins in place.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock = threading.Lock()
        self._reset(None)

    def _reset(self, identity) -> None:
        self.identity, self.offset = identity, 0
        self.prepared: dict | None = None
        self.last_loss: dict | None = None
        self.last_probes: dict | None = None
        self.last_samples: dict | None = None  # GRPO: the latest event with sampled answers and their rewards
        self.series: dict[tuple, dict[int, float]] = {}  # ("loss" | "eval_loss" | (metric, split)) -> {step: value}

    def update(self) -> "RunEvents":
        try:
            status = self.path.stat()
        except OSError:
            self._reset(None)
            return self
        identity = (status.st_dev, status.st_ino)
        if identity != self.identity or status.st_size < self.offset:
            self._reset(identity)
        if status.st_size == self.offset:
            return self
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(status.st_size - self.offset)
        complete = data[:data.rfind(b"\n") + 1]  # a line still being written is read next time
        self.offset += len(complete)
        for line in complete.split(b"\n"):
            if line.strip():
                try:
                    self._add(json.loads(line))
                except ValueError:  # a line torn by a killed writer costs only itself
                    continue
        return self

    def _add(self, event: dict) -> None:
        if not isinstance(event, dict):
            return
        if event.get("event") == "prepared":
            self.prepared = event
        step = event.get("step")
        if not isinstance(step, int):
            return
        if "loss" in event:
            self.last_loss = event
        if event.get("probes"):
            self.last_probes = event
        if event.get("samples"):
            self.last_samples = event
        split = "validation" if "eval_loss" in event else "train"
        for key in dict.fromkeys(("loss", "eval_loss", *REWARD_NAMES, *FEEDBACK_METRICS.values(),
                                  *GRPO_METRICS.values())):
            if event.get(key) is not None:
                self.series.setdefault(key if key in ("loss", "eval_loss") else (key, split), {})[step] = event[key]

    def loss_points(self, limit: int = PLOT_POINTS) -> list[dict]:
        """Loss per step, at most `limit` points a series, in step order."""
        points = [{"step": step, "series": key, "loss": value}
                  for key in ("loss", "eval_loss") for step, value in thin(list(self.series.get(key, {}).items()), limit)]
        return sorted(points, key=lambda point: point["step"])

    def reward_points(self, limit: int = PLOT_POINTS) -> list[dict]:
        return [{"metric": key[0], "step": step, "series": key[1], "value": value}
                for key, values in sorted((key, values) for key, values in self.series.items() if isinstance(key, tuple))
                for step, value in thin(list(values.items()), limit)]


def thin(points: list, limit: int) -> list:
    """At most `limit` points spread evenly over the list, the first and the last always among them."""
    if len(points) <= limit:
        return points
    return [points[round(index * (len(points) - 1) / (limit - 1))] for index in range(limit)]


_followed: dict[Path, RunEvents] = {}
_followed_lock = threading.Lock()


def follow(run_dir: Path) -> dict:
    """What the live view shows of a run, read on from the last read; one reader per run, shared by every page."""
    path = Path(run_dir) / runs.EVENTS
    with _followed_lock:
        events = _followed.setdefault(path, RunEvents(path))
    with events.lock:
        events.update()
        return {"prepared": events.prepared, "last_loss": events.last_loss, "last_probes": events.last_probes,
                "last_samples": events.last_samples,
                "loss_points": events.loss_points(), "reward_points": events.reward_points()}


def reward_events(metrics: dict, prefix: str = "") -> dict:
    """The reward metrics of a Trainer log or evaluation, under their events.jsonl names."""
    mappings = (SCORE_METRICS, REWARD_METRICS, FEEDBACK_METRICS, GRPO_METRICS)
    return {name: float(metrics[prefix + key]) for mapping in mappings
            for key, name in mapping.items() if metrics.get(prefix + key) is not None}

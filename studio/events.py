"""The run's event stream: readers of `events.jsonl` (written by `studio.callback.StudioCallback`).

The UI's live chart and log need nothing but this file, so a browser can close and reopen,
or the app restart, at any point of a run.
"""

from __future__ import annotations

from pathlib import Path

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
    return read_jsonl(Path(run_dir) / "events.jsonl")


def loss_points(events: list[dict]) -> list[dict]:
    """Training and validation loss per step, the last value winning after a resume."""
    points = {}
    for event in events:
        for key in ("loss", "eval_loss"):
            if event.get(key) is not None and "step" in event:
                points[(event["step"], key)] = event[key]
    return [{"step": step, "series": key, "loss": value} for (step, key), value in sorted(points.items())]

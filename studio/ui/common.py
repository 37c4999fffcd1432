"""What more than one tab needs, so that a tab need not import another for it."""

from __future__ import annotations

from studio.config import load_config


def default_preset() -> str:
    """The preset a new run starts from: sized for a laptop CPU there, the plain LoRA preset on a GPU."""
    from studio.models import pick_device

    return "cpu-lora" if pick_device() == "cpu" else "lora"


def run_name(run_path: str | None) -> str | None:
    """The run's folder name from the followed run's path (what the run fields of Chat, Compare and Export hold)."""
    return run_path.rstrip("/").rsplit("/", 1)[-1] if run_path else None


def default_cutoff() -> int:
    """The cut-off the default preset trains at: the Dataset tab checks lengths against what Start will use."""
    return load_config(default_preset()).cutoff_length

"""What a request to the app may name: runs, datasets, models, exports and presets resolved inside the app's folders.

The app serves every handler over HTTP, and a caller can send any string, whatever a widget shows.
Each name or path that arrives from a client goes through one of the functions here, which resolve
it inside the workspace, the shipped samples or the model cache, or a folder the app was launched
with (`app.py --allow-paths DIR`), and refuse anything else. Model code (`trust_remote_code`) is
refused unless the app was launched with `--allow-remote-code`.

The command line does not go through here: a user typing a path on their own machine may name any
file they can read.

    run_dir = client_run("20260101-120000-lora-reviews")
    dataset = client_dataset(value)        # a workspace dataset name, or a path inside an allowed folder
"""

from __future__ import annotations

import os
from pathlib import Path

from studio.config import EMBEDDED_MODEL, SAMPLES_DIR
from studio.runs import is_run, read_settings
from studio.workspace import cache_dir, datasets_dir, exports_dir, inside, runs_dir, workspace_root

ALLOW_PATHS_ENV = "STUDIO_ALLOW_PATHS"  # folders, os.pathsep apart, that requests may name besides the workspace
REMOTE_CODE_ENV = "STUDIO_ALLOW_REMOTE_CODE"  # "1": requests may switch trust_remote_code on
OUTSIDE_HINT = ("The app opens only files in its workspace and the shipped samples; to open your own folder, "
                "start it with --allow-paths FOLDER, or use the command line.")


def extra_roots() -> list[Path]:
    """Folders named with `--allow-paths` at launch."""
    return [Path(item).expanduser().resolve() for item in os.environ.get(ALLOW_PATHS_ENV, "").split(os.pathsep) if item]


def allowed_roots() -> list[Path]:
    return [workspace_root(), SAMPLES_DIR.resolve(), *extra_roots()]


def allowed_path(value: str | Path, what: str = "path", roots: list[Path] | None = None) -> Path:
    """`value` resolved (links followed) when it lies inside an allowed folder (`roots`, by default the workspace,
    the samples and the launch folders); ValueError otherwise."""
    text = str(value or "").strip()
    if not text or "\0" in text:
        raise ValueError(f"No {what} given.")
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise ValueError(f"The {what} '{text}' is not a name the app knows. {OUTSIDE_HINT}")
    resolved = path.resolve()
    for root in roots if roots is not None else allowed_roots():
        if resolved == root or root in resolved.parents:
            return resolved
    raise ValueError(f"The {what} '{text}' is outside the folders the app may open. {OUTSIDE_HINT}")


def plain_name(value: str, what: str) -> str:
    """A bare file or folder name: no separators, no '..', nothing hidden."""
    name = str(value or "").strip().rstrip("/")
    if not name or name in (".", "..") or name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"'{value}' is not a plain {what} name (no folders, no '..').")
    return name


def client_run(value: str | Path) -> Path:
    """A run folder in the workspace's runs/, from its name or its full path there."""
    text = str(value or "").strip()
    if not text:
        raise ValueError("Select a run in the runs list first.")
    name = Path(text).name if Path(text).is_absolute() else plain_name(text, "run")
    folder = inside(runs_dir(), plain_name(name, "run"))
    if Path(text).is_absolute() and Path(text).resolve() != folder:
        raise ValueError(f"'{text}' is not a run of this workspace.")
    if folder.is_symlink() or not is_run(folder):
        raise ValueError(f"No run '{name}' in this workspace.")
    return folder


def client_export(value: str) -> Path:
    """A folder or file in the workspace's exports/, by name."""
    return inside(exports_dir(), plain_name(value, "export"))


def client_dataset(value: str, what: str = "dataset") -> str:
    """A workspace dataset name, or a path to a dataset file inside an allowed folder."""
    text = str(value or "").strip()
    if not text:
        return ""
    if not Path(text).is_absolute():
        name = plain_name(text, what)
        for candidate in (datasets_dir() / name, datasets_dir() / f"{name}.jsonl"):
            if candidate.is_file() and not candidate.is_symlink():
                return str(candidate)
        raise ValueError(f"No {what} '{name}' in the workspace's datasets.")
    path = allowed_path(text, what, [datasets_dir().resolve(), SAMPLES_DIR.resolve(), *extra_roots()])
    if not path.is_file():
        raise ValueError(f"No {what} file '{text}'.")
    return str(path)


def is_hub_id(name: str) -> bool:
    """'org/model' as the hub names models: never a path the server would read."""
    parts = name.split("/")
    return (len(parts) == 2 and all(parts) and not name.startswith(("~", ".", "/"))
            and ".." not in parts and not Path(name).exists())


def client_model(value: str, known: list[str] | tuple = ()) -> str:
    """A base model a request may load: embedded, a hub id, one the app lists (`known`), or a folder / .gguf
    inside an allowed folder or the model cache."""
    name = str(value or "").strip() or EMBEDDED_MODEL
    if name == EMBEDDED_MODEL or name in known or is_hub_id(name):
        return name
    path = Path(name).expanduser()
    if path.is_absolute():
        resolved = path.resolve()
        cache = cache_dir().resolve()
        if resolved == cache or cache in resolved.parents:
            return str(resolved)
        return str(allowed_path(name, "model"))
    raise ValueError(f"'{name}' is not a model the app knows: use 'embedded', a hub id like 'org/model', or "
                     f"a model folder. {OUTSIDE_HINT}")


def run_bases() -> list[str]:
    """The base models the workspace's runs were trained from: the app lists them, so requests may name them."""
    import yaml

    bases = []
    for config in runs_dir().glob("*/config.yaml"):
        try:
            base = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("base_model")
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(base, str) and base:
            bases.append(base)
    return bases


def client_config(config):
    """A RunConfig from a request with its paths resolved inside the allowed folders (ValueError otherwise)."""
    config.dataset = client_dataset(config.dataset)
    config.validation_dataset = client_dataset(config.validation_dataset, "validation dataset")
    if config.heldout not in ("", "validation"):
        config.heldout = client_dataset(config.heldout, "held-out dataset")
    config.base_model = client_model(config.base_model, run_bases())
    if config.start_from:
        config.start_from = str(client_run(config.start_from))
    if config.reward_model:
        config.reward_model = str(client_run(config.reward_model))
        if read_settings(Path(config.reward_model)).get("stage") != "rm":
            raise ValueError(f"reward_model: {Path(config.reward_model).name} is not a reward-model run (stage rm).")
    check_remote_code(config.trust_remote_code)
    config.output_dir = ""  # each start from the app makes a new run folder under runs/
    return config


def remote_code_allowed() -> bool:
    return os.environ.get(REMOTE_CODE_ENV) == "1"


def check_remote_code(wanted: bool) -> None:
    if wanted and not remote_code_allowed():
        raise ValueError("trust_remote_code runs Python shipped with a model. The app accepts it only when started "
                         "with --allow-remote-code; the command line (python -m studio train) accepts it as it is.")

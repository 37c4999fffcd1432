"""Where things live: datasets/, runs/ and cache/ under one workspace folder.

The workspace is `workspace/` in the project folder (for an installed package, `./workspace` where the
command runs) unless `STUDIO_WORKSPACE` (or the app's `--workspace`) names another. Every file the
studio writes goes through `atomic_write_*`, so a process killed mid-save leaves the previous version readable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# An installed package has no project folder (its parent is site-packages): there the default is relative.
DEFAULT_WORKSPACE = PROJECT_ROOT / "workspace" if (PROJECT_ROOT / "pyproject.toml").is_file() else Path("workspace")
_SAFE_NAME = re.compile(r"[^\w.-]+", re.UNICODE)
# File names are limited to 255 bytes; a name also gets a suffix, `.prev` and a temp-file prefix.
NAME_BYTES = 120


def workspace_root() -> Path:
    """The workspace folder, created on first use."""
    root = Path(os.environ.get("STUDIO_WORKSPACE") or DEFAULT_WORKSPACE).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def datasets_dir() -> Path:
    return _subdir("datasets")


def runs_dir() -> Path:
    return _subdir("runs")


def cache_dir() -> Path:
    return _subdir("cache")


def exports_dir() -> Path:
    return _subdir("exports")


def _subdir(name: str) -> Path:
    path = workspace_root() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def safe_name(name: str, default: str = "untitled") -> str:
    """A file or folder name made from user text: no separators, no `..`, no leading dot."""
    cleaned = _SAFE_NAME.sub("-", Path(str(name)).name).strip("-.")
    # Cut by bytes, not characters: 120 Chinese characters are 360 bytes. A cut half character is dropped.
    cleaned = cleaned.encode("utf-8")[:NAME_BYTES].decode("utf-8", errors="ignore").strip("-.")
    return cleaned or default


def inside(root: Path, candidate: str | Path) -> Path:
    """Resolve `candidate` under `root`; refuse anything that escapes it."""
    root = Path(root).resolve()
    path = (root / candidate).resolve()
    if path != root and root not in path.parents:
        raise ValueError(f"'{candidate}' is outside the workspace folder {root}.")
    return path


TRAINING_LOCK = ".training.lock"


class TrainingLock:
    """One training job per workspace, across every app and command line using it.

    The training process holds an exclusive lock on `runs/.training.lock` for as long as it lives, with
    its run folder written inside; the system drops the lock when the process ends, however it ends.
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = str(Path(run_dir).resolve())
        self.handle = None

    def acquire(self) -> "TrainingLock":
        import fcntl

        handle = open(runs_dir() / TRAINING_LOCK, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            holder = training_holder()
            raise ValueError(f"Another training job is running in this workspace ({Path(holder or '?').name}); "
                             "wait for it or abort it first.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(self.run_dir)
        handle.flush()
        self.handle = handle
        return self

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()  # closing drops the lock
            self.handle = None


def training_holder() -> str | None:
    """The run folder of the training job that holds the workspace's lock, or None when none does."""
    try:
        import fcntl
    except ImportError:  # no advisory locks (Windows): each app's own job list still refuses a second job
        return None
    path = runs_dir() / TRAINING_LOCK
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return handle.read().strip() or "?"
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


def atomic_write_bytes(path: str | Path, data: bytes, keep_previous: bool = False) -> Path:
    """Write to a temp file in the same folder, fsync, then rename over `path`.

    With `keep_previous`, the old file is kept as `<name>.prev` so one save can be undone.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if keep_previous and path.exists():
            _keep_copy(path, path.with_name(path.name + ".prev"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _keep_copy(path: Path, previous: Path) -> None:
    """`previous` becomes a second name for `path`'s contents, while `path` itself stays in place.

    Renaming `path` away first would leave a moment with no `path` at all: a process killed there
    would lose the dataset it was saving.
    """
    previous.unlink(missing_ok=True)
    try:
        os.link(path, previous)
    except OSError:  # file systems without hard links
        shutil.copy2(path, previous)


def replace_folder(staging: str | Path, target: str | Path) -> Path:
    """Put a fully written `staging` folder in place of `target`.

    The old folder is renamed aside before the new one takes its name and removed only after, so
    a process killed at any point leaves a whole folder: the old one (perhaps as `.<name>.old`),
    or the new one.
    """
    staging, target = Path(staging), Path(target)
    old = target.with_name(f".{target.name}.old")
    if old.exists() and not target.exists():  # a save killed between its two renames
        os.replace(old, target)
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def atomic_write_text(path: str | Path, text: str, keep_previous: bool = False) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), keep_previous=keep_previous)


def atomic_write_json(path: str | Path, obj, keep_previous: bool = False) -> Path:
    return atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n", keep_previous)


def append_jsonl(path: str | Path, obj) -> None:
    """Append one JSON line in one write call, so readers never see half a line.

    A line torn by a writer killed mid-write is ended first: it costs only itself, not the next line too.
    """
    line = (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")
    with open(path, "a+b") as handle:
        if handle.seek(0, os.SEEK_END):
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                line = b"\n" + line
        os.write(handle.fileno(), line)  # unbuffered: one system call for the whole line


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSONL file written by `append_jsonl`, skipping a torn last line."""
    rows = []
    path = Path(path)
    if not path.exists():
        return rows
    # Only "\n" ends a line: splitlines() would also break at U+2028, which a logged answer may hold.
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows

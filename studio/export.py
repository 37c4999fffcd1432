"""Export a run: copy its adapter, or merge it into a full model folder that plain transformers loads.

    python -m studio export --run runs/demo --output merged/ --merge
"""

from __future__ import annotations

import shutil
from pathlib import Path

from studio import runs
from studio.workspace import replace_folder


def export_run(run_dir: str | Path, output: str | Path, merge: bool = False) -> Path:
    """Write the run's result to `output`; returns the folder written."""
    run_dir, output = Path(run_dir), Path(output)
    kind, folder = runs.trained_weights(run_dir)
    if output.exists() and any(output.iterdir()):
        raise ValueError(f"{output} is not empty; choose a new folder so nothing is overwritten.")
    # Written beside the target and renamed into place: an export stopped halfway leaves no folder
    # that looks like a model (and would be offered for chat) but does not load.
    staging = output.with_name(f".{output.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    if kind == "model" or not merge:
        shutil.copytree(folder, staging, ignore=_links)
    else:
        merge_adapter(run_dir, folder, staging)
    return replace_folder(staging, output)


def _links(folder: str, names: list[str]) -> list[str]:
    """Links are left out of a copy: they could point anywhere on this machine."""
    return [name for name in names if (Path(folder) / name).is_symlink()]


def merge_adapter(run_dir: Path, adapter: Path, output: Path) -> Path:
    """Fold LoRA-style weights into the base; the result needs no PEFT to load."""
    import json

    from peft import PeftModel

    from studio.models import load_model, load_tokenizer

    peft_type = json.loads((adapter / "adapter_config.json").read_text())["peft_type"]
    if peft_type in ("PREFIX_TUNING", "PROMPT_TUNING", "P_TUNING"):
        raise ValueError(
            "Prompt methods (prefix tuning, prompt tuning, P-Tuning) add virtual tokens rather than change "
            "weights, so they cannot be merged. Export without --merge and load with PeftModel."
        )
    # Merging into a quantized base would round the result; QLoRA runs merge into full precision.
    model, _ = load_model(runs.base_model(run_dir) or "embedded", precision="fp32", device="cpu")
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    merged.save_pretrained(output)
    load_tokenizer(adapter).save_pretrained(output)
    return output


def zip_run(run_dir: str | Path, output: str | Path) -> Path:
    """The run's adapter/ (or model/) folder as one zip, written whole or not at all."""
    import os
    import tempfile
    import zipfile

    run_dir, output = Path(run_dir), Path(output)
    kind, folder = runs.trained_weights(run_dir)
    if folder.is_symlink():
        raise ValueError(f"{run_dir.name}/{folder.name} is a link to another folder; only a run's own files are exported.")
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    os.close(handle)
    try:
        # Weights barely compress; storing them keeps a large model/ quick to pack.
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
            for path in sorted(folder.rglob("*")):
                # A link could point anywhere on this machine: only the run's own files are packed.
                if path.is_file() and not path.is_symlink() and not any(part.is_symlink() for part in path.parents
                                                                        if folder in part.parents):
                    archive.write(path, f"{run_dir.name}-{kind}/{path.relative_to(folder).as_posix()}")
        os.replace(partial, output)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return output


def loading_code(folder: str | Path, kind: str, base: str | None = None) -> str:
    """Python that loads an exported folder and answers one question: plain transformers, or PEFT on the base."""
    folder = str(folder)
    lines = ["from transformers import AutoModelForCausalLM, AutoTokenizer"]
    if kind == "adapter":
        lines += ["from peft import PeftModel", "",
                  f"base = AutoModelForCausalLM.from_pretrained({base_location(base)!r})",
                  f"model = PeftModel.from_pretrained(base, {folder!r})"]
    else:
        lines += ["", f"model = AutoModelForCausalLM.from_pretrained({folder!r})"]
    lines += [f"tokenizer = AutoTokenizer.from_pretrained({folder!r})", "",
              'messages = [{"role": "user", "content": "Hello! Who are you?"}]',
              "inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors=\"pt\", return_dict=True)",
              "output = model.generate(**inputs, max_new_tokens=64, do_sample=False)",
              'print(tokenizer.decode(output[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True))']
    return "\n".join(lines) + "\n"


def base_location(base: str | None) -> str:
    """What from_pretrained needs for a run's base: the embedded model and GGUF files load from their cached folder."""
    from studio.models import resolve_source

    base = base or "embedded"
    if base == "embedded" or base.endswith(".gguf"):
        return resolve_source(base).location
    return base


def zip_export(run_dir: str | Path) -> tuple[Path, str]:
    """The run's adapter (or model) zipped into the workspace's exports/, and the code that loads it."""
    from studio.workspace import exports_dir

    run_dir = Path(run_dir)
    kind, folder = runs.trained_weights(run_dir)
    archive = zip_run(run_dir, exports_dir() / f"{run_dir.name}-{kind}.zip")
    return archive, loading_code(folder, kind, runs.base_model(run_dir))


def merged_export(run_dir: str | Path, name: str = "") -> tuple[Path, str]:
    """A full model folder in exports/ (`<run>-merged` unless named), and the code that loads it."""
    from studio.workspace import exports_dir, inside, safe_name

    run_dir = Path(run_dir)
    output = inside(exports_dir(), safe_name(name or f"{run_dir.name}-merged"))
    folder = export_run(run_dir, output, merge=True)
    return folder, loading_code(folder, "model")


def weights_summary(run_dir: str | Path) -> tuple[str, Path, str]:
    """(kind, folder, size like '1.8 MB') of what a run saved."""
    kind, folder = runs.trained_weights(run_dir)
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    return kind, folder, f"{size / 1e6:,.1f} MB"

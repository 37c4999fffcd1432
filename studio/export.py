"""Export a run: copy its adapter, or merge it into a full model folder that plain transformers loads.

    python -m studio export --run runs/demo --output merged/ --merge
"""

from __future__ import annotations

import shutil
from pathlib import Path

from studio.generate import find_trained_weights, run_base_model


def export_run(run_dir: str | Path, output: str | Path, merge: bool = False) -> Path:
    """Write the run's result to `output`; returns the folder written."""
    run_dir, output = Path(run_dir), Path(output)
    kind, folder = find_trained_weights(run_dir)
    if output.exists() and any(output.iterdir()):
        raise ValueError(f"{output} is not empty; choose a new folder so nothing is overwritten.")
    if kind == "model" or not merge:
        shutil.copytree(folder, output, dirs_exist_ok=True)
        return output
    return merge_adapter(run_dir, folder, output)


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
    model, _ = load_model(run_base_model(run_dir) or "embedded", precision="fp32", device="cpu")
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    merged.save_pretrained(output)
    load_tokenizer(adapter).save_pretrained(output)
    return output

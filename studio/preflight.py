"""Checks before a run starts: settings this machine or this model cannot train are refused, with the reason.

They read the model's config.json and the headers of its weight files, never the weights, so they
take a moment where a doomed run would take minutes to fail (or crash the app loading a model
larger than the memory). `JobManager.start`, `estimate` and the training job call them.

    check_run(config)   # raises ValueError saying what to change
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from studio.config import EMBEDDED_MODEL, RunConfig
from studio.methods import PROMPT_METHODS, WEIGHT_METHODS, method_bits, reward_method_refusal
from studio.models import EMBEDDED_NAME, pick_device, pick_dtype, resolve_source
from studio.runs import read_settings, start_from_run

GIB = 2**30
# Where config.json keeps the context length, by model family; nested configs (multimodal) too.
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")
NESTED_CONFIGS = ("text_config", "llm_config")
# Full fine-tuning keeps a gradient per weight and AdamW's two moments in float32.
OPTIMIZER_BYTES_PER_WEIGHT = 8


def check_run(config: RunConfig, device: str | None = None, available: int | None = None) -> None:
    """Refuse a run that cannot start on this machine: a method that cannot train a reward model, a `start_from` run
    it cannot go on from, no quantization support, cut-off above the model's context, or a model whose weights alone
    do not fit in the free memory."""
    check_reward_stage(config)
    if config.start_from:
        start_from_run(config)
    device = device or pick_device()
    check_quantization(config.method, device)
    folder = model_folder(config.base_model)
    if folder is None:  # a hub model not downloaded yet: the job checks once it has it
        return
    label = EMBEDDED_NAME if (config.base_model or EMBEDDED_MODEL).strip() == EMBEDDED_MODEL else config.base_model
    check_context(config, context_length(_read_json(folder / "config.json")), label)
    check_memory(config, parameter_count(folder), device, available, label)


def check_reward_stage(config: RunConfig) -> None:
    """A reward model (stage rm) trains with a method that can read its score off the last token, and goes on only
    from a reward model; no other stage goes on from one (its adapter holds a score head, not a language model's)."""
    refusal = reward_method_refusal(config.method) if config.stage == "rm" else None
    if refusal:
        raise ValueError(refusal)
    if not config.start_from:
        return
    earlier = read_settings(start_from_run(config)).get("stage", "sft")
    if config.stage == "rm" and earlier != "rm":
        raise ValueError(f"start_from: {Path(config.start_from).name} is a {earlier} run; a reward model goes on only "
                         "from a reward-model run (stage rm). Leave start_from empty to train a new one.")
    if config.stage != "rm" and earlier == "rm":
        raise ValueError(f"start_from: {Path(config.start_from).name} is a reward model (stage rm), which scores "
                         f"answers and does not write them; stage {config.stage} cannot go on from it.")


def check_quantization(method: str, device: str) -> None:
    bits = method_bits(method)
    if not bits:
        return
    try:
        import bitsandbytes
    except ImportError:
        raise ValueError(f"{method} loads the base model in {bits}-bit through bitsandbytes, which is not "
                         "installed: pip install bitsandbytes, or choose lora.") from None
    supported = set(getattr(bitsandbytes, "supported_torch_devices", ("cuda",)))
    if device not in supported:
        raise ValueError(f"{method} needs {bits}-bit support from bitsandbytes on the {device}, and the installed "
                         f"bitsandbytes runs only on: {', '.join(sorted(supported))}. Choose lora (same adapters, "
                         "unquantized base), or train on a machine it supports.")


def check_context(config: RunConfig, context: int | None, label: str) -> None:
    if context is None:
        return
    virtual = config.num_virtual_tokens if config.method in PROMPT_METHODS else 0
    if config.cutoff_length + virtual > context:
        extra = f" plus {virtual} virtual tokens" if virtual else ""
        raise ValueError(f"cutoff_length {config.cutoff_length}{extra} is above the context length of {label} "
                         f"({context} tokens); the model has no positions past it. Lower cutoff_length to "
                         f"{context - virtual} or less.")


def check_memory(config: RunConfig, parameters: int | None, device: str, available: int | None = None,
                 label: str = "The model") -> None:
    """Refuse only what cannot fit at all: the weights (and for full fine-tuning, its optimizer state).
    Whether activations fit depends on the data; `studio.estimate` measures that."""
    if not parameters:
        return
    if available is None:

        available = available_memory(device)
    bits = method_bits(config.method)
    weight_bytes = bits / 8 if bits else pick_dtype(config.precision, device).itemsize
    needed = parameters * weight_bytes
    what = "its weights"
    if config.method == "full":
        needed += parameters * (weight_bytes + OPTIMIZER_BYTES_PER_WEIGHT)
        what = "its weights, gradients and optimizer state"
    if needed <= available:
        return
    changes = ["pick a smaller base model"]
    if config.method in WEIGHT_METHODS:
        changes.append("use lora, which trains far fewer weights")
    if not bits and device == "cuda":
        changes.append("use qlora (a 4-bit base, about a quarter of the memory)")
    raise ValueError(f"{label} has {parameters / 1e9:.2f} B parameters: {what} need about "
                     f"{needed / GIB:.1f} GiB, but {available / GIB:.1f} GiB is free on the {device}. "
                     f"To fit: {'; '.join(changes)}.")


def model_folder(name: str) -> Path | None:
    """The model's local folder, without downloading anything; None for a hub id not on this machine."""
    name = (name or EMBEDDED_MODEL).strip()
    path = Path(name).expanduser()
    hub_id = (name.count("/") == 1 and not path.exists() and path.suffix != ".gguf"
              and not name.startswith((".", "/", "~")) and name != f"HuggingFaceTB/{EMBEDDED_NAME}")
    if not hub_id:
        return Path(resolve_source(name).location)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # not cached (the hub raises several kinds): nothing to read yet
        return None


def context_length(model_config: dict) -> int | None:
    for section in (model_config, *(model_config.get(key) or {} for key in NESTED_CONFIGS)):
        for key in CONTEXT_KEYS:
            if isinstance(section.get(key), int) and section[key] > 0:
                return section[key]
    return None


def parameter_count(folder: Path) -> int | None:
    """Weights in the model's safetensors files, counted from their headers; None without such files."""
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        return None
    total = 0
    try:
        for path in files:
            for name, tensor in _safetensors_header(path).items():
                if name != "__metadata__":
                    count = 1
                    for size in tensor["shape"]:
                        count *= size
                    total += count
    except (OSError, ValueError, KeyError, TypeError, struct.error):  # a damaged file: loading will say so
        return None
    return total


def _safetensors_header(path: Path) -> dict:
    """A safetensors file starts with the length of its JSON header, then the header (names, shapes)."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        return json.loads(handle.read(length))


def _read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def available_memory(device: str) -> int:
    """Bytes a new training job can use: free GPU memory, or the system's MemAvailable."""
    if device == "cuda":
        import torch

        return torch.cuda.mem_get_info()[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")

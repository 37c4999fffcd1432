"""RunConfig: every training setting in one dataclass, YAML in and out, and validation.

Each field's `help` is also the UI widget's help text. Presets (`presets/*.yaml`) hold only
the keys that differ from the defaults here; a run folder's `config.yaml` holds them all.

    cfg = load_config("cpu-lora", overrides={"dataset": "data.jsonl"})
    cfg.validate()
"""

from __future__ import annotations

import dataclasses
import math
import re
import shlex
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from studio.workspace import PROJECT_ROOT, atomic_write_text, safe_name, workspace_root

# The presets shipped with the studio: `presets/` in the project folder; an installed wheel carries them as
# `studio/presets/` (pyproject.toml packs the one as the other).
_PACKAGED_PRESETS = Path(__file__).resolve().parent / "presets"
PRESETS_DIR = _PACKAGED_PRESETS if _PACKAGED_PRESETS.is_dir() else PROJECT_ROOT / "presets"
SAMPLES_DIR = PRESETS_DIR / "samples"  # datasets the project wrote, shipped with it
METHODS = (
    "lora", "qlora", "lora-8bit", "dora", "adalora", "ia3",
    "prefix-tuning", "prompt-tuning", "p-tuning", "freeze", "full",
)
# The stages of making a chat model, in the order the textbooks tell them: continued pre-training, supervised
# fine-tuning, a reward model on human preferences, reinforcement learning against rewards (GRPO), and the
# shortcuts that learn from preferences directly (DPO, ORPO from pairs; KTO from single answers marked good or bad).
STAGES = ("sft", "pretrain", "rm", "grpo", "dpo", "orpo", "kto")
PREFERENCE_STAGES = ("dpo", "orpo")  # policy learning from preference pairs: beta and the DPO loss apply
REWARD_RULES = ("", "exact", "contains", "regex")
# The DPO losses TRL computes from preference pairs alone (no extra setting such as label smoothing).
PREFERENCE_LOSSES = ("sigmoid", "ipo", "hinge", "sigmoid_norm", "apo_zero", "apo_down", "nca_pair", "sppo_hard",
                     "bco_pair", "aot", "aot_unpaired", "discopop")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
HELDOUT_VALIDATION = "validation"  # the heldout choice meaning the run's own validation rows
ANSWER_STAGES = ("sft", "grpo")  # stages whose rows hold a prompt and its reference answer
EMBEDDED_MODEL = "embedded"
SAVED_PRESET_HEADER = "# Saved from Tuning Studio"
# What a run trains on and where it writes belong to the run; a preset is how to train. What runs on this
# machine (the model, its code, how many processes) is chosen at Start, never carried in by a preset.
RUN_KEYS = ("dataset", "validation_dataset", "output_dir", "base_model", "trust_remote_code", "num_processes")
# The range (inclusive) of every number a setting may take. Values arrive from the CLI, presets and
# HTTP requests alike, so each is checked to be finite and within reach: no NaN learning rate, no 1e9 epochs.
LIMITS = {
    "validation_split": (0.0, 0.9), "epochs": (0.0, 1000.0), "max_steps": (0, 10_000_000),
    "learning_rate": (1e-9, 1.0), "warmup_ratio": (0.0, 0.9), "weight_decay": (0.0, 10.0),
    "max_grad_norm": (0.0, 1e6), "batch_size": (1, 4096), "gradient_accumulation": (1, 4096),
    "cutoff_length": (8, 1_048_576), "lora_rank": (1, 4096), "lora_alpha": (1, 65_536), "lora_dropout": (0.0, 0.9),
    "num_virtual_tokens": (1, 4096), "trainable_layers": (1, 1000), "seed": (0, 2**32 - 1),
    "logging_steps": (1, 10_000_000), "eval_steps": (0, 10_000_000), "save_steps": (1, 10_000_000),
    "probe_max_new_tokens": (1, 4096), "preference_beta": (0.0, 100.0), "num_processes": (1, 1024),
    "reward_length": (0, 10_000), "grpo_generations": (2, 64), "grpo_max_new_tokens": (1, 4096),
    "grpo_temperature": (0.05, 2.0), "heldout_rows": (1, 10_000),
}
MAX_PROBE_PROMPTS = 20
MAX_TEXT_SETTING = 100_000  # characters in any text setting (a chat template is the longest)


def setting(default: Any, help: str, **choices: Any) -> Any:
    """A dataclass field whose help text the CLI, the UI and the docs share."""
    metadata = {"help": help, **choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class RunConfig:
    base_model: str = setting(EMBEDDED_MODEL, "Base model: 'embedded' (SmolLM2-135M-Instruct, ships with the studio), a local folder, a .gguf file or a hub id.")
    method: str = setting("lora", "Fine-tuning method: what is trained and what stays frozen.", choices=METHODS)
    stage: str = setting("sft", "sft: learn to answer (instruction/chat data). pretrain: continue pre-training on raw text. rm: a reward model that scores answers, from preference pairs. grpo: reinforcement learning, sampling answers to prompts and learning from their rewards. dpo / orpo: learn to prefer the chosen answer of preference pairs. kto: learn from single answers marked good or bad.", choices=STAGES)
    dataset: str = setting("", "Training data: a .jsonl/.json/.csv/.txt file, or the name of a dataset in the workspace.")
    validation_split: float = setting(0.1, "Share of rows held out to measure validation loss (0 = none).")
    validation_dataset: str = setting("", "A separate validation file; when set, validation_split is ignored.")
    epochs: float = setting(3.0, "Passes over the training rows (0 = auto: several for a small dataset, one for a large one, within a token budget).")
    max_steps: int = setting(0, "Stop after this many optimizer steps (0 = run all epochs).")
    learning_rate: float = setting(2e-4, "Step size of the optimizer; adapters take larger rates (1e-4 to 1e-3) than full fine-tuning (1e-5).")
    lr_scheduler: str = setting("cosine", "How the learning rate changes over the run.", choices=("cosine", "linear", "constant", "constant_with_warmup"))
    warmup_ratio: float = setting(0.05, "Share of steps spent ramping the learning rate up from zero.")
    weight_decay: float = setting(0.0, "L2 penalty on trained weights.")
    max_grad_norm: float = setting(1.0, "Gradients are clipped to this norm (keeps early steps stable).")
    batch_size: int = setting(4, "Examples per step on the device.")
    gradient_accumulation: int = setting(1, "Steps whose gradients add up before one update (effective batch = batch_size x this).")
    cutoff_length: int = setting(512, "Longest example in tokens; longer ones are cut and counted.")
    train_on_prompt: bool = setting(False, "Also learn the prompt tokens, not only the answers.")
    chat_template: str = setting("", "Override the model's chat template: 'chatml' or a Jinja template (empty = the model's own).")
    lora_rank: int = setting(8, "LoRA rank r: size of the low-rank update; larger learns more and costs more.")
    lora_alpha: int = setting(16, "LoRA scaling alpha; the update is scaled by alpha / r.")
    lora_dropout: float = setting(0.05, "Dropout on the LoRA input during training.")
    target_modules: str = setting("all-linear", "Layers that get adapters: 'all-linear' or a comma list such as 'q_proj,v_proj'.")
    num_virtual_tokens: int = setting(16, "Prompt methods: number of learned virtual tokens.")
    trainable_layers: int = setting(2, "Freeze: how many of the top decoder layers are trained.")
    precision: str = setting("auto", "Number format: auto = bf16 on a GPU or a CPU with bf16 matrix units (fp32 master weights where they train), else fp32.", choices=PRECISIONS)
    gradient_checkpointing: bool = setting(False, "Recompute activations in the backward pass: less memory, about 30% slower.")
    num_processes: int = setting(1, "Training processes, one per GPU (data parallel, under accelerate launch): each trains batch_size rows a step, so a step takes batch_size x gradient_accumulation x this rows.")
    trust_remote_code: bool = setting(False, "Run Python code shipped with the model. Only for models you trust.")
    seed: int = setting(42, "Random seed for the split, the shuffle and the adapter's initial weights.")
    output_dir: str = setting("", "Run folder; empty = a new folder under the workspace's runs/.")
    logging_steps: int = setting(1, "Write a log line (loss, speed) every this many steps.")
    eval_steps: int = setting(20, "Measure validation loss and answer the probe prompts every this many steps (0 = only at the end).")
    save_steps: int = setting(50, "Save a checkpoint for resume every this many steps.")
    probe_prompts: list = setting([], "Prompts answered at each evaluation, so you can watch the answers change.")
    probe_max_new_tokens: int = setting(32, "Longest probe answer in tokens.")
    preference_beta: float = setting(0.1, "DPO and KTO: beta, how far the tuned model may drift from the reference (smaller = further). ORPO: lambda, the weight of the preference term beside the SFT loss. GRPO: the weight of the KL penalty that keeps the policy near the reference (0 = none).")
    preference_loss: str = setting("sigmoid", "DPO loss: sigmoid (the DPO paper), ipo, hinge (SLiC), sigmoid_norm (per-token), apo / nca / sppo / bco / aot / discopop variants.", choices=PREFERENCE_LOSSES)
    reward_model: str = setting("", "GRPO: a finished reward-model run (stage rm) whose score of each answer is a reward.")
    reward_rule: str = setting("", "GRPO: reward 1 when the answer matches the row's reference answer: exact (the same words), contains (the reference appears in it), regex (reward_pattern matches it); empty = no rule.", choices=REWARD_RULES)
    reward_pattern: str = setting("", "GRPO with reward_rule regex: the pattern an answer must match (Python re, searched anywhere in the answer).")
    reward_length: int = setting(0, "GRPO: a target answer length in words, rewarded as 1 at the target and less the further away (0 = no length reward).")
    grpo_generations: int = setting(4, "GRPO: answers sampled per prompt (the group each answer's reward is compared within).")
    grpo_max_new_tokens: int = setting(64, "GRPO: the longest sampled answer, in tokens.")
    grpo_temperature: float = setting(1.0, "GRPO: sampling temperature of the answers (higher = more varied groups to learn from).")
    heldout: str = setting("", "After a finished run, answer these rows with the base and the tuned model and keep the scores (batch compare): 'validation' (the run's own validation rows), a dataset file or workspace dataset name, or empty for none.")
    heldout_rows: int = setting(40, "How many rows the held-out evaluation after training answers (the first ones).")
    start_from: str = setting("", "A finished run whose adapter this run goes on training (Train more, or DPO / ORPO after SFT, where that run's model is then the reference); empty = a new adapter.")

    def validate(self) -> "RunConfig":
        """Raise ValueError naming the first setting that cannot work."""
        for spec in fields(self):
            allowed = spec.metadata.get("choices")
            if allowed and getattr(self, spec.name) not in allowed:
                raise ValueError(f"{spec.name} '{getattr(self, spec.name)}' is not one of: {', '.join(allowed)}.")
        for name, (low, high) in LIMITS.items():
            check_range(name, getattr(self, name), low, high)
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, str) and len(value) > MAX_TEXT_SETTING:
                raise ValueError(f"{spec.name} is {len(value):,} characters long; the most a setting takes is {MAX_TEXT_SETTING:,}.")
        if len(self.probe_prompts) > MAX_PROBE_PROMPTS or any(len(str(prompt)) > 4000 for prompt in self.probe_prompts):
            raise ValueError(f"probe_prompts: at most {MAX_PROBE_PROMPTS} prompts of up to 4,000 characters each.")
        if not self.dataset:
            raise ValueError("No dataset: set dataset to a .jsonl/.json/.csv/.txt file.")
        if self.stage in ("dpo", "orpo", "kto") and self.preference_beta <= 0:
            raise ValueError(f"preference_beta must be a number from 1e-06 to 100 for {self.stage} (0 only turns off "
                             "GRPO's KL penalty).")
        if self.stage == "grpo" and not (self.reward_model or self.reward_rule or self.reward_length):
            raise ValueError("GRPO learns from rewards: set reward_model (a reward-model run), reward_rule (against the "
                             "reference answers) or reward_length (a target length), or several.")
        self.check_heldout()
        if self.reward_rule == "regex" and not self.reward_pattern:
            raise ValueError("reward_rule regex needs reward_pattern, the pattern a good answer matches.")
        if self.reward_pattern:
            try:
                re.compile(self.reward_pattern)
            except re.error as error:
                raise ValueError(f"reward_pattern is not a valid regular expression: {error}.") from None
        return self

    def check_heldout(self) -> None:
        """The held-out evaluation compares answers with reference answers: a reward model writes none, and only
        instruction and chat rows hold them."""
        if not self.heldout:
            return
        if self.stage == "rm":
            raise ValueError("A reward model (stage rm) writes no answers to evaluate; leave heldout empty.")
        if self.heldout == HELDOUT_VALIDATION and self.stage not in ANSWER_STAGES:
            raise ValueError(f"heldout 'validation' needs rows with reference answers, which stage {self.stage} "
                             "does not train on; name an instruction or chat file instead, or leave heldout empty.")
        if self.heldout == HELDOUT_VALIDATION and not self.validation_dataset and self.validation_split <= 0:
            raise ValueError("heldout 'validation' needs validation rows: set validation_split above 0 or "
                             "validation_dataset, or name a test file instead.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def overrides(self) -> dict:
        """Only the settings that differ from the defaults (what a preset stores)."""
        defaults = RunConfig().to_dict()
        return {key: value for key, value in self.to_dict().items() if defaults[key] != value}


def check_range(name: str, value, low, high) -> None:
    """ValueError naming the setting and its range unless `value` is a finite number from `low` to `high`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be a number from {low:g} to {high:g} (it is {value}).")


def help_text(name: str) -> str:
    return next(spec.metadata["help"] for spec in fields(RunConfig) if spec.name == name)


def saved_presets_dir() -> Path:
    """Presets saved from the app live in the workspace, beside the runs they describe, not in the project."""
    return workspace_root() / "presets"


def list_presets() -> list[str]:
    """The shipped presets and those saved in the workspace."""
    return sorted({path.stem for folder in (PRESETS_DIR, saved_presets_dir()) for path in folder.glob("*.yaml")})


def preset_path(preset: str) -> Path:
    """A preset name (shipped, or saved in the workspace) or a path to a YAML file."""
    candidate = Path(preset).expanduser()
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate
    for folder in (PRESETS_DIR, saved_presets_dir()):
        named = folder / f"{preset}.yaml"
        if safe_name(preset, default="") == preset and named.is_file():
            return named
    raise ValueError(f"No preset '{preset}'. Use one of: {', '.join(list_presets())}, or a path to a .yaml file.")


def read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold 'setting: value' lines, not a {type(data).__name__}.")
    return data


def from_dict(values: dict) -> RunConfig:
    """Build a RunConfig, converting strings from the CLI to each field's type."""
    known = {spec.name: spec for spec in fields(RunConfig)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"Unknown setting(s): {', '.join(unknown)}. Known settings: {', '.join(known)}.")
    config = RunConfig()
    for key, value in values.items():
        setattr(config, key, _coerce(key, value, type(getattr(config, key))))
    return config


def _coerce(key: str, value: Any, kind: type) -> Any:
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    try:
        if kind is bool:
            if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0", "on", "off"):
                return value.lower() in ("true", "yes", "1", "on")
            raise ValueError
        if kind is list:
            return [item for item in (value.split("||") if isinstance(value, str) else list(value)) if item]
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return kind(float(value)) if kind is int else kind(value)
    except (TypeError, ValueError, OverflowError):
        kind_name = {"int": "whole number", "float": "number", "bool": "true or false", "list": "list"}.get(kind.__name__, kind.__name__)
        raise ValueError(f"{key} must be a {kind_name}, not '{value}'.") from None


def load_config(preset: str | None = None, overrides: dict | None = None) -> RunConfig:
    """Defaults, then the preset's keys, then the overrides."""
    values = read_yaml(preset_path(preset)) if preset else {}
    values.update(overrides or {})
    return from_dict(values)


def parse_overrides(pairs: list[str]) -> dict:
    """`key=value` strings from `--set` into a dict (types are fixed by from_dict)."""
    result = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator:
            raise ValueError(f"--set takes key=value, got '{pair}'.")
        result[key.strip()] = value.strip()
    return result


def save_preset(config: RunConfig, name: str) -> Path:
    """Write <workspace>/presets/<name>.yaml with the settings that differ from the defaults.

    A preset saved here may be saved again; one that ships with the studio keeps its name.
    """
    stem = safe_name(name, default="")
    if not stem:
        raise ValueError("Give the preset a name, e.g. my-lora.")
    if (PRESETS_DIR / f"{stem}.yaml").exists():
        raise ValueError(f"'{stem}' ships with the studio and is kept as it is; save under another name.")
    path = saved_presets_dir() / f"{stem}.yaml"
    values = {key: value for key, value in config.overrides().items() if key not in RUN_KEYS}
    source = f" on {Path(config.dataset).name}" if config.dataset else ""
    header = f"{SAVED_PRESET_HEADER}: {config.method}{source}; only the settings that differ from the defaults.\n"
    values_text = yaml.safe_dump(values, sort_keys=False, allow_unicode=True) if values else ""
    atomic_write_text(path, header + values_text)
    return path


def train_command(config: RunConfig) -> str:
    """The `python -m studio train` line for this config: its closest preset plus `--set` for the rest."""
    preset = min([None, *list_presets()], key=lambda name: len(_changed_settings(config, name)))
    command = ["python", "-m", "studio", "train"]
    if preset:
        command += ["--preset", preset]
    if config.dataset:
        command += ["--dataset", config.dataset]
    if config.output_dir:
        command += ["--output", config.output_dir]
    for key, value in _changed_settings(config, preset).items():
        command += ["--set", f"{key}={_command_value(value)}"]
    return shlex.join(command)


def _changed_settings(config: RunConfig, preset: str | None) -> dict:
    start = load_config(preset).to_dict()
    return {key: value for key, value in config.to_dict().items()
            if key not in ("dataset", "output_dir") and start[key] != value}


def _command_value(value: Any) -> str:
    """A value as `--set` reads it back (see from_dict)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "||".join(value)
    return str(value)

"""What a run trains on: the rows of the dataset its config names, checked against its stage and split by its
seed, and the examples its tokenizer makes of them. One rule, shared by training, the plan, the estimate and
batch compare (which answers the run's own held-out rows)."""

from __future__ import annotations

from pathlib import Path

from studio import data, tokens
from studio.config import RunConfig
from studio.workspace import datasets_dir

PROMPT_SHAPES = ("instruction", "chat")  # prompts with a reference answer
# The dataset shapes each stage trains on, and how to say so to someone whose file holds another.
STAGE_SHAPES = {"pretrain": ("text",), "sft": PROMPT_SHAPES, "grpo": PROMPT_SHAPES, "rm": ("preference",),
                "dpo": ("preference",), "orpo": ("preference",), "kto": ("feedback",)}
SHAPE_HINTS = {"text": "raw text rows ({\"text\": ...}) or a .txt file",
               "instruction": "instruction rows (instruction/input/output) or chat rows (messages)",
               "preference": "preference rows (prompt, chosen, rejected)",
               "feedback": "feedback rows (a prompt and one answer with a label: true = good, false = bad)"}


def resolve_dataset_path(name: str) -> Path:
    """A file path, or the name of a dataset saved in the workspace."""
    for candidate in (Path(name).expanduser(), datasets_dir() / name, datasets_dir() / f"{name}.jsonl"):
        if candidate.is_file():
            return candidate
    raise ValueError(f"No dataset file '{name}'. Give a path to a .jsonl/.json/.csv/.txt file or a workspace dataset name.")


def prepare_rows(config: RunConfig) -> tuple[str, list[dict], list[dict]]:
    """Load, check and split the data; (shape, train rows, validation rows)."""
    dataset = data.load_dataset(resolve_dataset_path(config.dataset))
    expected = STAGE_SHAPES[config.stage]
    if dataset.shape not in expected:
        hint = SHAPE_HINTS[expected[0]]
        raise ValueError(f"Stage '{config.stage}' needs {hint}, but {config.dataset} holds {dataset.shape} rows.")
    if config.validation_dataset:
        validation = data.load_dataset(resolve_dataset_path(config.validation_dataset))
        if validation.shape != dataset.shape:
            raise ValueError(f"The validation file holds {validation.shape} rows, the training file {dataset.shape}.")
        return dataset.shape, dataset.rows, validation.rows
    train_rows, validation_rows = data.split_rows(dataset.rows, config.validation_split, config.seed)
    return dataset.shape, train_rows, validation_rows


def tokenize(config: RunConfig, shape: str, rows: list[dict], tokenizer) -> tuple[list[dict], int]:
    """The training examples of these rows as the stage reads them, and how many rows were cut or dropped."""
    if STAGE_SHAPES[config.stage] == ("preference",):
        return tokens.tokenize_pairs(rows, tokenizer, config.cutoff_length)
    if STAGE_SHAPES[config.stage] == ("feedback",):
        return tokens.tokenize_feedback(rows, tokenizer, config.cutoff_length)
    if config.stage == "pretrain":
        return tokens.tokenize_text(rows, tokenizer, config.cutoff_length), 0
    if config.stage == "grpo":
        return tokens.tokenize_prompts(rows, shape, tokenizer, config.cutoff_length, config.grpo_max_new_tokens,
                                       config.grpo_generations)
    return tokens.tokenize_sft(rows, shape, tokenizer, config.cutoff_length, config.train_on_prompt)


def apply_chat_template_override(tokenizer, template: str) -> None:
    """The run's chat_template setting: "chatml", a Jinja template of the user's, or empty for the model's own."""
    if template == "chatml":
        tokenizer.chat_template = tokens.CHATML_TEMPLATE
    elif template:
        tokenizer.chat_template = template

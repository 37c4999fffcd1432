"""Shared fixtures: a tiny model built in memory (no downloads), a workspace in tmp, sample data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from studio.data import CHATML_TEMPLATE

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROJECT = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT.parent / "shared" / "fixtures" / "llamafactory"
CORPUS = [
    "the cat sat on the mat", "the dog ate the bone", "what is the colour of the sky",
    "the sky is blue", "classify the review as positive or negative", "great food and friendly staff",
    "terrible service and cold soup", "positive", "negative", "hello how are you", "i am fine thank you",
    "one two three four five six seven eight nine ten", "answer with one word",
    "system user assistant tool", "What is the capital of France? Paris.",
    "Hello! Hi there, how are you? Goodbye!", "The quick brown fox jumps over the lazy dog.",
]


def build_tiny_tokenizer():
    """A byte-level BPE tokenizer trained in memory, with ChatML special tokens and template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<|im_start|>", "<|im_end|>", "<pad>"]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS * 5, trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", eos_token="<|im_end|>",
                                      bos_token="<|im_start|>", pad_token="<pad>")
    wrapped.chat_template = CHATML_TEMPLATE
    return wrapped


def build_tiny_model(vocab_size: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         tie_word_embeddings=True, eos_token_id=2, bos_token_id=1, pad_token_id=3)
    return LlamaForCausalLM(config)


@pytest.fixture(scope="session", autouse=True)
def handlers_may_open_test_folders(tmp_path_factory):
    """Handlers called in-process act as an app started with `--allow-paths` on pytest's temporary folder,
    where the tests keep their datasets and tiny models. An app the tests launch gets its flags itself."""
    from studio.access import ALLOW_PATHS_ENV

    os.environ[ALLOW_PATHS_ENV] = str(tmp_path_factory.getbasetemp().resolve())
    yield
    os.environ.pop(ALLOW_PATHS_ENV, None)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tiny_tokenizer()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny Llama and its tokenizer saved as a local model folder, as a user's own model would be."""
    folder = tmp_path_factory.mktemp("tiny-model")
    tokenizer = build_tiny_tokenizer()
    build_tiny_model(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "workspace"))
    return tmp_path / "workspace"


@pytest.fixture(scope="session")
def shared_workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("embedded-workspace")


@pytest.fixture
def embedded_workspace(shared_workspace, monkeypatch) -> Path:
    """One workspace for the tests on the embedded model, so its GGUF is de-quantized once per session."""
    monkeypatch.setenv("STUDIO_WORKSPACE", str(shared_workspace))
    return shared_workspace


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def tiny_sft_file(tmp_path) -> Path:
    rows = [
        {"instruction": "classify the review as positive or negative", "input": text, "output": label}
        for text, label in [("great food and friendly staff", "positive"), ("terrible service and cold soup", "negative")] * 6
    ]
    return write_jsonl(tmp_path / "tiny.jsonl", rows)


@pytest.fixture
def tiny_text_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "text.jsonl", [{"text": line} for line in CORPUS])


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory, tiny_model_dir) -> Path:
    """A workspace holding one finished LoRA run of the tiny model, runs/tiny-lora, trained once per session."""
    from studio.__main__ import main

    root = tmp_path_factory.mktemp("trained-workspace")
    rows = [{"instruction": "classify the review as positive or negative", "input": text, "output": label}
            for text, label in [("great food and friendly staff", "positive"), ("terrible service and cold soup", "negative")] * 6]
    dataset = write_jsonl(tmp_path_factory.mktemp("trained-data") / "reviews.jsonl", rows)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_WORKSPACE", str(root))
        assert main(["train", "--preset", "cpu-lora", "--dataset", str(dataset), "--output", str(root / "runs" / "tiny-lora"),
                     "--set", f"base_model={tiny_model_dir}", "--set", "max_steps=4", "--set", "batch_size=2",
                     "--set", "learning_rate=0.01", "--set", "validation_split=0.25", "--set", "eval_steps=0",
                     "--set", "probe_max_new_tokens=2"]) == 0
    return root


@pytest.fixture
def trained_run(trained_workspace, monkeypatch) -> Path:
    """The finished tiny run, with the workspace it lives in as the current one."""
    monkeypatch.setenv("STUDIO_WORKSPACE", str(trained_workspace))
    return trained_workspace / "runs" / "tiny-lora"

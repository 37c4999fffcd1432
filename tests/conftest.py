"""Shared fixtures: a tiny model built in memory (no downloads), a workspace in tmp, sample data."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from studio.config import RunConfig
from studio.events import read_events
from studio.tokens import CHATML_TEMPLATE

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# With several pytest-xdist workers, each takes its share of the cores (torch would start a thread per core in
# every worker, and threads that outnumber the cores wait on each other); the jobs a test starts inherit it.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if WORKERS > 1:
    from scripts.test_workers import cores

    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores() // WORKERS)))



def pytest_collection_modifyitems(config, items):
    """In a parallel run, the modules that train the embedded model for minutes (marked `long`) go first, spread
    over the workers by their cost, one worker's share after another's. pytest-xdist's worksteal hands each worker
    an equal share of the list in order and lets an idle worker take the end of another's queue: a long training
    left at the end of a share would keep its worker busy while the other had nothing left to take."""
    if WORKERS > 1 and len(items) > WORKERS:
        items[:] = spread_long_modules(items, WORKERS)


def spread_long_modules(items: list, workers: int) -> list:
    modules: dict = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    cost = {name: sum(mark.args[0] for item in group for mark in item.iter_markers("long"))
            for name, group in modules.items()}
    loads, queues = [0] * workers, [[] for _ in range(workers)]
    for name in sorted((name for name in modules if cost[name]), key=lambda name: -cost[name]):
        lightest = loads.index(min(loads))
        queues[lightest] += modules[name]
        loads[lightest] += cost[name]
    rest = [item for name, group in modules.items() if not cost[name] for item in group]
    ordered, left = [], len(items)
    for worker, queue in enumerate(queues):
        share = left // (workers - worker)  # as worksteal divides the list at the start
        fill = max(0, share - len(queue))
        ordered += queue + rest[:fill]
        rest, left = rest[fill:], left - len(queue) - fill
    return ordered + rest


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


@pytest.fixture
def small_layers_too(monkeypatch):
    """The tiny model's layers are far below the size worth quantizing in a real model: quantize them anyway."""
    from studio import precision

    monkeypatch.setattr(precision, "LARGE_WEIGHT", 0)


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
def shared_workspace(tmp_path_factory, worker_id) -> Path:
    """A workspace for the tests on the embedded model. In a parallel run the workers share one de-quantized copy
    of the model, made by whichever asks first (the studio's own cache lock keeps the other waiting) and hard-linked
    into each worker's workspace, so the run pays for the conversion once."""
    workspace = tmp_path_factory.mktemp("embedded-workspace")
    if worker_id != "master":
        from studio.models import resolve_source

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("STUDIO_WORKSPACE", str(tmp_path_factory.getbasetemp().parent / "embedded-cache"))
            folder = Path(resolve_source("embedded").location)
        shutil.copytree(folder, workspace / "cache" / "models" / folder.name, copy_function=os.link)
    return workspace


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
    """The finished tiny run, with the workspace it lives in as the current one, and no exports yet: tests run in
    any order, and an export another test made (a merged folder of the same name) would change what this one sees."""
    import shutil

    shutil.rmtree(trained_workspace / "exports", ignore_errors=True)
    monkeypatch.setenv("STUDIO_WORKSPACE", str(trained_workspace))
    return trained_workspace / "runs" / "tiny-lora"


# ------------------------------------------------------------------- other architectures
# Tiny random-weight models of the families users bring, each with the tiny tokenizer given the family's
# special tokens, pad-token habits and chat template, so the studio meets their real layer names and formats.

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
QWEN2_TEMPLATE = (  # ChatML with Qwen's default system prompt
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN3_TEMPLATE = (  # ChatML; replies after the last question carry Qwen3's empty thinking block
    "{% set ns = namespace(last_user=-1) %}{% for message in messages %}"
    "{% if message['role'] == 'user' %}{% set ns.last_user = loop.index0 %}{% endif %}{% endfor %}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['role'] == 'assistant' and loop.index0 > ns.last_user %}<think>\n\n</think>\n\n{% endif %}"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
GEMMA2_TEMPLATE = (  # no system role: Gemma 2 refuses it
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "<start_of_turn>{{ role }}\n{{ message['content'] | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
GEMMA3_TEMPLATE = (  # no system role: Gemma 3 folds it into the first question
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set prefix = messages[0]['content'] + '\n\n' %}"
    "{% set turns = messages[1:] %}{% else %}{% set prefix = '' %}{% set turns = messages %}{% endif %}"
    "{% for message in turns %}{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "<start_of_turn>{{ role }}\n{{ prefix if loop.first else '' }}{{ message['content'] | trim }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
PHI3_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% else %}{{ eos_token }}{% endif %}"
)
MISTRAL_TEMPLATE = (  # [INST] tags, no system role
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}[INST] {{ message['content'] }} [/INST]"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
GLM4_TEMPLATE = (  # a reply ends where the next <|user|> starts: no end-of-turn token
    "[gMASK]<sop>{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

# name: (config class, model class, template, special tokens, bos, eos, pad, generation stop tokens, config extras)
ARCHITECTURES = {
    "llama": ("LlamaConfig", "LlamaForCausalLM", LLAMA3_TEMPLATE,
              ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
              "<|begin_of_text|>", "<|eot_id|>", None, ["<|eot_id|>", "<|end_of_text|>"], {}),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", QWEN2_TEMPLATE, ["<|endoftext|>"],
              None, "<|im_end|>", "<|endoftext|>", ["<|im_end|>", "<|endoftext|>"], {}),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM", QWEN3_TEMPLATE, ["<|endoftext|>", "<think>", "</think>"],
              None, "<|im_end|>", "<|endoftext|>", ["<|im_end|>", "<|endoftext|>"], {"head_dim": 16}),
    "gemma2": ("Gemma2Config", "Gemma2ForCausalLM", GEMMA2_TEMPLATE, ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"],
               "<bos>", "<eos>", "<pad>", ["<eos>", "<end_of_turn>"],
               {"head_dim": 16, "query_pre_attn_scalar": 16, "sliding_window": 16}),
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM", GEMMA3_TEMPLATE, ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"],
               "<bos>", "<eos>", "<pad>", ["<eos>", "<end_of_turn>"],
               {"head_dim": 16, "query_pre_attn_scalar": 16, "sliding_window": 16,
                "layer_types": ["sliding_attention", "full_attention"]}),
    "phi3": ("Phi3Config", "Phi3ForCausalLM", PHI3_TEMPLATE,
             ["<s>", "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"],
             "<s>", "<|endoftext|>", "<|endoftext|>", ["<|endoftext|>", "<|end|>"], {}),
    "mistral": ("MistralConfig", "MistralForCausalLM", MISTRAL_TEMPLATE, ["<s>", "</s>", "[INST]", "[/INST]"],
                "<s>", "</s>", None, ["</s>"], {"sliding_window": None}),
    "glm4": ("Glm4Config", "Glm4ForCausalLM", GLM4_TEMPLATE,
             ["<|endoftext|>", "[gMASK]", "<sop>", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"],
             None, "<|endoftext|>", "<|endoftext|>", ["<|endoftext|>", "<|user|>", "<|observation|>"], {}),
}


def build_architecture_tokenizer(name: str):
    """The tiny tokenizer with this family's special tokens, bos/eos/pad and chat template (no pad where it has none)."""
    _, _, template, specials, bos, eos, pad, _, _ = ARCHITECTURES[name]
    tokenizer = build_tiny_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token = bos, eos, pad
    tokenizer.chat_template = template
    return tokenizer


def build_architecture_model(name: str, tokenizer):
    """A 2-layer random-weight model of this family, its vocabulary matching the tokenizer."""
    import torch
    import transformers

    config_class, model_class, _, _, _, _, _, stops, extras = ARCHITECTURES[name]
    torch.manual_seed(0)
    config = getattr(transformers, config_class)(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids(stops), pad_token_id=tokenizer.pad_token_id, **extras)
    return getattr(transformers, model_class)(config)


def build_architecture_dir(name: str, folder: Path) -> Path:
    """A tiny model of this family saved with its tokenizer, as a user's own model folder would be."""
    tokenizer = build_architecture_tokenizer(name)
    build_architecture_model(name, tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def architecture_dirs(tmp_path_factory):
    """name -> a tiny model folder of that family, each built once per session on first use."""
    built = {}

    def folder(name: str) -> Path:
        if name not in built:
            built[name] = build_architecture_dir(name, tmp_path_factory.mktemp(f"tiny-{name}"))
        return built[name]

    return folder


@pytest.fixture
def launched(monkeypatch) -> dict:
    """app.main() without a server: the options it hands Gradio's launch(), recorded here."""
    import studio.ui

    options: dict = {}

    class Demo:
        def queue(self):
            return self

        def launch(self, **given):
            options.update(given)

    monkeypatch.setattr(studio.ui, "build_ui", lambda: Demo())
    return options


# Rows of each shape, shared by the tests of reading, shapes, messages and tokens.
INSTRUCTION_ROWS = [
    {"instruction": "What is the capital of France?", "input": "", "output": "Paris."},
    {"instruction": "Translate", "input": "hello", "output": "bonjour"},
]
CHAT_ROW = {"messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"},
    {"role": "assistant", "content": "Goodbye!"},
]}
TOOL_ROW = {
    "conversations": [
        {"from": "human", "value": "Weather in Oslo?"},
        {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Oslo"}}'},
        {"from": "observation", "value": '{"temperature": 3}'},
        {"from": "gpt", "value": "It is 3 degrees in Oslo."},
    ],
    "tools": '[{"name": "weather"}]',
}
PREFERENCE_ROW = {"prompt": "Say hi", "chosen": "Hi there!", "rejected": "Go away."}
# One feedback row in each form people bring: TRL's unpaired (text, then messages), LLaMA-Factory's KTO rows
# (OpenAI messages, sharegpt conversations) and alpaca with a label.
FEEDBACK_ROWS = [
    {"prompt": "Say hi", "completion": "Hi there!", "label": True},
    {"prompt": [{"role": "user", "content": "Say hi"}], "completion": [{"role": "assistant", "content": "Go away."}],
     "label": False},
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                  {"role": "assistant", "content": "Hello!"}], "label": True},
    {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Whatever."}], "label": False},
    {"instruction": "Translate", "input": "hello", "output": "bonjour", "label": True},
]

needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"LLaMA-Factory fixtures not found at {FIXTURES}")


def write_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def trained_text(tokenizer, example) -> str:
    """The tokens an example learns (labels not masked), as text."""
    from studio.tokens import IGNORED_LABEL

    return tokenizer.decode([label for label in example["labels"] if label != IGNORED_LABEL])



# ---------------------------------------------------------------- configs and waits several test modules share


LEARNING_RATES = {"full": 3e-3, "freeze": 3e-3, "ia3": 3e-2, "prefix-tuning": 3e-2, "prompt-tuning": 1e-1,
                  "p-tuning": 1e-2}


def method_config(model_dir, dataset, tmp_path, method: str, **overrides) -> RunConfig:
    values = dict(base_model=str(model_dir), method=method, dataset=str(dataset), output_dir=str(tmp_path / method),
                  max_steps=12, batch_size=4, learning_rate=LEARNING_RATES.get(method, 1e-2), validation_split=0.2,
                  eval_steps=6, save_steps=6, lora_rank=4, lora_alpha=8, lora_dropout=0.0, warmup_ratio=0.0,
                  lr_scheduler="constant", num_virtual_tokens=4, trainable_layers=1, cutoff_length=64,
                  probe_max_new_tokens=4)
    values.update(overrides)
    return RunConfig(**values)


def job_config(model_dir, dataset, run_dir, **overrides) -> RunConfig:
    values = dict(base_model=str(model_dir), dataset=str(dataset), output_dir=str(run_dir), max_steps=6,
                  batch_size=2, learning_rate=1e-2, validation_split=0.2, eval_steps=3, save_steps=3,
                  cutoff_length=64, probe_max_new_tokens=2)
    values.update(overrides)
    return RunConfig(**values)


def wait_for(condition, timeout: float = 120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError("condition not met")


def logged_steps(run_dir) -> list[int]:
    return [event["step"] for event in read_events(run_dir) if "loss" in event]


PAIRS = [
    ("what is the colour of the sky", "the sky is blue", "the sky is blue and the dog ate the bone and the cat sat on the mat"),
    ("hello how are you", "i am fine thank you", "one two three four five six seven eight nine ten i am fine thank you"),
    ("classify the review as positive or negative", "positive", "the quick brown fox jumps over the lazy dog positive"),
]


@pytest.fixture
def tiny_pairs_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": prompt, "chosen": chosen, "rejected": rejected}
                                                  for prompt, chosen, rejected in PAIRS * 4])


@pytest.fixture
def tiny_feedback_file(tmp_path) -> Path:
    """The tiny pairs unpaired for KTO: each answer a row of its own, the chosen ones good, the rejected ones bad."""
    good = [{"prompt": prompt, "completion": chosen, "label": True} for prompt, chosen, _ in PAIRS]
    bad = [{"prompt": prompt, "completion": rejected, "label": False} for prompt, _, rejected in PAIRS]
    return write_jsonl(tmp_path / "feedback.jsonl", (good + bad) * 2)


def feedback_config(model_dir, dataset, output, **overrides) -> RunConfig:
    """A kto run of the tiny model: 12 rows, 9 to train on (5 steps a pass at batch 2), 3 held out."""
    return pair_config(model_dir, dataset, output, **{"stage": "kto", "max_steps": 5, "eval_steps": 5, "save_steps": 2,
                                                      **overrides})


def pair_config(model_dir, dataset, output, **overrides) -> RunConfig:
    values = dict(base_model=str(model_dir), dataset=str(dataset), output_dir=str(output), stage="dpo", max_steps=4,
                  batch_size=2, learning_rate=1e-2, validation_split=0.25, eval_steps=2, save_steps=2,
                  cutoff_length=64, probe_max_new_tokens=2, lora_dropout=0.0)
    values.update(overrides)
    return RunConfig(**values)


@pytest.fixture(scope="session")
def reward_workspace(tmp_path_factory, tiny_model_dir) -> Path:
    """A workspace holding one finished LoRA reward model (stage rm) of the tiny model, runs/tiny-rm, trained once per
    session on the tiny pairs (the chosen answer is the shorter one)."""
    from studio.training import run_training

    root = tmp_path_factory.mktemp("reward-workspace")
    dataset = write_jsonl(tmp_path_factory.mktemp("reward-data") / "pairs.jsonl",
                          [{"prompt": prompt, "chosen": chosen, "rejected": rejected} for prompt, chosen, rejected in PAIRS * 4])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_WORKSPACE", str(root))
        summary = run_training(pair_config(tiny_model_dir, dataset, root / "runs" / "tiny-rm", stage="rm", max_steps=8,
                                           batch_size=4, eval_steps=4, save_steps=4))
    assert summary["status"] == "finished"
    return root


@pytest.fixture
def reward_run(reward_workspace, monkeypatch) -> Path:
    """The finished tiny reward model, with the workspace it lives in as the current one."""
    monkeypatch.setenv("STUDIO_WORKSPACE", str(reward_workspace))
    return reward_workspace / "runs" / "tiny-rm"


@pytest.fixture
def own_run(trained_workspace, tmp_path, monkeypatch) -> Path:
    """A copy of the finished tiny run, runs/tiny-lora, in a workspace of its own (no votes, no datasets), made the
    current one: for tests that count what a run's votes make."""
    import shutil

    root = tmp_path / "own-workspace"
    shutil.copytree(trained_workspace / "runs" / "tiny-lora", root / "runs" / "tiny-lora",
                    ignore=shutil.ignore_patterns("votes.jsonl", "comparisons", "checkpoints"))
    monkeypatch.setenv("STUDIO_WORKSPACE", str(root))
    return root / "runs" / "tiny-lora"


@pytest.fixture
def fake_reward_run(monkeypatch):
    """A finished run of stage rm, runs/judge, in the current workspace, and a stand-in for studio.scoring whose
    score of an answer is its length in characters over 10. Returns (the run folder, the calls scored so far)."""
    import sys
    import types

    from studio import runs
    from studio.workspace import runs_dir

    run_dir = runs_dir() / "judge"
    (run_dir / runs.ADAPTER).mkdir(parents=True)
    (run_dir / runs.CONFIG).write_text("stage: rm\nmethod: lora\ndataset: pairs.jsonl\n", encoding="utf-8")
    runs.write_summary(run_dir, {"status": "finished"})
    calls = []

    def score_answers(run, prompts, answers, batch_size=8):
        calls.append((Path(run).name, prompts, answers))
        return [len(answer) / 10 for answer in answers]

    scoring = types.ModuleType("studio.scoring")
    scoring.score_answers = score_answers
    scoring.is_reward_run = lambda folder: runs.read_settings(Path(folder)).get("stage") == "rm"
    monkeypatch.setitem(sys.modules, "studio.scoring", scoring)
    return run_dir, calls


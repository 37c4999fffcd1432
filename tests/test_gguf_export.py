"""GGUF export: files that transformers reads back with the original's weights, answers and tokenizer, laid out as
llama.cpp expects; the Modelfile and commands that run them; the models, tokenizers and quants refused."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.gguf_export import (export_run_gguf, gguf_summary, modelfile, permute, run_commands, template_family,
                                write_gguf)
from studio.sampling import DEFAULTS
from studio.tokens import CHATML_TEMPLATE
from tests.conftest import LLAMA3_TEMPLATE, MISTRAL_TEMPLATE, QWEN2_TEMPLATE, build_tiny_tokenizer

PROMPTS = ["the cat sat on the", "what is the colour of the sky", "hello how are you 你好"]
TEXTS = ["the cat sat on the mat", "Hello! Hi there, how are you?  Goodbye!", "你好，世界。模型微调",
         "<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n", " leading space and trailing \n"]
SMOLLM_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Largest difference allowed between an original weight and the one read back, over the tensor's largest value.
WEIGHT_ERROR = {"f32": 1e-6, "f16": 1e-3, "q8_0": 1e-2, "q4_0": 0.2}


def load_gguf(path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()


def load_folder(folder: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_model_dir):
    """quant -> the tiny model written in it, each in a folder of its own, once per module."""
    files = {}

    def export(quant: str) -> Path:
        if quant not in files:
            folder = tmp_path_factory.mktemp(f"gguf-{quant}")
            files[quant] = write_gguf(tiny_model_dir, folder / f"tiny.{quant}.gguf", quant)
        return files[quant]

    return export


@pytest.fixture(scope="module")
def original(tiny_model_dir):
    return load_folder(tiny_model_dir)


def weight_errors(original, loaded) -> dict[str, float]:
    """name -> max |original - loaded| / max |original|, over the weights both hold."""
    theirs = loaded.state_dict()
    return {name: float((value - theirs[name]).abs().max() / value.abs().max())
            for name, value in original.state_dict().items() if name in theirs}


@torch.no_grad()
def greedy(model, ids: list[int], steps: int = 8) -> list[int]:
    """The next `steps` tokens picked greedily."""
    ids = list(ids)
    for _ in range(steps):
        ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    return ids[-steps:]


@torch.no_grad()
def compare_answers(original, loaded, tokenizer, prompts=PROMPTS) -> tuple[int, float, int]:
    """(prompts answered the same greedily; the largest logit difference over the position's largest logit, along the
    original's answers; choices that differ where the original's choice led by more than twice that difference)."""
    same, worst, wrong, decisive = 0, 0.0, 0, 0
    for prompt in prompts:
        ids = tokenizer.encode(prompt, add_special_tokens=False)
        answer = greedy(original, ids)
        same += greedy(loaded, ids) == answer
        sequence = torch.tensor([ids + answer])
        want, got = (model(sequence).logits[0, len(ids) - 1:] for model in (original, loaded))
        difference = (want - got).abs().max(dim=-1).values
        worst = max(worst, float((difference / want.abs().max(dim=-1).values).max()))
        top = want.topk(2, dim=-1).values
        clear = top[:, 0] - top[:, 1] > 2 * difference
        decisive += int(clear.sum())
        wrong += int((clear & (want.argmax(-1) != got.argmax(-1))).sum())
    print(f"greedy answers the same: {same}/{len(prompts)}; logits differ by at most {worst:.2e} of the largest; "
          f"{wrong} of {decisive} clear choices differ")
    return same, worst, wrong


def test_a_gguf_file_path_loads_as_a_model_with_its_chat_template(exported, workspace):
    """A .gguf path where a model is asked for: de-quantized once into the workspace cache, tokenizer and chat
    template included (the embedded model takes the same way from its own file)."""
    from studio.models import load_model, resolve_source

    path = exported("q8_0")
    model, tokenizer = load_model(str(path))
    assert model.studio_source.kind == "gguf" and model.config.num_hidden_layers == 3
    assert Path(model.studio_source.location).parent == workspace / "cache" / "models"
    assert tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False).startswith("<|im_start|>")
    assert resolve_source(str(path)).location == model.studio_source.location


@pytest.mark.parametrize("quant, logit_error", [("f16", 1e-2), ("q8_0", 5e-2)])
def test_the_file_loads_back_with_the_weights_and_answers(exported, original, tiny_tokenizer, quant, logit_error):
    started = time.perf_counter()
    path = exported(quant)
    loaded = load_gguf(path)
    print(f"{quant}: written and loaded in {time.perf_counter() - started:.2f}s, {path.stat().st_size / 1e3:.0f} kB")
    errors = weight_errors(original, loaded)
    assert len(errors) == len(original.state_dict())
    print(f"{quant}: largest weight error {max(errors.values()):.2e} ({max(errors, key=errors.get)})")
    assert max(errors.values()) < WEIGHT_ERROR[quant]
    same, worst, wrong = compare_answers(original, loaded, tiny_tokenizer)
    assert worst < logit_error and wrong == 0
    # f16 answers as the original does; 8 bits may flip a near tie of this random model (the slow test on the
    # embedded model checks q8_0's answers in full)
    assert same == len(PROMPTS) if quant == "f16" else same >= 1


def test_q4_0_stays_close_and_keeps_the_embedding_at_8_bits(exported, original, tiny_tokenizer):
    path = exported("q4_0")
    errors = weight_errors(original, load_gguf(path))
    print(f"q4_0: largest weight error {max(errors.values()):.3f} ({max(errors, key=errors.get)})")
    assert max(errors.values()) < WEIGHT_ERROR["q4_0"]
    summary = gguf_summary(path, "q4_0")
    assert summary["tensor_types"]["q8_0"] == 1 and summary["tensor_types"]["q4_0"] == 3 * 7
    assert any("token_embd.weight kept at q8_0" in note for note in summary["notes"])
    assert exported("f16").stat().st_size > 2 * path.stat().st_size


def test_the_file_holds_llama_cpp_names_types_and_hyperparameters(exported, tiny_model_dir):
    from gguf import GGUFReader

    reader = GGUFReader(exported("q8_0"))
    field = lambda key: reader.fields[key].contents()  # noqa: E731
    assert field("general.architecture") == "llama" and field("general.file_type") == 7
    assert (field("llama.context_length"), field("llama.embedding_length"), field("llama.block_count"),
            field("llama.feed_forward_length")) == (2048, 64, 3, 128)
    assert (field("llama.attention.head_count"), field("llama.attention.head_count_kv"),
            field("llama.rope.dimension_count")) == (4, 2, 16)
    assert field("llama.rope.freq_base") == 10000.0
    assert field("llama.attention.layer_norm_rms_epsilon") == pytest.approx(1e-6)
    types = {tensor.name: tensor.tensor_type.name for tensor in reader.tensors}
    assert "output.weight" not in types  # tied: llama.cpp uses the embedding
    assert types["token_embd.weight"] == "Q8_0" and types["blk.2.ffn_down.weight"] == "Q8_0"
    assert types["output_norm.weight"] == types["blk.0.attn_norm.weight"] == types["blk.0.ffn_norm.weight"] == "F32"
    assert len(types) == 2 + 3 * 9


def test_q_and_k_rows_are_permuted_as_llama_cpp_does(exported, original):
    from gguf import GGUFReader

    tensors = {tensor.name: tensor for tensor in GGUFReader(exported("f32")).tensors}
    layer = original.model.layers[1].self_attn
    for name, weight, heads in [("attn_q", layer.q_proj.weight, 4), ("attn_k", layer.k_proj.weight, 2),
                                ("attn_v", layer.v_proj.weight, None)]:
        written = np.asarray(tensors[f"blk.1.{name}.weight"].data).reshape(weight.shape)
        want = weight.detach().numpy() if heads is None else permute(weight.detach().numpy(), 4, heads)
        np.testing.assert_array_equal(written, want)
    assert not np.array_equal(permute(layer.q_proj.weight.detach().numpy(), 4, 4), layer.q_proj.weight.detach().numpy())


def test_the_tokenizer_round_trips(exported, tiny_tokenizer):
    from transformers import AutoTokenizer

    path = exported("q8_0")
    loaded = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    for text in TEXTS:
        ids = tiny_tokenizer.encode(text, add_special_tokens=False)
        assert loaded.encode(text, add_special_tokens=False) == ids, text
        assert loaded.decode(ids) == tiny_tokenizer.decode(ids) == text
    # transformers adds GPT-2's <|endoftext|> after the vocabulary when the file has none; the rest is the same
    assert {token: index for token, index in loaded.get_vocab().items() if token != "<|endoftext|>"} \
        == tiny_tokenizer.get_vocab()
    for name in ("bos_token", "eos_token", "pad_token"):
        assert getattr(loaded, name) == getattr(tiny_tokenizer, name), name
    assert loaded.chat_template == CHATML_TEMPLATE
    messages = [{"role": "user", "content": "你好, how are you?"}]
    assert (loaded.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            == tiny_tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))

    from gguf import GGUFReader

    fields = GGUFReader(path).fields
    assert fields["tokenizer.ggml.model"].contents() == "gpt2" and fields["tokenizer.ggml.pre"].contents() == "gpt-2"
    types = fields["tokenizer.ggml.token_type"].contents()
    assert types[:4] == [3, 3, 3, 3] and set(types[4:]) == {1}  # the four specials are control tokens


def test_rows_that_are_not_whole_blocks_stay_f16_and_say_so(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=False, eos_token_id=2, bos_token_id=1, pad_token_id=3)
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    path = write_gguf(tmp_path / "model", tmp_path / "gguf" / "odd.q8_0.gguf", "q8_0")
    summary = gguf_summary(path, "q8_0")
    # rows of 48: embedding, output, q, k, v, o, gate, up stay f16; down_proj's rows of 96 are three blocks
    assert summary["tensor_types"] == {"f16": 2 + 2 * 6, "q8_0": 2, "f32": 1 + 2 * 2}
    assert len(summary["notes"]) == 14 and "rows of 48 values are not a whole number of q8_0's blocks of 32" in \
        summary["notes"][0]
    loaded = load_gguf(path)
    assert loaded.config.tie_word_embeddings is False
    assert max(weight_errors(model, loaded).values()) < WEIGHT_ERROR["q8_0"]
    _, worst, wrong = compare_answers(model, loaded, tokenizer)
    assert worst < 5e-2 and wrong == 0


@pytest.mark.parametrize("name", ["qwen2", "mistral"])
def test_qwen2_and_mistral_load_back(architecture_dirs, tmp_path, name):
    folder = architecture_dirs(name)
    path = write_gguf(folder, tmp_path / f"{name}.f16.gguf", "f16")
    original, loaded = load_folder(folder), load_gguf(path)
    assert max(weight_errors(original, loaded).values()) < WEIGHT_ERROR["f16"]
    tokenizer = build_tiny_tokenizer()
    same, worst, wrong = compare_answers(original, loaded, tokenizer)
    assert worst < 1e-2 and wrong == 0 and same == len(PROMPTS)


def test_a_model_or_quant_it_cannot_write_is_refused_before_anything_is_written(tmp_path, tiny_model_dir,
                                                                               architecture_dirs):
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = build_tiny_tokenizer()
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=2, n_positions=64, bos_token_id=1,
                               eos_token_id=2)) \
        .save_pretrained(tmp_path / "gpt2")
    tokenizer.save_pretrained(tmp_path / "gpt2")
    with pytest.raises(ValueError, match="GPT2LMHeadModel.*convert_hf_to_gguf"):
        write_gguf(tmp_path / "gpt2", tmp_path / "out" / "gpt2.gguf")
    with pytest.raises(ValueError, match="Gemma2ForCausalLM"):
        write_gguf(architecture_dirs("gemma2"), tmp_path / "out" / "gemma2.gguf")
    with pytest.raises(ValueError, match="offers f32, f16, q8_0, q4_0, not 'q4_k_m'"):
        write_gguf(tiny_model_dir, tmp_path / "out" / "tiny.gguf", "q4_k_m")
    with pytest.raises(ValueError, match="no config.json"):
        write_gguf(tmp_path, tmp_path / "out" / "none.gguf")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_tokenizer_it_cannot_write_is_refused(tmp_path, tiny_model_dir):
    folder = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    spec["pre_tokenizer"] = {"type": "Whitespace"}
    (folder / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(ValueError, match="pre-tokenizer Whitespace.*convert_hf_to_gguf"):
        write_gguf(folder, tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists() and not list(tmp_path.glob(".*partial"))


def test_the_modelfile_for_a_chatml_template():
    text = modelfile("demo.q8_0.gguf", CHATML_TEMPLATE, ["<|im_end|>"])
    assert text.startswith("FROM ./demo.q8_0.gguf\n")
    assert 'TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}' \
           '<|im_start|>assistant\n"""' in text
    assert text.count('PARAMETER stop "<|im_end|>"') == 1 and 'PARAMETER stop "<|im_start|>"' in text
    assert f"PARAMETER temperature {DEFAULTS.temperature:g}\n" in text
    assert f"PARAMETER top_p {DEFAULTS.top_p:g}\n" in text
    assert "SYSTEM" not in text
    assert 'SYSTEM """You are a helpful AI assistant named SmolLM, trained by Hugging Face"""' in \
           modelfile("m.gguf", SMOLLM_TEMPLATE)
    assert 'SYSTEM """You are a helpful assistant."""' in modelfile("m.gguf", QWEN2_TEMPLATE)


def test_the_modelfile_for_llama3_and_for_a_template_it_does_not_know():
    assert template_family(CHATML_TEMPLATE) == "chatml" and template_family(LLAMA3_TEMPLATE) == "llama3"
    text = modelfile("m.gguf", LLAMA3_TEMPLATE)
    assert "<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>" in text
    assert 'PARAMETER stop "<|eot_id|>"' in text
    assert template_family(MISTRAL_TEMPLATE) is None and template_family(None) is None
    other = modelfile("m.gguf", MISTRAL_TEMPLATE, ["</s>"])
    assert "TEMPLATE" not in other.replace("no TEMPLATE", "").replace("a TEMPLATE line", "")
    assert "neither ChatML nor Llama 3" in other and 'PARAMETER stop "</s>"' in other


def test_the_commands_that_run_the_file():
    ollama, llama_cpp = run_commands(Path("/tmp/my exports/Demo Run.q8_0.gguf"))
    assert ollama == "cd '/tmp/my exports' && ollama create demo-run.q8_0 -f Modelfile && ollama run demo-run.q8_0"
    assert llama_cpp == "llama-cli -m '/tmp/my exports/Demo Run.q8_0.gguf' -cnv"


def test_a_trained_run_exports_to_a_gguf_and_a_modelfile(trained_run, trained_workspace):
    started = time.perf_counter()
    result = export_run_gguf(trained_run, "q8_0")
    print(f"run merged and exported in {time.perf_counter() - started:.2f}s: {result['summary']}")
    folder = trained_workspace / "exports" / "tiny-lora-gguf-q8_0"
    assert result["gguf"] == folder / "tiny-lora.q8_0.gguf" and result["modelfile"] == folder / "Modelfile"
    assert sorted(path.name for path in folder.iterdir()) == ["Modelfile", "tiny-lora.q8_0.gguf"]
    exports = trained_workspace / "exports"
    assert not list(exports.glob(".tiny-lora-gguf-*")) + list(exports.glob(".merge-*"))
    assert (folder / "Modelfile").read_text(encoding="utf-8").startswith("FROM ./tiny-lora.q8_0.gguf\n")
    assert result["commands"][0].endswith("ollama run tiny-lora.q8_0")
    assert result["summary"]["notes"] == [] and load_gguf(result["gguf"]).config.num_hidden_layers == 3


@pytest.mark.slow
def test_the_embedded_model_exported_to_q8_0_answers_as_before(embedded_workspace, tmp_path):
    from transformers import AutoTokenizer

    from studio.models import resolve_source

    folder = Path(resolve_source("embedded").location)
    started = time.perf_counter()
    path = write_gguf(folder, tmp_path / "smollm2.q8_0.gguf", "q8_0")
    print(f"embedded model written as q8_0 in {time.perf_counter() - started:.1f}s, {path.stat().st_size / 1e6:.0f} MB")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                             tokenize=False)
               for question in ["What is the capital of France?", "Name three colours.", "What is 2 + 2?"]]
    # A question in Chinese is a near tie for this 135M model at its first token (English or Chinese), which 8 bits
    # can tip either way; every choice the original makes clearly is kept (wrong == 0).
    same, worst, wrong = compare_answers(load_folder(folder), load_gguf(path), tokenizer, prompts)
    assert same == 3 and wrong == 0 and worst < 0.1
    assert "SmolLM" in modelfile(path.name, tokenizer.chat_template)


def test_the_command_line_exports_a_run_to_gguf(trained_run, trained_workspace, capsys):
    from studio.__main__ import main

    assert main(["export", "--run", str(trained_run), "--gguf", "f16"]) == 0
    lines = capsys.readouterr().out.splitlines()
    written = trained_workspace / "exports" / "tiny-lora-gguf-f16" / "tiny-lora.f16.gguf"
    assert lines[0] == f"Wrote {written} and its Modelfile. Run it with:" and written.is_file()
    assert lines[1].strip().startswith("cd ") and lines[2].strip().startswith("llama-cli -m ")
    assert main(["export", "--run", str(trained_run)]) == 1
    assert "Name the folder to write with --output" in capsys.readouterr().err

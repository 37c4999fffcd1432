"""Chat precisions on the tiny model: each loads and answers, holds less memory, stays close to fp32; adapters stay
as trained; side by side at two precisions; the decoding kernel is timed once and kept."""

from __future__ import annotations

import copy
import functools
import json

import pytest
import torch
from peft import LoraConfig, get_peft_model

from studio import cpu_decode, precision
from studio.cpu_decode import SmallBatchLinear
from studio.fused_projections import ProjectionSlice
from studio.generate import GenerationSettings, cached_model, load_for_chat, stream_chat
from studio.pairs import stream_pair
from studio.precision import Int4Linear, Int8Embedding, Int8Linear, check_precision, weight_bytes
from studio.ui import compare_handlers
from studio.ui.common import StopSignal

GREEDY = GenerationSettings(temperature=0, max_new_tokens=8)
MESSAGES = [{"role": "user", "content": "the cat sat"}]


def relative_error(approximate: torch.Tensor, exact: torch.Tensor) -> float:
    return float((approximate - exact).norm() / exact.norm())


@pytest.mark.parametrize("layer_class, bound", [(Int8Linear, 0.01), (Int4Linear, 0.12)])
def test_quantized_linear_is_within_its_format_error(layer_class, bound):
    torch.manual_seed(0)
    linear = torch.nn.Linear(128, 96, bias=True)
    rows = torch.randn(3, 5, 128)
    layer = layer_class(linear)
    with torch.no_grad():
        exact, approximate = linear(rows), layer(rows)
    assert approximate.shape == exact.shape and approximate.dtype == torch.float32
    error = relative_error(approximate, exact)
    assert 0 < error < bound  # quantized (not a copy), and close
    # The dequantized weights (what DoRA's norm reads) are the ones the kernel multiplies by.
    assert relative_error(layer.weight, linear.weight) < bound
    with torch.no_grad():
        assert relative_error(torch.nn.functional.linear(rows, layer.weight, linear.bias), approximate) < 0.01


def test_int8_embedding_rows_are_close():
    torch.manual_seed(0)
    embedding = torch.nn.Embedding(50, 64)
    ids = torch.tensor([[1, 7, 49]])
    assert relative_error(Int8Embedding(embedding)(ids), embedding(ids)) < 0.01


@pytest.mark.parametrize("name", ["fp32", "bf16", "int8", "int4"])
def test_each_precision_loads_and_answers(tiny_model_dir, small_layers_too, name):
    model, tokenizer = load_for_chat(str(tiny_model_dir), precision=name)
    speed = {}
    answer = ""
    for answer in stream_chat(model, tokenizer, MESSAGES, GREEDY, speed=speed):
        pass
    assert answer and speed["precision"] == name and speed["tokens"] >= 1 and speed["weight_mb"] >= 0
    if name in ("int8", "int4"):
        # Every projection of 3 layers (q, k and v stacked into one, gate and up into one), and the head.
        assert model.studio_quantized_layers == 3 * 4 + 1


def test_lower_precisions_hold_less_memory_and_stay_close(tiny_model_dir, small_layers_too):
    sizes, logits = {}, {}
    ids = torch.tensor([[1, 5, 9, 13, 17, 21]])
    for name in ("fp32", "bf16", "int8", "int4"):
        model, _ = load_for_chat(str(tiny_model_dir), precision=name)
        sizes[name] = weight_bytes(model)
        with torch.no_grad():
            logits[name] = model(input_ids=ids).logits.float()
    assert sizes["fp32"] > sizes["bf16"] > sizes["int8"] > sizes["int4"]
    assert sizes["int8"] < sizes["fp32"] / 3
    errors = {name: relative_error(logits[name], logits["fp32"]) for name in ("bf16", "int8", "int4")}
    assert errors["int8"] < 0.05 and errors["int4"] < 0.3 and errors["bf16"] < 0.05


def test_an_adapter_stays_as_trained_under_a_quantized_base(tiny_model_dir, small_layers_too, tmp_path):
    from studio.models import load_model

    model, tokenizer = load_model(str(tiny_model_dir), "fp32")
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=4, target_modules="all-linear",
                                             init_lora_weights=False))
    model.save_pretrained(tmp_path / "adapter")
    tokenizer.save_pretrained(tmp_path / "adapter")
    (tmp_path / "config.yaml").write_text(f"base_model: {tiny_model_dir}\n")
    tuned, _ = load_for_chat(trained=tmp_path, precision="int8")
    from peft.tuners.lora import Linear as LoraLinear

    layers = [module for module in tuned.modules() if isinstance(module, LoraLinear)]
    # Under each adapter, an int8 layer: its own, or the one its stacked siblings share (q, k, v; gate, up).
    bases = [layer.base_layer.stacked.layer() if isinstance(layer.base_layer, ProjectionSlice) else layer.base_layer
             for layer in layers]
    assert layers and all(isinstance(base, Int8Linear) for base in bases)
    assert sum(isinstance(layer.base_layer, ProjectionSlice) for layer in layers) == 3 * 5
    assert all(type(layer.lora_A["default"]) is torch.nn.Linear for layer in layers)
    exact, _ = load_for_chat(trained=tmp_path, precision="fp32")
    ids = torch.tensor([[1, 5, 9, 13]])
    with torch.no_grad():
        assert relative_error(tuned(input_ids=ids).logits, exact(input_ids=ids).logits) < 0.05


def test_precision_names_are_checked():
    assert check_precision(None) == "auto" and check_precision(" INT4 ") == "int4"
    for bad in ("fp64", "int2", "../x", 3):
        with pytest.raises(ValueError, match="Precision takes one of auto, fp32, bf16, int8, int4"):
            check_precision(bad)


def test_the_tuned_model_at_two_precisions_side_by_side(trained_run, small_layers_too):
    speeds: list = []
    answers = list(stream_pair(trained_run, MESSAGES, GREEDY, precisions=("fp32", "int4"), left="tuned",
                               speeds=speeds))
    assert answers and all(isinstance(text, str) for text in answers[-1])
    assert [speed["precision"] for speed in speeds] == ["fp32", "int4"]
    assert speeds[0]["weight_mb"] >= speeds[1]["weight_mb"]
    # Each column answers as its model does alone.
    for column, name in enumerate(("fp32", "int4")):
        model, tokenizer = cached_model(trained=trained_run, precision=name)
        alone = ""
        for alone in stream_chat(model, tokenizer, MESSAGES, GREEDY):
            pass
        assert answers[-1][column] == alone
    with pytest.raises(ValueError, match="pick two precisions"):
        list(stream_pair(trained_run, MESSAGES, GREEDY, precisions=("fp32", "auto"), left="tuned"))
    with pytest.raises(ValueError, match="base or the tuned model"):
        list(stream_pair(trained_run, MESSAGES, GREEDY, left="../elsewhere"))


def test_compare_labels_two_precisions_and_says_what_each_cost(trained_run, small_layers_too):
    steps = list(compare_handlers.compare("tiny-lora", "the cat sat", "", False, 0, 0.9, 50, 6, 1.0, 0, StopSignal(),
                                          "tuned", "fp32", "int8"))
    (left, right, pair, _, _), speeds = steps[-2], steps[-1][4]
    assert (left["label"], right["label"]) == ("Tuned · fp32", "Tuned · int8")
    assert pair.left == "tuned" and pair.precisions == ("fp32", "int8")
    assert speeds.startswith("Left: fp32 · ") and "Right: int8 · " in speeds
    with pytest.raises(Exception, match="Precision takes one of"):
        list(compare_handlers.compare("tiny-lora", "the cat sat", "", False, 0, 0.9, 50, 6, 1.0, 0, StopSignal(),
                                      "base", "fp32", "fp128"))


def test_each_shapes_decoding_kernel_is_timed_once_on_its_own_weights_and_kept(tmp_path, monkeypatch):
    cache = tmp_path / "decode-kernel.json"
    timed = []
    real_timing = cpu_decode.time_kernels

    def timing(weights):
        timed.append([tuple(weight.shape) for weight in weights])
        return {"linear": 2.0, "small_batch": 1.0, "openblas": 1.5} if weights[0].shape[0] > weights[0].shape[1] \
            else {"linear": 1.0, "small_batch": 2.0, "openblas": 1.5}

    monkeypatch.setattr(cpu_decode, "_kernel_seconds", {})
    monkeypatch.setattr(cpu_decode, "others_runnable", lambda: 0)
    monkeypatch.setattr(cpu_decode, "time_kernels", timing)
    monkeypatch.setattr(cpu_decode, "kernel_seconds", functools.partial(cpu_decode.kernel_seconds, cache=cache))
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.Linear(512, 256), torch.nn.Linear(256, 512))
    cpu_decode.prepare_for_decoding(model)
    assert [type(layer) for layer in model] == [SmallBatchLinear, torch.nn.Linear, SmallBatchLinear]
    assert not model.studio_blas
    assert sorted(timed) == [[(256, 512)], [(512, 256), (512, 256)]]  # one timing a shape, over its own layers
    kept = json.loads(cache.read_text())[cpu_decode.machine_key()]
    assert kept["seconds 512x256"]["small_batch"] == 1.0 and kept["seconds 256x512"]["linear"] == 1.0
    monkeypatch.setattr(cpu_decode, "_kernel_seconds", {})
    cpu_decode.prepare_for_decoding(torch.nn.Sequential(torch.nn.Linear(256, 512)))
    assert len(timed) == 2  # read back, not timed again
    cache.write_text("not json")
    monkeypatch.setattr(cpu_decode, "_kernel_seconds", {})
    cpu_decode.prepare_for_decoding(torch.nn.Sequential(torch.nn.Linear(256, 512)))
    assert len(timed) == 3
    # Timed beside other work (a training job): used, not kept.
    cache.unlink()
    monkeypatch.setattr(cpu_decode, "_kernel_seconds", {})
    monkeypatch.setattr(cpu_decode, "others_runnable", lambda: 1)
    busy = torch.nn.Sequential(torch.nn.Linear(256, 512))
    cpu_decode.prepare_for_decoding(busy)
    assert type(busy[0]) is SmallBatchLinear and not cache.exists()
    # The real timing compares the ways over the weights it is given.
    seconds = real_timing([torch.randn(2048, 256), torch.randn(2048, 256)], repeats=1)
    assert {"linear", "small_batch"} <= set(seconds) and all(value > 0 for value in seconds.values())


def test_the_machine_key_tells_apart_cpus_that_share_a_name(tmp_path):
    def cpuinfo(family: str, flags: str) -> str:
        return f"processor\t: 0\nmodel name\t: AMD EPYC\ncpu family\t: {family}\nmodel\t\t: 1\nflags\t\t: {flags}\n"

    keys = []
    for family, flags in (("23", "fpu avx2"), ("25", "fpu avx2 avx512f avx512_bf16"), ("25", "fpu avx2 avx512f")):
        (tmp_path / "cpuinfo").write_text(cpuinfo(family, flags))
        keys.append(cpu_decode.machine_key(tmp_path / "cpuinfo"))
    assert len(set(keys)) == 3 and all(key.startswith("AMD EPYC (family ") for key in keys)


BF16_PACKING = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


@pytest.mark.skipif(not BF16_PACKING, reason="oneDNN has no bf16 products on this CPU")
@pytest.mark.parametrize("shape", [(1, 576), (3, 576), (2, 1, 576), (1, 40, 576)])
def test_packed_bf16_linear_gives_f_linears_numbers(shape):
    torch.manual_seed(0)
    linear = torch.nn.Linear(576, 384).bfloat16()
    packed = precision.PackedLinear(linear)
    rows = torch.randn(*shape).bfloat16()
    with torch.no_grad():
        assert torch.equal(packed(rows), linear(rows))
        assert torch.equal(packed.weight, linear.weight)  # what DoRA's norm would read


@pytest.mark.skipif(not BF16_PACKING, reason="oneDNN has no bf16 products on this CPU")
def test_bf16_packs_the_large_layers_but_not_a_shared_head_nor_an_adapter(tiny_model_dir, small_layers_too,
                                                                          monkeypatch, tmp_path):
    monkeypatch.setattr(cpu_decode, "_bf16_kernel", "packed")
    from studio.models import load_model

    plain, _ = load_model(str(tiny_model_dir), "fp32")
    model = get_peft_model(plain, LoraConfig(task_type="CAUSAL_LM", r=4, target_modules=["q_proj"],
                                             init_lora_weights=False))
    exact = copy.deepcopy(model).eval()
    exact.to(torch.bfloat16)
    size = weight_bytes(exact)
    precision.apply_precision(model.eval(), "bf16")
    assert model.studio_packed_layers == 3 * 7  # every projection of 3 layers; the head is the embedding's
    inner = model.base_model.model
    assert type(inner.lm_head) is torch.nn.Linear and inner.lm_head.weight is inner.model.embed_tokens.weight
    assert type(inner.model.layers[0].self_attn.q_proj.lora_A["default"]) is torch.nn.Linear
    assert weight_bytes(model) == size
    ids = torch.tensor([[1, 5, 9, 13]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, exact(input_ids=ids).logits)


def test_the_bf16_kernel_is_timed_once_where_onednn_has_bf16(tmp_path, monkeypatch):
    cache = tmp_path / "decode-kernel.json"
    real_timing = cpu_decode.time_bf16_kernels
    monkeypatch.setattr(cpu_decode, "_bf16_kernel", None)
    monkeypatch.setattr(cpu_decode, "others_runnable", lambda: 0)  # (a timing beside other work is not kept)
    monkeypatch.setattr(cpu_decode, "time_bf16_kernels", lambda: {"linear": 2.0, "packed": 1.0})
    expected = "packed" if BF16_PACKING else "linear"
    assert cpu_decode.faster_bf16_kernel(cache) == expected
    if BF16_PACKING:
        assert json.loads(cache.read_text())[cpu_decode.machine_key()]["bf16_kernel"] == "packed"
        seconds = real_timing(rows=1024, columns=256, repeats=1)
        assert set(seconds) == {"linear", "packed"} and all(value > 0 for value in seconds.values())

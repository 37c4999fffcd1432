"""Decoding's products: torch's two-column way and numpy's OpenBLAS give nn.Linear's numbers; OpenBLAS takes a
whole model only by a margin, multiplies only while a decoding of one row by such models runs (torch on one
thread meanwhile), and its threads follow decoding's."""

from __future__ import annotations

import pytest
import torch

from studio import cpu_decode, decode_kernels
from studio.decode_kernels import BlasLinear, SmallBatchLinear
from studio.cpu_decode import decode_threads, model_kernels, prepare_for_decoding


def twins(kind: type, bias: bool) -> tuple[torch.nn.Linear, torch.nn.Linear]:
    """An nn.Linear and the same weights as `kind`."""
    torch.manual_seed(0)
    plain = torch.nn.Linear(576, 384, bias=bias)
    fast = torch.nn.Linear(576, 384, bias=bias)
    fast.load_state_dict(plain.state_dict())
    fast.__class__ = kind
    return plain, fast


@pytest.mark.parametrize("shape", [(1, 1, 576), (2, 1, 576), (1, 3, 576), (4, 576), (3, 9, 576)])
@pytest.mark.parametrize("bias", [True, False])
def test_small_batch_linear_matches_linear(shape, bias):
    plain, fast = twins(SmallBatchLinear, bias)
    inputs = torch.randn(*shape)
    with torch.no_grad():
        assert torch.allclose(fast(inputs), plain(inputs), atol=1e-5)
    # With gradients (training) it is nn.Linear itself.
    assert torch.equal(fast(inputs), plain(inputs))


@pytest.mark.parametrize("shape", [(1, 1, 576), (1, 576), (2, 1, 576), (1, 3, 576), (4, 576), (3, 9, 576)])
@pytest.mark.parametrize("bias", [True, False])
def test_blas_linear_gives_linears_numbers_through_openblas_for_one_row_only(shape, bias, monkeypatch):
    plain, fast = twins(BlasLinear, bias)
    inputs = torch.randn(*shape)
    calls = []
    real_product = decode_kernels.product
    monkeypatch.setattr(decode_kernels, "product", lambda *args: calls.append(1) or real_product(*args))
    one_row = inputs.numel() == 576
    with torch.inference_mode(), decode_kernels.enabled():
        output = fast(inputs)
        assert output.shape == (*shape[:-1], 384) and output.dtype == torch.float32
        assert torch.allclose(output, plain(inputs), atol=1e-5)
    assert calls == ([1] if one_row else [])  # more rows: torch's way for the shape
    with torch.inference_mode():  # not enabled on this thread: torch's way
        assert torch.allclose(fast(inputs), plain(inputs), atol=1e-5)
        fast.studio_torch_kernel = "linear"
        assert torch.equal(fast(inputs), plain(inputs))
    with decode_kernels.enabled():  # with gradients (training): nn.Linear itself
        assert torch.equal(fast(inputs), plain(inputs))
        fast(inputs).sum().backward()
    assert fast.weight.grad is not None and len(calls) == one_row


def test_openblas_takes_the_whole_model_or_none_of_it_by_the_margin():
    tall, wide = (512, 256), (256, 512)
    timings = {tall: {"linear": 2.0, "small_batch": 1.0}, wide: {"linear": 1.0, "small_batch": 2.0}}
    assert model_kernels(timings) == {tall: "small_batch", wide: "linear"}  # no OpenBLAS here: torch's, by shape
    faster = {shape: {**ways, "openblas": 0.8} for shape, ways in timings.items()}
    assert model_kernels(faster) == {tall: "openblas", wide: "openblas"}
    # OpenBLAS slower on one shape but faster in all by the margin: still the whole model.
    mixed = {tall: {**timings[tall], "openblas": 1.1}, wide: {**timings[wide], "openblas": 0.5}}
    assert model_kernels(mixed) == {tall: "openblas", wide: "openblas"}
    close = {shape: {**ways, "openblas": 0.95} for shape, ways in timings.items()}  # within the margin
    assert model_kernels(close) == {tall: "small_batch", wide: "linear"}
    assert model_kernels({}) == {}


def test_the_real_timing_includes_openblas_where_numpy_has_it():
    seconds = cpu_decode.time_kernels([torch.randn(1024, 256), torch.randn(1024, 256)], repeats=1)
    expected = {"linear", "small_batch"} | ({"openblas"} if decode_kernels.available() else set())
    assert set(seconds) == expected and all(value > 0 for value in seconds.values())


def test_a_model_on_openblas_answers_through_it_with_torch_on_one_thread(tiny_model_dir, monkeypatch):
    from studio.generate import GenerationSettings, generate_batch, stream_chat
    from studio.models import load_model, load_tokenizer

    monkeypatch.setattr(cpu_decode, "LARGE_WEIGHT", 0)
    tokenizer = load_tokenizer(tiny_model_dir)
    settings = GenerationSettings(temperature=0, max_new_tokens=12)
    conversation = [{"role": "user", "content": "the cat sat"}]
    kept, _ = load_model(str(tiny_model_dir), "fp32")
    prepare_for_decoding(kept.eval(), kernel="small_batch")
    assert not kept.studio_blas
    expected = list(stream_chat(kept, tokenizer, conversation, settings))[-1]
    batch = [conversation, [{"role": "user", "content": "a dog ran"}]]
    expected_batch = generate_batch(kept, tokenizer, batch, max_new_tokens=6)
    model, _ = load_model(str(tiny_model_dir), "fp32")
    prepare_for_decoding(model.eval(), kernel="openblas")
    assert model.studio_blas and type(model.lm_head) is BlasLinear
    threads = []
    real_product = decode_kernels.product
    monkeypatch.setattr(decode_kernels, "product", lambda *args: threads.append(torch.get_num_threads())
                        or real_product(*args))
    monkeypatch.setattr(cpu_decode, "others_runnable", lambda: 0)
    before = torch.get_num_threads()
    assert list(stream_chat(model, tokenizer, conversation, settings))[-1] == expected
    assert threads and set(threads) == {1} and torch.get_num_threads() == before
    threads.clear()
    # Evaluation's batches, and side by side (two rows): torch's way, on torch's threads.
    assert generate_batch(model, tokenizer, batch, max_new_tokens=6) == expected_batch and threads == []
    from studio.generate import Lane, decode

    ids = torch.tensor([[1, 5, 9]])
    pair = list(decode([Lane(model, rows=2)], ids, settings, [], 0))[-1]
    assert threads == []
    single = list(decode([Lane(model)], ids, settings, [], 0))[-1]
    assert pair == [single[0], single[0]] and threads and set(threads) == {1}


@pytest.mark.skipif(not decode_kernels.available(), reason="numpy's BLAS here is not OpenBLAS")
def test_openblas_threads_follow_decodings(monkeypatch):
    def threads() -> int:
        return decode_kernels.controller().info()[0]["num_threads"]

    decode_kernels.limit_threads(2)
    monkeypatch.setattr(cpu_decode, "others_runnable", lambda: 3)  # a training job runs
    with decode_threads():
        assert threads() == 1
    monkeypatch.setattr(cpu_decode, "others_runnable", lambda: 0)
    before = torch.get_num_threads()
    with decode_threads():
        assert threads() == torch.get_num_threads() == before
    with decode_threads((True, True)):  # every model answering is OpenBLAS's: torch keeps one thread throughout
        assert threads() == before and torch.get_num_threads() == 1
    with decode_threads((True, False)):  # beside one that is not: OpenBLAS is not used, torch has the threads
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before

"""Few-row matmuls for decoding give nn.Linear's results; only large fp32 CPU weights are swapped."""

from __future__ import annotations

import pytest
import torch

from studio.cpu_decode import LARGE_WEIGHT, SmallBatchLinear, decode_threads, prepare_for_decoding


@pytest.mark.parametrize("shape", [(1, 1, 576), (2, 1, 576), (1, 3, 576), (4, 576), (3, 9, 576)])
@pytest.mark.parametrize("bias", [True, False])
def test_small_batch_linear_matches_linear(shape, bias):
    torch.manual_seed(0)
    plain = torch.nn.Linear(576, 384, bias=bias)
    fast = torch.nn.Linear(576, 384, bias=bias)
    fast.load_state_dict(plain.state_dict())
    fast.__class__ = SmallBatchLinear
    inputs = torch.randn(*shape)
    with torch.no_grad():
        assert torch.allclose(fast(inputs), plain(inputs), atol=1e-5)
    # With gradients (training) it is nn.Linear itself.
    assert torch.equal(fast(inputs), plain(inputs))


def test_only_large_fp32_cpu_linears_are_swapped():
    model = torch.nn.Sequential(torch.nn.Linear(576, 576), torch.nn.Linear(8, 8), torch.nn.Linear(576, 576).bfloat16())
    prepare_for_decoding(model)
    assert [type(layer) for layer in model] == [SmallBatchLinear, torch.nn.Linear, torch.nn.Linear]
    assert model[0].weight.numel() >= LARGE_WEIGHT > model[1].weight.numel()


def test_decoding_uses_one_thread_when_the_cpu_is_shared(monkeypatch):
    import studio.cpu_decode as cpu_decode

    before = torch.get_num_threads()
    monkeypatch.setattr(cpu_decode, "others_runnable", lambda: 3)
    with decode_threads():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    monkeypatch.setattr(cpu_decode, "others_runnable", lambda: 0)
    with decode_threads():
        assert torch.get_num_threads() == before
        with decode_threads():  # a second answer at the same time
            assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    assert cpu_decode.others_runnable() >= -1

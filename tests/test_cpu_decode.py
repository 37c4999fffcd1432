"""Only large fp32 CPU weights are swapped for decoding's products; threads; adapter rows."""

from __future__ import annotations

import pytest
import torch

from studio.cpu_decode import LARGE_WEIGHT, SmallBatchLinear, decode_threads, others_runnable, prepare_for_decoding


def test_only_large_fp32_cpu_linears_are_swapped_where_that_kernel_is_faster():
    def model():
        return torch.nn.Sequential(torch.nn.Linear(576, 576), torch.nn.Linear(8, 8),
                                   torch.nn.Linear(576, 576).bfloat16())

    swapped = model()
    prepare_for_decoding(swapped, kernel="small_batch")
    assert [type(layer) for layer in swapped] == [SmallBatchLinear, torch.nn.Linear, torch.nn.Linear]
    assert swapped[0].weight.numel() >= LARGE_WEIGHT > swapped[1].weight.numel()
    kept = model()
    prepare_for_decoding(kept, kernel="linear")  # where F.linear reads the weights faster, as on AMX Xeons
    assert [type(layer) for layer in kept] == [torch.nn.Linear] * 3


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


def test_overlapping_answers_give_the_threads_back_whichever_ends_last(monkeypatch):
    """Two chats overlap while a job runs: the one that ends last must not restore the other's single thread."""
    import studio.cpu_decode as cpu_decode

    before = torch.get_num_threads()
    monkeypatch.setattr(cpu_decode, "others_runnable", lambda: 3)  # a training job is running
    first, second = decode_threads(), decode_threads()
    first.__enter__()
    second.__enter__()  # begins while the first holds the process at one thread
    assert torch.get_num_threads() == 1
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)  # ends last
    assert torch.get_num_threads() == before


def test_two_row_output_is_laid_out_row_by_row():
    # A transposed (column-major) output sends the next layer's few-row matmul to a slow BLAS path.
    layer = torch.nn.Linear(576, 384)
    layer.__class__ = SmallBatchLinear
    with torch.no_grad():
        for rows in (1, 2, 5):
            assert layer(torch.randn(rows, 1, 576)).is_contiguous()


def adapted_model(method: str):
    from peft import AdaLoraConfig, IA3Config, LoraConfig, PrefixTuningConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    peft_config = {
        "lora": LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False),
        "dora": LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False, use_dora=True),
        "adalora": AdaLoraConfig(init_r=4, target_r=2, total_step=10, target_modules=["q_proj", "down_proj"]),
        "ia3": IA3Config(target_modules=["k_proj", "down_proj"], feedforward_modules=["down_proj"]),
        "prefix-tuning": PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4),
    }[method]
    model = get_peft_model(LlamaForCausalLM(config), peft_config)
    with torch.no_grad():  # AdaLoRA and (IA)3 start as the identity: move them off it
        for name, parameter in model.named_parameters():
            if "lora_B" in name or "lora_E" in name or "ia3_l" in name:
                parameter.add_(torch.randn_like(parameter) * 0.5)
    return model.eval()


@pytest.mark.parametrize("method", ["lora", "dora", "adalora", "ia3"])
def test_adapter_rows_give_the_base_and_the_tuned_model_in_one_batch(method):
    model = adapted_model(method)
    tokens = torch.randint(0, 97, (3, 7))
    with torch.no_grad():
        tuned = model(input_ids=tokens).logits  # PEFT's own path: measured before any swap
        with model.disable_adapter():
            base = model(input_ids=tokens).logits
        prepare_for_decoding(model)
        holder = model.studio_adapter_rows
        assert holder is not None
        assert not torch.allclose(base, tuned, atol=1e-3)
        holder.rows = slice(1, 3)
        mixed = model(input_ids=tokens).logits
        holder.rows = slice(0, 0)
        none = model(input_ids=tokens).logits
        holder.rows = None  # PEFT decides again
        again = model(input_ids=tokens).logits
    assert torch.allclose(mixed[0], base[0], atol=1e-5)
    assert torch.allclose(mixed[1:], tuned[1:], atol=1e-5)
    assert torch.allclose(none, base, atol=1e-5)
    assert torch.allclose(again, tuned, atol=1e-5)


def test_adapter_rows_leave_training_and_prompt_methods_to_peft():
    model = adapted_model("lora")
    prepare_for_decoding(model)
    model.studio_adapter_rows.rows = slice(0, 0)
    model.train()
    tokens = torch.randint(0, 97, (2, 5))
    loss = model(input_ids=tokens, labels=tokens).loss
    loss.backward()  # the adapter is in the graph: the rows setting is ignored while training
    assert all(parameter.grad is not None for name, parameter in model.named_parameters() if "lora_" in name)
    prefix = adapted_model("prefix-tuning")
    prepare_for_decoding(prefix)
    assert prefix.studio_adapter_rows is None


def test_other_tasks_are_counted_but_not_our_own_threads(tmp_path):
    loadavg = tmp_path / "loadavg"
    tasks = tmp_path / "task"
    for tid, state in [(10, "R"), (11, "R"), (12, "S"), (13, "R")]:
        (tasks / str(tid)).mkdir(parents=True)
        (tasks / str(tid) / "stat").write_text(f"{tid} (pt_main (x)) {state} 1 2 3\n")
    loadavg.write_text("1.00 0.50 0.20 5/300 999\n")
    assert others_runnable(loadavg, tasks) == 2  # 5 running, 3 of them ours
    loadavg.write_text("1.00 0.50 0.20 3/300 999\n")
    assert others_runnable(loadavg, tasks) == 0
    assert others_runnable(tmp_path / "missing", tasks) == -1


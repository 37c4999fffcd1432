"""bench.train on the tiny model: every plain configuration is tried, the fastest is the baseline, and the
report holds both peaks and the shares of them."""

from __future__ import annotations

import json

import pytest

from tests.conftest import write_jsonl


def test_the_bench_sweeps_the_plain_configurations_and_keeps_the_fastest(tiny_model_dir, tmp_path, monkeypatch):
    from bench import train
    from studio.training import common

    monkeypatch.setattr(common, "cpu_has_fast_bf16", lambda: True)  # the sweep is the same on any CPU
    rows = [{"instruction": f"say {number}", "input": "", "output": f"number {number} " * (number % 5 + 1)}
            for number in range(12)]
    data = write_jsonl(tmp_path / "rows.json", rows)
    report = train.main(["--data", str(data), "--model", str(tiny_model_dir), "--rows", "12", "--sweep-rows", "8",
                         "--json", str(tmp_path / "report.json")])
    tried = report["baseline_tried"]
    assert [(run["batch_size"], run["bf16_autocast"]) for run in tried] == [
        (size, bf16) for size in (1, 2, 4, 8) for bf16 in (False, True)]
    fastest = max(tried, key=lambda run: run["tokens_per_second"])
    baseline = report["baseline"]
    assert (baseline["batch_size"], baseline["bf16_autocast"]) == (fastest["batch_size"], fastest["bf16_autocast"])
    assert baseline["real_tokens"] == report["studio"]["real_tokens"] > fastest["real_tokens"]  # all rows, not 8
    assert report["speedup"] == round(report["studio"]["tokens_per_second"] / baseline["tokens_per_second"], 2)
    assert report["bf16_matmul_peak_gflops"] > 0 and set(report["share_of_bf16_peak"]) == {"baseline", "studio"}
    assert json.loads((tmp_path / "report.json").read_text()) == report


@pytest.mark.parametrize("method", ["dora", "qlora", "freeze", "full"])
def test_the_bench_trains_each_method_on_both_sides(method, tiny_model_dir, tmp_path):
    """Each method trains on the plain side and the studio's, the same rows, to a loss of the same size."""
    from bench import train

    rows = [{"instruction": f"say {number}", "input": "", "output": f"number {number} " * (number % 5 + 1)}
            for number in range(8)]
    data = write_jsonl(tmp_path / "rows.json", rows)
    report = train.main(["--data", str(data), "--model", str(tiny_model_dir), "--rows", "8", "--sweep-rows", "0",
                         "--method", method, "--profile"])
    assert report["method"] == method and report["loss_difference"] < 0.05
    assert report["baseline"]["real_tokens"] == report["studio"]["real_tokens"]
    operators = report["studio_operators"]
    assert operators and all(share <= 1 for _, _, share in operators)
    assert any(name == "aten::mm" for name, _, _ in operators)


def test_matmul_flops_count_what_each_method_computes(tiny_model_dir):
    """LoRA: forward and input gradient of every weight (4 FLOPs each); full adds the weight gradients (6); freeze
    runs no backward below its trained layers (2 there)."""
    from transformers import AutoModelForCausalLM

    from bench import train

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    layers = [sum(parameter.numel() for parameter in layer.parameters()) for layer in model.model.layers]
    head = model.lm_head.weight.numel()
    assert train.flops_per_token(model, "lora") == 4 * (sum(layers) + head)
    assert train.flops_per_token(model, "full") == 6 * (sum(layers) + head)
    top = train.TRAINABLE_LAYERS
    assert train.flops_per_token(model, "freeze") == 2 * sum(layers[:-top]) + 6 * sum(layers[-top:]) + 4 * head


def test_the_studio_also_trains_at_the_baseline_batch_size(tiny_model_dir, tmp_path, monkeypatch):
    """Where the fastest plain configuration takes smaller batches (more optimizer steps), the studio is timed at
    that batch size too: the same steps, so the two losses agree within the bench's 3%."""
    from bench import train

    monkeypatch.setattr(train, "fastest_baseline", lambda *args: ({"batch_size": 2, "bf16": False}, []))
    rows = [{"instruction": f"say {number}", "input": "", "output": f"number {number} " * (number % 5 + 1)}
            for number in range(8)]
    data = write_jsonl(tmp_path / "rows.json", rows)
    report = train.main(["--data", str(data), "--model", str(tiny_model_dir), "--rows", "8"])
    same = report["studio_at_baseline_batch"]
    assert same["batch_size"] == report["baseline"]["batch_size"] == 2 and report["studio"]["batch_size"] == 8
    assert same["loss_difference"] < 0.03 and same["real_tokens"] == report["baseline"]["real_tokens"]
    assert same["speedup"] == round(same["tokens_per_second"] / report["baseline"]["tokens_per_second"], 2)

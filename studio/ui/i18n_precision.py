"""The precision settings' labels in Chat and Compare, English (EN) and Chinese (ZH); studio.ui.i18n merges them."""

from __future__ import annotations

EN = {
    "precision.label": "Precision",
    "precision.help": ("How the weights are held while the model answers. fp32: as trained. bf16: half the memory. "
                       "int8 / int4 (weight-only): less memory still, and faster on a CPU; the answers drift further "
                       "from fp32's. auto: fp32 on a CPU, bf16 on a GPU. Each answer's caption shows the weights' "
                       "memory and the tokens per second it was written at."),
    "precision.caption": "{precision} · {mb} MB of weights · {speed} tokens/s",
    "precision.caption_short": "{precision} · {mb} MB of weights",
    "compare.left_column": "Left column",
    "compare.left_help": ("The base model beside the tuned one, or the tuned model itself at another precision: "
                          "fp32 against int4 with the same seed shows what quantizing costs. fp32: the weights as "
                          "trained; bf16 half their memory; int8 and int4 (weight-only) less still, faster on a CPU; "
                          "auto: fp32 on a CPU, bf16 on a GPU. Each column's memory and speed show under the answers."),
    "compare.left_base": "base model",
    "compare.left_tuned": "tuned model",
    "compare.left_precision": "Left precision",
    "compare.right_precision": "Right precision (tuned)",
    "compare.tuned_at": "Tuned · {precision}",
    "compare.answer_tuned_at": "Answer {letter}: tuned · {precision}",
    "compare.speeds": "Left: {left}. Right: {right}.",
}

ZH = {
    "precision.label": "精度",
    "precision.help": ("模型回答时权重的存放方式。fp32：与训练时相同。bf16：内存减半。int8 / int4（仅权重量化）："
                       "内存更少，在 CPU 上更快，回答与 fp32 的差异也更大。auto：CPU 上为 fp32，"
                       "GPU 上为 bf16。每条回答的说明行会显示权重占用的内存和生成速度（tokens/s）。"),
    "precision.caption": "{precision} · 权重 {mb} MB · {speed} tokens/s",
    "precision.caption_short": "{precision} · 权重 {mb} MB",
    "compare.left_column": "左栏",
    "compare.left_help": ("左栏显示基础模型，或同一个微调模型的另一种精度：用相同种子对比 fp32 与 int4，可以看到量化的代价。"
                          "fp32：与训练时相同；bf16：内存减半；int8 与 int4（仅权重量化）：内存更少，在 CPU 上更快；"
                          "auto：CPU 上为 fp32，GPU 上为 bf16。每栏的内存与速度显示在回答下方。"),
    "compare.left_base": "基础模型",
    "compare.left_tuned": "微调后的模型",
    "compare.left_precision": "左栏精度",
    "compare.right_precision": "右栏精度（微调模型）",
    "compare.tuned_at": "微调后 · {precision}",
    "compare.answer_tuned_at": "回答 {letter}：微调后 · {precision}",
    "compare.speeds": "左栏：{left}。右栏：{right}。",
}

"""Fine-tuning methods: each name in RunConfig.method becomes a PEFT config, a freeze or full training.

    model = apply_method(model, config, total_steps)   # returns the model to train

PEFT provides every method but `freeze` (train only the top N decoder layers), written here.
QLoRA and 8-bit LoRA differ from LoRA only in how the base is loaded (`method_bits`).
A reward model (stage rm) is a sequence classifier: its adapters are PEFT's SEQ_CLS kind, and the new score head
trains beside them in full (`score_heads`); freeze trains it with the top layers.
"""

from __future__ import annotations

import torch
from torch import nn

from studio.config import METHODS, RunConfig

PROMPT_METHODS = ("prefix-tuning", "prompt-tuning", "p-tuning")  # virtual tokens before the input
WEIGHT_METHODS = ("freeze", "full")  # the model's own weights train
SCORE_HEAD_NAMES = ("score", "classifier")  # a sequence classifier's output layer, by the names transformers gives it
ADAPTER_METHODS = tuple(method for method in METHODS if method not in PROMPT_METHODS + WEIGHT_METHODS)

DESCRIPTIONS = {
    "lora": "LoRA: small low-rank matrices beside each chosen layer; the base stays frozen.",
    "qlora": "QLoRA: LoRA on a base loaded in 4-bit (nf4) through bitsandbytes; least memory.",
    "lora-8bit": "LoRA on a base loaded in 8-bit through bitsandbytes.",
    "dora": "DoRA: LoRA that learns each weight's magnitude and direction apart; often closer to full tuning.",
    "adalora": "AdaLoRA: LoRA whose rank is shared out during training to the layers that need it most.",
    "ia3": "IA3: learned scaling vectors on keys, values and the feed-forward; the fewest parameters.",
    "prefix-tuning": "Prefix tuning (P-Tuning v2): learned key/value vectors prepended at every layer.",
    "prompt-tuning": "Prompt tuning: learned embeddings prepended to the input only.",
    "p-tuning": "P-Tuning: virtual tokens produced by a small trained encoder, prepended to the input.",
    "freeze": "Freeze: train all weights of the top N decoder layers, keep the rest fixed.",
    "full": "Full fine-tuning: every weight is trained; most memory, saves a whole model.",
}



def is_prompt_learning(model) -> bool:
    """True when an adapter on `model` is a prompt method (prompt or prefix tuning, P-tuning): its virtual tokens
    come before the input's, shifting every position and shared by whatever one sequence holds."""
    return any(config.is_prompt_learning for config in (getattr(model, "peft_config", None) or {}).values())


def inner_model(model):
    """The transformers model under a PEFT wrapper, or the model itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def method_bits(method: str) -> int:
    """How many bits the base model is loaded in for this method (0 = not quantized)."""
    return {"qlora": 4, "lora-8bit": 8}.get(method, 0)


def saves_adapter(method: str) -> bool:
    """Adapter methods save `adapter/`; freeze and full save a whole `model/`."""
    return method not in WEIGHT_METHODS


def peft_config(config: RunConfig, model: nn.Module, total_steps: int):
    """The PEFT config for an adapter or prompt method."""
    from peft import (
        AdaLoraConfig, IA3Config, LoraConfig, PrefixTuningConfig, PromptEncoderConfig,
        PromptTuningConfig, PromptTuningInit, TaskType,
    )

    targets = _target_modules(config.target_modules)
    method = config.method
    # A reward model's adapters sit on a sequence classifier; PEFT trains its new score head whole beside them
    # (SEQ_CLS puts `score` and `classifier` in modules_to_save, so adapter/ holds the head).
    task = {"task_type": TaskType.SEQ_CLS if config.stage == "rm" else TaskType.CAUSAL_LM}
    if method in ("lora", "qlora", "lora-8bit", "dora"):
        return LoraConfig(
            **task, r=config.lora_rank, lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout, target_modules=targets, use_dora=method == "dora",
        )
    if method == "adalora":
        # AdaLoRA starts above the target rank and prunes down to it over the run.
        return AdaLoraConfig(
            **task, init_r=int(config.lora_rank * 1.5), target_r=config.lora_rank,
            lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout, target_modules=targets,
            total_step=max(total_steps, 3), tinit=0, tfinal=0, deltaT=1,
        )
    if method == "ia3":
        # "all-linear" means the model's key/value and feed-forward output layers (see ia3_targets).
        targets, feedforward = ia3_targets(model) if targets == "all-linear" else (targets, [])
        return IA3Config(**task, target_modules=targets, feedforward_modules=feedforward)
    tokens = config.num_virtual_tokens
    if method == "prefix-tuning":
        return PrefixTuningConfig(**task, num_virtual_tokens=tokens)
    if config.stage == "rm":
        raise ValueError(reward_method_refusal(method))
    if method == "prompt-tuning":
        # Starting from real token embeddings trains faster than random vectors.
        return PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=tokens,
                                  prompt_tuning_init=PromptTuningInit.SAMPLE_VOCAB)
    if method == "p-tuning":
        hidden = model.config.hidden_size
        return PromptEncoderConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=tokens,
                                   encoder_hidden_size=hidden)
    raise ValueError(f"'{method}' is not a PEFT method.")


# IA3 scales attention keys and values and the feed-forward output. PEFT lists those layers for the
# families it knows; for the others (Phi-3's fused qkv_proj, GLM-4) they are found by these names.
IA3_ATTENTION_NAMES = ("k_proj", "v_proj", "qkv_proj", "query_key_value", "Wqkv")
IA3_FEEDFORWARD_NAMES = ("down_proj", "fc2", "dense_4h_to_h", "w2")


def ia3_targets(model: nn.Module) -> tuple[list[str] | None, list[str] | None]:
    """(target_modules, feedforward_modules) for IA3 on all layers; (None, None) lets PEFT use its own list."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING

    model_type = getattr(model.config, "model_type", "")
    if model_type in TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING:
        return None, None
    names = linear_layer_names(model)
    attention = [name for name in IA3_ATTENTION_NAMES if name in names]
    feedforward = [name for name in IA3_FEEDFORWARD_NAMES if name in names][:1]
    if not attention or not feedforward:
        raise ValueError(f"IA3 cannot tell which layers of this model ({model_type}) hold the attention keys, values "
                         f"and feed-forward output. Set target_modules to them (its linear layers: {', '.join(names)}), "
                         "or choose lora.")
    return attention + feedforward, feedforward


def linear_layer_names(model: nn.Module) -> list[str]:
    """The distinct last names of the model's linear layers (q_proj, qkv_proj, lm_head, ...)."""
    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, nn.Linear)})


def score_heads(model: nn.Module) -> list[str]:
    """The names of a sequence classifier's output layer (`score` in decoder models); [] for a language model."""
    return [name for name in SCORE_HEAD_NAMES if isinstance(getattr(model, name, None), nn.Module)]


def reward_method_refusal(method: str) -> str | None:
    """Why this method cannot train a reward model (stage rm), or None when it can."""
    if method in PROMPT_METHODS and method != "prefix-tuning":
        return (f"{method} cannot train a reward model: its virtual tokens go in as embeddings, and a reward model "
                "reads its score at the last real token, which it finds from the token ids, so it would read padding. "
                "Choose lora (or another adapter method), prefix-tuning, freeze or full.")
    return None


def _target_modules(value: str):
    value = (value or "all-linear").strip()
    if value == "all-linear":
        return value
    return [name.strip() for name in value.split(",") if name.strip()]


def apply_method(model: nn.Module, config: RunConfig, total_steps: int) -> nn.Module:
    """Make only the method's parameters trainable; returns the model to train."""
    if config.method == "full":
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        return model
    if config.method == "freeze":
        model = freeze_lower_layers(model, config.trainable_layers)
        for name in score_heads(model):  # a reward model's new score head learns with the top layers
            getattr(model, name).requires_grad_(True)
        return model
    from peft import get_peft_model, prepare_model_for_kbit_training

    if method_bits(config.method):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    elif config.gradient_checkpointing:
        # Checkpointed layers need a grad-carrying input even when the embeddings are frozen.
        model.enable_input_require_grads()
    if config.start_from:
        # Train more: the finished run's adapter, trainable again, instead of a new one.
        from peft import PeftModel

        from studio.runs import ADAPTER, start_from_run

        return PeftModel.from_pretrained(model, str(start_from_run(config) / ADAPTER), is_trainable=True)
    try:
        model = get_peft_model(model, peft_config(config, model, total_steps))
    except ValueError as error:
        if "Target modules" in str(error) or "target_modules" in str(error):
            names = ", ".join(linear_layer_names(model))
            raise ValueError(f"target_modules '{config.target_modules}' matches no layer. This model's linear layers: {names}.") from None
        raise
    if config.method == "prefix-tuning":
        start_prefix_from_the_model(model, config.seed)
    return model


def prefix_start_tokens(vocabulary: int, count: int, seed: int) -> torch.Tensor:
    """The vocabulary tokens (1 × count, sampled with the run's seed) whose keys and values a new prefix starts
    from: common ones, past the special tokens that open most vocabularies."""
    return torch.randint(min(100, vocabulary - 1), min(vocabulary, 5000), (1, count),
                         generator=torch.Generator().manual_seed(seed))


def start_prefix_from_the_model(model, seed: int) -> None:
    """Prefix tuning's vectors set to the keys and values the base model computes at every layer for a few sampled
    vocabulary tokens, so the prefix starts as a real context (Li and Liang's start from real activations, as
    prompt tuning starts from sampled token embeddings). PEFT's random vectors put the embedded model's loss on
    the review sample at 9.0 before any update, against the base's 1.05, and 30 steps at LoRA's rate did not
    bring it back; from real activations the first step's loss is 1.06. A model whose cache does not fit the
    prefix's layout keeps PEFT's start."""
    adapter = model.active_adapter
    settings, encoder = model.peft_config[adapter], model.prompt_encoder[adapter]
    base = model.get_base_model()
    decoder = getattr(base, base.base_model_prefix, base)  # the layers alone: a causal LM or a reward model's
    weight = encoder.embedding.weight
    ids = prefix_start_tokens(base.get_input_embeddings().num_embeddings, settings.num_virtual_tokens, seed)
    ids = ids.to(weight.device)
    with torch.no_grad():
        cache = decoder(input_ids=ids, use_cache=True).past_key_values
        layers = [tensor[0] for layer in getattr(cache, "layers", []) for tensor in (layer.keys, layer.values)]
        if not layers or len({tensor.shape for tensor in layers}) != 1:
            return
        start = torch.stack(layers).permute(2, 0, 1, 3).reshape(settings.num_virtual_tokens, -1)
        if start.shape == weight.shape:
            weight.copy_(start.to(weight.dtype))


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The stack of transformer blocks (model.layers, transformer.h, ...): the longest ModuleList."""
    candidates = [module for module in model.modules() if isinstance(module, nn.ModuleList)]
    if not candidates:
        raise ValueError("Could not find the decoder layers of this model, so freeze cannot pick the top ones.")
    return max(candidates, key=len)


def freeze_lower_layers(model: nn.Module, trainable_layers: int) -> nn.Module:
    layers = decoder_layers(model)
    if trainable_layers > len(layers):
        raise ValueError(f"trainable_layers is {trainable_layers} but the model has {len(layers)} layers.")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for layer in layers[len(layers) - trainable_layers:]:
        for parameter in layer.parameters():
            parameter.requires_grad_(True)
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; 4-bit weights count as their unpacked size."""
    trainable = total = 0
    for parameter in model.parameters():
        count = parameter.numel()
        if parameter.__class__.__name__ == "Params4bit":
            count *= 2
        total += count
        if parameter.requires_grad:
            trainable += count
    return trainable, total


def update_adalora(model: nn.Module, global_step: int) -> None:
    """AdaLoRA reallocates ranks from the gradients of each step, before they are cleared."""
    base = getattr(model, "base_model", None)
    if base is not None and hasattr(base, "update_and_allocate"):
        with torch.no_grad():
            base.update_and_allocate(global_step)

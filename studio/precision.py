"""Chat precision: a model's weights as fp32, bf16, int8 or int4, and what each costs in memory.

    model, tokenizer = load_for_chat("embedded", precision="int8")   # studio.generate
    weight_bytes(model)                                                # what its weights hold in memory

- fp32: the weights as trained; the reference every other precision is measured against.
- bf16: every weight and activation in bfloat16 (half the memory; answers drift from fp32's after a while).
- int8 / int4 (weight-only): on the CPU the large linear layers keep int8 weights with one scale per
  output row (int4: 4-bit weights, a scale and offset per group of 32 inputs) and multiply through
  torch's own weight-only kernels, `_weight_int8pack_mm` and `_weight_int4pack_mm_for_cpu` (the ones
  torchao's CPU layouts call); activations, norms and attention stay fp32, each product is taken in
  bf16. The token embedding keeps int8 rows. On an NVIDIA GPU, int8 and int4 load through
  bitsandbytes (LLM.int8 and nf4), as training's QLoRA does.

Measured on the embedded model (2-core Intel Xeon, AMX-BF16; `python -m bench.chat`): see the README's
deployment section. A layer whose shape a kernel does not take stays fp32 (`quantized_layers` counts).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from studio.sampling import PRECISION_CHOICES as CHOICES, check_precision  # noqa: F401  (named here too)

AUTO = CHOICES[0]
PRECISIONS = CHOICES[1:]
INT4_GROUP = 32
LARGE_WEIGHT = 65536  # smaller matrices (adapters, tiny heads) stay as they are: they cost nothing to read


def resolve(precision: str, device: str) -> str:
    """`auto` is fp32 on the CPU (the exact answers; the others are a choice the user makes, seeing the cost) and
    bf16 on a GPU, where it is native."""
    precision = check_precision(precision)
    if precision == AUTO:
        return "bf16" if device == "cuda" else "fp32"
    if precision in ("int8", "int4") and device not in ("cpu", "cuda"):
        raise ValueError(f"{precision} runs on the CPU or an NVIDIA GPU; on this device choose fp32 or bf16.")
    return precision


class Int8Linear(torch.nn.Module):
    """A linear layer with int8 weights (symmetric, one scale per output row), multiplied by torch's
    `_weight_int8pack_mm` in bf16; takes and returns the input's dtype."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("qweight", torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scales", scale.to(torch.bfloat16))
        self.bias = linear.bias

    @property
    def weight(self) -> torch.Tensor:
        """The weights as the kernel sees them, dequantized (for code that reads `.weight`, e.g. DoRA's norm)."""
        return self.qweight.float() * self.scales.float()[:, None]

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        flat = input.reshape(-1, self.in_features).to(torch.bfloat16)
        output = torch.ops.aten._weight_int8pack_mm(flat, self.qweight, self.scales)
        output = output.reshape(*input.shape[:-1], self.out_features).to(input.dtype)
        return output if self.bias is None else output + self.bias


class Int4Linear(torch.nn.Module):
    """A linear layer with 4-bit weights (asymmetric, a scale and offset per group of INT4_GROUP inputs),
    multiplied by torch's `_weight_int4pack_mm_for_cpu` in bf16; takes and returns the input's dtype."""

    def __init__(self, linear: torch.nn.Linear, group: int = INT4_GROUP):
        super().__init__()
        weight = linear.weight.detach().float()
        rows, columns = weight.shape
        grouped = weight.reshape(rows, columns // group, group)
        low, high = grouped.amin(-1, keepdim=True), grouped.amax(-1, keepdim=True)
        scale = ((high - low) / 15).clamp(min=1e-12)
        levels = torch.round((grouped - low) / scale).clamp(0, 15).to(torch.int32).reshape(rows, columns)
        self.in_features, self.out_features, self.group = columns, rows, group
        self.register_buffer("packed", torch.ops.aten._convert_weight_to_int4pack_for_cpu(levels, 1))
        # The kernel computes (level - 8) * scale + zero for each group, so zero is the group's middle.
        scale, low = scale.squeeze(-1), low.squeeze(-1)
        self.register_buffer("scales_zeros", torch.stack([scale.T, (low + 8 * scale).T], -1).contiguous()
                             .to(torch.bfloat16))
        self.bias = linear.bias

    @property
    def weight(self) -> torch.Tensor:
        eye = torch.eye(self.in_features, dtype=torch.bfloat16)
        return torch.ops.aten._weight_int4pack_mm_for_cpu(eye, self.packed, self.group, self.scales_zeros).float().T

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        flat = input.reshape(-1, self.in_features).to(torch.bfloat16)
        output = torch.ops.aten._weight_int4pack_mm_for_cpu(flat, self.packed, self.group, self.scales_zeros)
        output = output.reshape(*input.shape[:-1], self.out_features).to(input.dtype)
        return output if self.bias is None else output + self.bias


class PackedLinear(torch.nn.Module):
    """A bf16 linear layer whose weights oneDNN holds in its own blocked layout, packed once, multiplied by
    `torch.ops.mkldnn._linear_pointwise` (the product PyTorch's compiler calls for bf16 linears on a CPU): the
    same numbers as `F.linear` in bf16, and on a CPU with bf16 units the weights read about 1.4x faster for one
    row. Takes and returns bf16."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), None)  # an opaque tensor
        self.bias = linear.bias

    @property
    def weight(self) -> torch.Tensor:
        """The weights in the usual layout (for code that reads `.weight`, e.g. DoRA's norm)."""
        eye = torch.eye(self.in_features, dtype=self.packed.dtype)
        return torch.ops.mkldnn._linear_pointwise(eye, self.packed, None, "none", [], "").T

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(input, self.packed, self.bias, "none", [], "")


def pack_bf16(model) -> int:
    """Swap the model's large bf16 CPU linears (not a PEFT adapter's own, not a head that shares the token
    embedding's weights, which packing would copy) for `PackedLinear`s, in place; returns how many."""
    embedding = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    shared, swapped = getattr(embedding, "weight", None), 0
    for parent, name, child in large_linears(model, torch.bfloat16):
        if child.weight is not shared:
            setattr(parent, name, PackedLinear(child))
            swapped += 1
    return swapped


class Int8Embedding(torch.nn.Module):
    """A token embedding with int8 rows (one scale per token); looks up, then returns fp32 rows."""

    def __init__(self, embedding: torch.nn.Embedding):
        super().__init__()
        weight = embedding.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127
        self.num_embeddings, self.embedding_dim = weight.shape
        self.padding_idx = embedding.padding_idx
        self.register_buffer("qweight", torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scales", scale)

    @property
    def weight(self) -> torch.Tensor:
        return self.qweight.float() * self.scales[:, None]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.qweight).float() * self.scales[ids][..., None]


def quantized_linear(linear: torch.nn.Linear, precision: str) -> torch.nn.Module | None:
    """The int8/int4 layer for a plain fp32 CPU linear, or None where a kernel does not take its shape."""
    try:
        layer = Int8Linear(linear) if precision == "int8" else Int4Linear(linear)
        with torch.no_grad():
            layer(torch.zeros(1, linear.in_features))
        return layer
    except (RuntimeError, ValueError):
        return None


def adapter_modules(model) -> set[int]:
    """ids of a PEFT model's adapter weights' modules (LoRA's A and B...): they stay as trained."""
    kept = set()
    for layer in model.modules():
        for attribute in getattr(layer, "adapter_layer_names", ()):
            for module in getattr(layer, attribute, {}).values() if isinstance(getattr(layer, attribute, None),
                                                                               torch.nn.ModuleDict) else ():
                kept.update(id(part) for part in module.modules())
    return kept


def large_linears(model, dtype: torch.dtype) -> list[tuple[torch.nn.Module, str, torch.nn.Linear]]:
    """(parent, name, layer) for each plain CPU linear of this dtype worth a kernel of its own (LARGE_WEIGHT and
    up), also the base layers under a PEFT adapter, never the adapter's own."""
    kept = adapter_modules(model)
    return [(parent, name, child) for parent in list(model.modules()) for name, child in list(parent.named_children())
            if type(child) is torch.nn.Linear and id(child) not in kept and child.weight.device.type == "cpu"
            and child.weight.dtype == dtype and child.weight.numel() >= LARGE_WEIGHT]


def quantize_cpu(model, precision: str) -> int:
    """Swap the model's large fp32 linears (also the base layers under a PEFT adapter, not the adapter's own) and
    its token embedding for int8/int4 ones, in place; returns how many linears were swapped."""
    embedding = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    swapped = 0
    for parent, name, child in large_linears(model, torch.float32):
        layer = quantized_linear(child, precision)
        if layer is not None:
            setattr(parent, name, layer)
            swapped += 1
    if isinstance(embedding, torch.nn.Embedding) and embedding.weight.dtype == torch.float32:
        model.set_input_embeddings(Int8Embedding(embedding))
    return swapped


def apply_precision(model, precision: str, device: str = "cpu"):
    """The model at this precision (in place where it can be): bf16 casts (on the CPU, large linears then packed
    for oneDNN where that multiplies faster here: `cpu_decode.faster_bf16_kernel`), int8/int4 swap layers on the
    CPU. A model loaded through bitsandbytes (GPU int8/int4) is already there."""
    if precision == "bf16":
        model.to(torch.bfloat16)
        if device == "cpu":
            from studio.cpu_decode import faster_bf16_kernel

            if faster_bf16_kernel() == "packed":
                model.studio_packed_layers = pack_bf16(model)
    elif precision in ("int8", "int4") and device == "cpu":
        model.studio_quantized_layers = quantize_cpu(model, precision)
    model.studio_precision = precision
    return model


def packed_weights(model) -> list[torch.Tensor]:
    return [module.packed for module in model.modules() if isinstance(module, PackedLinear)]


def weight_bytes(model) -> int:
    """Bytes the model's weights hold in memory: every parameter and buffer once (tied weights count once)."""
    seen, total = set(), 0
    for tensor in [*model.parameters(), *model.buffers(), *packed_weights(model)]:
        if tensor.layout != torch.strided:  # oneDNN's packed weights keep no storage we can see
            total += tensor.numel() * tensor.element_size()
            continue
        key = (tensor.untyped_storage().data_ptr(), tensor.device)
        if key in seen:
            continue
        seen.add(key)
        total += tensor.untyped_storage().nbytes()
    return total

"""Sibling projections read as one matrix: q, k and v; gate and up.

An attention layer reads its input through three projections (q, k and v) and an MLP through two (gate and
up). While decoding, each is the product of one row (two side by side) by a weight matrix, so the weights'
reading is most of its cost, and the call itself the rest: on a 2-core AMD EPYC, about 19 µs per product
outside the reading, 211 products per step of the embedded model. `fuse_projections` stacks each group's
weights into one linear layer on their parent (`studio_fused_q_k_v`, `studio_fused_gate_up`) and turns the
projections into `ProjectionSlice`s: the first to see an input runs the stacked product, each returns its own
columns of it. A decoding step of the embedded model runs 121 products instead of 211. Each output element is
the same dot product as before, so the answers are the same (tests and `python -m bench.chat` check greedy
answers equal to `generate`'s).

The stacked layer is an ordinary `nn.Linear` in the model, so what comes after sees it as any other: int8 and
int4 quantize it (a scale per output row or per group of inputs in a row: the same values as the projections
quantized one by one), `cpu_decode.prepare_for_decoding` picks its kernel. A PEFT adapter on a projection
stays as trained, on top of its slice. For chat models only: the weights are no longer where a checkpoint
keeps them, so such a model is never saved.
"""

from __future__ import annotations

import torch

GROUPS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


class StackedOutput:
    """The stacked product of one input, kept until each projection of the group has taken its columns.

    The input and its product are kept as one pair, replaced whole: a forward on another thread (chat models
    take turns, but nothing else relies on it) can make a projection compute again, never take another
    input's columns."""

    def __init__(self, parent: torch.nn.Module, name: str, members: int):
        self.parent, self.name, self.members = parent, name, members
        self.held: tuple[torch.Tensor, torch.Tensor] | None = None
        self.served = 0

    def layer(self) -> torch.nn.Module:
        """The stacked layer as it is now (int8/int4 and the decoding kernels swap it after stacking)."""
        return getattr(self.parent, self.name)

    def columns(self, input: torch.Tensor, part: slice) -> torch.Tensor:
        held = self.held
        if held is None or held[0] is not input:
            held = (input, self.layer().forward(input))
            self.held, self.served = held, 0
        self.served += 1
        if self.served >= self.members:  # every projection has its part: keep neither alive
            self.held = None
        return held[1][..., part]


class ProjectionSlice(torch.nn.Module):
    """One projection of a stacked group: its columns of the stacked product, its rows of the stacked weights."""

    def __init__(self, stacked: StackedOutput, part: slice, in_features: int):
        super().__init__()
        self.stacked, self.part = stacked, part
        self.in_features, self.out_features = in_features, part.stop - part.start

    @property
    def weight(self) -> torch.Tensor:
        """This projection's weights (dequantized where the stacked layer is quantized), for code that reads them."""
        return self.stacked.layer().weight[self.part]

    @property
    def bias(self) -> torch.Tensor | None:
        bias = getattr(self.stacked.layer(), "bias", None)
        return None if bias is None else bias[self.part]

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.stacked.columns(input, self.part)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, columns={self.part.start}:" \
               f"{self.part.stop} of {self.stacked.name}"


def plain_linear(module: torch.nn.Module | None) -> torch.nn.Linear | None:
    """The plain linear a projection computes with: itself, or the base layer right under a PEFT adapter."""
    if type(module) is torch.nn.Linear:
        return module
    base = getattr(module, "base_layer", None)
    return base if type(base) is torch.nn.Linear else None


def can_stack(linears: list[torch.nn.Linear | None]) -> bool:
    if any(linear is None for linear in linears):
        return False
    first = linears[0]
    return all(linear.weight.device.type == "cpu" and linear.weight.dtype == first.weight.dtype
               and linear.in_features == first.in_features and (linear.bias is None) == (first.bias is None)
               for linear in linears)


def stack(linears: list[torch.nn.Linear]) -> torch.nn.Linear:
    first = linears[0]
    layer = torch.nn.Linear(first.in_features, sum(linear.out_features for linear in linears),
                            bias=first.bias is not None, device="meta")
    with torch.no_grad():
        layer.weight = torch.nn.Parameter(torch.cat([linear.weight for linear in linears]), requires_grad=False)
        if first.bias is not None:
            layer.bias = torch.nn.Parameter(torch.cat([linear.bias for linear in linears]), requires_grad=False)
    return layer


def fuse_projections(model: torch.nn.Module) -> int:
    """Stack every group of sibling projections (`GROUPS`) that are plain CPU linears of one dtype and input
    size (or a PEFT adapter's base layers), in place; returns how many groups were stacked."""
    stacked = 0
    for parent in list(model.modules()):
        for group in GROUPS:
            members = [getattr(parent, name, None) for name in group]
            linears = [plain_linear(member) for member in members]
            if not can_stack(linears):
                continue
            name = "studio_fused_" + "_".join(member.removesuffix("_proj") for member in group)
            parent.add_module(name, stack(linears))
            output, start = StackedOutput(parent, name, len(group)), 0
            for member_name, member, linear in zip(group, members, linears):
                piece = ProjectionSlice(output, slice(start, start + linear.out_features), linear.in_features)
                start += linear.out_features
                if member is linear:
                    setattr(parent, member_name, piece)
                else:
                    member.base_layer = piece
            stacked += 1
    return stacked

"""Weights moved into huge pages keep their values, their ties and their modules, in one region the kernel was
asked to back with huge pages; where huge pages are off nothing moves."""

from __future__ import annotations

import gc
import mmap
import sys
from pathlib import Path

import pytest
import torch

from studio import huge_pages
from studio.fused_projections import fuse_projections
from studio.huge_pages import available, move_to_huge_pages
from studio.precision import apply_precision, weight_bytes
from tests.conftest import build_tiny_model

IDS = torch.tensor([[5, 6, 7, 8, 9]])


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=IDS).logits


def region_flags(address: int) -> list[str]:
    """The VmFlags of the mapping of this process that holds `address` (/proc/self/smaps)."""
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and ":" not in head:
            start, end = (int(part, 16) for part in head.split("-"))
            inside = start <= address < end
        elif inside and line.startswith("VmFlags:"):
            return line.split()[1:]
    return []


@pytest.mark.skipif(not available(), reason="this system gives no transparent huge pages")
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_weights_move_with_their_values_and_ties(precision, small_layers_too, monkeypatch):
    monkeypatch.setattr(huge_pages, "LARGE", 0)  # the tiny model's tensors are small: move them all
    model = build_tiny_model(64).eval()
    fuse_projections(model)
    apply_precision(model, precision)
    before, size = logits(model), weight_bytes(model)
    moved = move_to_huge_pages(model)
    gc.collect()
    assert moved >= size - 64 * 1024 and torch.equal(logits(model), before)
    storages = {tensor.untyped_storage().data_ptr() for tensor in [*model.parameters(), *model.buffers()]}
    weight = model.lm_head.weight if precision == "fp32" else model.model.layers[0].mlp.down_proj.qweight
    assert storages == {weight.untyped_storage().data_ptr()}  # every weight in one region
    assert "hg" in region_flags(weight.data_ptr())  # the region asked for huge pages
    if precision == "fp32":
        assert model.lm_head.weight is model.model.embed_tokens.weight  # still tied
    assert weight_bytes(model) <= size + 64 * len(list(model.parameters()))


def test_nothing_moves_where_huge_pages_are_off(tmp_path, monkeypatch):
    setting = tmp_path / "enabled"
    setting.write_text("always madvise [never]\n")
    assert not available(setting)
    monkeypatch.setattr(huge_pages, "SETTING", setting)
    model = build_tiny_model(64)
    pointers = [parameter.data_ptr() for parameter in model.parameters()]
    assert move_to_huge_pages(model) == 0
    assert [parameter.data_ptr() for parameter in model.parameters()] == pointers
    setting.write_text("always [madvise] never\n")
    assert available(setting) == (sys.platform.startswith("linux") and hasattr(mmap, "MADV_HUGEPAGE"))


def test_small_tensors_and_views_stay_where_they_are():
    model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.Linear(4, 4))
    shared = torch.zeros(64, 1024)
    model.register_buffer("part", shared[:32])  # a view of a larger tensor
    small, part = model[1].weight.data_ptr(), model.part.data_ptr()
    moved = move_to_huge_pages(model)
    assert model[1].weight.data_ptr() == small and model.part.data_ptr() == part
    assert moved in (0, 256 * 256 * 4)

"""Decoding on a CPU: matmuls shaped for one or two tokens at a time.

Each decoding step multiplies every weight matrix by one row (a chat) or two (base and tuned
side by side), so a step costs one read of all weights from memory. On the CPUs we measured,
the BLAS path `torch.nn.functional.linear` takes for so few rows reads them at half the rate
the same product reaches written as `weight @ rows.T` with at least two columns, and its
threads fight each other when the machine is busy. So chat models swap their `nn.Linear`s for
`SmallBatchLinear` (same weights, same results up to float rounding order; the greedy answers
are checked identical by tests and `python -m bench.chat`).

Threads: with the CPU to itself, decoding uses all of torch's threads; when anything else is
runnable (a training job, another answer), one thread, because threads that spin waiting for
a busy core made decoding up to 30 times slower on a 2-core machine.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import torch

SMALL_BATCH = 8
LARGE_WEIGHT = 65536  # adapters' small matrices gain nothing and would pay the reshaping
_threads_lock = threading.Lock()
_active_decodes = 0


class SmallBatchLinear(torch.nn.Linear):
    """nn.Linear that computes few-row inputs as `weight @ rows.T`, two columns at least."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        rows = input.numel() // input.shape[-1] if input.numel() else 0
        if (0 < rows <= SMALL_BATCH and input.device.type == "cpu" and self.weight.dtype == torch.float32
                and input.dtype == torch.float32 and not torch.is_grad_enabled()):
            flat = input.reshape(rows, input.shape[-1])
            columns = torch.cat([flat, flat]) if rows == 1 else flat
            output = (self.weight @ columns.T).T[:rows]
            if self.bias is not None:
                output = output + self.bias
            return output.reshape(*input.shape[:-1], self.out_features)
        return super().forward(input)


def prepare_for_decoding(model) -> None:
    """Swap the model's plain fp32 CPU linears for SmallBatchLinear (in place; weights untouched)."""
    for module in model.modules():
        if (type(module) is torch.nn.Linear and module.weight.device.type == "cpu"
                and module.weight.dtype == torch.float32 and module.weight.numel() >= LARGE_WEIGHT):
            module.__class__ = SmallBatchLinear


def others_runnable() -> int:
    """Tasks ready to run on this machine besides the caller (Linux); -1 when unknown."""
    try:
        return int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1
    except (OSError, ValueError, IndexError):
        return -1


@contextlib.contextmanager
def decode_threads():
    """Decode on all threads when the CPU is free, else on one; then give the process its threads back."""
    global _active_decodes
    with _threads_lock:
        previous = torch.get_num_threads()
        alone = _active_decodes == 0 and others_runnable() == 0
        _active_decodes += 1
        torch.set_num_threads(previous if alone else 1)
    try:
        yield
    finally:
        with _threads_lock:
            _active_decodes -= 1
            torch.set_num_threads(previous)

"""The products a chat model's fp32 layers decode with besides `nn.Linear`: torch's two-column way and OpenBLAS.

`studio.cpu_decode` times every way once per machine and weight shape and picks; these are the ways.

- `SmallBatchLinear` multiplies one to eight rows as `weight @ rows.T`, two columns at least (on some CPUs torch
  reads a matrix faster so than through `F.linear`).
- `BlasLinear` multiplies one row through numpy's own OpenBLAS (`numpy.dot` on the same memory, no copy), and
  anything else as `SmallBatchLinear` or `nn.Linear` (`studio_torch_kernel`, the faster for its shape). PyTorch's
  CPU wheels multiply through Intel's MKL; on a 2-core AMD EPYC without AVX-512 (AVX2), one row times the
  embedded model's fp32 matrices took 42 ms a pass through torch's faster way for each shape and 28 ms through
  OpenBLAS. (For two rows OpenBLAS was slower: 1.6x one row, against about 1.05x for torch's two-column way.)

The two libraries keep their own threads spinning between calls: with both on two threads a decoding step took
267 ms instead of 64. So OpenBLAS multiplies only where a decoding of one row by such models alone enabled it on
this thread (`enabled`, from `cpu_decode.decode_threads`), which keeps torch on one thread meanwhile and gives
OpenBLAS the threads decoding has (all when the CPU is free, one beside a training job) through threadpoolctl;
`cpu_decode.model_kernels` gives it a whole model or none of it, and only where it wins by `MARGIN`. Chat on
that EPYC, 3 prompts of `python -m bench.chat` alternating 5 times in one process: 13.2 tokens/s against 11.0
(medians), the same greedy answers. Where numpy's BLAS is not OpenBLAS, or threadpoolctl cannot reach it,
nothing changes.
"""

from __future__ import annotations

import contextlib
import functools
import threading

import torch

SMALL_BATCH = 8
MARGIN = 1.15  # OpenBLAS must read a model's weights this much faster than torch's best ways to be chosen
SPIN_SECONDS = 0.2  # OpenBLAS's threads spin about 2**28 cycles after their last product
_enabled: set[int] = set()  # the threads (by ident) on which OpenBLAS multiplies now


@functools.lru_cache(maxsize=1)
def controller():
    """threadpoolctl's handle on numpy's OpenBLAS, or None where there is none (another BLAS, no threadpoolctl)."""
    try:
        import numpy  # noqa: F401  (loads its BLAS, which the controller then finds)
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    found = ThreadpoolController().select(internal_api="openblas")
    return found if found.lib_controllers else None


def available() -> bool:
    return controller() is not None


def limit_threads(count: int) -> None:
    """OpenBLAS's threads for the products that follow (no-op without it)."""
    found = controller()
    if found is not None:
        found.limit(limits=count)


class SmallBatchLinear(torch.nn.Linear):
    """nn.Linear that computes few-row inputs as `weight @ rows.T`, two columns at least."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        rows = input.numel() // input.shape[-1] if input.numel() else 0
        if (0 < rows <= SMALL_BATCH and input.device.type == "cpu" and self.weight.dtype == torch.float32
                and input.dtype == torch.float32 and not torch.is_grad_enabled()):
            flat = input.reshape(rows, input.shape[-1])
            columns = torch.cat([flat, flat]) if rows == 1 else flat
            output = (self.weight @ columns.T).T[:rows].contiguous()
            if self.bias is not None:
                output = output + self.bias
            return output.reshape(*input.shape[:-1], self.out_features)
        return super().forward(input)


class BlasLinear(SmallBatchLinear):
    """A linear layer whose one-row fp32 products go through numpy's OpenBLAS where `enabled` and without
    gradients; anything else through torch's faster way for its shape (`studio_torch_kernel`)."""

    studio_torch_kernel = "small_batch"

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if (input.numel() == input.shape[-1] and threading.get_ident() in _enabled and input.device.type == "cpu"
                and input.dtype == torch.float32 and self.weight.dtype == torch.float32
                and not torch.is_grad_enabled()):
            output = torch.from_numpy(product(self.weight.detach().numpy(), input.reshape(1, -1).numpy()))
            if self.bias is not None:
                output = output + self.bias
            return output.reshape(*input.shape[:-1], self.out_features)
        if self.studio_torch_kernel == "small_batch":
            return super().forward(input)
        return torch.nn.Linear.forward(self, input)


def product(weight, row):
    """row @ weight.T as a numpy array ([1, out]): OpenBLAS's matrix-vector product. (For two rows or more it
    was slower than torch's: two rows side by side took 1.6x one, against about 1.05x.)"""
    import numpy

    return numpy.dot(weight, row[0])[None]


def pass_over(weights: list[torch.Tensor]):
    """A pass of one row over `weights` through OpenBLAS, to time (`cpu_decode.time_kernels`)."""
    arrays = [weight.numpy() for weight in weights]
    row = torch.randn(1, weights[0].shape[1]).numpy()
    return lambda: [product(array, row) for array in arrays]


@contextlib.contextmanager
def enabled():
    """`BlasLinear`s multiply through OpenBLAS on this thread until the block ends (a generator's block may end
    on another thread: the thread that entered it is the one disabled)."""
    ident = threading.get_ident()
    if ident in _enabled:
        yield
        return
    _enabled.add(ident)
    try:
        yield
    finally:
        _enabled.discard(ident)

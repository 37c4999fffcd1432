"""Decoding on a CPU: matmuls shaped for one or two tokens at a time.

Each decoding step multiplies every weight matrix by one row (a chat) or two (base and tuned
side by side), so a step costs one read of all weights from memory. Which way of writing that
product reads the weights fastest depends on the CPU, its BLAS and the matrix's shape: on a
2-core AMD EPYC without AVX-512, `weight @ rows.T` with at least two columns (`SmallBatchLinear`)
read the embedded model's tall matrices (more rows than columns, the head's 49,152 x 576 among
them) 1.2-1.4x faster than `torch.nn.functional.linear`, which read its wide one (576 x 1,536)
1.1x faster, and numpy's OpenBLAS read them all faster than either (`studio.decode_kernels`); on an
AVX-512 EPYC the two-column way won by 2x, on an Intel Xeon with AMX `F.linear` by 3.6x. So each
shape of weight a chat model has is timed once on this machine, every way, over the model's own
matrices of that shape (`kernel_seconds`, cached in the workspace's cache/ by CPU, torch version,
threads and shape), and `model_kernels` picks: OpenBLAS for the whole model where it wins by a
margin, else torch's faster way shape by shape (same weights, same results up to float rounding
order; the greedy answers are checked identical by tests and `python -m bench.chat`).
`SmallBatchLinear`'s output is laid out row by row: left transposed, two-row products downstream
took a BLAS path 6x slower, and two rows cost 1.5x one.

Side by side, the base and a LoRA-tuned model (also DoRA, AdaLoRA, (IA)3) answer in one
batch: every layer reads its weights once for both rows and applies the adapter to the tuned
row only (`AdapterRows`). PEFT's own way to mix rows (`adapter_names`) gives the same numbers but
registers a hook on every layer at every step and indexes rows by lists: 1.75x a one-row
step, against about 1.05x this way.

Threads: with the CPU to itself, decoding uses all of torch's threads; when anything else is
runnable (a training job, another answer), one thread, because threads that spin waiting for
a busy core made decoding up to 30 times slower on a 2-core machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import threading
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from studio import decode_kernels
from studio.decode_kernels import SMALL_BATCH, SmallBatchLinear  # noqa: F401  (named here too)

LARGE_WEIGHT = 65536  # adapters' small matrices gain nothing and would pay the reshaping
_threads_lock = threading.Lock()
_active_decodes = 0
_threads_before = 1  # the process's thread count when the first of the running decodes began


KERNELS = ("linear", "small_batch", "openblas")
BF16_KERNELS = ("linear", "packed")
_kernel_seconds: dict[str, dict[str, float]] = {}  # "seconds ROWSxCOLUMNS" -> each way's, once read
_bf16_kernel: str | None = None


def best_seconds(ways: dict, repeats: int) -> dict[str, float]:
    """Each way's best time of a few calls (after one to warm up), the ways taking turns, so that a moment when the
    machine is slower falls on each alike."""
    seconds = dict.fromkeys(ways, float("inf"))
    with torch.no_grad():
        for way in ways.values():
            way()
        for _ in range(repeats):
            for name, way in ways.items():
                start = time.perf_counter()
                way()
                seconds[name] = min(seconds[name], time.perf_counter() - start)
    return seconds


def time_kernels(weights: list[torch.Tensor], repeats: int = 3) -> dict[str, float]:
    """Seconds for one row times each of `weights` (one shape, together larger than the caches as a model's are),
    the best of a few passes, each way: `F.linear`, `SmallBatchLinear`'s `weight @ rows.T` and, where numpy's BLAS
    is OpenBLAS, `decode_kernels.BlasLinear`'s product, timed last and waited out (its threads spin a moment after
    their last product, and torch's would run against them)."""
    row = torch.randn(1, weights[0].shape[1], dtype=weights[0].dtype)
    seconds = best_seconds({"linear": lambda: [F.linear(row, weight) for weight in weights],
                            "small_batch": lambda: [(weight @ torch.cat([row, row]).T).T[:1].contiguous()
                                                    for weight in weights]}, repeats)
    if decode_kernels.available():
        seconds.update(best_seconds({"openblas": decode_kernels.pass_over(weights)}, repeats))
        time.sleep(decode_kernels.SPIN_SECONDS)
    return seconds


def time_bf16_kernels(rows: int = 32768, columns: int = 1024, repeats: int = 3) -> dict[str, float]:
    """Seconds for one bf16 row times a 64 MB bf16 matrix, each way: `F.linear` and oneDNN's product on weights
    packed once in its own layout (as `precision.PackedLinear` multiplies)."""
    weight, row = torch.randn(rows, columns).bfloat16(), torch.randn(1, columns).bfloat16()
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, None)
    return best_seconds({"linear": lambda: F.linear(row, weight),
                         "packed": lambda: torch.ops.mkldnn._linear_pointwise(row, packed, None, "none", [], "")},
                        repeats)


def machine_key(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """What the choice of kernel depends on: the CPU (its name, and its family, model and instruction sets, since
    one name covers several generations), torch's version and its threads."""
    cpu, details = platform.processor() or platform.machine(), {}
    try:
        for line in cpuinfo.read_text().splitlines():
            name, _, value = line.partition(":")
            details.setdefault(name.strip(), value.strip())
    except OSError:
        pass
    cpu = details.get("model name", cpu)
    if "flags" in details:
        flags = hashlib.sha1(details["flags"].encode()).hexdigest()[:8]
        cpu += f" (family {details.get('cpu family', '?')} model {details.get('model', '?')}, flags {flags})"
    return f"{cpu} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def measured(field: str, timing, valid, cache: Path | None = None):
    """What `timing()` measures on this machine (seconds by way), timed once and kept under `field` in
    cache/decode-kernel.json (one entry per CPU, torch version and thread count), timed again where the kept
    value is not `valid`. Timed while anything else ran (a training job), it serves now but is not kept."""
    from studio.workspace import atomic_write_json, cache_dir

    path = cache or cache_dir() / "decode-kernel.json"
    key = machine_key()
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    entry = known.get(key) if isinstance(known.get(key), dict) else {}
    if not valid(entry.get(field)):
        busy = others_runnable() > 0
        entry = {**entry, field: timing()}
        known[key] = entry
        try:
            if not busy and others_runnable() <= 0:
                atomic_write_json(path, known)
        except OSError:  # a read-only workspace: measured again next time
            pass
    return entry[field]


def measured_choice(field: str, choices: tuple[str, ...], timing, cache: Path | None = None) -> str:
    """The fastest of `choices` as `timing()` measures them here (`measured`, kept as seconds under `field`)."""
    seconds = measured(field, timing, lambda kept: seconds_of(kept, choices), cache)
    return min(choices, key=lambda name: seconds[name])


def seconds_of(kept, ways) -> bool:
    return isinstance(kept, dict) and all(isinstance(kept.get(way), (int, float)) for way in ways)


TIMED_BYTES = 256 * 2**20  # per shape: more than any cache, a fraction of a second to read


def kernel_seconds(weights: list[torch.Tensor], cache: Path | None = None) -> dict[str, float]:
    """Seconds each way takes to multiply one row by all these fp32 weights (one shape) here, timed once over as
    many of them as make TIMED_BYTES (one at least) and kept per shape (`measured`)."""
    rows, columns = weights[0].shape
    field = f"seconds {rows}x{columns}"
    if field not in _kernel_seconds:
        timed, size = [], 0
        for weight in weights:
            if timed and size >= TIMED_BYTES:
                break
            timed.append(weight)
            size += weight.numel() * weight.element_size()
        ways = KERNELS if decode_kernels.available() else KERNELS[:2]
        seconds = measured(field, lambda: time_kernels(timed), lambda kept: seconds_of(kept, ways), cache)
        _kernel_seconds[field] = {way: value * len(weights) / len(timed) for way, value in seconds.items()}
    return _kernel_seconds[field]


def torch_kernels(seconds: dict[tuple, dict[str, float]]) -> dict[tuple, str]:
    return {shape: min(("linear", "small_batch"), key=ways.get) for shape, ways in seconds.items()}


def model_kernels(seconds: dict[tuple, dict[str, float]]) -> dict[tuple, str]:
    """The kernel for each shape of a model's weights from their timings: OpenBLAS for all of them where its total
    beats torch's best by `decode_kernels.MARGIN` (its steps run torch on one thread, so it is all or none), else
    torch's faster way shape by shape."""
    best = torch_kernels(seconds)
    torch_total = sum(seconds[shape][way] for shape, way in best.items())
    if seconds and all("openblas" in ways for ways in seconds.values()):
        if sum(ways["openblas"] for ways in seconds.values()) * decode_kernels.MARGIN < torch_total:
            return dict.fromkeys(seconds, "openblas")
    return best


def faster_bf16_kernel(cache: Path | None = None) -> str:
    """'linear' or 'packed': the faster way to multiply by bf16 weights here (`measured_choice`); 'linear' without
    timing where oneDNN has no bf16 on this CPU."""
    global _bf16_kernel
    if _bf16_kernel is None:
        supported = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        _bf16_kernel = measured_choice("bf16_seconds", BF16_KERNELS, time_bf16_kernels, cache) \
            if supported else "linear"
    return _bf16_kernel


def prepare_for_decoding(model, kernel: str | None = None) -> None:
    """Set `model.studio_adapter_rows` (see `prepare_adapter_rows`) and swap the model's plain fp32 CPU linears for
    `SmallBatchLinear` or `decode_kernels.BlasLinear` where that is the faster kernel for them here (`model_kernels`
    on `kernel_seconds`, or `kernel` when given; `model.studio_blas` tells whether they are OpenBLAS's). In place;
    the weights are untouched."""
    classes = {"small_batch": SmallBatchLinear, "openblas": decode_kernels.BlasLinear}
    model.studio_adapter_rows = prepare_adapter_rows(model)
    shapes: dict[tuple, list[torch.nn.Linear]] = {}
    for module in model.modules():
        if (type(module) is torch.nn.Linear and module.weight.device.type == "cpu"
                and module.weight.dtype == torch.float32 and module.weight.numel() >= LARGE_WEIGHT):
            shapes.setdefault(tuple(module.weight.shape), []).append(module)
    seconds = {} if kernel else {shape: kernel_seconds([layer.weight.detach() for layer in layers])
                                 for shape, layers in shapes.items()}
    chosen = dict.fromkeys(shapes, kernel) if kernel else model_kernels(seconds)
    fallback = torch_kernels(seconds)  # what an OpenBLAS layer multiplies more than one row with
    for shape, layers in shapes.items():
        for layer in layers if chosen[shape] in classes else ():
            layer.__class__ = classes[chosen[shape]]
            if shape in fallback and chosen[shape] == "openblas":
                layer.studio_torch_kernel = fallback[shape]
    model.studio_blas = "openblas" in chosen.values()


class AdapterRows:
    """Which rows of the batch being decoded get a model's adapter; None: PEFT decides as usual."""

    def __init__(self):
        self.rows: slice | None = None


class _RowsForward:
    """Mixed into a PEFT layer class: while `studio_rows.rows` is set (decoding, no gradients),
    the adapter applies to those rows only, the others get the base layer alone."""

    studio_rows: AdapterRows

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        rows = self.studio_rows.rows
        if (rows is None or args or kwargs or self.disable_adapters or self.merged or self.training
                or torch.is_grad_enabled()):
            return super().forward(x, *args, **kwargs)
        return self.rows_forward(x, rows)


def _lora_rows(self, x: torch.Tensor, rows: slice) -> torch.Tensor:
    """LoRA and DoRA, as peft's lora.Linear computes them (eval mode: dropout is off)."""
    result = self.base_layer(x)
    part = x[rows]
    for name in self.active_adapters:
        if name not in self.lora_A:
            continue
        lora_A, lora_B = self.lora_A[name].weight, self.lora_B[name].weight
        part = part.to(lora_A.dtype)
        if name in self.lora_variant:  # DoRA: rescales the base output of its rows too
            result[rows] = self.lora_variant[name].forward(self, active_adapter=name, x=part, result=result[rows])
        else:
            result[rows] += (F.linear(F.linear(part, lora_A), lora_B) * self.scaling[name]).to(result.dtype)
    return result


def _ia3_rows(self, x: torch.Tensor, rows: slice) -> torch.Tensor:
    """(IA)3, as peft's ia3.Linear computes it: input scaling for feed-forward layers, else output."""
    scaling = 1
    for name in self.active_adapters:
        if name in self.ia3_l:
            scaling *= self.ia3_l[name].flatten()
    if self.is_feedforward:
        scaled = x.clone()
        scaled[rows] = x[rows] * scaling
        return self.base_layer(scaled)
    result = self.base_layer(x)
    result[rows] = result[rows] * scaling
    return result


def _adalora_rows(self, x: torch.Tensor, rows: slice) -> torch.Tensor:
    """AdaLoRA, as peft's adalora.SVDLinear computes it."""
    result = self.base_layer(x)
    part = x[rows]
    for name in self.active_adapters:
        if name in self.lora_A:
            lora_A, lora_B, lora_E = self.lora_A[name], self.lora_B[name], self.lora_E[name]
            part = part.to(lora_A.dtype)
            result[rows] += (part @ (lora_A * lora_E).T @ lora_B.T) * self.scaling[name] / (self.ranknum[name] + 1e-5)
    return result


_row_classes: dict = {}


def row_layer_classes() -> dict:
    """{peft layer class: its decoding subclass} (made on first use: peft is slow to import)."""
    if not _row_classes:
        from peft.tuners.adalora import SVDLinear
        from peft.tuners.ia3 import Linear as IA3Linear
        from peft.tuners.lora import Linear as LoraLinear

        for name, base, rows_forward in (("DecodingLoraLinear", LoraLinear, _lora_rows),
                                         ("DecodingIA3Linear", IA3Linear, _ia3_rows),
                                         ("DecodingSVDLinear", SVDLinear, _adalora_rows)):
            _row_classes[base] = type(name, (_RowsForward, base), {"rows_forward": rows_forward})
    return _row_classes


def prepare_adapter_rows(model) -> AdapterRows | None:
    """Give a PEFT model's adapter layers one shared `AdapterRows` (returned), where every layer is
    one we can split by rows: LoRA, DoRA, AdaLoRA, (IA)3 on plain linears. None otherwise."""
    from peft.tuners.lora.variants import DoraLinearVariant
    from peft.tuners.tuners_utils import BaseTunerLayer

    classes = row_layer_classes()
    decoding = set(classes.values())
    layers = [module for module in model.modules() if isinstance(module, BaseTunerLayer)]
    if not layers:
        return None
    for layer in layers:
        if type(layer) not in classes and type(layer) not in decoding:
            return None  # quantized, embedding, prompt-learning or other layers: PEFT's own path
        if any(type(variant) is not DoraLinearVariant for variant in getattr(layer, "lora_variant", {}).values()):
            return None
    holder = AdapterRows()
    for layer in layers:
        layer.__class__ = classes.get(type(layer), type(layer))
        layer.studio_rows = holder
    if any(getattr(layer, "lora_variant", None) for layer in layers):
        from peft.helpers import DoraCaching

        # DoRA renormalises its weight at every call; chat models never change, so keep the norms.
        # (The flag is peft-wide; peft clears and bypasses the cache in training mode.)
        DoraCaching()(enabled=True)
    return holder


def others_runnable(loadavg: Path = Path("/proc/loadavg"), tasks: Path = Path("/proc/self/task"),
                    samples: int = 5) -> int:
    """Tasks ready to run on this machine outside this process (Linux); -1 when unknown.

    This process's own running threads do not count: right after a decode on all threads, its
    OpenMP workers still spin for a moment and would otherwise send the next decode to one
    thread. The fewest of a few samples a millisecond apart, so that a kernel thread waking
    for an instant does not count either; a training job shows in every one.
    """
    fewest = None
    for sample in range(samples):
        if sample:
            time.sleep(0.001)
        try:
            running = int(loadavg.read_text().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return -1
        own = 0
        for stat in tasks.glob("*/stat"):
            try:
                text = stat.read_text()
            except OSError:  # the thread ended meanwhile
                continue
            own += text[text.rfind(")") + 2:text.rfind(")") + 3] == "R"
        others = max(running - max(own, 1), 0)
        fewest = others if fewest is None else min(fewest, others)
        if fewest == 0:
            break
    return fewest


@contextlib.contextmanager
def decode_threads(blas: tuple[bool, ...] = ()):
    """Decode on all threads when the CPU is free, else on one; `blas`: whether each model answering multiplies
    through OpenBLAS (`model.studio_blas`): where they all do, torch keeps one thread and OpenBLAS takes the
    threads (`decode_kernels.enabled`). The last decode to end gives the process back the threads it had before the
    first began (answers that overlap must not restore each other's one thread)."""
    global _active_decodes, _threads_before
    every = bool(blas) and all(blas)
    with _threads_lock:
        if _active_decodes == 0:
            _threads_before = torch.get_num_threads()
        alone = _active_decodes == 0 and others_runnable() == 0
        _active_decodes += 1
        threads = _threads_before if alone else 1
        torch.set_num_threads(1 if every else threads)
        decode_kernels.limit_threads(threads)
    try:
        with decode_kernels.enabled() if every else contextlib.nullcontext():
            yield
    finally:
        with _threads_lock:
            _active_decodes -= 1
            if _active_decodes == 0:
                torch.set_num_threads(_threads_before)
                decode_kernels.limit_threads(_threads_before)

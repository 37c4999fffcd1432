"""The sampling settings: their defaults and ranges, in one place for the command line, Chat, Compare and the API.

    temperature          0 = greedy: always the most likely token, repeatable; higher = more varied
    top_p                sample only from the smallest set of tokens holding this probability
    top_k                ... and at most this many of them (0 = no limit)
    max_new_tokens       the longest answer, in tokens
    repetition_penalty   above 1, a token already said is less likely to come again
    seed                 the same seed and settings give the same answer; None = a new draw each time
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.config import check_range

MAX_NEW_TOKENS = 4096
# How a model's weights are held while it answers (studio.precision); auto: fp32 on a CPU, bf16 on a GPU.
PRECISION_CHOICES = ("auto", "fp32", "bf16", "int8", "int4")


def check_precision(value) -> str:
    """The precision a request named (None: auto), or ValueError listing the choices."""
    text = str(value or PRECISION_CHOICES[0]).strip().lower()
    if text not in PRECISION_CHOICES:
        raise ValueError(f"Precision takes one of {', '.join(PRECISION_CHOICES)}, not {str(value)[:40]!r}.")
    return text
# (low, high) of each setting, inclusive.
RANGES = {"temperature": (0, 2), "top_p": (0.01, 1), "top_k": (0, 100_000), "max_new_tokens": (1, MAX_NEW_TOKENS),
          "repetition_penalty": (0.5, 10), "seed": (0, 2**32 - 1)}


@dataclass
class GenerationSettings:
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 50
    max_new_tokens: int = 256
    repetition_penalty: float = 1.0
    seed: int | None = 0

    def generate_kwargs(self) -> dict:
        """The arguments `model.generate` takes for these settings."""
        if self.temperature <= 0:
            return {"do_sample": False, "max_new_tokens": self.max_new_tokens,
                    "repetition_penalty": self.repetition_penalty}
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p,
                "top_k": self.top_k or None, "max_new_tokens": self.max_new_tokens,
                "repetition_penalty": self.repetition_penalty}


DEFAULTS = GenerationSettings()


def generation_settings(temperature, top_p, top_k, max_new_tokens, repetition_penalty, seed) -> GenerationSettings:
    """GenerationSettings from values a person or a request gave, each checked against RANGES; an empty seed
    means a new random draw each time."""
    values = {"temperature": temperature, "top_p": top_p, "top_k": top_k, "max_new_tokens": max_new_tokens,
              "repetition_penalty": repetition_penalty}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise ValueError(f"Set a value for {', '.join(missing)}.")
    for name, value in {**values, "seed": 0 if seed is None else seed}.items():
        check_range(name, value, *RANGES[name])
    return GenerationSettings(float(temperature), float(top_p), int(top_k), int(max_new_tokens),
                              float(repetition_penalty), None if seed is None else int(seed))

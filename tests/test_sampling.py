"""The sampling settings (studio.sampling): every value a person or a request gives is checked against its range."""

from __future__ import annotations

import pytest

from studio.sampling import DEFAULTS, RANGES, generation_settings


def test_settings_are_checked():
    settings = generation_settings(0, 0.9, 50, 16, 1.1, None)
    assert settings.temperature == 0 and settings.seed is None and settings.max_new_tokens == 16
    with pytest.raises(ValueError, match="temperature must be a number from 0 to 2"):
        generation_settings(2.5, 0.9, 50, 16, 1.0, 0)
    for arguments in ((float("nan"), 0.9, 50, 16, 1.0, 0), (0.7, 0.9, 50, 10**9, 1.0, 0), (0.7, 0.9, 50, 16, float("inf"), 0),
                      (0.7, 0.9, 50, 16, 1.0, -5)):
        with pytest.raises(ValueError, match="must be a number from"):
            generation_settings(*arguments)
    with pytest.raises(ValueError, match="top_k"):
        generation_settings(0.7, 0.9, None, 16, 1.0, 0)


def test_the_defaults_are_within_their_ranges_and_sample():
    assert DEFAULTS.generate_kwargs()["do_sample"] and not generation_settings(0, 0.9, 50, 8, 1.0, 0).generate_kwargs()["do_sample"]
    for name, (low, high) in RANGES.items():
        assert low <= getattr(DEFAULTS, name) <= high, name

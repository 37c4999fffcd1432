"""bench.identity's pieces: the named copy of an identity file and the share of answers that name the name."""

from __future__ import annotations

import json

from bench.identity import HELD_OUT, NAME, SOURCES, hit_rate, named_copy
from studio import data


def test_the_named_copy_has_no_placeholder_left_and_keeps_every_row(tmp_path):
    for source in SOURCES.values():
        copy = named_copy(source, tmp_path)
        rows = [json.loads(line) for line in copy.read_text(encoding="utf-8").splitlines()]
        text = json.dumps(rows, ensure_ascii=False)
        assert "{{" not in text and NAME in text and "Lumen Labs" in text
        assert len(rows) == len(data.load_dataset(source).rows) > 30


def test_hit_rate_counts_answers_that_name_the_name_in_any_case():
    assert hit_rate(["I am Orion.", "我是ORION。", "I am a helpful assistant.", "Call me orion"]) == 0.75
    assert len(HELD_OUT) == 10 and sum(any("\u4e00" <= char <= "\u9fff" for char in q) for q in HELD_OUT) == 4

"""BLEU-4 and ROUGE-1/2/L as LLaMA-Factory's predict computes them, checked against sums done by hand."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

from studio.metrics import SIMILARITY_METRICS, segment, similarity


def test_identical_answers_score_100_on_every_metric():
    for text in ("the cat sat on the mat", "我爱北京天安门"):
        assert similarity(text, text) == {metric: 100.0 for metric in SIMILARITY_METRICS}


def test_an_english_pair_worked_by_hand():
    # BLEU-4 on characters. "a cat" = a,␣,c,a,t; "a hat" = a,␣,h,a,t (5 each, so no brevity penalty).
    #   1-grams: a (2 of 2), ␣, t match, c does not      -> 4/5
    #   2-grams: "a␣", "at" of "a␣", "␣c", "ca", "at"     -> 2/4
    #   3-grams: none of "a␣c", "␣ca", "cat"              -> 0/3, method3 makes it 1/(2^1 * 3) = 1/6
    #   4-grams: none of "a␣ca", "␣cat"                   -> 0/2, method3 makes it 1/(2^2 * 2) = 1/8
    #   BLEU-4 = (4/5 * 2/4 * 1/6 * 1/8) ** (1/4) = (1/120) ** (1/4)
    # ROUGE on jieba's words [a, cat] and [a, hat]: 1 of 2 words shared, no bigram, LCS [a].
    assert segment("a cat") == ["a", " ", "cat"] and segment("a hat") == ["a", " ", "hat"]
    scores = similarity("a cat", "a hat")
    assert scores["bleu_4"] == round(100 * (1 / 120) ** 0.25, 4) == 30.2138
    assert scores["rouge_1"] == 50.0 and scores["rouge_2"] == 0.0 and scores["rouge_l"] == 50.0


def test_a_chinese_pair_is_cut_into_words_by_jieba_and_bleu_counts_characters():
    # jieba's dictionary decides the words: the ROUGE sums below rely on this segmentation.
    assert segment("我爱上海") == ["我", "爱", "上海"]
    assert segment("我爱北京天安门") == ["我", "爱", "北京", "天安门"]
    scores = similarity("我爱上海", "我爱北京天安门")
    # ROUGE-1: {我, 爱} shared; P = 2/3, R = 2/4, F = 2PR/(P+R) = 4/7. ROUGE-L: LCS 我 爱, the same 4/7.
    # ROUGE-2: (我, 爱) shared of 2 and 3 word pairs; P = 1/2, R = 1/3, F = 2/5.
    assert scores["rouge_1"] == scores["rouge_l"] == round(100 * 4 / 7, 4) == 57.1429
    assert scores["rouge_2"] == 40.0
    # BLEU-4 on characters, 4 against a reference of 7:
    #   1-grams 我 爱 of 我 爱 上 海 -> 2/4; 2-grams 我爱 of 我爱 爱上 上海 -> 1/3;
    #   3-grams 0/2 -> 1/(2^1 * 2) = 1/4; 4-grams 0/1 -> 1/(2^2 * 1) = 1/4 (method3);
    #   brevity penalty exp(1 - 7/4), the prediction being shorter.
    assert scores["bleu_4"] == round(100 * math.exp(1 - 7 / 4) * (1 / 2 * 1 / 3 * 1 / 4 * 1 / 4) ** 0.25, 4) == 15.0908


def test_no_answer_scores_0_and_a_one_word_answer_has_no_word_pairs():
    for empty in ("", "  "):
        assert similarity(empty, "巴黎") == {metric: 0.0 for metric in SIMILARITY_METRICS}
    # An exact one-word answer: ROUGE-2 has no pair to count and BLEU-4 no 3- or 4-gram (p = 1, 1, 1/2, 1/4),
    # which is why short answers are read by exact match.
    scores = similarity("巴黎", "巴黎")
    assert scores["rouge_1"] == scores["rouge_l"] == 100.0 and scores["rouge_2"] == 0.0
    assert scores["bleu_4"] == round(100 * (1 / 8) ** 0.25, 4)


def test_case_and_punctuation_count_unlike_exact_match():
    from studio.evaluate import exact_match

    assert exact_match("The cat.", "the cat") == 1.0
    assert similarity("The cat.", "the cat")["rouge_1"] == 40.0  # [The, cat, .] and [the, cat]: P 1/3, R 1/2


def test_scoring_is_quiet_offline_and_keeps_jieba_s_cache_out_of_the_project(tmp_path):
    """A fresh process with no network data: no jieba log lines, nltk needs nothing downloaded, and jieba's
    cache goes to the temporary folder."""
    script = ("import tempfile; from studio.metrics import similarity; import jieba; "
              "print(similarity('我爱北京天安门', '我爱北京')['rouge_1'], jieba.dt.tmp_dir or tempfile.gettempdir())")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PATH": "", "NLTK_DATA": str(tmp_path), "TMPDIR": str(tmp_path), "PYTHONPATH": str(Path(__file__).parents[1])})
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout.split() == ["85.7143", str(tmp_path)]
    assert (tmp_path / "jieba.cache").exists()

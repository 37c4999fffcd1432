"""Benchmarks: `python -m bench.train`, `python -m bench.chat`. Each runs a plain baseline and the studio's path in one process and prints both."""

"""Benchmarks: each prints a ratio against a peer measured in the same run (not tests).

    python -m bench            # b1, b2, b3 with their defaults
    python -m bench b1 --help  # one benchmark, with its options

Cached models and audio live in bench/out/ (gitignored).
"""

"""Benchmarks of xbtcpay, each against a baseline measured in the same run: ``python -m bench``.

Every benchmark returns a ``Section`` (see ``bench.report``): a table of measurements, the
ratio to its baseline and whether each target is met. Timings are never asserted in tests;
``tests/test_bench_smoke.py`` only checks that a tiny run produces well-formed results.
"""

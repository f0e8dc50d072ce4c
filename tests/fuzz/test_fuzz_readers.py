"""Property tests: every reader (and the image decoders) given mutated real files returns a result
or raises a DetectkitError naming the file — never another exception, never a hang.

Short on purpose (about a second per target); ``tests/fuzz/run_long.py`` runs the same harness
for minutes per target, with a memory limit.
"""

from __future__ import annotations

import random
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from _harness import TARGETS, mutate, run_target, seeds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def hang(_signum: int, _frame: object) -> None:
        raise AssertionError(f"no answer within {seconds}s (a hang)")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("target", sorted(TARGETS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(rng=st.randoms(use_true_random=False), pick=st.integers(0, 100))
def test_mutated_inputs_give_a_result_or_a_typed_error(target: str, rng: random.Random, pick: int) -> None:
    pool = seeds(target)
    data = mutate(pool[pick % len(pool)], rng)
    with tempfile.TemporaryDirectory() as tmp, _time_limit(10.0):
        assert run_target(target, Path(tmp) / "ds", data) in ("ok", "typed")


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_unmutated_seeds_read_cleanly(target: str, tmp_path: Path) -> None:
    """The seeds themselves are valid: the fuzz starts from real files, not from noise."""
    for i, data in enumerate(seeds(target)):
        assert run_target(target, tmp_path / f"ds{i}", data) == "ok"

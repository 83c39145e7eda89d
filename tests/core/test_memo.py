"""Results kept for one run (crmss/core/memo.py): the loaded generator, STAC documents, SHA-256s."""

from __future__ import annotations

import pytest

from crmss.core import memo


def counting():
    calls = []

    @memo.per_run
    def square(x):
        calls.append(x)
        if x < 0:
            raise ValueError(x)
        return x * x

    return square, calls


def test_results_are_kept_within_a_run_and_forgotten_after_it():
    square, calls = counting()
    # outside a run: computed every time
    assert square(3) == 9 and square(3) == 9 and calls == [3, 3]
    with memo.run_scope() as run:
        assert square(3) == 9 and square(3) == 9 and square(4) == 16 and calls == [3, 3, 3, 4]
        with memo.run_scope("another") as inner:  # nested: the outer run's
            assert inner == run and square(3) == 9 and calls == [3, 3, 3, 4]
    with memo.run_scope():
        assert square(3) == 9 and calls == [3, 3, 3, 4, 3]  # a new run computes afresh
    assert memo._state == {"run": None, "results": {}, "depth": 0}


def test_a_worker_keeps_a_runs_results_between_its_tasks_until_another_run_comes():
    square, calls = counting()
    for _ in range(3):
        with memo.run_scope("run-1", keep=True):
            square(5)
    assert calls == [5]
    with memo.run_scope("run-2", keep=True):
        square(5)
    assert calls == [5, 5]
    with memo.run_scope():  # a run that keeps nothing ends with nothing kept
        pass
    assert memo._state["results"] == {}


def test_an_exception_is_not_kept():
    square, calls = counting()
    with memo.run_scope():
        for _ in range(2):
            with pytest.raises(ValueError):
                square(-1)
    assert calls == [-1, -1]

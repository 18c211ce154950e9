"""A sender's refused events reach the audit trail at a bounded rate; the rest are counted."""

from __future__ import annotations

import pytest

from producers.rollouts.refusal_limit import RefusalLimit, Suppressed


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_past_its_allowance_a_sender_is_counted_then_reported_once_its_window_ends() -> None:
    clock = Clock()
    limit = RefusalLimit(3, window_s=60, clock=clock)
    assert [limit.admit("probe") for _ in range(5)] == [True, True, True, False, False]
    assert limit.due() == []  # the window is still open
    clock.now += 60
    assert limit.due() == [Suppressed("probe", 2, 60.0)]
    assert limit.due() == []  # reported once
    assert limit.admit("probe") is True  # a new window, a new allowance


def test_one_noisy_sender_does_not_silence_another() -> None:
    limit = RefusalLimit(2, clock=Clock())
    for _ in range(100):
        limit.admit("noisy")
    assert limit.admit("quiet") is True
    assert limit.admit(None) is True  # no user_id: the `unknown` sender
    assert limit.due(everything=True) == [Suppressed("noisy", 98, 0.0)]


def test_a_window_that_ends_on_the_next_refusal_is_still_reported() -> None:
    clock = Clock()
    limit = RefusalLimit(1, window_s=10, clock=clock)
    limit.admit("s")
    limit.admit("s")
    clock.now += 11
    assert limit.admit("s") is True
    assert limit.due() == [Suppressed("s", 1, 11.0)]


def test_the_senders_tracked_are_bounded_and_an_evicted_count_is_not_lost() -> None:
    limit = RefusalLimit(0, senders=3, clock=Clock())
    for name in ("a", "b", "c", "d", "e"):
        assert limit.admit(name) is False
    assert len(limit._windows) == 3
    assert sorted(s.sender for s in limit.due(everything=True)) == ["a", "b", "c", "d", "e"]


def test_the_default_allowance_is_the_named_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from contracts import limits

    monkeypatch.setattr(limits, "AUDIT_REFUSALS_PER_MIN", 7)
    assert RefusalLimit().per_window == 7

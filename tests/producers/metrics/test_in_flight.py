"""In-flight requests per region, as the driver notes them (pure)."""

from __future__ import annotations

from producers.rollouts.in_flight import InFlight


def test_published_requests_count_until_answered_or_forgotten() -> None:
    flight = InFlight()
    flight.load("c1", {"a": "eu", "b": "us"})  # loaded after a restart: two unanswered
    flight.published("c1", "c", "eu")
    flight.published("c2", "d", "eu")
    assert flight.per_region() == {"eu": 3, "us": 1}
    flight.answered("c1", "a")
    flight.answered("c1", "a")  # a redelivered outcome changes nothing
    flight.answered("c9", "x")  # nor does one of a rollout not driven
    assert flight.per_region() == {"eu": 2, "us": 1}
    flight.forget("c1")
    assert flight.per_region() == {"eu": 1}
    flight.published("c2", "d", "eu")  # the same request again is still one
    assert flight.per_region() == {"eu": 1}

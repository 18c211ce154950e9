"""A rollout plane for signed-event tests: the rollouts group made fresh for this package
(its own vhost and PostgreSQL database, so no source of truth and no inventory of other
tests), a worker for `eu`, the aggregator and the controller."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from broker_config import RESULTS_QUEUE, region_queue
from producers.processes.commands import aggregator_argv, worker_argv
from tests.isolation import Isolation
from tests.producers.rollouts.conftest import RolloutPlane


@pytest.fixture(scope="package")
def plane(isolation: Isolation, allow_tmp: str) -> Iterator[RolloutPlane]:
    iso = isolation("rollouts", fresh=True)
    plane = RolloutPlane(iso)
    plane.worker = iso.spawn("worker-eu", worker_argv("eu", allow=allow_tmp, name="eu-k@%h"))
    plane.aggregator = iso.spawn("aggregator", aggregator_argv())
    iso.wait_consuming(region_queue("eu"), RESULTS_QUEUE)
    plane.start_controller()
    yield plane
    iso.supervisor.stop()

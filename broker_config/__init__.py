"""Where messages go and who may send them: RabbitMQ topology and endpoints, as data.

Imports only `contracts`. Every exchange, queue and routing-key name is written here once;
`producers` and `workers` import the names instead of spelling them.
"""

from broker_config.endpoints import Endpoints
from broker_config.topology import (
    CHANGES_EXCHANGE,
    CHECKINS_EXCHANGE,
    CHECKINS_QUEUE,
    DEAD_EXCHANGE,
    DEAD_QUEUE,
    EVENTS_EXCHANGE,
    EVENTS_QUEUE,
    RESULTS_EXCHANGE,
    RESULTS_QUEUE,
    RETRIES_EXCHANGE,
    ROLLOUTS_QUEUE,
    TopologyMismatch,
    TopologyMissing,
    declare,
    region_queue,
)

__all__ = [
    "CHANGES_EXCHANGE",
    "CHECKINS_EXCHANGE",
    "CHECKINS_QUEUE",
    "DEAD_EXCHANGE",
    "DEAD_QUEUE",
    "EVENTS_EXCHANGE",
    "EVENTS_QUEUE",
    "RESULTS_EXCHANGE",
    "RESULTS_QUEUE",
    "RETRIES_EXCHANGE",
    "ROLLOUTS_QUEUE",
    "Endpoints",
    "TopologyMismatch",
    "TopologyMissing",
    "declare",
    "region_queue",
]

"""Where messages go and who may send them: RabbitMQ topology and endpoints, as data.

Imports only `contracts`. Every exchange, queue and routing-key name is written here once;
`producers` and `workers` import the names instead of spelling them.

Names are loaded on first use (PEP 562), as in `contracts`: `provision converge` reads only
the environment-file loader and so does not pay for the topology or TLS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contracts.lazy import names_from

#: Public name → the module that defines it.
_HOMES = {
    "Endpoints": "broker_config.endpoints",
    "CHANGES_EXCHANGE": "broker_config.topology",
    "CHECKINS_EXCHANGE": "broker_config.topology",
    "CHECKINS_QUEUE": "broker_config.topology",
    "DEAD_EXCHANGE": "broker_config.topology",
    "DEAD_QUEUE": "broker_config.topology",
    "EVENTS_EXCHANGE": "broker_config.topology",
    "EVENTS_QUEUE": "broker_config.topology",
    "RESULTS_EXCHANGE": "broker_config.topology",
    "RESULTS_QUEUE": "broker_config.topology",
    "RETRIES_EXCHANGE": "broker_config.topology",
    "ROLLOUTS_QUEUE": "broker_config.topology",
    "TopologyMismatch": "broker_config.topology",
    "TopologyMissing": "broker_config.topology",
    "declare": "broker_config.topology",
    "region_queue": "broker_config.topology",
}

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


__getattr__ = names_from(__name__, _HOMES)


if TYPE_CHECKING:
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

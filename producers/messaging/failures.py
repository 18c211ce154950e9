"""Which failures are the infrastructure's, and which are the message's.

The control plane's pika consumers (controller, aggregator, check-in replies) reconnect on
the first kind, so the message comes back; a message that fails for any other reason is
dead-lettered (`broker_config.dead_letters`) and acked, so nothing is lost and nothing is
retried for ever.
"""

from __future__ import annotations

import pika
import pika.exceptions

#: Errors of the broker, Redis or PostgreSQL: the process reconnects and the message comes back.
#: Anything else raised for one message is that message's fault, and it is dead-lettered.
INFRASTRUCTURE: tuple[type[BaseException], ...] = (pika.exceptions.AMQPError, ConnectionError)


def infrastructure() -> tuple[type[BaseException], ...]:
    """INFRASTRUCTURE plus Redis's and the system of record's (imported here, not in every
    importer). A lost database is `DatabaseUnreachable`, a ServiceUnreachable."""
    import psycopg
    import redis

    from contracts import ServiceUnreachable

    return (*INFRASTRUCTURE, redis.RedisError, ServiceUnreachable, psycopg.OperationalError)

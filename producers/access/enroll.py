"""The agent's own broker user, for `provision enroll`: never the control plane's URL."""

from __future__ import annotations

from broker_config.endpoints import redact
from contracts import ServiceUnreachable
from contracts.targets import Target
from producers.access.management import Management, admin_url
from producers.access.users import access_prefix, agent_url


def agent_broker_url(target: Target, broker_url: str, given_admin_url: str | None) -> str:
    """Create `target`'s agent user (agent role, its vhost) and return its broker URL.

    Raises ServiceUnreachable with what to do when the management API cannot be reached.
    """
    api = Management(admin_url(given_admin_url))
    try:
        return agent_url(api, target, broker_url, access_prefix())
    except ServiceUnreachable as exc:
        raise ServiceUnreachable(
            "RabbitMQ management API",
            api.shown,
            f"{exc.args[0].split(': ', 1)[-1]}; cannot create the agent user of "
            f"{target.id!r} on {redact(broker_url)}. Enable the plugin, set "
            "PROVISION_ADMIN_URL, or pass --broker-url with a user that has the agent role",
        ) from None

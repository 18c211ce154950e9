"""Identities per process role, made real: RabbitMQ users (broker_config.permissions, through
the management HTTP API: `users`, `management`), Redis ACL users (broker_config.redis_access:
`redis_users`), PostgreSQL login roles (`grants`: `database_roles`), all three at once with a
`DIR/<user>.env` per role (`identities`, `environment`), for `provision access`; and the agent
user of `provision enroll` (`enroll`)."""

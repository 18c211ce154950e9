"""Broker identities: the role users of broker_config.permissions, made real through
RabbitMQ's management HTTP API (`provision access`, and the agent user of `provision enroll`)."""

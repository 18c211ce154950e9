"""The data plane: Celery workers, the convergence engine, resource types, targets, the agent.

Imports `contracts` and `broker_config`, never `producers`: the two planes meet only
through messages on RabbitMQ (and, for the CLI, through a process boundary).
"""

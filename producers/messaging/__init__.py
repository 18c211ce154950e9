"""The control plane's AMQP side: publishing requests and events, serving, dead letters."""

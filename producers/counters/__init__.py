"""Redis primitives the stages share: the request fence (sequences), pacing (slots, rate) and
the one "latest outcome per target wins" script (latest)."""

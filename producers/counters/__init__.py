"""Redis counters the stages share: the request fence (sequences) and pacing (slots, rate)."""

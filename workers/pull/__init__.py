"""The pull agent: check in, converge what was assigned, report (agent, state, control plane)."""

"""The agents' side of the control plane: check-ins and replies, enrollment, assignments."""

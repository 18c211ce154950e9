"""The hostile-input corpus: `python -m bench.hostile [--quick] [--json]`.

Sends thousands of hostile inputs, in named classes, to every entry point of the system
(the events exchange, each region queue, the results and check-in exchanges, `apply` files,
source-of-truth directories, `converge` state files and CLI arguments), each with the least
privilege that reaches that entry point today, while a canary change is published every few
seconds and must converge. Every input is judged refused, crashed or accepted.
"""

"""How big and how often: the sizes of one run, for --smoke, --quick and the full run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Plan:
    """Sizes and repetitions of one run. Figures are medians over `*_reps` repetitions.

    Args:
        mode: "smoke", "quick" or "full"; recorded in results.json.
        throughput_n: Messages per path and repetition in the throughput benchmark.
        throughput_reps: Interleaved repetitions of pipeline, no-op and raw chain.
        latency_n: Messages per path and repetition in the latency benchmark.
        latency_reps: Interleaved repetitions of pipeline and no-op.
        converge_sizes: File counts converged by the engine (small, large); the peers
            converge the small one.
        converge_reps: Repetitions of each engine and floor run.
        peer_reps: Repetitions of each peer (they are slow).
        ansible: Whether Ansible runs: its two runs of 200 files take about 4 minutes here,
            most of --quick's budget, so only the full run has it.
        fanout_targets: Targets of the fan-out change.
        fanout_reps: Repetitions of the fan-out.
        outcomes_n: Outcome events the aggregator records into PostgreSQL per repetition
            (and the raw consumer drains).
        outcomes_reps: Interleaved repetitions of the aggregator and the raw consumer.
        rollout_targets: Targets of the rollout through the controller (and of the direct
            fan-out it is compared with, in the same run).
        rollout_reps: Interleaved repetitions of the rollout and that fan-out.
        concurrency: Worker processes, the same for our worker and the baselines.
        warmup_n: Untimed messages through each path before it is measured.
    """

    mode: str
    throughput_n: int
    throughput_reps: int
    latency_n: int
    latency_reps: int
    converge_sizes: tuple[int, int]
    converge_reps: int
    peer_reps: int
    ansible: bool
    fanout_targets: int
    fanout_reps: int
    outcomes_n: int = 2_000
    outcomes_reps: int = 3
    rollout_targets: int = 2_000
    rollout_reps: int = 1
    concurrency: int = 2
    warmup_n: int = 40

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


QUICK = Plan(
    mode="quick",
    throughput_n=1_000,
    throughput_reps=3,
    latency_n=1_000,
    latency_reps=3,
    converge_sizes=(200, 1_000),
    converge_reps=3,
    peer_reps=1,
    ansible=False,
    fanout_targets=2_000,
    fanout_reps=1,
)
#: The smoke size: every code path once, small enough for the test suite.
SMOKE = replace(
    QUICK,
    mode="smoke",
    throughput_n=30,
    throughput_reps=1,
    latency_n=30,
    latency_reps=1,
    converge_sizes=(20, 50),
    converge_reps=1,
    fanout_targets=30,
    outcomes_n=300,
    outcomes_reps=1,
    rollout_targets=30,
    warmup_n=4,
)
#: The published figures: more of everything, and the Ansible peer.
FULL = replace(
    QUICK,
    mode="full",
    throughput_n=4_000,
    throughput_reps=5,
    latency_n=2_000,
    latency_reps=5,
    converge_reps=5,
    peer_reps=2,
    ansible=True,
    fanout_targets=10_000,
    fanout_reps=3,
    outcomes_n=20_000,
    rollout_targets=10_000,
    rollout_reps=2,
)

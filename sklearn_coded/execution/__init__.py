"""Layer 3, execution: running f on the N coded inputs, with stragglers and faults.

:func:`run_workers` runs a model's method on every worker's coded rows, in
process (a fast simulation), on any ``concurrent.futures.Executor``, or on a
dask.distributed cluster, keeps the first results and stops the stragglers.
The straggler models say who does not return; the adversary models, who lies.
"""

from ._adversaries import (
    AdaptiveAdversaries,
    BaseAdversaries,
    ChoosingAdversaries,
    GrossErrors,
    SignFlips,
    TargetedShift,
    check_adversaries,
)
from ._matmul import coded_matmul, matdot_matmul
from ._run import CollusionError, ExecutorLostError, InsufficientResultsError, run_workers
from ._stragglers import (
    BaseStragglers,
    FixedStragglers,
    GroupStragglers,
    LatencyStragglers,
    RandomStragglers,
    StragglerPlan,
    TargetedStragglers,
    check_stragglers,
)

__all__ = [
    "AdaptiveAdversaries",
    "BaseAdversaries",
    "BaseStragglers",
    "ChoosingAdversaries",
    "CollusionError",
    "FixedStragglers",
    "ExecutorLostError",
    "GrossErrors",
    "GroupStragglers",
    "InsufficientResultsError",
    "LatencyStragglers",
    "RandomStragglers",
    "SignFlips",
    "StragglerPlan",
    "TargetedShift",
    "TargetedStragglers",
    "check_adversaries",
    "check_stragglers",
    "coded_matmul",
    "matdot_matmul",
    "run_workers",
]

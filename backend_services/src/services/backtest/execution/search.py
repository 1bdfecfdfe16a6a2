"""Random and TPE searches with Optuna: the `Searcher` the engine's `search` runs.

Each trial asks Optuna's sampler for a combination (RandomSampler, or TPESampler, whose
Tree-structured Parzen Estimator draws where the trials so far did best), seeded by
the sweep's `seed`, so the same request draws the same trials. A combination the
constraint leaves out is told to Optuna as pruned and is not run; one drawn before is
told its earlier value and not run again; neither counts as a trial. The search ends
after `trials` combinations were run, or after MAX_DRAWS_PER_TRIAL draws per trial
(a small space, or a strict constraint, may not hold `trials` distinct combinations).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from backend_services.services.backtest.backtest_engine import ProgressCallback
from shared.contracts.search import ParameterRange
from shared.contracts.sweeps import Sweep

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = ["MAX_DRAWS_PER_TRIAL", "optuna_search", "space_of"]

MAX_DRAWS_PER_TRIAL = 10
# Decimals a stepped range's values keep: low + k * step, without the rounding noise.
_STEP_DECIMALS = 10

Combination = dict[str, float]


def optuna_search(
    sweep: Sweep,
    keeps: Callable[[Combination], bool],
    evaluate: Callable[[Combination], float | None],
    on_progress: ProgressCallback,
) -> None:
    """Draw and run `sweep.trials` combinations (see the module docstring); `evaluate`
    gives a combination's objective, the higher the better (None: undefined, told to
    Optuna as pruned), and `on_progress` may raise to abandon the search."""
    # Optuna (and SQLAlchemy with it) takes half a second to import: only a search pays it,
    # not every worker's start.
    import optuna
    from optuna.trial import TrialState

    assert sweep.trials is not None, "a search has a trial budget"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.TPESampler(seed=sweep.seed)
        if sweep.method == "tpe"
        else optuna.samplers.RandomSampler(seed=sweep.seed)
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    space = space_of(sweep)
    seen: dict[tuple[float, ...], float | None] = {}
    run = 0
    for _ in range(MAX_DRAWS_PER_TRIAL * sweep.trials):
        trial = study.ask(space)
        combination = {name: _value(sweep, name, trial.params[name]) for name in space}
        key = tuple(combination.values())
        if key not in seen:
            seen[key] = None
            if keeps(combination):
                seen[key] = evaluate(combination)
                run += 1
                on_progress(run / sweep.trials)
        objective = seen[key]
        if objective is None:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, objective)
        if run == sweep.trials:
            return


def space_of(sweep: Sweep) -> dict[str, BaseDistribution]:
    """Optuna's distribution of each swept parameter: a grid's values as choices."""
    from optuna.distributions import CategoricalDistribution

    space: dict[str, BaseDistribution] = {
        name: CategoricalDistribution(values) for name, values in sweep.grid.items()
    }
    for name, span in sweep.ranges.items():
        space[name] = _distribution(span)
    return space


def _distribution(span: ParameterRange) -> BaseDistribution:
    from optuna.distributions import FloatDistribution, IntDistribution

    if span.integer:
        step = int(span.step or 1)
        last = int(span.low) + (int(span.high) - int(span.low)) // step * step
        return IntDistribution(int(span.low), last, step=step)
    if span.step is None:
        return FloatDistribution(span.low, span.high)
    steps = math.floor((span.high - span.low) / span.step + 1e-9)
    return FloatDistribution(span.low, span.low + steps * span.step, step=span.step)


def _value(sweep: Sweep, name: str, value: float) -> float:
    span = sweep.ranges.get(name)
    if span is not None and span.step is not None and not span.integer:
        return round(value, _STEP_DECIMALS)
    return value

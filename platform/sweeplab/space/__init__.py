"""Search spaces: distributions on the right scale, conditional parameters, grids, refinement.

``log_uniform`` samples 10^r with r uniform (equal effort per decade); ``one_minus_log_uniform``
samples β = 1 − 10^r (equal effort per decade of the averaging window 1 / (1 − β)). The same
space drives random sampling (:meth:`SearchSpace.sample`), Optuna define-by-run
(:meth:`SearchSpace.suggest`), grids (:meth:`SearchSpace.grid`) and Ray Tune
(:meth:`SearchSpace.to_tune` + :meth:`SearchSpace.resolve`).

Internal names: a one_minus_log_uniform parameter ``beta`` is searched by Optuna and Ray Tune as
``beta__1m`` = 1 − β on a log scale (see :data:`ONE_MINUS_SUFFIX`); ``resolve`` maps it back.
"""

from sweeplab.space._derive import Change, Derived, derive_space
from sweeplab.space._distributions import (
    DISTRIBUTIONS,
    ONE_MINUS_SUFFIX,
    RANGE_TYPES,
    Categorical,
    Constant,
    Distribution,
    IntLogUniform,
    IntUniform,
    LogUniform,
    OneMinusLogUniform,
    Uniform,
    distribution_from_dict,
)
from sweeplab.space._grid import MAX_GRID_TRIALS, Grid, whole_grid_trials
from sweeplab.space._parameter import Parameter, SpaceError
from sweeplab.space._refine import refine
from sweeplab.space._space import SearchSpace, load_space, project_space_path

__all__ = [
    "DISTRIBUTIONS",
    "MAX_GRID_TRIALS",
    "ONE_MINUS_SUFFIX",
    "RANGE_TYPES",
    "Categorical",
    "Change",
    "Constant",
    "Derived",
    "Distribution",
    "Grid",
    "IntLogUniform",
    "IntUniform",
    "LogUniform",
    "OneMinusLogUniform",
    "Parameter",
    "SearchSpace",
    "SpaceError",
    "Uniform",
    "derive_space",
    "distribution_from_dict",
    "load_space",
    "project_space_path",
    "refine",
    "whole_grid_trials",
]

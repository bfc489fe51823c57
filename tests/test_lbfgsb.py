"""tacit.lbfgsb drives scipy's L-BFGS-B routine itself: it must visit exactly the points that
scipy.optimize.minimize(method="L-BFGS-B") visits, since the exact phyloglm maximiser's path decides which
local maximum it reports."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from tacit import lbfgsb, phyloglm
from tacit.tree import simulate_bm

from test_phyloglm import random_tree


def _visits(fun, run) -> list[tuple[float, ...]]:
    seen: list[tuple[float, ...]] = []

    def traced(x: np.ndarray) -> tuple[float, np.ndarray]:
        seen.append(tuple(x.tolist()))
        return fun(x)

    run(traced)
    return seen


def _both(fun, x0, lower, upper, stop=None, **options) -> tuple[list, list]:
    """Points visited by scipy's minimize and by lbfgsb.minimise with the same inputs."""
    def with_scipy(traced):
        def callback(intermediate_result):
            if stop is not None and stop(intermediate_result.x):
                raise StopIteration

        optimize.minimize(traced, x0, jac=True, method="L-BFGS-B", callback=callback,
                          bounds=list(zip(lower, upper)), options=options)

    def with_driver(traced):
        lbfgsb.minimise(traced, x0, np.array(lower, dtype=float), np.array(upper, dtype=float), stop=stop, **options)

    return _visits(fun, with_scipy), _visits(fun, with_driver)


needs_direct = pytest.mark.skipif(not lbfgsb.direct(), reason="this scipy's setulb has another interface: "
                                  "lbfgsb.minimise calls scipy.optimize.minimize itself")


def rosenbrock(x: np.ndarray) -> tuple[float, np.ndarray]:
    value = float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))
    grad = np.zeros_like(x)
    grad[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    grad[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return value, grad


@needs_direct
@pytest.mark.parametrize("seed", range(6))
def test_same_points_as_scipy_on_bounded_rosenbrock(seed):
    rng = np.random.default_rng(seed)
    n = 2 + seed % 3
    x0 = rng.uniform(-2, 2, n)
    # unbounded, lower-only, both, upper-only coordinates
    lower = [(-math.inf, 0.2, -1.5, -math.inf)[i % 4] for i in range(n)]
    upper = [(math.inf, math.inf, 1.5, 0.9)[i % 4] for i in range(n)]
    x0[0] = 5.0  # starts outside a bound for some layouts: both clip it
    a, b = _both(rosenbrock, x0, lower, upper, ftol=1e-13, gtol=1e-9, maxiter=500)
    assert len(a) > 10
    assert a == b


@needs_direct
def test_same_points_with_a_stop_rule_an_iteration_limit_and_a_wall():
    """A stop rule (as the ridge rule), a maxiter that ends the climb, and a 'wall' of 1e10 with zero gradient
    beyond a constraint (as phyloglm's |x beta| bound) are handled as minimize handles them."""
    def walled(x: np.ndarray) -> tuple[float, np.ndarray]:
        if x[0] + x[1] > 1.3:
            return 1e10, np.zeros_like(x)
        return rosenbrock(x)

    start = np.array([-1.2, 1.0])
    a, b = _both(walled, start, [-math.inf] * 2, [math.inf] * 2, ftol=1e-13, gtol=1e-9, maxiter=1000)
    assert any(sum(p) > 1.3 for p in a)  # the wall was met
    assert a == b
    a, b = _both(walled, start, [-math.inf] * 2, [math.inf] * 2, stop=lambda x: x[0] > 0.0, maxiter=1000)
    assert a == b and len(a) < 40
    a, b = _both(rosenbrock, start, [-math.inf] * 2, [math.inf] * 2, maxiter=7)
    assert a == b and 7 <= len(a) < 30


@needs_direct
def test_exact_phyloglm_climbs_take_scipys_path():
    """The exact maximiser's climbs on data with kinks: same points with either driver, so the same fits."""
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(8):
        tree = random_tree(30, rng)
        traits = simulate_bm(tree, 2, rng)[: tree.n_tips]
        x = 1.0 / (1.0 + np.exp(-traits[:, 0]))
        y = (traits[:, 1] > np.quantile(traits[:, 1], 0.7)).astype(float)
        geom = phyloglm.tree_geometry(tree)
        obj = phyloglm._Objective(geom, np.column_stack([np.ones(len(x)), x]), y, phyloglm.BTOL,
                                  phyloglm.LOG_ALPHA_BOUND)
        theta = np.append(phyloglm._glm_start(obj.x, y, phyloglm.BTOL), obj.lam_start)
        lower = [-math.inf, -math.inf, obj.lam_bounds[0]]
        upper = [math.inf, math.inf, obj.lam_bounds[1]]
        a, b = _both(obj.to_minimise, theta, lower, upper, ftol=phyloglm._FTOL, gtol=phyloglm._PGTOL, maxiter=1000)
        assert len(a) > 5
        assert a == b
        checked += 1
    assert checked == 8


def test_minimise_reaches_the_minimum_whichever_driver():
    x = lbfgsb.minimise(rosenbrock, np.array([-1.2, 1.0]), np.full(2, -math.inf), np.full(2, math.inf),
                        ftol=1e-14, gtol=1e-10)
    assert x == pytest.approx([1.0, 1.0], abs=1e-5)
    with pytest.raises(ValueError, match="lower bound"):
        lbfgsb.minimise(rosenbrock, np.zeros(2), np.array([1.0, 0.0]), np.array([0.0, 1.0]))

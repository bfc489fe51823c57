"""L-BFGS-B through scipy's compiled routine, without ``scipy.optimize.minimize``'s Python layers.

The exact maximiser of :mod:`tacit.phyloglm` runs thousands of short L-BFGS-B climbs on a cheap objective
(a few microseconds per evaluation on a small tree). ``minimize`` wraps each evaluation in several layers
(bounds handling, ``ScalarFunction``'s memoisation, ``MemoizeJac``, array-API conversions) that cost far
more than the objective. :func:`minimise` drives scipy's own ``setulb`` (the L-BFGS-B algorithm, scipy
>= 1.15) directly with the same inputs, so it visits the same points and returns the same result as
``minimize(method="L-BFGS-B")``; a test compares the two point by point. On a scipy whose ``setulb`` has
another interface it calls ``minimize`` instead.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize

try:  # scipy >= 1.15: the C port of L-BFGS-B 3.0
    from scipy.optimize import _lbfgsb as _compiled

    _SETULB = _compiled.setulb
    if "(m,x,l,u,nbd,f,g,factr,pgtol,wa,iwa,task,lsave,isave,dsave,maxls,ln_task)" not in (_SETULB.__doc__ or ""):
        _SETULB = None
except (ImportError, AttributeError):  # pragma: no cover - depends on the scipy installed
    _SETULB = None

# setulb's task codes (scipy.optimize._lbfgsb_py.status_messages)
_FG, _NEW_X, _STOP = 3, 1, 5
_STOP_CALLBACK, _STOP_MAXITER, _STOP_MAXFUN = 505, 504, 502

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]


def direct() -> bool:
    """Whether :func:`minimise` drives scipy's ``setulb`` itself (else it calls ``minimize``)."""
    return _SETULB is not None


def minimise(fun: Objective, x0: np.ndarray, lower: np.ndarray, upper: np.ndarray, *,
             stop: Callable[[np.ndarray], bool] | None = None, ftol: float = 2.2204460492503131e-09,
             gtol: float = 1e-5, maxiter: int = 15000, maxfun: int = 15000, maxcor: int = 10,
             maxls: int = 20) -> np.ndarray:
    """Minimise ``fun`` (returning value and gradient) from ``x0`` within ``[lower, upper]`` (``+-inf`` for
    no bound) by L-BFGS-B, as ``scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", ...)`` with the
    same options would.

    ``stop(x)`` is called at each new iterate; returning True ends the climb (as a callback raising
    ``StopIteration``). Returns the last point. ``fun`` gets a copy of the point and may keep it.
    """
    x0 = np.asarray(x0, dtype=np.float64).ravel()
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    if np.any(lower > upper):
        raise ValueError("a lower bound is above its upper bound")
    if _SETULB is None:
        def callback(intermediate_result: optimize.OptimizeResult) -> None:
            if stop is not None and stop(intermediate_result.x):
                raise StopIteration

        bounds = optimize.Bounds(lower, upper)
        return optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds, callback=callback,
                                 options={"maxiter": maxiter, "maxfun": maxfun, "ftol": ftol, "gtol": gtol,
                                          "maxcor": maxcor, "maxls": maxls}).x
    n = len(x0)
    x = np.clip(x0, lower, upper)
    # nbd: 0 unbounded, 1 lower only, 2 both, 3 upper only (L-BFGS-B's encoding)
    has_lo, has_hi = np.isfinite(lower), np.isfinite(upper)
    nbd = np.where(has_lo & has_hi, 2, np.where(has_lo, 1, np.where(has_hi, 3, 0))).astype(np.int32)
    low = np.where(has_lo, lower, 0.0)
    high = np.where(has_hi, upper, 0.0)
    factr = ftol / np.finfo(float).eps
    m = maxcor
    wa = np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m, np.float64)
    iwa = np.zeros(3 * n, np.int32)
    task = np.zeros(2, np.int32)
    ln_task = np.zeros(2, np.int32)
    lsave = np.zeros(4, np.int32)
    isave = np.zeros(44, np.int32)
    dsave = np.zeros(29, np.float64)
    # As minimize: the objective is evaluated at the start first, and again only at a point that differs.
    at = x.tolist()  # the point last evaluated (list equality is array_equal's, and faster for a few values)
    f, g = _call(fun, x)
    n_fev = 1
    n_iter = 0
    while True:
        # a copy of g at each call, as minimize passes (setulb must not alter the remembered gradient)
        _SETULB(m, x, low, high, nbd, f, g.copy(), factr, gtol, wa, iwa, task, lsave, isave, dsave, maxls, ln_task)
        if task[0] == _FG:
            if x.tolist() != at:
                at = x.tolist()
                f, g = _call(fun, x)
                n_fev += 1
        elif task[0] == _NEW_X:
            n_iter += 1
            if stop is not None and stop(x.copy()):
                task[0], task[1] = _STOP, _STOP_CALLBACK
            if n_iter >= maxiter:
                task[0], task[1] = _STOP, _STOP_MAXITER
            elif n_fev > maxfun:
                task[0], task[1] = _STOP, _STOP_MAXFUN
        else:
            return x


def _call(fun: Objective, x: np.ndarray) -> tuple[float, np.ndarray]:
    value, grad = fun(x.copy())
    return float(value), np.array(grad, dtype=np.float64).ravel()

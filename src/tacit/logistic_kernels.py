"""Compiled phylogenetic logistic regression (numba): the penalised likelihood of :mod:`tacit.phyloglm` and
the climb to its maximum, for the fits that need no special treatment.

:mod:`tacit.phyloglm` defines the model and holds the exact, general maximiser (L-BFGS-B plus the exact
treatment of the kinks ``mu_i = p``, of the ridge ``slopes = 0`` and of the bound ``|x beta| = btol``).
Here the same penalised log-likelihood and its gradient are written as scalar loops (the pruning pass of
the latent chain and the three-point pass of the Firth penalty, differentiated in reverse mode, by one pass
back down each; on the ridge, where only two directions move, forward), and a
quasi-Newton climb runs from phyloglm's start. A fit is *settled* here only when that climb ends at a
smooth interior maximum: projected gradient below tolerance, no tip within ``KINK_MARGIN`` of its kink, no
iterate near the ridge, no trial point beyond ``btol``. Where the climb stalls on one tip's kink, the
maximum along that kink settles the fit when both sides of the kink fall and no other tip is near its own.
The ridge case (the optimum is the cusp at slopes = 0, common on null data) is settled too when every side
of it falls. An interior maximum is settled only when the ridge holds no higher one (the climb on the ridge
stops as soon as its curvature estimate, borne out by its last steps, puts the interior maximum out of its
reach: ``TARGET_SAFETY``). Anything else returns a code that sends the fit to the exact maximiser. Where
the surface holds several local maxima, the two climbs (BFGS here, L-BFGS-B there) can stop at different
ones (README, "Binary traits").

Codes: 0 settled; 1 on the ridge but not settled there (or glm separated, so the start is on it); 2 a tip
at its kink; 3 trials beyond ``btol``; 4 not converged; 5 the ridge, but a side rises; 6 non-finite value;
7 an interior maximum, but the ridge holds a higher one (which maximum the general climb reaches depends on
its path, so it decides).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

SETTLED, START_ON_RIDGE, AT_KINK, AT_WALL, NOT_CONVERGED, RIDGE_NOT_MAX, NOT_FINITE, RIDGE_HIGHER = range(8)
# Internal to this module (never handed over): the climb stopped early on a kink (``climb``'s ``kink_stop``);
# the climb stopped early because its maximum stays below the caller's target (``climb``'s ``target``).
KINK_STALL = 8
BELOW_TARGET = 9
# Rows of an evaluation's scratch vectors (:func:`_new_state`).
_SMALL = 8
# A settled maximum keeps every tip at least this far (in mu) from its kink mu_i = p, but one tip on it when
# that is a maximum along the kink with both sides falling (:func:`_climb_kink`).
KINK_MARGIN = 1e-6
# A climb that stops with a tip this close (in mu) to its kink has stalled on it (climbs zigzag across a kink
# to within 1e-10 or less): the maximum along that kink is sought. The climb along it keeps the tip within
# KINK_GAP of it (in logit(mu_i) - logit(p)), and its maximum must not be below the stalled climb's point by
# more than KINK_LOSS (relative).
KINK_ON = 1e-8
# The main climb turns to that search once this many accepted points in a row have the same tip within
# KINK_ON of its kink (a climb that zigzags across a kink spends dozens of evaluations to stall on it).
KINK_STOP = 2
KINK_GAP = 1e-12
KINK_LOSS = 1e-9
# As tacit.phyloglm: a climb whose slopes move the linear predictor by less than this is on the ridge.
RIDGE_NEAR = 1e-3
# Projected-gradient tolerance of the climb, and the relative change of the objective that also ends it
# (then the gradient must still be below STATIONARY).
PGTOL = 1e-7
FTOL = 1e-13
STATIONARY = 1e-5
MAX_ITER = 200
# Trial points beyond |x beta| = btol are stepped back from (a line search halves its step); a climb that
# keeps hitting that bound this many times, or settles within WALL_MARGIN of it, goes to the exact maximiser
# (which treats the bound as a constraint).
WALL_HITS = 30
WALL_MARGIN = 1e-6
# A climb that only has to tell whether its maximum reaches a target (the check that the ridge is lower
# than an interior maximum) stops once, at TARGET_AGREE points in a row, its value plus TARGET_SAFETY times
# the gain its curvature estimate predicts (half of direction . gradient) stays below the target by more than
# TARGET_MARGIN (relative), and the full step that led to the point gained within TARGET_RATIO of what the
# estimate predicted for it. The prediction alone is not enough: near a saddle of the ridge the estimate
# (positive definite) sees a flat surface that then rises (5 of 21,000 fits, where the gain still to come
# was over 30 times the prediction; the steps there gained 1.3-1.7 times their prediction). With the
# agreement, 2 of 60,000 further fits (Zoonomia and demo trees, Brownian and permuted responses) and 11 of
# the demo's 80,400 permulation fits in `tacit associate` still stopped below a ridge maximum that their
# climb, escaping a saddle, reached later. Such a fit is settled at its interior maximum (which passes every
# check) instead of going to the exact maximiser; of those 11, the exact maximiser ends at the same maximum
# for 9 and at another one 0.008-0.011 higher for 2. Three points in a row instead of two halve what the
# check saves.
TARGET_SAFETY = 30.0
TARGET_MARGIN = 1e-6
TARGET_AGREE = 2
TARGET_RATIO = (0.8, 1.25)
# One-sided probes that test whether a side of the ridge rises (tacit.phyloglm's _PROBE and _RISE).
PROBE = 1e-7
RISE = 1e-6


# exp(v) for a whole array in a loop the compiler vectorises (numba's math.exp is a scalar call to libm, and
# the llvmlite here has no vector library): v = k ln 2 + r with k = rint(v / ln 2) taken from the low bits of
# v / ln 2 + 1.5 * 2^52, |r| <= ln(2) / 2, exp(r) by its Taylor polynomial of degree 13 (remainder below
# 4e-18), times 2^k put into the exponent bits. Within one unit in the last place of libm's exp (tested);
# |v| > _EXP_FAST goes to math.exp.
_LOG2E = 1.4426950408889634
_SHIFT = 6755399441055744.0  # 1.5 * 2^52
_SHIFT_BITS = 0x4338000000000000  # its IEEE-754 bits
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * _LN2_HI is exact (fdlibm's)
_LN2_LO = 1.90821492927058770002e-10
_EXP_FAST = 700.0
_T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10, _T11, _T12, _T13 = (1.0 / math.factorial(k) for k in range(2, 14))


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def exp_scaled(scale, src, out, work):
    """``out[i] = exp(scale * src[i])`` for 1-d arrays; ``work`` (the same length) is scratch; neither may be ``src``.
    Multiply-adds may be fused (one rounding instead of two) where the processor has them."""
    n = src.shape[0]
    for i in range(n):
        v = min(max(scale * src[i], -_EXP_FAST), _EXP_FAST)
        t = v * _LOG2E + _SHIFT
        k = t - _SHIFT
        r = (v - k * _LN2_HI) - k * _LN2_LO
        e = _T13 * r + _T12
        e = e * r + _T11
        e = e * r + _T10
        e = e * r + _T9
        e = e * r + _T8
        e = e * r + _T7
        e = e * r + _T6
        e = e * r + _T5
        e = e * r + _T4
        e = e * r + _T3
        e = e * r + _T2
        e = e * r + 1.0
        out[i] = e * r + 1.0
        work[i] = t
    out_bits = out.view(np.int64)
    k_bits = work.view(np.int64)
    for i in range(n):  # exp(r) is in [0.7, 1.42]: adding k to its exponent multiplies it by 2^k
        out_bits[i] += (k_bits[i] - _SHIFT_BITS) << 52
    for i in range(n):
        v = scale * src[i]
        if not abs(v) <= _EXP_FAST:
            out[i] = math.exp(v)


@njit(cache=True, inline="always", error_model="numpy")
def _expit(v: float) -> float:
    if v >= 0.0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@njit(cache=True, inline="always")
def _workspace(rows: int, dk: int) -> tuple[np.ndarray, np.ndarray]:
    """Work arrays of :func:`evaluate` for a tree of ``rows`` nodes and ``dk`` coefficients."""
    d = dk + 1
    return np.empty((rows, 2, max(dk + 2, 4))), np.empty((rows, dk + 2, d * (d + 1) // 2))


def workspace(rows: int, dk: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_workspace` for Python callers, run by numpy.

    Not one compiled function called both from Python and from compiled code: handing arrays to Python
    needs the function's numba environment, and with ``workspace`` compiled that way and loaded from the
    cache, its first call from Python after :func:`fit_pairs` once failed for want of it ("SystemError:
    NRT_adapt_ndarray_to_python ... descr is NULL"; tests/test_phyloglm.py runs that sequence from the cache).
    """
    return _workspace.py_func(rows, dk)


@njit(cache=True, error_model="numpy")
def evaluate(row_tip, tip_row, length, age, parent_of, x, y, theta, want_grad, grad, info, work_part, work_acc,
             force):
    """Penalised log-likelihood at ``theta = (beta, log(1/alpha))``; fills ``grad`` and ``info``.

    Parameters
    ----------
    row_tip, tip_row, length, age, parent_of
        The tree (:class:`tacit.phyloglm.TreeGeometry`; ``row_tip[r]`` is the tip in storage row ``r`` or
        -1): rows are ordered children before parents, the root last.
    x, y
        ``(n, dk)`` design (intercept first) and 0/1 responses.
    want_grad
        Fill ``grad`` ``(dk + 1,)`` with the gradient (else left untouched).
    info
        ``(dk, dk)``: the Fisher information ``I`` (filled).
    work_part, work_acc
        Work space from :func:`workspace`.
    force
        ``(n,)`` int8: the branch of each tip's emission probabilities, 1 = ``mu < p``, 0 = ``mu >= p``,
        -1 = by its ``mu`` (see :func:`tacit.phyloglm.penalised_loglik`).

    Returns
    -------
    penalised, loglik
        ``-inf`` where the value does not exist (an impossible latent state, ``I`` not positive definite).
    """
    # One predictor (dk = 2) is the usual case: its passes are compiled with the sizes and the wish for a
    # gradient as constants, which the compiler needs to keep the per-node blocks in registers (with them
    # only known at run time, the three-point pass took 3-8 times as long).
    return _evaluate_in(row_tip, tip_row, length, age, parent_of, x, y, theta, want_grad, grad, info, work_part,
                        work_acc, force, _new_state(x.shape[0], age.shape[0], x.shape[1]))


@njit(cache=True, error_model="numpy")
def _evaluate_in(row_tip, tip_row, length, age, parent_of, x, y, theta, want_grad, grad, info, work_part, work_acc,
                 force, state):
    """:func:`evaluate` with the caller's ``state`` (:func:`_new_state`) for its scratch."""
    if x.shape[1] == 2:
        if want_grad:
            return _evaluate(row_tip, tip_row, length, age, parent_of, x, y, theta, True, False, grad, info,
                             work_part, work_acc, force, 2, state)
        return _evaluate(row_tip, tip_row, length, age, parent_of, x, y, theta, False, False, grad, info,
                         work_part, work_acc, force, 2, state)
    return _evaluate(row_tip, tip_row, length, age, parent_of, x, y, theta, want_grad, False, grad, info,
                     work_part, work_acc, force, x.shape[1], state)


@njit(cache=True, inline="always")
def _new_state(n, rows, dk):
    """What an evaluation leaves for the pass back down besides its work arrays: ``mu``, the branch of each
    tip, ``h`` and ``e2`` per node, the root block before its edge, ``I^-1``, and ``(p, alpha, total)``;
    then scratch that evaluations take instead of allocating their own (about 20 small arrays each before,
    2-5 % of a fit's time): ``(3, n)`` for the linear predictor's exponentials, a ``(dk, dk)`` matrix and
    a Cholesky factor, ``_SMALL`` vectors of ``dk + 1``, and the packed index (:func:`_packed_index`).

    Inlined, like :func:`_workspace`: a compiled function that returns arrays is not called as a separate
    function from other cached ones (see :func:`workspace`)."""
    d = dk + 1
    ia, ib = _packed_index(d)
    return (np.empty(n), np.empty(n, dtype=np.bool_), np.empty(rows), np.empty(rows), np.empty(d * (d + 1) // 2),
            np.empty((dk, dk)), np.empty(3), np.empty((3, n)), np.empty((dk, dk)), np.empty((dk, dk)),
            np.empty((_SMALL, d)), ia, ib)


@njit(cache=True, error_model="numpy")
def evaluate_kept(row_tip, tip_row, length, age, parent_of, x, y, theta, info, work_part, work_acc, force, state):
    """:func:`evaluate`'s value, keeping in the work arrays and ``state`` (:func:`_new_state`) what
    :func:`gradient_kept` needs: a line search pays for the gradient only at the point it accepts."""
    if x.shape[1] == 2:
        return _evaluate(row_tip, tip_row, length, age, parent_of, x, y, theta, False, True, state[6], info,
                         work_part, work_acc, force, 2, state)
    return _evaluate(row_tip, tip_row, length, age, parent_of, x, y, theta, False, True, state[6], info,
                     work_part, work_acc, force, x.shape[1], state)


@njit(cache=True, error_model="numpy")
def gradient_kept(row_tip, tip_row, length, age, parent_of, x, y, grad, work_part, work_acc, state):
    """The gradient at the point of the last :func:`evaluate_kept` (which returned a finite value), equal to
    :func:`evaluate`'s there (the same operations)."""
    mu, below, h, e2, root_before, inv, scal, _, _, _, small, ia, ib = state
    if x.shape[1] == 2:
        _gradient(row_tip, tip_row, length, age, parent_of, x, y, mu, below, scal[0], scal[1], h, e2, work_part,
                  work_acc, root_before, inv, scal[2], grad, 2, ia, ib, small)
    else:
        _gradient(row_tip, tip_row, length, age, parent_of, x, y, mu, below, scal[0], scal[1], h, e2, work_part,
                  work_acc, root_before, inv, scal[2], grad, x.shape[1], ia, ib, small)


@njit(cache=True, inline="always", error_model="numpy")
def _evaluate(row_tip, tip_row, length, age, parent_of, x, y, theta, want_grad, keep, grad, info, work_part,
              work_acc, force, dk, state):
    """:func:`evaluate` with ``dk`` (the design's columns) given, so that it can be a compile-time constant;
    ``keep`` leaves what the gradient needs in the work arrays and ``state`` without computing it.

    The value takes one pass up the tree for the chain and one for the Firth penalty; the gradient one pass
    back down each (reverse mode: its cost does not grow with the number of coefficients)."""
    n = x.shape[0]
    d = dk + 1  # P = [1, Z / g] in the three-point pass
    rows = age.shape[0]
    root = rows - 1
    keep = keep or want_grad
    mu, below, h, e2, root_before, inv, scal, tmp, _, lower, small, ia, ib = state
    alpha = math.exp(-theta[dk])
    p = _fitted_into(theta, x, mu, tmp)
    q = 1.0 - p
    if not (p > 0.0 and q > 0.0):
        return -math.inf, -math.inf
    for i in range(n):
        below[i] = mu[i] < p if force[i] < 0 else force[i] == 1
    _node_decay_into(age, alpha, h, e2)

    # ---- latent two-state chain, by pruning
    part = work_part
    _reset_partials(part, 1)
    for i in range(n):
        r = tip_row[i]
        sign = 2.0 * y[i] - 1.0
        if below[i]:
            part[r, 0, 0] = 1.0 - y[i]
            part[r, 1, 0] = 1.0 - y[i] + sign * mu[i] / p
        else:
            part[r, 0, 0] = y[i] - sign * (1.0 - mu[i]) / q
            part[r, 1, 0] = y[i]
    no_direction = small[0, :1]
    no_direction[0] = 0.0
    total, logscale = _prune(part, parent_of, length, h, alpha, p, q, no_direction, 1, 0, keep)
    if not total > 0.0:
        return -math.inf, -math.inf
    loglik = math.log(total) + logscale
    scal[0] = p
    scal[1] = alpha
    scal[2] = total

    # ---- Firth penalty log det(I) / 2 by the three-point pass on the transformed tree
    acc = work_acc
    _clear_internal(acc, row_tip, 1)
    root_ratio = math.sqrt(q / p)
    inv_root_ratio = 1.0 / root_ratio
    vec = small[1]
    for i in range(n):
        r = tip_row[i]
        pr = parent_of[r]
        mi = mu[i]
        w = mi * (1.0 - mi)
        m = mi * root_ratio if below[i] else (1.0 - mi) * inv_root_ratio
        inv_m = 1.0 / m
        tl = e2[r] * (w * inv_m * inv_m) - e2[pr]
        if not tl > 0.0:
            return -math.inf, -math.inf
        inv_tl = 1.0 / tl
        f = w * inv_m * h[r]  # h[r] = exp(-alpha age)
        vec[0] = 1.0
        for j in range(dk):
            vec[1 + j] = f * x[i, j]
        _tip_block(acc, pr, vec, no_direction, no_direction, inv_tl, 0, d)
        if keep:  # a tip's own block row is free: keep what the pass back down needs
            acc[r, 0, 0] = inv_tl
            acc[r, 0, 1] = f
            acc[r, 0, 2] = inv_m
    _internal_branches(acc, row_tip, parent_of, age, e2, alpha, no_direction, 1, d, ia, ib, root_before, small[2],
                       small[3])
    _root_information(acc, root, d, info)
    logdet = _inverse_pd_into(info, inv, lower, small[2], small[3]) if keep else _cholesky(info, lower)
    if not math.isfinite(logdet):
        return -math.inf, loglik
    value = loglik + 0.5 * logdet
    if not math.isfinite(value):  # e.g. mu rounding to 0 or 1 far beyond btol (error_model="numpy")
        return -math.inf, loglik
    if want_grad:
        _gradient(row_tip, tip_row, length, age, parent_of, x, y, mu, below, p, alpha, h, e2, part, acc,
                  root_before, inv, total, grad, dk, ia, ib, small)
    return value, loglik


@njit(cache=True, inline="always", error_model="numpy")
def _gradient(row_tip, tip_row, length, age, parent_of, x, y, mu, below, p, alpha, h, e2, part, acc, root_before,
              inv, total, grad, dk, ia, ib, small):
    """Fill ``grad`` (``dk + 1``) with the gradient of the penalised log-likelihood by reverse mode: the
    adjoints of the chain's partials and of the three-point blocks, from the root back to the tips.

    Needs what the passes up left: for every node of the chain its partials (column 0), the product of the
    messages its parent had before its own (column 1), its message (column 2) and the inverse of its scale
    (``[r, 0, 3]``); for every internal block its value (``acc[r, 0]``), the root's before its edge
    (``root_before``), and for every tip ``1 / t``, ``f`` and ``1 / m`` in ``acc[r, 0, :3]``. ``small``: scratch
    (:func:`_new_state`)."""
    n = x.shape[0]
    d = dk + 1
    rows = age.shape[0]
    root = rows - 1
    q = 1.0 - p
    nt = ia.shape[0]
    dlam = 0.0  # d / d log(1/alpha)
    cbar = small[4]

    # ---- Firth: the adjoint of each internal block (d penalty / d block) in acc[r, 1], root first
    for t in range(nt):
        a = ia[t]
        b = ib[t]
        acc[root, 1, t] = 0.0 if a == 0 else inv[a - 1, b - 1] * (0.5 if a == b else 1.0)
    dt = _branch_adjoint(root_before, e2[root], acc[root, 1], acc[root, 1], d, ia, ib, cbar)
    dlam += dt * 2.0 * alpha * age[root] * e2[root]
    for r in range(rows - 2, -1, -1):
        if row_tip[r] >= 0:
            continue
        pr = parent_of[r]
        dt = _branch_adjoint(acc[r, 0], e2[r] - e2[pr], acc[pr, 1], acc[r, 1], d, ia, ib, cbar)
        dlam += dt * 2.0 * alpha * (age[r] * e2[r] - age[pr] * e2[pr])

    # ---- the chain: the adjoint of each node's partials (d log L / d partial) replaces its column 1, and
    # column 2 becomes the running product of the messages of its children already passed (times the
    # inverse of its scale)
    dp_bar = (part[root, 1, 0] - part[root, 0, 0]) / total  # d / d p, summed over every place p enters
    part[root, 0, 1] = q / total
    part[root, 1, 1] = p / total
    part[root, 0, 2] = 1.0
    part[root, 1, 2] = 1.0
    for r in range(rows - 2, -1, -1):
        pr = parent_of[r]
        mb0 = part[pr, 0, 1] * part[r, 0, 1] * part[pr, 0, 2]
        mb1 = part[pr, 1, 1] * part[r, 1, 1] * part[pr, 1, 2]
        part[pr, 0, 2] *= part[r, 0, 2]
        part[pr, 1, 2] *= part[r, 1, 2]
        l0 = part[r, 0, 0]
        l1 = part[r, 1, 0]
        et = h[pr] / h[r]
        c0 = q * l0 + p * l1
        cb = (mb0 + mb1) * (1.0 - et)
        dp_bar += cb * (l1 - l0)
        dlam += (mb0 * (l0 - c0) + mb1 * (l1 - c0)) * et * alpha * length[r]
        part[r, 0, 1] = et * mb0 + q * cb
        part[r, 1, 1] = et * mb1 + p * cb
        part[r, 0, 2] = part[r, 0, 3]
        part[r, 1, 2] = part[r, 0, 3]

    # ---- the tips: each one's mu moves its emission and its block; p (the mean of mu) moves them all
    root_ratio = math.sqrt(q / p)
    inv_root_ratio = 1.0 / root_ratio
    dm_dp_below = -1.0 / (2.0 * p * p * root_ratio)
    dm_dp_above = root_ratio / (2.0 * q * q)
    for k in range(dk):
        grad[k] = 0.0
    dp_coef = small[5, :dk]  # d p / d beta
    dp_coef[:] = 0.0
    for i in range(n):
        r = tip_row[i]
        pr = parent_of[r]
        mi = mu[i]
        w = mi * (1.0 - mi)
        sign = 2.0 * y[i] - 1.0
        if below[i]:
            lb = part[r, 1, 1] * part[r, 0, 3]
            z = w * lb * sign / p
            dp_bar -= lb * sign * mi / (p * p)
        else:
            lb = part[r, 0, 1] * part[r, 0, 3]
            z = w * lb * sign / q
            dp_bar -= lb * sign * (1.0 - mi) / (q * q)
        inv_tl = acc[r, 0, 0]
        f = acc[r, 0, 1]
        inv_m = acc[r, 0, 2]
        # s0 = sum_ab Bbar_ab B_ab, s1 = the same weighted by how many of a, b are > 0 (those entries of the
        # tip's block B = v v' / t move with log f, all with -log t)
        s0, s1 = _tip_sums(acc, pr, f, x, i, inv_tl, d, ia, ib)
        dm_dmu = root_ratio if below[i] else -inv_root_ratio
        dm_dp = mi * dm_dp_below if below[i] else (1.0 - mi) * dm_dp_above
        slope_w = 1.0 - 2.0 * mi  # d log(w) / d eta
        e_r = e2[r]
        kt = e_r * inv_m * inv_m * inv_tl
        z += (slope_w - inv_m * dm_dmu * w) * s1 - kt * w * (slope_w - 2.0 * inv_m * dm_dmu * w) * s0
        dp_bar += -inv_m * dm_dp * s1 + 2.0 * kt * w * inv_m * dm_dp * s0
        for j in range(dk):
            grad[j] += x[i, j] * z
            dp_coef[j] += w * x[i, j]
        dlam += alpha * age[r] * s1 - 2.0 * alpha * (age[r] * e_r * w * inv_m * inv_m - age[pr] * e2[pr]) * inv_tl * s0
    for j in range(dk):
        grad[j] += dp_bar * dp_coef[j] / n
    grad[dk] = dlam


@njit(cache=True, inline="always", error_model="numpy")
def _tip_sums(acc, pr, f, x, i, inv_tl, d, ia, ib):
    """``(sum_ab Bbar_ab B_ab, sum_ab Bbar_ab B_ab ([a > 0] + [b > 0]))`` over the packed entries, for the tip
    block ``B = v v' / t`` with ``v = (1, f x_i)`` and ``Bbar = acc[pr, 1]``."""
    if d == 3:
        v1 = f * x[i, 0]
        v2 = f * x[i, 1]
        w1 = v1 * inv_tl
        w2 = v2 * inv_tl
        first = acc[pr, 1, 1] * w1 + acc[pr, 1, 2] * w2
        second = acc[pr, 1, 3] * w1 * v1 + acc[pr, 1, 4] * w1 * v2 + acc[pr, 1, 5] * w2 * v2
        return acc[pr, 1, 0] * inv_tl + first + second, first + 2.0 * second
    s0 = 0.0
    s1 = 0.0
    for t in range(ia.shape[0]):
        a = ia[t]
        b = ib[t]
        va = 1.0 if a == 0 else f * x[i, a - 1]
        vb = 1.0 if b == 0 else f * x[i, b - 1]
        term = acc[pr, 1, t] * va * vb * inv_tl
        s0 += term
        s1 += term * ((1.0 if a > 0 else 0.0) + (1.0 if b > 0 else 0.0))
    return s0, s1


@njit(cache=True, inline="always", error_model="numpy")
def _branch_adjoint(block, t, out, res, d, ia, ib, cbar):
    """The adjoint of :func:`_add_branch`: ``out`` is d F / d the block that ``A - t a a' / (1 + t a_00)`` went
    into (``A = block``, packed; ``a = A[:, 0]``); fills ``res`` (may be ``out``) with d F / d ``A`` and returns
    d F / d ``t``. ``cbar`` ``(d,)`` is work space."""
    s = 1.0 + t * block[0]
    rr = t / s
    if d == 3:  # written out (see _tip_block)
        c0 = block[0]
        c1 = block[1]
        c2 = block[2]
        o0 = out[0]
        o1 = out[1]
        o2 = out[2]
        o3 = out[3]
        o4 = out[4]
        o5 = out[5]
        rr_bar = -(o0 * c0 * c0 + o1 * c0 * c1 + o2 * c0 * c2 + o3 * c1 * c1 + o4 * c1 * c2 + o5 * c2 * c2)
        res[0] = o0 - rr * (2.0 * o0 * c0 + o1 * c1 + o2 * c2) - rr * rr * rr_bar
        res[1] = o1 - rr * (o1 * c0 + 2.0 * o3 * c1 + o4 * c2)
        res[2] = o2 - rr * (o2 * c0 + o4 * c1 + 2.0 * o5 * c2)
        res[3] = o3
        res[4] = o4
        res[5] = o5
        return rr_bar / (s * s)
    rr_bar = 0.0
    for j in range(d):
        cbar[j] = 0.0
    for u in range(ia.shape[0]):
        a = ia[u]
        b = ib[u]
        rr_bar -= out[u] * block[a] * block[b]
        cbar[a] += out[u] * block[b]
        cbar[b] += out[u] * block[a]
    for u in range(ia.shape[0]):
        res[u] = out[u]
    for j in range(d):  # packed entries (0, j) are the first d
        res[j] -= rr * cbar[j]
    res[0] -= rr * rr * rr_bar
    return rr_bar / (s * s)


@njit(cache=True, error_model="numpy")
def evaluate_ridge(row_tip, tip_row, length, age, parent_of, x, y, theta, grad, work_part, work_acc):
    """:func:`evaluate` on the ridge (every slope 0, ``theta[1:dk]`` ignored): the penalised log-likelihood
    and its derivatives along the intercept and ``log(1/alpha)`` (``grad[0]``, ``grad[dk]``; the slopes'
    entries are set to 0).

    On the ridge every ``mu_i = p``, so each tip's emission is the indicator of its response and does not move
    with the intercept; the transformed tree does not depend on ``p``, and the Fisher information is
    ``I = p q G`` with ``G`` the information of the design columns scaled by ``exp(-alpha age)``. Hence
    ``log det I = dk log(p q) + log det G(alpha)``: the Firth pass needs only the derivative along alpha, and
    the chain's tips none. Equal to :func:`evaluate` there (tested), for about half its cost.
    """
    return _evaluate_ridge_in(row_tip, tip_row, length, age, parent_of, x, y, theta, grad, work_part, work_acc,
                              _new_state(x.shape[0], age.shape[0], x.shape[1]))


@njit(cache=True, error_model="numpy")
def _evaluate_ridge_in(row_tip, tip_row, length, age, parent_of, x, y, theta, grad, work_part, work_acc, state):
    """:func:`evaluate_ridge` with the caller's ``state`` (:func:`_new_state`) for its scratch."""
    if x.shape[1] == 2:  # constant sizes for the usual case, as evaluate
        return _evaluate_ridge(row_tip, tip_row, length, age, parent_of, x, y, theta, grad, work_part, work_acc, 2,
                               state)
    return _evaluate_ridge(row_tip, tip_row, length, age, parent_of, x, y, theta, grad, work_part, work_acc,
                           x.shape[1], state)


@njit(cache=True, inline="always", error_model="numpy")
def _evaluate_ridge(row_tip, tip_row, length, age, parent_of, x, y, theta, grad, work_part, work_acc, dk, state):
    """:func:`evaluate_ridge` with ``dk`` given (a compile-time constant in the usual case); ``state`` is only
    scratch here."""
    _, _, h, e2, root_before, inv, _, _, g, lower, small, ia, ib = state
    n = x.shape[0]
    rows = age.shape[0]
    root = rows - 1
    alpha = math.exp(-theta[dk])
    p = _expit(theta[0])
    q = 1.0 - p
    for k in range(dk + 1):
        grad[k] = 0.0
    if not (p > 0.0 and q > 0.0):
        return -math.inf
    dp0 = p * q  # d p / d intercept
    _node_decay_into(age, alpha, h, e2)

    # ---- the chain: columns 0 value, 1 d / d intercept, 2 d / d log(1/alpha)
    part = work_part
    _reset_partials(part, 3)
    for i in range(n):
        r = tip_row[i]
        part[r, 0, 0] = 1.0 - y[i]
        part[r, 1, 0] = y[i]
    dp = small[0, :2]
    dp[0] = dp0
    dp[1] = 0.0
    total, logscale = _prune(part, parent_of, length, h, alpha, p, q, dp, 3, 1, False)
    if not total > 0.0:
        return -math.inf
    loglik = math.log(total) + logscale
    grad[0] = (q * part[root, 0, 1] + p * part[root, 1, 1] + dp0 * (part[root, 1, 0] - part[root, 0, 0])) / total
    grad[dk] = (q * part[root, 0, 2] + p * part[root, 1, 2]) / total

    # ---- G(alpha) by the three-point pass, its derivative along log(1/alpha) only
    d = dk + 1
    acc = work_acc
    _clear_internal(acc, row_tip, 2)
    vec = small[1]
    rate = small[2, :1]
    tau = small[3, :1]
    vec[0] = 1.0
    for i in range(n):
        r = tip_row[i]
        pr = parent_of[r]
        tl = e2[r] - e2[pr]
        if not tl > 0.0:
            return -math.inf
        inv_tl = 1.0 / tl
        for j in range(dk):
            vec[1 + j] = h[r] * x[i, j]
        rate[0] = alpha * age[r]
        tau[0] = 2.0 * alpha * (age[r] * e2[r] - age[pr] * e2[pr]) * inv_tl
        _tip_block(acc, pr, vec, rate, tau, inv_tl, 1, d)
    dt = small[4, :1]
    dt[0] = 0.0
    _internal_branches(acc, row_tip, parent_of, age, e2, alpha, dt, 2, d, ia, ib, root_before, small[5], small[6])
    _root_information(acc, root, d, g)
    logdet = _inverse_pd_into(g, inv, lower, small[5], small[6])
    if not math.isfinite(logdet):
        return -math.inf
    grad[dk] += 0.5 * _trace(inv, acc, root, 1, ia, ib)
    grad[0] += 0.5 * dk * (q - p)
    value = loglik + 0.5 * (dk * math.log(p * q) + logdet)
    if not math.isfinite(value):
        return -math.inf
    return value


@njit(cache=True, error_model="numpy")
def evaluate_within(row_tip, tip_row, length, age, parent_of, x, y, theta, want_grad, grad, info, work_part,
                    work_acc, force, bound):
    """:func:`evaluate` where ``|x beta| <= bound`` for every row, in one call (the exact maximiser's
    objective); returns ``(penalised, loglik, inside)``, with nothing evaluated outside."""
    n, dk = x.shape
    for i in range(n):
        eta = 0.0
        for j in range(dk):
            eta += x[i, j] * theta[j]
        if not abs(eta) <= bound:
            return math.nan, math.nan, False
    value, loglik = evaluate(row_tip, tip_row, length, age, parent_of, x, y, theta, want_grad, grad, info,
                             work_part, work_acc, force)
    return value, loglik, True


@njit(cache=True, inline="always", error_model="numpy")
def _packed_index(d):
    """Row and column of each entry of a packed upper triangle of a ``d x d`` block: (0,0), (0,1), .., (1,1), .."""
    nt = d * (d + 1) // 2
    ia = np.empty(nt, dtype=np.int64)
    ib = np.empty(nt, dtype=np.int64)
    t = 0
    for a in range(d):
        for b in range(a, d):
            ia[t] = a
            ib[t] = b
            t += 1
    return ia, ib


@njit(cache=True, inline="always", error_model="numpy")
def _clear_internal(acc, row_tip, ncol):
    """Zero the blocks (value and ``ncol - 1`` derivatives) of the internal nodes, which the tips add into."""
    for r in range(acc.shape[0]):
        if row_tip[r] < 0:
            for c in range(ncol):
                for t in range(acc.shape[2]):
                    acc[r, c, t] = 0.0


@njit(cache=True, inline="always", error_model="numpy")
def _internal_branches(acc, row_tip, parent_of, age, e2, alpha, dt, ncol, d, ia, ib, root_before, col, dcol):
    """The three-point pass above the tips: each internal node's block through its branch into its parent's,
    then the root edge in place (the root's block before it is copied to ``root_before``). Only
    ``log(1/alpha)`` (the last entry of ``dt``) moves a branch. ``col`` and ``dcol`` ``(d,)``: scratch."""
    rows = age.shape[0]
    root = rows - 1
    lam = dt.shape[0] - 1
    for r in range(rows - 1):
        pr = parent_of[r]
        if row_tip[r] >= 0:  # a tip's block, its branch included, is already in its parent's
            continue
        dt[lam] = 2.0 * alpha * (age[r] * e2[r] - age[pr] * e2[pr])
        _add_branch(acc, r, pr, e2[r] - e2[pr], dt, ncol, d, ia, ib, False, col, dcol)
    for t in range(root_before.shape[0]):
        root_before[t] = acc[root, 0, t]
    dt[lam] = 2.0 * alpha * age[root] * e2[root]
    _add_branch(acc, root, root, e2[root], dt, ncol, d, ia, ib, True, col, dcol)


@njit(cache=True, inline="always", error_model="numpy")
def _root_information(acc, root, d, info):
    """``info`` ``(d - 1, d - 1)``: the root block's entries of the design columns (index 0 is the ones)."""
    t = 0
    for a in range(d):
        for b in range(a, d):
            if a > 0:
                info[a - 1, b - 1] = acc[root, 0, t]
                info[b - 1, a - 1] = acc[root, 0, t]
            t += 1


@njit(cache=True, inline="always", error_model="numpy")
def _trace(inv, acc, root, c, ia, ib):
    """``tr(I^-1 dI)`` with ``dI`` the root block's derivative column ``c`` (``d log det I``)."""
    tr = 0.0
    for t in range(ia.shape[0]):
        a = ia[t]
        b = ib[t]
        if a > 0:
            tr += inv[a - 1, b - 1] * acc[root, c, t] * (1.0 if a == b else 2.0)
    return tr


@njit(cache=True, inline="always", error_model="numpy")
def _node_decay_into(age, alpha, h, e2):
    """One exponential per node (:func:`exp_scaled`) into ``h = exp(-alpha age)`` and ``e2 = h^2``. The
    transformed tree uses ``exp(-2 alpha age) = h^2`` and the chain ``exp(-alpha t) = h_parent / h_child`` (a
    branch's length is the difference of the ages)."""
    exp_scaled(-alpha, age, h, e2)
    for r in range(age.shape[0]):
        e2[r] = h[r] * h[r]


@njit(cache=True, inline="always", error_model="numpy")
def _reset_partials(part, ncol):
    """Every row's chain partials to 1 and their derivatives (columns ``1 .. ncol - 1``) to 0."""
    for r in range(part.shape[0]):
        part[r, 0, 0] = 1.0
        part[r, 1, 0] = 1.0
        for c in range(1, ncol):
            part[r, 0, c] = 0.0
            part[r, 1, c] = 0.0


@njit(cache=True, inline="always", error_model="numpy")
def _prune(part, parent_of, length, h, alpha, p, q, dp, ncol, lam, keep):
    """The pruning pass of the latent chain over ``part`` (tips filled, other rows 1 for values and 0 for
    derivatives; column 0 the partials, columns ``1 + k`` (``k < ncol - 1``) their derivatives along direction
    ``k``, in which ``p`` moves by ``dp[k]``; direction ``lam`` is ``log(1/alpha)``). Returns the likelihood
    scaled by ``exp(-logscale)`` and ``logscale`` (the likelihood 0 where a partial vanishes); the root's
    partials are left in its row. ``h = exp(-alpha age)`` per row.

    ``keep`` (with ``ncol = 1``) keeps, for the pass back down (:func:`_gradient`), each row's message in
    column 2, the product of the messages its parent had before it in column 1 and the inverse of its scale
    in ``[r, 0, 3]``."""
    rows = h.shape[0]
    root = rows - 1
    # A node's partials are rescaled (and the scale's logarithm kept) only when they leave [1e-150, 1e150]:
    # a division and a pass over the row at every node would lengthen the chain from tips to root.
    logscale = 0.0
    for r in range(rows - 1):
        s = part[r, 0, 0] + part[r, 1, 0]
        if not s > 0.0:
            return 0.0, 0.0
        if keep:
            part[r, 0, 3] = 1.0
        if s < 1e-150 or s > 1e150:
            logscale += math.log(s)
            inv = 1.0 / s
            for c in range(ncol):
                part[r, 0, c] *= inv
                part[r, 1, c] *= inv
            if keep:
                part[r, 0, 3] = inv
        l0 = part[r, 0, 0]
        l1 = part[r, 1, 0]
        pr = parent_of[r]
        et = h[pr] / h[r]
        c0 = q * l0 + p * l1
        m0 = c0 * (1.0 - et) + et * l0
        m1 = c0 * (1.0 - et) + et * l1
        if ncol > 1:
            deta = length[r] * et * alpha
            for k in range(ncol - 1):
                dc = q * part[r, 0, 1 + k] + p * part[r, 1, 1 + k] + (l1 - l0) * dp[k]
                dm0 = dc * (1.0 - et) + et * part[r, 0, 1 + k]
                dm1 = dc * (1.0 - et) + et * part[r, 1, 1 + k]
                if k == lam:
                    dm0 += (l0 - c0) * deta
                    dm1 += (l1 - c0) * deta
                part[pr, 0, 1 + k] = part[pr, 0, 1 + k] * m0 + part[pr, 0, 0] * dm0
                part[pr, 1, 1 + k] = part[pr, 1, 1 + k] * m1 + part[pr, 1, 0] * dm1
        if keep:
            part[r, 0, 1] = part[pr, 0, 0]
            part[r, 1, 1] = part[pr, 1, 0]
            part[r, 0, 2] = m0
            part[r, 1, 2] = m1
        part[pr, 0, 0] *= m0
        part[pr, 1, 0] *= m1
    return q * part[root, 0, 0] + p * part[root, 1, 0], logscale


@njit(cache=True, inline="always", error_model="numpy")
def _put6(acc, pr, c, replace, v0, v1, v2, v3, v4, v5):
    """``acc[pr, c, :6] = (v0, .., v5)``, or ``+=`` unless ``replace``: a packed 3 x 3 block (``d = 3``)."""
    if replace:
        acc[pr, c, 0] = v0
        acc[pr, c, 1] = v1
        acc[pr, c, 2] = v2
        acc[pr, c, 3] = v3
        acc[pr, c, 4] = v4
        acc[pr, c, 5] = v5
    else:
        acc[pr, c, 0] += v0
        acc[pr, c, 1] += v1
        acc[pr, c, 2] += v2
        acc[pr, c, 3] += v3
        acc[pr, c, 4] += v4
        acc[pr, c, 5] += v5


@njit(cache=True, inline="always", error_model="numpy")
def _tip_block(acc, pr, vec, rate, tau, inv_tl, nder, d):
    """Add a tip's packed block ``B = v v' / t`` (``v = vec``, ``t = 1 / inv_tl``: its branch is included) and
    its derivatives to its parent's, ``acc[pr]``. Along ``theta_k`` (``k < nder``) ``v[1:]`` moves by
    ``rate[k] v[1:]`` and ``v[0] = 1`` does not, so ``dB_ab = B_ab (rate[k] ([a > 0] + [b > 0]) - tau[k])`` with
    ``tau[k] = d log(t) / d theta_k``. Written out for ``d = 3`` (one predictor)."""
    if d == 3:
        v1 = vec[1]
        v2 = vec[2]
        w1 = v1 * inv_tl
        w2 = v2 * inv_tl
        b0 = inv_tl
        b1 = w1
        b2 = w2
        b3 = w1 * v1
        b4 = w1 * v2
        b5 = w2 * v2
        _put6(acc, pr, 0, False, b0, b1, b2, b3, b4, b5)
        for k in range(nder):
            one = rate[k] - tau[k]
            two = 2.0 * rate[k] - tau[k]
            _put6(acc, pr, 1 + k, False, -b0 * tau[k], b1 * one, b2 * one, b3 * two, b4 * two, b5 * two)
        return
    t = 0
    for a in range(d):
        va = vec[a] * inv_tl
        for b in range(a, d):
            block = va * vec[b]
            acc[pr, 0, t] += block
            moved = (1.0 if a > 0 else 0.0) + (1.0 if b > 0 else 0.0)
            for k in range(nder):
                acc[pr, 1 + k, t] += block * (moved * rate[k] - tau[k])
            t += 1


@njit(cache=True, inline="always", error_model="numpy")
def _add_branch(acc, r, pr, t, dt, ncol, d, ia, ib, replace, col, dcol):
    """``acc[pr] += `` (``=`` if ``replace``) the packed block ``acc[r]`` seen through a branch of length
    ``t`` (derivatives ``dt``): ``A - t a a' / (1 + t a_00)`` with ``a = A[:, 0]``. ``col`` and ``dcol``
    (``(d,)``) are work space: no allocation per node."""
    nt = ia.shape[0]
    a0 = acc[r, 0, 0]
    s = 1.0 + t * a0
    rr = t / s
    if d == 3:  # written out (see _tip_block)
        c0 = a0
        c1 = acc[r, 0, 1]
        c2 = acc[r, 0, 2]
        p0 = c0 * c0
        p1 = c0 * c1
        p2 = c0 * c2
        p3 = c1 * c1
        p4 = c1 * c2
        p5 = c2 * c2
        for k in range(ncol - 1):
            g0 = acc[r, 1 + k, 0]
            g1 = acc[r, 1 + k, 1]
            g2 = acc[r, 1 + k, 2]
            dr = (dt[k] - rr * (dt[k] * a0 + t * g0)) / s
            _put6(acc, pr, 1 + k, replace,
                  acc[r, 1 + k, 0] - dr * p0 - rr * (g0 * c0 + c0 * g0),
                  acc[r, 1 + k, 1] - dr * p1 - rr * (g0 * c1 + c0 * g1),
                  acc[r, 1 + k, 2] - dr * p2 - rr * (g0 * c2 + c0 * g2),
                  acc[r, 1 + k, 3] - dr * p3 - rr * (g1 * c1 + c1 * g1),
                  acc[r, 1 + k, 4] - dr * p4 - rr * (g1 * c2 + c1 * g2),
                  acc[r, 1 + k, 5] - dr * p5 - rr * (g2 * c2 + c2 * g2))
        _put6(acc, pr, 0, replace, acc[r, 0, 0] - rr * p0, acc[r, 0, 1] - rr * p1, acc[r, 0, 2] - rr * p2,
              acc[r, 0, 3] - rr * p3, acc[r, 0, 4] - rr * p4, acc[r, 0, 5] - rr * p5)
        return
    for j in range(d):  # a = A[:, 0]: packed entries (0, j) are the first d
        col[j] = acc[r, 0, j]
    for k in range(ncol - 1):
        da0 = acc[r, 1 + k, 0]
        dr = (dt[k] - rr * (dt[k] * a0 + t * da0)) / s
        for j in range(d):
            dcol[j] = acc[r, 1 + k, j]
        for u in range(nt):
            a = ia[u]
            b = ib[u]
            v = acc[r, 1 + k, u] - dr * col[a] * col[b] - rr * (dcol[a] * col[b] + col[a] * dcol[b])
            if replace:
                acc[pr, 1 + k, u] = v
            else:
                acc[pr, 1 + k, u] += v
    for u in range(nt):
        v = acc[r, 0, u] - rr * col[ia[u]] * col[ib[u]]
        if replace:
            acc[pr, 0, u] = v
        else:
            acc[pr, 0, u] += v


@njit(cache=True, error_model="numpy")
def _cholesky(m, lower) -> float:
    """Fill ``lower`` with the Cholesky factor of ``m``; returns ``log det(m)``, NaN when ``m`` is not
    positive definite."""
    n = m.shape[0]
    lower[:, :] = 0.0
    out = 0.0
    for j in range(n):
        s = m[j, j]
        for k in range(j):
            s -= lower[j, k] * lower[j, k]
        if not s > 0.0:
            return math.nan
        lower[j, j] = math.sqrt(s)
        out += math.log(s)
        for i in range(j + 1, n):
            v = m[i, j]
            for k in range(j):
                v -= lower[i, k] * lower[j, k]
            lower[i, j] = v / lower[j, j]
    return out


@njit(cache=True, error_model="numpy")
def _solve_cholesky(lower, b, out) -> None:
    """``out = m^-1 b`` from the Cholesky factor ``lower`` of ``m`` (forward, then back substitution)."""
    n = lower.shape[0]
    for i in range(n):
        v = b[i]
        for k in range(i):
            v -= lower[i, k] * out[k]
        out[i] = v / lower[i, i]
    for i in range(n - 1, -1, -1):
        v = out[i]
        for k in range(i + 1, n):
            v -= lower[k, i] * out[k]
        out[i] = v / lower[i, i]


@njit(cache=True, error_model="numpy")
def _inverse_pd(m, inv) -> float:
    """Fill ``inv`` with ``m^-1`` through Cholesky; returns ``log det(m)`` (NaN, ``inv`` unset, when ``m`` is not
    positive definite). Used instead of ``np.linalg.inv``, which raises on matrices singular to machine
    precision (predictors on extreme scales) and has no place in a parallel loop."""
    n = m.shape[0]
    return _inverse_pd_into(m, inv, np.empty((n, n)), np.empty(n), np.empty(n))


@njit(cache=True, error_model="numpy")
def _inverse_pd_into(m, inv, lower, unit, col) -> float:
    """:func:`_inverse_pd` with scratch: ``lower`` ``(n, n)``, ``unit`` and ``col`` at least ``(n,)``."""
    n = m.shape[0]
    logdet = _cholesky(m, lower)
    if not math.isfinite(logdet):
        return logdet
    for j in range(n):
        unit[:n] = 0.0
        unit[j] = 1.0
        _solve_cholesky(lower, unit, col)
        for i in range(n):
            inv[i, j] = col[i]
    return logdet


# ------------------------------------------------------------------------------------------ the climb
@njit(cache=True, error_model="numpy")
def glm_start(x, y, btol):
    """phyloglm's start, as :func:`tacit.phyloglm._glm_start` (IRLS as R's ``glm.fit``); ``ok`` False when
    glm separates (phyloglm then starts from slopes 0)."""
    n, dk = x.shape
    mu = np.empty(n)
    eta = np.empty(n)
    size = np.empty(n)
    work = np.empty(n)
    at_zero = math.log(0.25 / (1.0 - 0.25))  # glm's mustart (y + 0.5) / 2 for y = 0 and 1: one logarithm each
    at_one = math.log(0.75 / (1.0 - 0.75))
    for i in range(n):
        mu[i] = (y[i] + 0.5) / 2.0
        eta[i] = at_zero if y[i] == 0.0 else at_one if y[i] == 1.0 else math.log(mu[i] / (1.0 - mu[i]))
    beta = np.zeros(dk)
    dev_old = _deviance(y, mu)
    xtwx = np.empty((dk, dk))
    xtwz = np.empty(dk)
    lower = np.empty((dk, dk))
    for _ in range(25):
        bad = _weighted_sums(x, y, mu, eta, xtwx, xtwz)
        if bad or not math.isfinite(_cholesky(xtwx, lower)):
            break
        _solve_cholesky(lower, xtwz, beta)
        for i in range(n):
            e = 0.0
            for a in range(dk):
                e += x[i, a] * beta[a]
            eta[i] = e
        _expit_with(eta, mu, size, work)
        dev = _deviance(y, mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-8:
            break
        dev_old = dev
    ok = True
    for a in range(dk):
        if not math.isfinite(beta[a]):
            ok = False
    if ok:
        for i in range(n):
            if not abs(eta[i]) < btol:
                ok = False
    return beta, ok


@njit(cache=True, error_model="numpy")
def _weighted_sums(x, y, mu, eta, xtwx, xtwz):
    """One IRLS step's ``X' W X`` and ``X' W z`` (``w = mu (1 - mu)``, ``z = eta + (y - mu) / w``) into
    ``xtwx`` and ``xtwz``; True where a weight is 0 (the step is not taken). One predictor (two columns) is
    written out with its sums in registers, in the same order of operations as the general loop."""
    n, dk = x.shape
    if dk == 2:
        s00 = 0.0
        s01 = 0.0
        s11 = 0.0
        z0 = 0.0
        z1 = 0.0
        for i in range(n):
            w = mu[i] * (1.0 - mu[i])
            if not w > 0.0:
                return True
            z = eta[i] + (y[i] - mu[i]) / w
            xw = x[i, 0] * w
            z0 += xw * z
            s00 += xw * x[i, 0]
            s01 += xw * x[i, 1]
            xw = x[i, 1] * w
            z1 += xw * z
            s11 += xw * x[i, 1]
        xtwx[0, 0] = s00
        xtwx[0, 1] = s01
        xtwx[1, 0] = s01
        xtwx[1, 1] = s11
        xtwz[0] = z0
        xtwz[1] = z1
        return False
    xtwx[:, :] = 0.0
    xtwz[:] = 0.0
    for i in range(n):
        w = mu[i] * (1.0 - mu[i])
        if not w > 0.0:
            return True
        z = eta[i] + (y[i] - mu[i]) / w
        for a in range(dk):
            xw = x[i, a] * w
            xtwz[a] += xw * z
            for b in range(a, dk):
                xtwx[a, b] += xw * x[i, b]
    for a in range(dk):
        for b in range(a):
            xtwx[a, b] = xtwx[b, a]
    return False


# run * factor >= 1e-280 * 1e-20 = 1e-300, within the normal range of doubles (2.2e-308)
_RUN_FLOOR = 1e-280
_FACTOR_FLOOR = 1e-20


@njit(cache=True, error_model="numpy")
def _deviance(y, mu):
    """The binomial deviance ``-2 sum log(m_i)`` (``m_i`` the probability of ``y_i``), with one logarithm per
    run of factors whose product stays above ``_RUN_FLOOR`` rather than one per species (the logarithms were
    most of :func:`glm_start`'s time); a factor below ``_FACTOR_FLOOR`` takes its own, so that no product
    leaves the normal range."""
    out = 0.0
    run = 1.0
    for i in range(len(y)):
        m = mu[i] if y[i] == 1.0 else 1.0 - mu[i]
        if not m > 0.0:
            return math.inf
        if m < _FACTOR_FLOOR:
            out -= 2.0 * math.log(m)
            continue
        run *= m
        if run < _RUN_FLOOR:
            out -= 2.0 * math.log(run)
            run = 1.0
    return out - 2.0 * math.log(run)


@njit(cache=True, error_model="numpy")
def _spread(theta, x, dk):
    """Largest ``|slope_j| * range(x_j)``: how far the slopes move the linear predictor across the data."""
    out = 0.0
    for j in range(1, dk):
        out = max(out, abs(theta[j]) * _column_range(x, j))
    return out


@njit(cache=True, error_model="numpy")
def _column_range(x, j):
    """``max - min`` of column ``j``."""
    lo = math.inf
    hi = -math.inf
    for i in range(x.shape[0]):
        lo = min(lo, x[i, j])
        hi = max(hi, x[i, j])
    return hi - lo


@njit(cache=True, error_model="numpy")
def _beyond_wall(theta, x, dk, btol):
    for i in range(x.shape[0]):
        e = 0.0
        for j in range(dk):
            e += x[i, j] * theta[j]
        if abs(e) > btol:
            return True
    return False


@njit(cache=True, error_model="numpy")
def _fitted(theta, x, mu):
    """Fill ``mu = expit(x beta)`` (``beta`` the first columns of ``theta``); returns ``p = mean(mu)``."""
    return _fitted_into(theta, x, mu, np.empty((3, x.shape[0])))


@njit(cache=True, error_model="numpy")
def _fitted_into(theta, x, mu, tmp):
    """:func:`_fitted` with scratch ``tmp`` ``(3, n)``."""
    n, dk = x.shape
    eta = tmp[0]
    for i in range(n):
        e = 0.0
        for j in range(dk):
            e += x[i, j] * theta[j]
        eta[i] = e
    return _expit_with(eta, mu, tmp[1], tmp[2]) / n


@njit(cache=True, error_model="numpy")
def _expit_with(eta, mu, size, work):
    """``mu = expit(eta)`` for arrays (as :func:`_expit`, by :func:`exp_scaled`); returns the sum of ``mu``.
    ``size`` and ``work`` (the length of ``eta``) are scratch."""
    n = eta.shape[0]
    for i in range(n):
        size[i] = abs(eta[i])
    exp_scaled(-1.0, size, mu, work)  # exp(-|eta|) in (0, 1]
    total = 0.0
    for i in range(n):
        e = mu[i]
        mu[i] = 1.0 / (1.0 + e) if eta[i] >= 0.0 else e / (1.0 + e)
        total += mu[i]
    return total


@njit(cache=True, error_model="numpy")
def _nearest_kinks(theta, x, dk):
    """The tip nearest its kink, its ``|mu_i - p|`` and the next tip's (:func:`_kinks_of` at ``theta``)."""
    mu = np.empty(x.shape[0])
    p = _fitted(theta, x, mu)
    return _kinks_of(mu, p)


@njit(cache=True, error_model="numpy")
def _kinks_of(mu, p):
    """Of fitted ``mu`` with mean ``p``: the tip nearest its kink ``mu_i = p``, its ``|mu_i - p|`` and the
    next tip's."""
    first, d1, d2 = -1, math.inf, math.inf
    for i in range(mu.shape[0]):
        d = abs(mu[i] - p)
        if d < d1:
            first, d1, d2 = i, d, d1
        elif d < d2:
            d2 = d
    return first, d1, d2


@njit(cache=True, error_model="numpy")
def _kink_gap(theta, x, i, mu):
    """``logit(mu_i) - logit(p)`` (zero on tip ``i``'s kink) and its derivative in the intercept
    ``1 - mean(mu (1 - mu)) / (p q)``, positive off the ridge; ``mu`` is filled."""
    n, dk = x.shape
    p = _fitted(theta, x, mu)
    q = 1.0 - p
    if not (p > 0.0 and q > 0.0):
        return math.nan, math.nan
    eta = 0.0
    for j in range(dk):
        eta += x[i, j] * theta[j]
    w = 0.0
    for t in range(n):
        w += mu[t] * (1.0 - mu[t])
    return eta - math.log(p / q), 1.0 - w / (n * p * q)


@njit(cache=True, error_model="numpy")
def _onto_kink(theta, x, i):
    """Move the intercept (``theta[0]``, the design's first column all 1) to put tip ``i`` on its kink, by
    Newton's method on :func:`_kink_gap` (increasing in the intercept) with halved steps; False when it
    cannot (``theta`` is then left as it was)."""
    mu = np.empty(x.shape[0])
    start = theta[0]
    gap, slope = _kink_gap(theta, x, i, mu)
    for _ in range(60):
        if not math.isfinite(gap) or not slope > 1e-12:
            break
        if abs(gap) <= KINK_GAP:
            return True
        at = theta[0]
        step = -gap / slope
        for _half in range(40):
            theta[0] = at + step
            new_gap, new_slope = _kink_gap(theta, x, i, mu)
            if math.isfinite(new_gap) and abs(new_gap) < abs(gap):
                break
            step *= 0.5
        else:
            break
        gap, slope = new_gap, new_slope
    theta[0] = start
    return False


@njit(cache=True, error_model="numpy")
def _along_kink(g, theta, x, i):
    """Turn the gradient ``g`` at a point on tip ``i``'s kink into that of the likelihood along the kink, as
    a function of the coordinates but the intercept (which :func:`_onto_kink` sets): ``g[0] = 0``."""
    dk = x.shape[1]
    normal = _kink_normal(theta, x, i)
    for j in range(1, dk):
        g[j] -= g[0] * normal[j] / normal[0]
    g[0] = 0.0


@njit(cache=True, error_model="numpy")
def _kink_normal(theta, x, i):
    """Gradient of :func:`_kink_gap` in ``beta``: ``x_i - sum_t mu_t (1 - mu_t) x_t / (n p q)``."""
    n, dk = x.shape
    mu = np.empty(n)
    p = _fitted(theta, x, mu)
    scale = 1.0 / (n * p * (1.0 - p))
    out = np.empty(dk)
    for j in range(dk):
        out[j] = x[i, j]
    for t in range(n):
        w = mu[t] * (1.0 - mu[t]) * scale
        for j in range(dk):
            out[j] -= w * x[t, j]
    return out


@njit(cache=True, error_model="numpy")
def _projected_gradient(g, theta, free, lo, hi):
    """Largest gradient component on the free coordinates, but ``log(1/alpha)`` pushing out of its bounds."""
    dk = len(theta) - 1
    out = 0.0
    for k in range(len(theta)):
        if not free[k]:
            continue
        if k == dk and ((theta[k] <= lo and g[k] < 0.0) or (theta[k] >= hi and g[k] > 0.0)):
            continue
        out = max(out, abs(g[k]))
    return out


@njit(cache=True, inline="always", error_model="numpy")
def _value_gradient(row_tip, tip_row, length, age, parent_of, x, y, theta, g, info, work_part, work_acc, force,
                    on_ridge, state):
    """Penalised log-likelihood and gradient: by :func:`evaluate_ridge` when every slope is held at 0 (the
    branch ``force`` plays no part there: every tip sits on its kink), else by :func:`evaluate`. Returns
    ``(penalised, loglik)``; ``loglik`` (and ``info``) only off the ridge, else NaN (and untouched)."""
    if on_ridge:
        return _evaluate_ridge_in(row_tip, tip_row, length, age, parent_of, x, y, theta, g, work_part, work_acc,
                                  state), math.nan
    return _evaluate_in(row_tip, tip_row, length, age, parent_of, x, y, theta, True, g, info, work_part, work_acc,
                        force, state)


@njit(cache=True, inline="always", error_model="numpy")
def _keep_point(last, info, loglik):
    """``last`` ``(dk + 1, dk)``: the Fisher information at the climb's point in its first ``dk`` rows, the
    log-likelihood in ``[dk, 0]``."""
    dk = info.shape[0]
    for a in range(dk):
        for b in range(dk):
            last[a, b] = info[a, b]
    last[dk, 0] = loglik


@njit(cache=True, error_model="numpy")
def climb(row_tip, tip_row, length, age, parent_of, x, y, theta, free, lo, hi, btol, stop_at_ridge,
          work_part, work_acc, force, h, last, on_ridge=False, kink=-1, kink_stop=0, target=-math.inf):
    """Projected BFGS ascent of the penalised log-likelihood over the coordinates ``free`` of ``theta``.

    ``log(1/alpha)`` (the last coordinate) stays in ``[lo, hi]``; a trial beyond ``|x beta| = btol`` counts
    as infeasible. ``h`` ``(dk + 1, dk + 1)`` is the inverse-curvature estimate: all zero to start with a
    unit step along the gradient (as L-BFGS-B), else used as given; it holds the final estimate on return.
    With ``kink`` a tip (and the intercept not free), the climb stays on that tip's kink ``mu_i = p``: each
    point's intercept is set to put it there (:func:`_onto_kink`) and the gradient is taken along the kink
    (:func:`_along_kink`); ``force`` must hold the tip on one side (on the kink both give the same value).
    With ``kink_stop`` > 0, the climb stops (``KINK_STALL``) once that many accepted points in a row have
    the same tip within ``KINK_ON`` of its kink: it has begun to zigzag across a kink, which takes it many
    evaluations to the same stall (the caller climbs along that kink instead).
    With a finite ``target``, the climb stops (``BELOW_TARGET``) once its curvature estimate says that its
    maximum stays below ``target`` (see ``TARGET_SAFETY``): the caller needs no more than that.
    ``last`` ``(dk + 1, dk)`` receives the Fisher information and log-likelihood at the returned point
    (:func:`_keep_point`; off the ridge), which then need no evaluation of their own.
    Returns ``(code, value, n_evaluations)``; ``theta`` holds the last point.
    """
    dk = x.shape[1]
    kd = dk + 1
    info = np.empty((dk, dk))
    g = np.zeros(kd)
    g_new = np.zeros(kd)
    trial = np.empty(kd)
    state = _new_state(x.shape[0], age.shape[0], dk)
    value, loglik = _value_gradient(row_tip, tip_row, length, age, parent_of, x, y, theta, g, info, work_part,
                                    work_acc, force, on_ridge, state)
    _keep_point(last, info, loglik)
    n_eval = 1
    if not math.isfinite(value):
        return NOT_FINITE, value, n_eval
    if kink >= 0:
        _along_kink(g, theta, x, kink)
    gnorm = 0.0
    for k in range(kd):
        if free[k]:
            gnorm += g[k] * g[k]
    scaled = h[0, 0] != 0.0 or h[kd - 1, kd - 1] != 0.0
    if not scaled:  # first step of unit length along the gradient, as L-BFGS-B's first iteration
        h[:, :] = np.eye(kd) / max(math.sqrt(gnorm), 1e-300)
    wall_hits = 0
    direction = np.zeros(kd)
    s = np.empty(kd)  # the step taken
    yv = np.empty(kd)  # the change of the gradient of -F, the function minimised
    streak = 0
    streak_tip = -1
    agree = 0  # points in a row where the estimate says the target is out of reach (and was right before)
    last_step = 0.0
    last_ratio = math.nan  # gain of the step to this point over the estimate's prediction for it
    for _ in range(MAX_ITER):
        # Active bound on log(1/alpha): fixed while the gradient pushes out of [lo, hi].
        lam_fixed = (theta[dk] <= lo and g[dk] < 0.0) or (theta[dk] >= hi and g[dk] > 0.0)
        if _projected_gradient(g, theta, free, lo, hi) < PGTOL:
            return SETTLED, value, n_eval
        # Ascent direction h g on the free, inactive coordinates.
        slope = 0.0
        for a in range(kd):
            direction[a] = 0.0
            if not free[a] or (a == dk and lam_fixed):
                continue
            for b in range(kd):
                if free[b] and not (b == dk and lam_fixed):
                    direction[a] += h[a, b] * g[b]
            slope += direction[a] * g[a]
        if last_step == 1.0 and TARGET_RATIO[0] <= last_ratio <= TARGET_RATIO[1] and slope > 0.0 and \
                value + TARGET_SAFETY * 0.5 * slope < target - TARGET_MARGIN * max(1.0, abs(target)):
            agree += 1
            if agree >= TARGET_AGREE:
                return BELOW_TARGET, value, n_eval
        else:
            agree = 0
        if not slope > 0.0:  # not an ascent direction: restart from the gradient
            h[:, :] = np.eye(kd)
            scaled = False
            for a in range(kd):
                direction[a] = g[a] if free[a] and not (a == dk and lam_fixed) else 0.0
        step = 1.0
        accepted = False
        for _ls in range(60):
            for a in range(kd):
                trial[a] = theta[a] + step * direction[a]
            trial[dk] = min(max(trial[dk], lo), hi)
            if kink >= 0 and not _onto_kink(trial, x, kink):
                step *= 0.5
                continue
            if _beyond_wall(trial, x, dk, btol):  # phyloglm's wall: an infeasible trial, step back
                wall_hits += 1
                if wall_hits >= WALL_HITS:
                    return AT_WALL, value, n_eval
                step *= 0.5
                continue
            if on_ridge:
                new_value = _evaluate_ridge_in(row_tip, tip_row, length, age, parent_of, x, y, trial, g_new,
                                               work_part, work_acc, state)
                loglik = math.nan
            else:  # the value first: the gradient only if the step is taken
                new_value, loglik = evaluate_kept(row_tip, tip_row, length, age, parent_of, x, y, trial, info,
                                                  work_part, work_acc, force, state)
            n_eval += 1
            gain = 0.0
            for a in range(kd):
                gain += g[a] * (trial[a] - theta[a])
            if math.isfinite(new_value) and new_value >= value + 1e-4 * gain:
                accepted = True
                _keep_point(last, info, loglik)
                if not on_ridge:
                    gradient_kept(row_tip, tip_row, length, age, parent_of, x, y, g_new, work_part, work_acc, state)
                if kink >= 0:
                    _along_kink(g_new, trial, x, kink)
                break
            step *= 0.5
        if not accepted:  # no step gains beyond rounding: stationary or stuck
            return (SETTLED if _projected_gradient(g, theta, free, lo, hi) < STATIONARY else NOT_CONVERGED), \
                value, n_eval
        predicted = step * slope - 0.5 * step * step * slope  # the estimate's quadratic model along direction
        last_ratio = (new_value - value) / predicted if predicted > 0.0 else math.nan
        last_step = step
        for a in range(kd):
            s[a] = trial[a] - theta[a]
            yv[a] = g[a] - g_new[a]
        for a in range(kd):
            if not free[a] or (a == dk and lam_fixed):
                # Fixed coordinates carry no curvature information; nor does log(1/alpha) held at its bound
                # (its gradient still changes with beta, which would shrink and skew the estimate along beta).
                # (Only on a kink does a coordinate that is not free move: the intercept that follows it.)
                yv[a] = 0.0
                s[a] = 0.0
        sy = 0.0
        yy = 0.0
        ss = 0.0
        for a in range(kd):
            sy += s[a] * yv[a]
            yy += yv[a] * yv[a]
            ss += s[a] * s[a]
        old = value
        for a in range(kd):
            theta[a] = trial[a]
            g[a] = g_new[a]
        value = new_value
        if stop_at_ridge and _spread(theta, x, dk) < RIDGE_NEAR:
            return START_ON_RIDGE, value, n_eval
        if kink_stop > 0:  # the evaluation of this point left its mu and p in state
            tip, gap, _ = _kinks_of(state[0], state[6][0])
            if not gap < KINK_ON:
                streak = 0
            else:
                streak = streak + 1 if tip == streak_tip else 1
                streak_tip = tip
                if streak >= kink_stop:
                    return KINK_STALL, value, n_eval
        if sy > 1e-10 * math.sqrt(ss * yy):  # curvature condition, else keep h
            if not scaled:
                h[:, :] = np.eye(kd) * (sy / yy)
                scaled = True
            hy = h @ yv
            yhy = 0.0
            for a in range(kd):
                yhy += yv[a] * hy[a]
            for a in range(kd):
                for b in range(kd):
                    h[a, b] += ((sy + yhy) * s[a] * s[b] / (sy * sy) - (hy[a] * s[b] + s[a] * hy[b]) / sy)
        if abs(value - old) <= FTOL * max(abs(value), abs(old), 1.0):
            return (SETTLED if _projected_gradient(g, theta, free, lo, hi) < STATIONARY else NOT_CONVERGED), \
                value, n_eval
    return NOT_CONVERGED, value, n_eval


@njit(cache=True, error_model="numpy")
def _ridge_start(theta, btol):
    """The point of the ridge slopes = 0 below ``theta`` (intercept kept within ``btol``)."""
    ridge = np.zeros(len(theta))
    ridge[0] = min(max(theta[0], -btol), btol)
    ridge[-1] = theta[-1]
    return ridge


@njit(cache=True, error_model="numpy")
def _below_on_ridge(theta, h, btol, lo, hi):
    """Where the climb's quadratic model at an interior point ``theta`` puts the top of the ridge slopes = 0,
    and its curvature estimate there: with ``h`` the model's inverse curvature, the point that maximises the
    model with the slopes ``s`` held at 0 is ``theta_f - h_fs h_ss^-1 theta_s`` for the free coordinates
    ``f`` (intercept, ``log(1/alpha)``; kept within ``btol`` and ``[lo, hi]``), and the estimate along them is
    ``h_ff - h_fs h_ss^-1 h_sf``. Returns ``(point, estimate)`` (``_ridge_start`` and ``h`` itself where
    ``h_ss`` is not positive definite). The ridge's climb starts from there rather than from below ``theta``:
    on Brownian responses it then takes 0.6 (241 species) to 1.2 (38) fewer evaluations."""
    kd = len(theta)
    dk = kd - 1
    m = dk - 1
    point = _ridge_start(theta, btol)
    estimate = h.copy()
    hss = np.empty((m, m))
    for a in range(m):
        for b in range(m):
            hss[a, b] = h[1 + a, 1 + b]
    inv = np.empty((m, m))
    if not math.isfinite(_inverse_pd(hss, inv)):
        return point, estimate
    free = (0, dk)
    for f in free:
        shift = 0.0
        for a in range(m):
            for b in range(m):
                shift += h[f, 1 + a] * inv[a, b] * theta[1 + b]
        point[f] = theta[f] - shift
        for g in free:
            v = h[f, g]
            for a in range(m):
                for b in range(m):
                    v -= h[f, 1 + a] * inv[a, b] * h[1 + b, g]
            estimate[f, g] = v
    point[0] = min(max(point[0], -btol), btol)
    point[dk] = min(max(point[dk], lo), hi)
    return point, estimate


@njit(cache=True, error_model="numpy")
def _climb_ridge(row_tip, tip_row, length, age, parent_of, x, y, ridge, lo, hi, btol, work_part, work_acc, force,
                 h_main, target=-math.inf):
    """:func:`climb` over (intercept, log(1/alpha)) with every slope held at 0, starting from the main
    climb's curvature estimate ``h_main`` in those two coordinates (the surface there is much the same);
    with a finite ``target``, it may stop (``BELOW_TARGET``) once it is clear that it stays below it."""
    kd = len(ridge)
    free = np.zeros(kd, dtype=np.bool_)
    free[0] = True
    free[-1] = True
    h = np.zeros((kd, kd))
    for a in (0, kd - 1):
        for b in (0, kd - 1):
            h[a, b] = h_main[a, b]
    if not (h[0, 0] > 0.0 and h[kd - 1, kd - 1] > 0.0 and h[0, 0] * h[kd - 1, kd - 1] > h[0, kd - 1] ** 2):
        h[:, :] = 0.0  # not positive definite: start afresh
    return climb(row_tip, tip_row, length, age, parent_of, x, y, ridge, free, lo, hi, btol, False, work_part,
                 work_acc, force, h, np.empty((kd, kd - 1)), True, -1, 0, target)


@njit(cache=True, error_model="numpy")
def _climb_kink(row_tip, tip_row, length, age, parent_of, x, y, theta, value, tip, lo, hi, btol, work_part,
                work_acc, last):
    """Where the climb stalled on tip ``tip``'s kink ``mu_i = p``: the maximum along that kink, kept (in
    ``theta``, its information and log-likelihood in ``last`` as :func:`climb` keeps them) only when it is at
    least as high, no other tip is within ``KINK_MARGIN`` of its kink and the likelihood falls on both sides
    of the kink (``tacit.phyloglm._polish`` and ``_leave_kink``). Returns ``(kept, value, n_evaluations)``."""
    n, dk = x.shape
    kd = dk + 1
    mu = np.empty(n)
    p = _fitted(theta, x, mu)
    force = np.full(n, -1, dtype=np.int8)
    force[tip] = 1 if mu[tip] < p else 0  # either side: on the kink both pieces agree
    point = theta.copy()
    if not _onto_kink(point, x, tip):
        return False, value, 0
    free = np.ones(kd, dtype=np.bool_)
    free[0] = False
    h = np.zeros((kd, kd))
    code, on_kink, used = climb(row_tip, tip_row, length, age, parent_of, x, y, point, free, lo, hi, btol, False,
                                work_part, work_acc, force, h, np.empty((kd, dk)), False, tip)
    if code != SETTLED or not on_kink >= value - KINK_LOSS * max(1.0, abs(value)):
        return False, value, used
    _, _, next_gap = _nearest_kinks(point, x, dk)
    if not next_gap >= KINK_MARGIN:
        return False, value, used
    # Both sides: one-sided slopes over PROBE along the kink's unit normal, each side on its own piece.
    force[tip] = -1
    g = np.zeros(kd)
    base_info = np.empty((dk, dk))
    base, base_loglik = evaluate(row_tip, tip_row, length, age, parent_of, x, y, point, False, g, base_info,
                                 work_part, work_acc, force)
    info = np.empty((dk, dk))
    normal = _kink_normal(point, x, tip)
    size = math.sqrt(np.sum(normal * normal))
    probe = np.empty(kd)
    for sign in (1.0, -1.0):
        probe[:] = point
        for j in range(dk):
            probe[j] += sign * PROBE * normal[j] / size
        side, _ = evaluate(row_tip, tip_row, length, age, parent_of, x, y, probe, False, g, info, work_part,
                           work_acc, force)
        used += 1
        if not (side - base) / PROBE <= RISE:
            return False, value, used + 1
    theta[:] = point
    _keep_point(last, base_info, base_loglik)
    return True, base, used + 1


@njit(cache=True, error_model="numpy")
def fit_one(row_tip, tip_row, length, age, parent_of, x, y, lo, hi, lam0, btol, theta_out, se_out, work_part,
            work_acc):
    """Fit one data set; returns ``(code, penalised, loglik, n_evaluations)`` and fills ``theta_out``
    (``beta``, ``log(1/alpha)``) and ``se_out`` when settled."""
    dk = x.shape[1]
    kd = dk + 1
    beta, ok = glm_start(x, y, btol)
    force = np.full(x.shape[0], -1, dtype=np.int8)
    theta = np.empty(kd)
    theta[:dk] = beta
    theta[dk] = lam0
    if not ok or _spread(theta, x, dk) == 0.0:
        return START_ON_RIDGE, math.nan, math.nan, 0
    free = np.ones(kd, dtype=np.bool_)
    h = np.zeros((kd, kd))
    last = np.empty((kd, dk))  # the information and log-likelihood at the climb's point
    code, value, n_eval = climb(row_tip, tip_row, length, age, parent_of, x, y, theta, free, lo, hi, btol, True,
                                work_part, work_acc, force, h, last, False, -1, KINK_STOP)
    on_kink = False
    kink_gap = math.inf
    if code == KINK_STALL:  # zigzagging across a kink: its maximum along the kink, else climb on
        tip, _, _ = _nearest_kinks(theta, x, dk)
        on_kink, value, used = _climb_kink(row_tip, tip_row, length, age, parent_of, x, y, theta, value, tip, lo,
                                           hi, btol, work_part, work_acc, last)
        n_eval += used
        if on_kink:
            code = SETTLED
        else:
            code, value, used = climb(row_tip, tip_row, length, age, parent_of, x, y, theta, free, lo, hi, btol,
                                      True, work_part, work_acc, force, h, last)
            n_eval += used
    if not on_kink and (code == NOT_CONVERGED or code == SETTLED):
        tip, kink_gap, _ = _nearest_kinks(theta, x, dk)
        if kink_gap < KINK_ON:  # stalled on that tip's kink
            on_kink, value, used = _climb_kink(row_tip, tip_row, length, age, parent_of, x, y, theta, value, tip,
                                               lo, hi, btol, work_part, work_acc, last)
            n_eval += used
            if on_kink:
                code = SETTLED
    if code == START_ON_RIDGE:
        # The climb heads for the ridge slopes = 0: maximise on it over (intercept, log(1/alpha)) and keep
        # that point when it is higher and no side of it rises (tacit.phyloglm._maximise's first branch).
        ridge = _ridge_start(theta, btol)
        code2, ridge_value, used = _climb_ridge(row_tip, tip_row, length, age, parent_of, x, y, ridge, lo, hi, btol,
                                                work_part, work_acc, force, h)
        n_eval += used
        if code2 != SETTLED or not ridge_value >= value:
            return START_ON_RIDGE, math.nan, math.nan, n_eval
        info = np.empty((dk, dk))
        g = np.zeros(kd)
        # The probes below measure slopes of 1e-6 over steps of 1e-7: their base must come from the same
        # evaluation as theirs (evaluate_ridge equals it only to rounding). It is also the fit's evaluation.
        ridge_value, loglik = evaluate(row_tip, tip_row, length, age, parent_of, x, y, ridge, False, g, info,
                                       work_part, work_acc, force)
        _keep_point(last, info, loglik)
        n_eval += 1
        probe = ridge.copy()
        for j in range(1, dk):
            for sign in (1.0, -1.0):
                probe[:] = ridge
                probe[j] = sign * PROBE / _column_range(x, j)
                side, _ = evaluate(row_tip, tip_row, length, age, parent_of, x, y, probe, False, g, info,
                                   work_part, work_acc, force)
                n_eval += 1
                if (side - ridge_value) / PROBE > RISE:
                    return RIDGE_NOT_MAX, math.nan, math.nan, n_eval
        theta[:] = ridge
        value = ridge_value
    elif code != SETTLED:
        return code, math.nan, math.nan, n_eval
    elif not on_kink and kink_gap < KINK_MARGIN:  # theta is unchanged unless on_kink
        return AT_KINK, math.nan, math.nan, n_eval
    elif _beyond_wall(theta, x, dk, btol - WALL_MARGIN):
        return AT_WALL, math.nan, math.nan, n_eval
    else:
        # Only whether the ridge's maximum reaches this one matters: its climb may stop once it cannot.
        ridge, h_ridge = _below_on_ridge(theta, h, btol, lo, hi)
        _, ridge_value, used = _climb_ridge(row_tip, tip_row, length, age, parent_of, x, y, ridge, lo, hi, btol,
                                            work_part, work_acc, force, h_ridge, value)
        n_eval += used
        if not ridge_value < value:
            return RIDGE_HIGHER, math.nan, math.nan, n_eval
    # The fit's evaluation at theta is the last one kept there (by the climb, the climb along a kink or the
    # ridge's base): the same operations as evaluating it again.
    penalised = value
    loglik = last[dk, 0]
    info = last[:dk].copy()
    if not math.isfinite(penalised):
        return NOT_FINITE, math.nan, math.nan, n_eval
    inv = np.empty((dk, dk))
    if not math.isfinite(_inverse_pd(info, inv)):
        return NOT_FINITE, math.nan, math.nan, n_eval
    for a in range(dk):
        se_out[a] = math.sqrt(inv[a, a])
    theta_out[:] = theta
    return SETTLED, penalised, loglik, n_eval


@njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def fit_pairs(row_tip, tip_row, length, age, parent_of, xs, ys, covariates, pairs, lo, hi, lam0, btol,
              theta_out, se_out, code_out, value_out, n_eval_out):
    """:func:`fit_one` for each ``(predictor row, response row)`` in ``pairs``, in parallel.

    ``xs`` ``(m, n)`` predictors, ``ys`` ``(r, n)`` responses, ``covariates`` ``(n, c)`` (``c`` may be 0);
    outputs per pair: ``theta_out`` ``(P, dk + 1)``, ``se_out`` ``(P, dk)``, ``code_out``, ``value_out``
    ``(P, 2)`` (penalised, loglik), ``n_eval_out``.
    """
    n = xs.shape[1]
    c = covariates.shape[1]
    dk = 2 + c
    rows = age.shape[0]
    for t in prange(pairs.shape[0]):
        design = np.empty((n, dk))
        for i in range(n):
            design[i, 0] = 1.0
            design[i, 1] = xs[pairs[t, 0], i]
            for j in range(c):
                design[i, 2 + j] = covariates[i, j]
        work_part, work_acc = _workspace(rows, dk)
        code, pen, ll, used = fit_one(row_tip, tip_row, length, age, parent_of, design, ys[pairs[t, 1]], lo, hi,
                                      lam0, btol, theta_out[t], se_out[t], work_part, work_acc)
        code_out[t] = code
        value_out[t, 0] = pen
        value_out[t, 1] = ll
        n_eval_out[t] = used

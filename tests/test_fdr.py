import numpy as np
from statsmodels.stats.multitest import multipletests

from tacit.fdr import benjamini_hochberg


def test_bh_matches_statsmodels_and_ignores_nan():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(size=200), rng.uniform(0, 1e-3, size=20)])
    expected = multipletests(p, method="fdr_bh")[1]
    with_nan = np.concatenate([p, [np.nan, np.nan]])
    q = benjamini_hochberg(with_nan)
    np.testing.assert_allclose(q[:-2], expected, rtol=1e-12)
    assert np.isnan(q[-2:]).all()


def test_bh_empty():
    assert benjamini_hochberg(np.array([np.nan])).shape == (1,)

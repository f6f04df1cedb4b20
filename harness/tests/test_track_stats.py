"""tk-track statistics against scipy on known data (harness/track/stats.py)."""
import random

import pytest

from track import stats as ST

import scipy.stats as scipy_stats      # python3-scipy, installed by ci/deps


@pytest.mark.parametrize("seed", range(40))
def test_mann_whitney_matches_scipy(seed):
    rng = random.Random(seed)
    n1, n2 = rng.randint(1, 15), rng.randint(1, 15)
    digits = rng.choice([0, 1, 4])      # 0 digits: many ties (asymptotic with tie correction)
    x = [round(rng.gauss(0, 1), digits) for _ in range(n1)]
    y = [round(rng.gauss(rng.choice([0, 0.7, 2]), 1), digits) for _ in range(n2)]
    ours = ST.mann_whitney(x, y)
    ref = scipy_stats.mannwhitneyu(x, y, alternative="two-sided")
    assert ours["u"] == pytest.approx(ref.statistic, abs=1e-9)
    assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-12)


def test_mann_whitney_known_values():
    # fully separated samples of 5: exact p = 2 / C(10, 5)
    r = ST.mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert r["method"] == "exact" and r["p"] == pytest.approx(2 / 252)
    assert ST.mann_whitney([1, 1, 1], [1, 1, 1])["p"] == 1.0
    with pytest.raises(ValueError):
        ST.mann_whitney([], [1])


def test_min_samples():
    assert ST.min_samples(0.01) == 5      # 2/252 < 0.01 <= 2/70
    assert ST.min_samples(0.05) == 4
    assert ST.min_samples(0.002) == 7    # 2/924 > 0.002


def test_bootstrap_ci_covers_true_ratio_and_is_seeded():
    rng = random.Random(7)
    base = [100 + rng.gauss(0, 2) for _ in range(30)]
    head = [110 + rng.gauss(0, 2) for _ in range(30)]
    ci = ST.bootstrap_ratio_ci(base, head)
    assert ci[0] < 1.10 < ci[1] and ci[1] - ci[0] < 0.05
    assert ST.bootstrap_ratio_ci(base, head) == ci
    same = ST.bootstrap_ratio_ci(base, base)
    assert same[0] <= 1.0 <= same[1]


def test_ranks_average_ties():
    assert ST.ranks([3, 1, 3, 2]) == [3.5, 1.0, 3.5, 2.0]

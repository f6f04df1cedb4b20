"""Statistics of the noisy metrics, standard library only (tested against
scipy in harness/tests/test_track_stats.py, so tk-track runs without scipy).

  mann_whitney(x, y)      two-sided Mann-Whitney U test: exact distribution
                          when a side has <= 8 samples and there are no ties (as scipy's
                          method="auto"), else the normal approximation with
                          tie and continuity correction
  bootstrap_ratio_ci()    percentile bootstrap of median(head)/median(base)
  min_samples(alpha)      samples per side below which no difference can
                          reach p < alpha (the "noisy" verdict says so)
"""

import math
import random
import statistics


def ranks(values):
    """Average ranks (1-based), ties share the mean of their positions."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    r = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        avg = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            r[order[k]] = avg
        i = j + 1
    return r


def _u_counts(n1, n2):
    """Number of arrangements giving each U statistic value 0..n1*n2 (no ties)."""
    # f[i][j][u] via the recurrence f(i,j,u) = f(i-1,j,u-j) + f(i,j-1,u)
    prev = [[1] + [0] * (n1 * n2) for _ in range(n2 + 1)]   # i = 0: only u = 0
    for i in range(1, n1 + 1):
        cur = [[0] * (n1 * n2 + 1) for _ in range(n2 + 1)]
        cur[0][0] = 1
        for j in range(1, n2 + 1):
            for u in range(i * j + 1):
                a = prev[j][u - j] if u >= j else 0
                b = cur[j - 1][u]
                cur[j][u] = a + b
        prev = cur
    return prev[n2]


def mann_whitney(x, y):
    """Two-sided Mann-Whitney U test of x vs y.  Returns
    {"u": U of x, "p": p-value, "method": "exact"|"asymptotic"}."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("mann_whitney needs at least one value on each side")
    r = ranks(list(x) + list(y))
    r1 = sum(r[:n1])
    u1 = r1 - n1 * (n1 + 1) / 2.0
    u2 = n1 * n2 - u1
    ties = len(set(list(x) + list(y))) != n1 + n2
    if not ties and (n1 <= 8 or n2 <= 8):
        counts = _u_counts(n1, n2)
        total = sum(counts)
        umax = max(u1, u2)
        k = int(round(umax))
        p = 2.0 * sum(counts[k:]) / total
        return {"u": u1, "p": min(1.0, p), "method": "exact"}
    n = n1 + n2
    mu = n1 * n2 / 2.0
    tie_term = 0.0
    for v in set(r):
        t = r.count(v)
        tie_term += t ** 3 - t
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if var <= 0:
        return {"u": u1, "p": 1.0, "method": "asymptotic"}
    z = (max(u1, u2) - mu - 0.5) / math.sqrt(var)
    p = 2.0 * (1.0 - statistics.NormalDist().cdf(z))
    return {"u": u1, "p": max(0.0, min(1.0, p)), "method": "asymptotic"}


def min_samples(alpha):
    """Smallest n (equal sides) whose exact two-sided Mann-Whitney test can
    reach p < alpha at all: 2 / C(2n, n) < alpha."""
    n = 1
    while 2.0 / math.comb(2 * n, n) >= alpha:
        n += 1
    return n


def bootstrap_ratio_ci(base, head, level=0.95, resamples=2000, seed=1):
    """Percentile bootstrap confidence interval of median(head)/median(base).
    Seeded: the same samples give the same interval."""
    if not base or not head:
        return None
    rng = random.Random(seed)
    out = []
    for _ in range(resamples):
        b = statistics.median(rng.choices(base, k=len(base)))
        h = statistics.median(rng.choices(head, k=len(head)))
        if b > 0:
            out.append(h / b)
    if not out:
        return None
    out.sort()
    lo = out[int(math.floor((1 - level) / 2 * (len(out) - 1)))]
    hi = out[int(math.ceil((1 + level) / 2 * (len(out) - 1)))]
    return [lo, hi]


def rel_change(base, head):
    """(head - base) / base, or None when base is 0 and head is not."""
    if base == 0:
        return 0.0 if head == 0 else None
    return (head - base) / abs(base)

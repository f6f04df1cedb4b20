"""Measures of tk-bench runs and their repetitions: run order, counters, throughput,
body tier mix, spread and ratios.
Pure logic (no processes, no files); harness/reproduce.py does the I/O."""

import math
import statistics


def alternating_order(strategies, reps):
    """ABCDE ABCDE ...: every repetition runs each strategy once, in the same
    order, so slow drifts of the host hit all strategies alike."""
    if reps < 1:
        raise ValueError("reps must be >= 1")
    if not strategies:
        raise ValueError("no strategies")
    return [(rep, s) for rep in range(reps) for s in strategies]


# ---- counters ----------------------------------------------------------------------
def counter(run, name, part="total"):
    """Counter value from one tk-bench strategy object; 0 when absent."""
    c = run.get("counters", {}).get(name)
    if c is None:
        return 0
    if part == "total":
        return c.get("total", c.get("nonfinal", 0) + c.get("final", 0))
    return c.get(part, 0)


def mean_counters(runs):
    """Per-counter mean (nonfinal, final, total) over several runs."""
    names = []
    for r in runs:
        for n in r.get("counters", {}):
            if n not in names:
                names.append(n)
    out = {}
    for n in names:
        nf = [counter(r, n, "nonfinal") for r in runs]
        fi = [counter(r, n, "final") for r in runs]
        out[n] = {
            "nonfinal": statistics.fmean(nf) if nf else 0.0,
            "final": statistics.fmean(fi) if fi else 0.0,
            "total": statistics.fmean([a + b for a, b in zip(nf, fi)]) if nf else 0.0,
        }
    return out


def measured_rps(run):
    """Throughput over both measured windows (measured + measured2)."""
    req = 0
    ms = 0.0
    for ph in ("measured", "measured2"):
        p = run.get("phases", {}).get(ph)
        if p and p.get("duration_ms"):
            req += p.get("requests", 0)
            ms += p["duration_ms"]
    return req * 1000.0 / ms if ms > 0 else 0.0


def deterministic_counters(run):
    """Counters that must repeat exactly in deterministic mode: everything
    except measured times (names ending in _ns or _us)."""
    return {k: v for k, v in run.get("counters", {}).items()
            if not (k.endswith("_ns") or k.endswith("_us"))}


def window_rates(run, phases=("measured", "measured2")):
    """Per-window requests/s inside the measured phases."""
    w = run.get("windows") or {}
    rates = w.get("requests_per_s") or []
    labels = w.get("phase") or []
    return [r for r, p in zip(rates, labels) if p in phases]


def measured_bodies(run, phases=("measured", "measured2")):
    """Body executions by tier and owning-slot calls over the measured
    phases (tk-bench `calls_by_tier`, `owning_slot_calls`); None if absent."""
    t0 = ti = fi = own = 0
    seen = False
    for ph in phases:
        p = run.get("phases", {}).get(ph) or {}
        c = p.get("calls_by_tier")
        if c is None:
            continue
        seen = True
        t0 += c.get("tier0", 0)
        ti += c.get("tier0instr", 0)
        fi += c.get("final", 0)
        own += p.get("owning_slot_calls", 0)
    tot = t0 + ti + fi
    if not seen or tot == 0:
        return None
    return {"tier0_pct": t0 * 100.0 / tot, "tier0instr_pct": ti * 100.0 / tot,
            "final_pct": fi * 100.0 / tot, "owning_slot_pct": own * 100.0 / tot}


def relative_sem_pct(values):
    """Standard error of the mean, in percent of the mean (None if < 2)."""
    vals = [v for v in values if v is not None]
    if len(vals) < 2:
        return None
    m = statistics.fmean(vals)
    if not m:
        return None
    return statistics.stdev(vals) / math.sqrt(len(vals)) / m * 100.0


def central(rps):
    """The throughput figure compared: the median over repetitions (robust
    to one disturbed run on a shared 2-core host), else the mean."""
    m = rps.get("median")
    return m if m is not None else rps.get("mean")


def iqr_pct(values):
    """Interquartile range in percent of the median (None for < 4 values)."""
    vals = sorted(v for v in values if v is not None)
    if len(vals) < 4:
        return None
    q = statistics.quantiles(vals, n=4, method="inclusive")
    med = statistics.median(vals)
    return (q[2] - q[0]) / med * 100.0 if med else None


def ratio(value, base):
    if base is None or value is None:
        return None
    if base == 0:
        return None if value != 0 else 1.0
    return value / base


def spread_pct(values):
    """(max - min) / mean in percent; None for fewer than two values."""
    vals = [v for v in values if v is not None]
    if len(vals) < 2:
        return None
    m = statistics.fmean(vals)
    return (max(vals) - min(vals)) / m * 100.0 if m else None

__all__ = ['alternating_order', 'central', 'counter', 'deterministic_counters', 'iqr_pct', 'mean_counters', 'measured_bodies', 'measured_rps', 'ratio', 'relative_sem_pct', 'spread_pct', 'window_rates']

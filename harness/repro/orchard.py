"""orchard-like: throughput ratios against forwarder, the regression verdict and the
counters that explain it; why the as-merged row differs.
Pure logic (no processes, no files); harness/reproduce.py does the I/O."""

import math
import statistics

from .published import (AS_MERGED, ORCHARD_EXPLAIN_COUNTERS, PUBLISHED, REGRESSION_FLAG_PCT,
                        TIERING_COUNTERS)
from .runs import (central, iqr_pct, mean_counters, measured_bodies, measured_rps, ratio,
                   relative_sem_pct, spread_pct, window_rates)
from .steady_time import tts_text
from .tables import fmt_num, fmt_ratio


def orchard_summary(runs_by_strategy, baseline="forwarder"):
    """runs_by_strategy: strategy -> list of tk-bench strategy objects (one
    per repetition).  Returns per-strategy aggregates and ratios."""
    agg = {}
    for s, runs in runs_by_strategy.items():
        rps = [measured_rps(r) for r in runs]
        mc = mean_counters(runs)
        threads = runs[0].get("threads", 1) if runs else 1
        dur_ms = statistics.fmean(
            sum((r.get("phases", {}).get(ph) or {}).get("duration_ms", 0.0)
                for ph in ("warmup", "measured", "quiet", "burst", "measured2"))
            for r in runs) if runs else 0.0
        windows = [x for r in runs for x in window_rates(r)]
        bodies = [b for b in (measured_bodies(r) for r in runs) if b is not None]
        med = statistics.median(rps) if rps else 0.0
        agg[s] = {
            "requests_per_s": {"mean": statistics.fmean(rps) if rps else 0.0, "median": med,
                               "runs": rps, "spread_pct": spread_pct(rps),
                               "iqr_pct": iqr_pct(rps),
                               "window_sem_pct": relative_sem_pct(windows)},
            "measured_bodies_pct": ({k: statistics.fmean(b[k] for b in bodies) for k in bodies[0]}
                                    if bodies else None),
            "counters": mc,
            "lock_hold_share_pct": (mc.get("backpatch_lock_hold_ns", {}).get("total", 0.0)
                                    / (threads * dur_ms * 1e6) * 100.0) if dur_ms > 0 else None,
            "time_to_steady_state_ms": [r.get("time_to_steady_state_ms") for r in runs],
            # when it is null, why: the window closest to the measured mean
            "time_to_steady_state_closest_pct": [
                (None if r.get("time_to_steady_state_ms") is not None else
                 ((r.get("time_to_steady_state_detail") or {}).get("before_burst") or {})
                 .get("closest_deviation_pct")) for r in runs],
            "time_to_steady_state_text": [tts_text(r) for r in runs],
            "first_request_us": [r.get("first_request_us") for r in runs],
        }
    base = agg.get(baseline)
    for s, a in agg.items():
        if base is None:
            a["ratio_vs_" + baseline] = None
            continue
        a["ratio_vs_" + baseline] = {
            "requests_per_s": ratio(central(a["requests_per_s"]), central(base["requests_per_s"])),
            "backpatch_lock_acquisitions": ratio(
                a["counters"].get("backpatch_lock_acquisitions", {}).get("total", 0.0),
                base["counters"].get("backpatch_lock_acquisitions", {}).get("total", 0.0)),
            "backpatch_lock_contended": ratio(
                a["counters"].get("backpatch_lock_contended", {}).get("total", 0.0),
                base["counters"].get("backpatch_lock_contended", {}).get("total", 0.0)),
            "backpatch_lock_hold_ns": ratio(
                a["counters"].get("backpatch_lock_hold_ns", {}).get("total", 0.0),
                base["counters"].get("backpatch_lock_hold_ns", {}).get("total", 0.0)),
        }
    return agg


def orchard_verdict(agg, baseline="forwarder", suspect="precode-reuse", label=None,
                    explain=None):
    """Does precode-reuse lose >= REGRESSION_FLAG_PCT against forwarder, and
    which counter explains the difference (or its absence)?"""
    pub = PUBLISHED["orchard_regression"]
    v = {"published_regression_pct": [pub["regression_pct_low"], pub["regression_pct_high"]],
         "flag_pct": REGRESSION_FLAG_PCT, "strategy": suspect}
    who = label or suspect
    if baseline not in agg or suspect not in agg:
        v.update(reproduced=None, regression_pct=None, noise_pct=None, explaining_counter=None,
                 explanation="%s or %s did not run" % (baseline, suspect))
        return v
    b, s = agg[baseline], agg[suspect]
    r = ratio(central(s["requests_per_s"]), central(b["requests_per_s"]))
    reg = (1.0 - r) * 100.0 if r is not None else None
    # noise: the larger of the run-to-run spread and twice the combined
    # standard error of the per-window rates (available from one run)
    # (with 4 or more repetitions the interquartile range replaces the full
    # spread: the median ignores one disturbed run, so the noise figure should too)
    def run_noise(rps):
        iqr = rps.get("iqr_pct")
        return iqr if iqr is not None else rps.get("spread_pct")
    noise = [x for x in (run_noise(b["requests_per_s"]), run_noise(s["requests_per_s"]))
             if x is not None]
    sems = [x for x in (b["requests_per_s"].get("window_sem_pct"), s["requests_per_s"].get("window_sem_pct"))
            if x is not None]
    if len(sems) == 2:
        noise.append(2.0 * math.sqrt(sems[0] ** 2 + sems[1] ** 2))
    noise_pct = max(noise) if noise else None
    # the counter that grew most from baseline to suspect
    best, best_ratio, increases = None, None, {}
    for name in (explain or ORCHARD_EXPLAIN_COUNTERS):
        bv = b["counters"].get(name, {}).get("total", 0.0)
        sv = s["counters"].get(name, {}).get("total", 0.0)
        rr = ratio(sv, bv)
        if rr is None and sv > 0:
            rr = math.inf
        increases[name] = rr
        if rr is not None and (best_ratio is None or rr > best_ratio):
            best, best_ratio = name, rr
    within_noise = noise_pct is not None and reg is not None and abs(reg) <= noise_pct
    reproduced = reg is not None and reg >= REGRESSION_FLAG_PCT and not within_noise
    # the published magnitude: within the flag width (5 points) of 12-13%
    slack = REGRESSION_FLAG_PCT
    magnitude_matches = (reg is not None and
                         pub["regression_pct_low"] - slack <= reg <= pub["regression_pct_high"] + slack)
    share_b = b.get("lock_hold_share_pct")
    share_s = s.get("lock_hold_share_pct")
    text = []
    if reg is None:
        text.append("no throughput measured")
    elif reg >= REGRESSION_FLAG_PCT and within_noise:
        text.append("INCONCLUSIVE: %s is %.1f%% slower than %s (published %.0f-%.0f%%), but the "
                    "difference is within this host's noise"
                    % (who, reg, baseline, pub["regression_pct_low"], pub["regression_pct_high"]))
    elif reproduced and magnitude_matches:
        text.append("REPRODUCED: %s is %.1f%% slower than %s (published %.0f-%.0f%%)"
                    % (who, reg, baseline, pub["regression_pct_low"], pub["regression_pct_high"]))
    elif reproduced:
        text.append("REPRODUCED IN DIRECTION ONLY: %s is %.1f%% slower than %s, published %.0f-%.0f%%: "
                    "a regression, but not the published magnitude (more than %.0f points away; with "
                    "tier-dependent bodies the size scales with the assumed tier cost factors)"
                    % (who, reg, baseline, pub["regression_pct_low"], pub["regression_pct_high"], slack))
    else:
        text.append("NOT REPRODUCED: %s is %s%.1f%% %s than %s (published %.0f-%.0f%% slower; flag at %.0f%%)"
                    % (who, "", abs(reg), "slower" if reg >= 0 else "faster", baseline,
                       pub["regression_pct_low"], pub["regression_pct_high"], REGRESSION_FLAG_PCT))
    if noise_pct is not None:
        text.append("noise %.1f%% (run-to-run spread, or interquartile range from 4 repetitions on, "
                    "or 2x the standard error of the window rates)%s"
                    % (noise_pct, "; difference within noise" if within_noise else ""))
    if best is not None:
        text.append("largest counter increase: %s x%s" % (best, fmt_ratio(best_ratio)))
    if share_b is not None and share_s is not None:
        text.append("backpatch lock held %.2f%% of worker time under %s vs %.2f%% under %s, "
                    "which bounds what the lock alone can cost"
                    % (share_s, who, share_b, baseline))
    v.update(reproduced=reproduced if reg is not None else None, regression_pct=reg,
             magnitude_matches=bool(reproduced and magnitude_matches),
             noise_pct=noise_pct, within_noise=within_noise, explaining_counter=best,
             explaining_ratio=None if best_ratio in (None, math.inf) else best_ratio,
             counter_ratios={k: (None if x in (None, math.inf) else x) for k, x in increases.items()},
             lock_hold_share_pct={baseline: share_b, suspect: share_s},
             explanation="; ".join(text))
    return v


def as_merged_explanation(agg, merged=AS_MERGED, corrected="precode-reuse"):
    """Why the as-merged row differs from the corrected precode-reuse: the
    tiering counters at the end of the run (means over repetitions) and the
    share of measured body executions that ran unoptimized code."""
    if merged not in agg or corrected not in agg:
        return {"counters": {}, "text": "the as-merged row did not run"}
    rows = {}
    for name in TIERING_COUNTERS:
        rows[name] = {corrected: agg[corrected]["counters"].get(name, {}).get("total"),
                      merged: agg[merged]["counters"].get(name, {}).get("total")}
    bm = agg[merged].get("measured_bodies_pct")
    bc = agg[corrected].get("measured_bodies_pct")
    f = lambda x: "-" if x is None else fmt_num(x, 0)
    parts = ["at the end of the run (mean over repetitions) %s has %s methods at tier0, %s at "
             "tier0instr, %s at tier1 vs %s/%s/%s under %s"
             % (merged, f(rows["methods_at_tier0"][merged]), f(rows["methods_at_tier0instr"][merged]),
                f(rows["methods_at_tier1"][merged]), f(rows["methods_at_tier0"][corrected]),
                f(rows["methods_at_tier0instr"][corrected]), f(rows["methods_at_tier1"][corrected]),
                corrected),
             "calls_counted %s vs %s, threshold_hits %s vs %s, promotions to tier1 %s vs %s"
             % (f(rows["calls_counted"][merged]), f(rows["calls_counted"][corrected]),
                f(rows["threshold_hits"][merged]), f(rows["threshold_hits"][corrected]),
                f(_sum2(rows, "promotions_tier0_to_tier1", "promotions_tier0instr_to_tier1", merged)),
                f(_sum2(rows, "promotions_tier0_to_tier1", "promotions_tier0instr_to_tier1", corrected)))]
    if bm and bc:
        parts.append("measured body executions at tier0/tier0instr/final %.1f/%.1f/%.1f%% vs "
                     "%.1f/%.1f/%.1f%%; calls through owning slots %.1f%% of all calls"
                     % (bm["tier0_pct"], bm["tier0instr_pct"], bm["final_pct"], bc["tier0_pct"],
                        bc["tier0instr_pct"], bc["final_pct"], bm["owning_slot_pct"]))
        parts.append("the bypass leaves calls through the declaring type's own slot uncounted, so "
                     "methods reached mainly that way stay at tier0, whose bodies cost the "
                     "workload's tier0_cost factor (an assumption)")
    return {"counters": rows, "measured_bodies_pct": {merged: bm, corrected: bc},
            "text": "; ".join(parts)}


def _sum2(rows, a, b, key):
    x, y = rows[a][key], rows[b][key]
    if x is None and y is None:
        return None
    return (x or 0) + (y or 0)

__all__ = ['as_merged_explanation', 'orchard_summary', 'orchard_verdict']

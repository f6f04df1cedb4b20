"""Sensitivity of the as-merged regression (make reproduce-sensitivity): the fixed grid,
per-point summaries, brackets and table.
Pure logic (no processes, no files); harness/reproduce.py does the I/O."""

import statistics

from .orchard import orchard_summary, orchard_verdict
from .published import (AS_MERGED, AS_MERGED_LABEL, ORCHARD_EXPLAIN_COUNTERS, PUBLISHED,
                        TIERING_COUNTERS)
from .runs import central
from .tables import fmt_num, table


SENSITIVITY_TIER0_COSTS = [1.5, 2.0, 3.0]
# Tier0Instrumented keeps the default gap of 0.5 above Tier0 (3.0 / 3.5).
SENSITIVITY_T0I_GAP = 0.5
# Two settings of the share of calls through owning slots: the workload as
# shipped, and fewer direct sites with more inherited (not overridden) slots.
SENSITIVITY_OWNING = [
    {"name": "as shipped", "overrides": {}},
    {"name": "low owning-slot share", "overrides": {"direct_call_share": "0.1", "inherited_share": "0.8"}},
]
SENSITIVITY_NOTE = (
    "A sensitivity analysis, not a fit: the grid is fixed in advance and nothing is tuned to the "
    "published figure. Each point assumes a Tier0 cost factor (tier0_cost, with "
    "tier0_instrumented_cost = tier0_cost + 0.5) and a call mix (the share of calls through owning "
    "slots), runs forwarder and the as-merged driver alternately, and reports the regression. A "
    "point whose regression is consistent with the published 12-13% only says that those "
    "assumptions are not ruled out by it; several combinations can be, the two assumptions trade "
    "off against each other, and neither CoreCLR's Tier0 cost on Orchard nor Orchard's call mix "
    "is measured here.")


def fmt_factor(x):
    return ("%.6f" % x).rstrip("0").rstrip(".")


def sensitivity_points():
    """The grid: [{id, tier0_cost, tier0_instrumented_cost, owning_setting, sets: [K=V]}]."""
    pts = []
    for o in SENSITIVITY_OWNING:
        for c in SENSITIVITY_TIER0_COSTS:
            sets = {"tier0_cost": fmt_factor(c), "tier0_instrumented_cost": fmt_factor(c + SENSITIVITY_T0I_GAP)}
            sets.update(o["overrides"])
            pts.append({"id": "t0=%s/%s" % (fmt_factor(c), o["name"]), "tier0_cost": c,
                        "tier0_instrumented_cost": c + SENSITIVITY_T0I_GAP, "owning_setting": o["name"],
                        "sets": ["%s=%s" % kv for kv in sets.items()]})
    return pts


def sensitivity_point_summary(point, fwd_runs, merged_runs):
    """Regression of the as-merged row against forwarder at one grid point,
    with the orchard verdict's noise figure; whether it lies in, or is
    consistent (within noise) with, the published 12-13%."""
    agg = orchard_summary({"forwarder": fwd_runs, AS_MERGED: merged_runs})
    v = orchard_verdict(agg, suspect=AS_MERGED, label=AS_MERGED_LABEL,
                        explain=ORCHARD_EXPLAIN_COUNTERS + TIERING_COUNTERS)
    pub = PUBLISHED["orchard_regression"]
    lo, hi = pub["regression_pct_low"], pub["regression_pct_high"]
    reg, noise = v["regression_pct"], v["noise_pct"]
    in_range = reg is not None and lo <= reg <= hi
    consistent = reg is not None and (reg - (noise or 0.0)) <= hi and (reg + (noise or 0.0)) >= lo
    bm = agg[AS_MERGED].get("measured_bodies_pct") or {}
    bf = agg["forwarder"].get("measured_bodies_pct") or {}
    return {
        "id": point["id"], "tier0_cost": point["tier0_cost"],
        "tier0_instrumented_cost": point["tier0_instrumented_cost"],
        "owning_setting": point["owning_setting"], "overrides": point["sets"],
        "fingerprint": point.get("fingerprint"),
        "forwarder_requests_per_s": agg["forwarder"]["requests_per_s"],
        "as_merged_requests_per_s": agg[AS_MERGED]["requests_per_s"],
        "regression_pct": reg, "noise_pct": noise,
        "in_published_range": bool(in_range), "consistent_with_published": bool(consistent),
        "owning_slot_calls_pct": bf.get("owning_slot_pct", bm.get("owning_slot_pct")),
        "as_merged_tier0_bodies_pct": bm.get("tier0_pct"),
        "as_merged_methods_at_tier0": agg[AS_MERGED]["counters"].get("methods_at_tier0", {}).get("total"),
    }


def sensitivity_brackets(points):
    """Per owning setting, where the published band lies along tier0_cost
    (read off the grid, not interpolated into a fitted value)."""
    pub = PUBLISHED["orchard_regression"]
    lo, hi = pub["regression_pct_low"], pub["regression_pct_high"]
    out = []
    for o in SENSITIVITY_OWNING:
        row = sorted((p for p in points if p["owning_setting"] == o["name"] and p["regression_pct"] is not None),
                     key=lambda p: p["tier0_cost"])
        if not row:
            continue
        regs = ", ".join("%s: %.1f%%" % (fmt_factor(p["tier0_cost"]), p["regression_pct"]) for p in row)
        inside = [p for p in row if lo <= p["regression_pct"] <= hi]
        if inside:
            where = "the published band contains tier0_cost %s" % ", ".join(fmt_factor(p["tier0_cost"]) for p in inside)
        elif all(p["regression_pct"] > hi for p in row):
            where = "every grid point regresses more than 13%%: the band lies below tier0_cost %s" % fmt_factor(row[0]["tier0_cost"])
        elif all(p["regression_pct"] < lo for p in row):
            where = "every grid point regresses less than 12%%: the band lies above tier0_cost %s" % fmt_factor(row[-1]["tier0_cost"])
        else:
            pair = next(((a, b) for a, b in zip(row, row[1:])
                         if (a["regression_pct"] - hi) * (b["regression_pct"] - lo) <= 0
                         or (a["regression_pct"] - lo) * (b["regression_pct"] - hi) <= 0), None)
            where = ("the band lies between tier0_cost %s and %s" % (fmt_factor(pair[0]["tier0_cost"]),
                                                                     fmt_factor(pair[1]["tier0_cost"]))
                     if pair else "the regression is not monotonic in tier0_cost on this grid (noise)")
        share = [p["owning_slot_calls_pct"] for p in row if p["owning_slot_calls_pct"] is not None]
        out.append("%s (%s of calls through owning slots): regression by tier0_cost %s; %s"
                   % (o["name"], ("%.1f%%" % statistics.fmean(share)) if share else "?", regs, where))
    return out


def sensitivity_table(points, markdown=False):
    headers = ["tier0_cost", "tier0instr cost", "owning-slot setting", "owning-slot calls %",
               "as-merged tier0 bodies %", "forwarder req/s", "as-merged req/s", "regression %",
               "noise %", "in 12-13%", "consistent (+-noise)"]
    body = []
    for p in points:
        body.append([fmt_factor(p["tier0_cost"]), fmt_factor(p["tier0_instrumented_cost"]), p["owning_setting"],
                     fmt_num(p["owning_slot_calls_pct"]), fmt_num(p["as_merged_tier0_bodies_pct"]),
                     fmt_num(central(p["forwarder_requests_per_s"])),
                     fmt_num(central(p["as_merged_requests_per_s"])),
                     fmt_num(p["regression_pct"]), fmt_num(p["noise_pct"]),
                     "yes" if p["in_published_range"] else "no",
                     "yes" if p["consistent_with_published"] else "no"])
    return table(headers, body, markdown)

__all__ = ['SENSITIVITY_NOTE', 'SENSITIVITY_OWNING', 'SENSITIVITY_T0I_GAP', 'SENSITIVITY_TIER0_COSTS', 'fmt_factor', 'sensitivity_brackets', 'sensitivity_point_summary', 'sensitivity_points', 'sensitivity_table']

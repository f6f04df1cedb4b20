#!/usr/bin/python3
"""`make track-calibrate`: how far the gate can be trusted on this machine.

  1. A/A: N (default 20) gates of the quick suite of this build against a
     copy of itself (another directory, as `make track` measures a base
     build elsewhere): every one must pass; reports the false-positive rate,
     how many noisy metrics the first measurement flagged before the
     confirmation re-run, and the largest exact-metric drift.
  2. Injected regressions of known size on the head side (tk-bench --set /
     --config / a variant driver): +3%, +5%, +10% final-tier body work
     (tier1_cost), a doubled call-count threshold (its counter,
     calls_counted, must be named as the top mover), and the reference built
     with its COUNT_FINAL_TIER mutant (final-tier calls still counted).  Each
     is gated like a real change.
  3. Power of the noisy-metric rule, from the A/A samples themselves: each
     A/A compare's head samples are scaled by (1 + d) and the gate rule
     (worse by > noisy_pct, p < alpha, in the first measurement and in an
     independent confirmation taken from another A/A compare) is applied;
     the smallest d detected in >= 95% of compares is reported.

Writes results/track-calibration.json (schema_version 1).  ~15 minutes on 2
shared cores.  Usage: harness/track_calibrate.py [--aa N] [--suite quick]
"""

import argparse
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from track import cli, compare as C, gate as G, measure as M, stats as ST  # noqa: E402

INJECTIONS = [
    {"name": "body work +3% (tier1_cost=1.03)", "args": ["--set", "tier1_cost=1.03"], "size_pct": 3.0},
    {"name": "body work +5% (tier1_cost=1.05)", "args": ["--set", "tier1_cost=1.05"], "size_pct": 5.0},
    {"name": "body work +10% (tier1_cost=1.10)", "args": ["--set", "tier1_cost=1.1"], "size_pct": 10.0},
    {"name": "call-count threshold 30 -> 60 (counting work doubled)",
     "args": ["--config", "CallCountThreshold=60"], "size_pct": None, "expect_counter": "calls_counted"},
    # a variant driver: the reference built with its COUNT_FINAL_TIER mutant
    # (final-tier methods keep counting).  Instructions per converged call
    # barely move; its counting stubs stay alive (stub bytes).
    {"name": "variant driver COUNT_FINAL_TIER (final-tier calls still counted)",
     "args": [], "impl": "lib/mutants/libtk_mut_count_final_tier.so", "size_pct": None},
]


def log(msg):
    sys.stderr.write("track-calibrate: %s\n" % msg)
    sys.stderr.flush()


def summarize_gate(res):
    cmp = res["compare"]
    rows = []
    for r in cmp["metrics"]:
        rows.append({k: r.get(k) for k in ("benchmark", "metric", "kind", "base", "head", "change_pct",
                                           "p", "verdict", "note")})
    top = {}
    for name, d in cmp["diagnosis"].items():
        top[name] = d["counters"][0]["name"] if d["counters"] else None
    return {"result": cmp["result"], "metrics": rows, "top_counter": top,
            "first_stage_flags": sum(1 for r in cmp["metrics"] if r.get("confirmation") is not None)}


def power(aa_samples, metric_key, th, deltas):
    """aa_samples: [(base, head)] per A/A compare for one noisy metric."""
    out = []
    n = len(aa_samples)
    for d in deltas:
        hits = 0
        for i in range(n):
            ok = True
            for j in (i, (i + 1) % n):            # measurement, then an independent confirmation
                b, h = aa_samples[j]
                hs = [x * (1 + d / 100.0) for x in h] if metric_key[1] == "lower" else [x / (1 + d / 100.0) for x in h]
                v = C.metric_verdict("noisy", metric_key[1], b, hs, th)
                ok = ok and v["verdict"] == "regressed"
            hits += ok
        out.append({"regression_pct": d, "detected": hits, "of": n, "power": hits / n if n else None})
    smallest = next((p["regression_pct"] for p in out if p["power"] is not None and p["power"] >= 0.95), None)
    return out, smallest


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--aa", type=int, default=20, help="A/A compares (default 20)")
    ap.add_argument("--suite", default="quick")
    ap.add_argument("--out", default=os.path.join("results", "track-calibration.json"))
    ap.add_argument("--bin", default=os.path.join(cli.ROOT, "build", "bin"))
    a = ap.parse_args()
    try:
        suite = cli.load_suite(a.suite)
    except Exception as e:
        sys.stderr.write("track-calibrate: %s\n" % e)
        return 2
    th = suite["thresholds"]
    rev, dirty = cli.worktree_state()
    copy = os.path.join("results", "track-builds", "calibration-copy")
    shutil.rmtree(copy, ignore_errors=True)
    M_copy_bin = os.path.join(copy, "bin")
    os.makedirs(M_copy_bin)
    shutil.copy2(os.path.join(a.bin, "tk-bench"), M_copy_bin)
    shutil.copytree(os.path.join(os.path.dirname(a.bin), "lib"), os.path.join(copy, "lib"),
                    ignore=shutil.ignore_patterns("*.a", "mutants"))
    t0 = time.monotonic()
    started = cli.now()
    aa = []
    noisy = {}
    exact_drift = {}
    try:
        for i in range(a.aa):
            log("A/A %d/%d (%.0f s)" % (i + 1, a.aa, time.monotonic() - t0))
            base = M.Side("base", M_copy_bin, rev, dirty)
            head = M.Side("head", a.bin, rev, dirty)
            res = G.run_gate(suite, th, base, head, quiet=True)
            aa.append(summarize_gate(res))
            for name, b in res["docs"]["head"]["benchmarks"].items():
                for m, md in b["metrics"].items():
                    bm = res["docs"]["base"]["benchmarks"][name]["metrics"][m]
                    main_b = [v for v, ph in zip(bm["samples"], bm.get("phases") or ["main"] * 999) if ph == "main"]
                    main_h = [v for v, ph in zip(md["samples"], md.get("phases") or ["main"] * 999) if ph == "main"]
                    if md["kind"] == "noisy":
                        noisy.setdefault((name, m, md["better"]), []).append((main_b, main_h))
                    elif main_b and main_h:
                        rc = ST.rel_change(sorted(main_b)[len(main_b) // 2], sorted(main_h)[len(main_h) // 2])
                        if rc is not None:
                            exact_drift[(name, m)] = max(exact_drift.get((name, m), 0.0), abs(rc) * 100.0)
        inj = []
        for spec in INJECTIONS:
            log("injected: %s (%.0f s)" % (spec["name"], time.monotonic() - t0))
            base = M.Side("base", M_copy_bin, rev, dirty)
            impl = None
            if spec.get("impl"):
                impl = os.path.join(os.path.dirname(a.bin), spec["impl"])
                if not os.path.isfile(impl):
                    log("skipped: %s not built (make track-calibrate builds it)" % impl)
                    inj.append({"name": spec["name"], "result": "skipped", "reason": impl + " not built"})
                    continue
            head = M.Side("head", a.bin, rev, dirty, spec["args"], impl)
            res = G.run_gate(suite, th, base, head, quiet=True)
            s = summarize_gate(res)
            exact_effects = {"%s/%s" % (r["benchmark"], r["metric"]): r["change_pct"]
                             for r in s["metrics"] if r["kind"] == "exact"}
            noisy_effects = {"%s/%s" % (r["benchmark"], r["metric"]): r["change_pct"]
                             for r in s["metrics"] if r["kind"] == "noisy"}
            above = [k for k, v in exact_effects.items() if v is not None and v > th["exact_pct"]]
            flagged = ["%s/%s" % (r["benchmark"], r["metric"]) for r in s["metrics"] if r["verdict"] == "regressed"]
            entry = {"name": spec["name"], "head_args": spec["args"], "head_impl": spec.get("impl"),
                     "injected_size_pct": spec["size_pct"],
                     "result": s["result"], "exact_effects_pct": exact_effects, "noisy_effects_pct": noisy_effects,
                     "exact_metrics_above_threshold": above, "flagged": flagged,
                     "every_exact_metric_above_threshold_flagged": all(k in flagged for k in above),
                     "top_counter": s["top_counter"]}
            if spec.get("expect_counter"):
                entry["expected_top_counter"] = spec["expect_counter"]
                entry["top_counter_is_expected"] = any(v == spec["expect_counter"] for v in s["top_counter"].values())
            inj.append(entry)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    deltas = [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30, 40, 50, 75, 100]
    pw = {}
    for key, samples in noisy.items():
        curve, smallest = power(samples, (key[1], key[2]), th, deltas)
        spreads = [abs(ST.rel_change(sorted(b)[len(b) // 2], sorted(h)[len(h) // 2]) or 0) * 100 for b, h in samples]
        pw["%s/%s" % (key[0], key[1])] = {"smallest_regression_pct_detected_95": smallest, "curve": curve,
                                          "aa_median_change_pct_max": max(spreads) if spreads else None}
    fp = sum(1 for x in aa if x["result"] == "fail")
    doc = {"schema_version": 1, "tool": "tk-track", "kind": "calibration", "suite": suite["name"],
           "revision": rev, "dirty": dirty, "machine": M.machine(), "started_at": started,
           "finished_at": cli.now(), "elapsed_s": round(time.monotonic() - t0, 1), "thresholds": th,
           "aa": {"compares": len(aa), "false_positives": fp, "false_positive_rate": fp / len(aa) if aa else None,
                  "first_stage_flags": sum(x["first_stage_flags"] for x in aa),
                  "max_exact_drift_pct": {"%s/%s" % k: v for k, v in exact_drift.items()},
                  "gates": aa},
           "injected": inj, "noisy_power": pw,
           "method": {"power": "A/A samples scaled by (1+d); the gate rule (worse by > noisy_pct, p < alpha) "
                               "must hold in the compare and in the next A/A compare (the confirmation)"}}
    cli.write_atomic(a.out, json.dumps(doc, indent=1) + "\n")
    log("wrote %s: %d/%d A/A false positives; injected: %s" % (
        a.out, fp, len(aa), ", ".join("%s -> %s" % (x["name"], x["result"]) for x in inj)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

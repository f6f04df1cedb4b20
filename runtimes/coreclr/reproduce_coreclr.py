#!/usr/bin/python3
"""runtimes/coreclr/reproduce_coreclr.py: `make reproduce-coreclr`.

Runs seed-vtable-test and orchard-like as C# programs (tk-bench
--emit-csharp) on the installed .NET 10 runtime with the reference's knobs
(TC_CallCountThreshold 30, TC_CallCountingDelayMs 100, TieredPGO as the
workload's config, written in hex), and on the reference runtime's
`forwarder` strategy (tk-bench), and prints side by side: compiles per tier,
methods per tier at the fixed points, time to steady state, the vtable-slot
census at each snapshot (CoreCLR slots classified by tierkit's recogniser),
the measured Tier0 / instrumented Tier0 / Tier1 body cost ratios of the
generated bodies on the real JIT, and table 2's as-merged row recomputed
with those measured factors.  Writes results/coreclr.json
(runtimes/coreclr/coreclr.schema.json) and results/coreclr.md.
Without dotnet: prints SKIP with the reason and exits 0."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dotnet_run as D  # noqa: E402
import observe as O  # noqa: E402

SCHEMA_VERSION = 1
RESULTS = os.path.join(D.ROOT, "results")
# table 2's as-merged row (harness/reproduce.py): PR #124664 as merged = the
# reference's OWNING_SLOT_BYPASS mutant run with Strategy=precode-reuse
AS_MERGED_MUTANT = os.path.join(D.ROOT, "build", "lib", "mutants", "libtk_mut_owning_slot_bypass.so")
AS_MERGED_STRATEGY = "precode-reuse"
ASSUMED = {"tier0_cost": 3.0, "tier0_instrumented_cost": 3.5, "tier1_cost": 1.0}
REF_KNOBS = {"threshold": 30, "delay_ms": 100}


def bench(workload, strategy, args, tag, outdir, impl=None):
    path = os.path.join(outdir, "ref-%s.json" % tag)
    cmd = [D.tool("tk-bench"), workload, "--strategy", strategy, "--json", path] + list(args)
    if impl:
        cmd += ["--impl", impl]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise D.RunError("%s failed: %s" % (" ".join(cmd), r.stderr.strip()[-1500:]))
    with open(path) as fh:
        return json.load(fh)["strategies"][strategy]


def workload_pgo(workload):
    with open(os.path.join(D.ROOT, "workloads", "defs", workload + ".wl")) as fh:
        for line in fh:
            s = line.split("#")[0].strip().replace(" ", "")
            if s.startswith("config.TieredPGO="):
                return s.split("=", 1)[1] == "1"
    return True


def measured_rps(phases):
    req, ms = 0, 0.0
    for ph in ("measured", "measured2"):
        p = phases.get(ph)
        if p and p.get("duration_ms"):
            req += p.get("requests", 0)
            ms += p["duration_ms"]
    return req * 1000.0 / ms if ms > 0 else 0.0


def coreclr_run(workload, outdir, time_scale, pgo):
    proj = D.build_program(workload)
    knobs = D.knob_env(REF_KNOBS["threshold"], REF_KNOBS["delay_ms"], pgo)
    D.log("%s on .NET (%s)" % (workload, " ".join("%s=%s" % kv for kv in sorted(knobs.items()))))
    r = D.run_program(proj, outdir, workload, knobs,
                      ["--delay-ms", str(REF_KNOBS["delay_ms"]), "--time-scale", str(time_scale)])
    log = O.parse_jit_log(r["jit_log"])
    snaps = O.Snapshots(r["probe"], log)
    census = snaps.census()
    run = r["run"]
    points = run["points"]
    mpt = O.methods_per_tier_over_time(snaps.loads, [p["t_ms"] for p in points])
    for p, m in zip(points, mpt):
        p["methods_per_tier"] = m["tiers"]
    tts = None
    if run["mode"] == "threaded" and run["windows"]:
        origin = run["windows"][0]["start_ms"]
        meas = [w for w in run["windows"] if w["phase"] == "measured"]
        mean = statistics.fmean(w["rps"] for w in meas) if meas else 0
        tts = O.steady_time(run["windows"], origin, meas[-1]["start_ms"] + 1 if meas else 0, mean)
    return {"knobs": knobs, "runtime": r["probe"]["runtime"], "program": proj,
            "compile_summary": O.compile_summary(log),
            "compiles_per_tier": {"bodies": O.compiles_per_tier(log),
                                  "sites_and_handlers": O.compiles_per_tier(log, ("site", "handler")),
                                  "all_methods": O.compiles_per_tier(log, ("body", "site", "handler", "harness",
                                                                           "runtime", "ctor"))},
            "event_tier_agreement": O.event_tier_agreement(log, snaps.loads),
            "points": points, "census": census, "phases": run["phases"],
            "requests_per_s": measured_rps(run["phases"]) if run["mode"] == "threaded" else None,
            "time_to_steady_state_ms": tts, "startup_ms": run["startup_ms"],
            "first_request_us": run["first_request_us"], "ns_per_call": run["ns_per_call"]}


def reference_run(workload, outdir, time_scale):
    args = ["--time-scale", str(time_scale)] if time_scale != 1 else []
    s = bench(workload, "forwarder", args, workload + "-forwarder", outdir)
    c = {k: v.get("total") for k, v in s["counters"].items()}
    first = c.get("compiles", 0) - c.get("promotions_tier0_to_tier0instr", 0) - \
        c.get("promotions_tier0_to_tier1", 0) - c.get("promotions_tier0instr_to_tier1", 0)
    promo = {"Tier0-instr": c.get("promotions_tier0_to_tier0instr", 0),
             "Tier1": c.get("promotions_tier0_to_tier1", 0) + c.get("promotions_tier0instr_to_tier1", 0)}
    return {"config": s["config"],
            "compile_summary": {"methods": first, "first": {"Tier0": first}, "promotions": promo,
                                "compiles": c.get("compiles", 0)},
            "compiles_per_tier": {"Tier0": first, "Tier0-instr": c.get("promotions_tier0_to_tier0instr", 0),
                                  "Tier1": c.get("promotions_tier0_to_tier1", 0) + c.get("promotions_tier0instr_to_tier1", 0)},
            "methods_per_tier_end": {"Tier0": c.get("methods_at_tier0"), "Tier0-instr": c.get("methods_at_tier0instr"),
                                     "Tier1": c.get("methods_at_tier1"), "Optimized": c.get("methods_at_optimized")},
            "requests_per_s": measured_rps(s["phases"]) if s.get("mode") == "threaded" else None,
            "time_to_steady_state_ms": s.get("time_to_steady_state_ms"),
            "slot_writes": c.get("slot_writes"), "stubs_allocated_forwarder": c.get("stubs_allocated_forwarder"),
            "stubs_allocated_callcount": c.get("stubs_allocated_callcount"),
            "startup_ms": s.get("startup_ms"), "first_request_us": s.get("first_request_us"),
            "ns_per_call": s.get("ns_per_call")}


COST_CONFIGS = [
    # name, knobs, the tier the generated bodies must be left at.  The final
    # tier is measured as FullOpts (TieredCompilation=0: every body compiled
    # optimized at its first call, no convergence to wait for): Tier1 is the
    # same optimizing JIT plus dynamic PGO.
    ("Tier0", {"DOTNET_TC_CallCounting": "0", "DOTNET_TieredPGO": "0"}, "Tier0"),
    ("Tier0-instr", {"DOTNET_TC_CallCounting": "0", "DOTNET_TieredPGO": "1",
                     "DOTNET_TieredPGO_InstrumentOnlyHotCode": "0"}, "Tier0-instr"),
    ("FullOpts", {"DOTNET_TieredCompilation": "0"}, "FullOpts"),
]
COST_MULTS = (1, 9)


def cost_ratios(workload, outdir, calls):
    """Per-work-unit cost of the generated bodies at each tier: the slope of
    ns/call between --mult 1 and --mult 9 (dispatch cost cancels), relative
    to the final tier (FullOpts).  Runs alternate between the two mults and
    each keeps its fastest of 3 timings (the machine is shared).  The tier each configuration leaves the bodies at is checked
    from the compile log (the last compile of every executed body)."""
    proj = D.build_program(workload)
    out = {"calls": calls, "mults": list(COST_MULTS), "configs": {}}
    for name, knobs, want in COST_CONFIGS:
        per = {}
        share = None
        for m in COST_MULTS:
            D.log("cost: %s bodies, --mult %d" % (name, m))
            r = D.run_program(proj, outdir, "cost-%s-m%d" % (name, m), knobs,
                              ["--cost-calls", str(calls), "--mult", str(m), "--delay-ms", "100"], probe=False)
            per[m] = min(c["ns_per_call"] for c in r["run"]["cost"])
            log = O.parse_jit_log(r["jit_log"])
            last = {}
            for e in log:
                if e["group"] == "body":
                    last[e["method"]] = e["tier"]
            share = sum(1 for t in last.values() if t == want) / len(last) if last else 0.0
        slope = (per[COST_MULTS[1]] - per[COST_MULTS[0]]) / (COST_MULTS[1] - COST_MULTS[0])
        out["configs"][name] = {"knobs": knobs, "ns_per_call": {str(k): v for k, v in per.items()},
                                "ns_per_extra_mult": slope, "bodies_at_tier_share": share}
    t1 = out["configs"]["FullOpts"]
    for name, c in out["configs"].items():
        c["body_cost_factor"] = c["ns_per_extra_mult"] / t1["ns_per_extra_mult"] if t1["ns_per_extra_mult"] > 0 else None
        c["call_cost_ratio"] = c["ns_per_call"]["1"] / t1["ns_per_call"]["1"]
    return out


def as_merged(outdir, factors, reps, time_scale):
    """Table 2's as-merged row, orchard-like: forwarder vs PR #124664 as merged
    (harness/reproduce.py's mutant driver), alternating, with the given tier
    cost factors set by tk-bench --set."""
    if not os.path.isfile(AS_MERGED_MUTANT):
        return {"skipped": "%s not built (make %s)" % (AS_MERGED_MUTANT, os.path.relpath(AS_MERGED_MUTANT, D.ROOT))}
    sets = []
    for k, v in factors.items():
        sets += ["--set", "%s=%.3f" % (k, v)]
    args = sets + (["--time-scale", str(time_scale)] if time_scale != 1 else [])
    rps = {"forwarder": [], "as-merged": []}
    for rep in range(reps):
        for row in ("forwarder", "as-merged"):
            D.log("as-merged row (%s): %s, repetition %d/%d" % (
                ", ".join("%s=%.2f" % kv for kv in factors.items()), row, rep + 1, reps))
            s = bench("orchard-like", "forwarder" if row == "forwarder" else AS_MERGED_STRATEGY, args,
                      "orchard-%s-%s-r%d" % (row, "-".join("%.2f" % v for v in factors.values()), rep), outdir,
                      impl=None if row == "forwarder" else AS_MERGED_MUTANT)
            rps[row].append(measured_rps(s["phases"]))
    f, m = statistics.median(rps["forwarder"]), statistics.median(rps["as-merged"])
    return {"factors": factors, "reps": reps, "requests_per_s": rps,
            "ratio_vs_forwarder": m / f if f else None,
            "regression_pct": (1 - m / f) * 100 if f else None}


def schema_problem(doc):
    """None when doc matches runtimes/coreclr/coreclr.schema.json (checked
    with python3-jsonschema when it is installed), else the message."""
    try:
        import jsonschema
    except ImportError:
        return None
    with open(os.path.join(D.ROOT, doc["schema"])) as fh:
        schema = json.load(fh)
    try:
        jsonschema.validate(doc, schema)
    except jsonschema.ValidationError as e:
        return "%s at %s" % (e.message, "/".join(str(x) for x in e.absolute_path))
    except jsonschema.exceptions.SchemaError as e:
        return "the schema itself is invalid: %s" % e.message
    return None


def fmt(v, d=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return ("%." + str(d) + "f") % v
    return str(v)


def table(rows, head):
    w = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    out = ["  ".join(str(x).ljust(n) for x, n in zip(head, w)), "  ".join("-" * n for n in w)]
    out += ["  ".join(str(x).ljust(n) for x, n in zip(r, w)) for r in rows]
    return "\n".join(out)


def report(doc):
    L = ["# tierkit on .NET %s (CoreCLR) vs the reference (forwarder)" % doc["runtime_version"], ""]
    L.append("Measured on CoreCLR: compiles, tiers, slot census, times, cost ratios. "
             "Modelled: everything in the forwarder column and the as-merged rows (tk-bench).")
    for wl, w in doc["workloads"].items():
        c, r = w["coreclr"], w["reference"]
        L += ["", "## %s" % wl, "", "Compiles of the generated bodies (CoreCLR: DOTNET_JitStdOutFile; "
              "reference: counters):", ""]
        cs, rs = c["compile_summary"], r["compile_summary"]
        rows = [["methods compiled", cs["methods"], rs["methods"]]]
        for t in ("Tier0", "Tier0-instr", "FullOpts", "MinOpts"):
            if cs["first"].get(t) or rs["first"].get(t):
                rows.append(["first compile at %s%s" % (t, " (loops: BBINSTR_IF_LOOPS)" if t == "Tier0-instr" else ""),
                             cs["first"].get(t, 0), rs["first"].get(t, 0)])
        for t in ("Tier0-instr", "Tier1", "OSR"):
            if cs["promotions"].get(t) or rs["promotions"].get(t):
                rows.append(["later compile at %s" % t, cs["promotions"].get(t, 0), rs["promotions"].get(t, 0)])
        rows.append(["compiles in all", cs["compiles"], rs["compiles"]])
        L.append(table(rows, ["", "CoreCLR", "reference forwarder"]))
        L += ["", "Methods per tier over time (CoreCLR, from MethodLoadVerbose) and slot census "
              "(CoreCLR vtable slots of generated types, classified by tk-coreclr-classify):", ""]
        rows = []
        for p, s in zip(c["points"], c["census"]):
            rows.append([p["name"], fmt(p["t_ms"], 0), " ".join("%s=%d" % kv for kv in sorted(p.get("methods_per_tier", {}).items())),
                         " ".join("%s=%d" % kv for kv in s["kinds"].items()), s["unexplained_count"],
                         s.get("unmapped_count", 0)])
        L.append(table(rows, ["point", "t_ms", "methods per tier", "slot census", "unknown", "unreadable"]))
        L += ["", "reference forwarder at the end: " + " ".join(
            "%s=%s" % kv for kv in r["methods_per_tier_end"].items() if kv[1] is not None)]
        L += ["", table([["requests/s (measured windows)", fmt(c["requests_per_s"], 0), fmt(r["requests_per_s"], 0)],
                         ["time to steady state, ms", fmt(c["time_to_steady_state_ms"], 0), fmt(r["time_to_steady_state_ms"], 0)],
                         ["startup, ms", fmt(c["startup_ms"]), fmt(r["startup_ms"])],
                         ["first request, us", fmt(c["first_request_us"], 0), fmt(r["first_request_us"], 0)],
                         ["ns per call (deterministic measured)", fmt(c["ns_per_call"]), fmt(r["ns_per_call"])]],
                        ["", "CoreCLR", "reference forwarder"])]
    cr = doc.get("cost")
    if cr:
        L += ["", "## Body cost per tier on the real JIT (orchard-like bodies, measured)", ""]
        L.append(table([[n, fmt(c["ns_per_call"]["1"], 2), fmt(c["ns_per_extra_mult"], 2), fmt(c["body_cost_factor"], 2),
                         fmt(c["call_cost_ratio"], 2), "%.0f%%" % (100 * c["bodies_at_tier_share"])]
                        for n, c in cr["configs"].items()],
                       ["bodies at", "ns/call", "ns per extra work x1", "body cost factor", "call cost ratio",
                        "bodies at that tier"]))
    am = doc.get("as_merged")
    if am:
        L += ["", "## Table 2, as-merged row (orchard-like, tk-bench, modelled with the factors shown)", ""]
        rows = []
        for k in ("assumed", "measured"):
            a = am.get(k) or {}
            if a.get("skipped"):
                rows.append([k, a["skipped"], "", ""])
                continue
            rows.append([k, " ".join("%s=%.2f" % kv for kv in a["factors"].items()),
                         fmt(a["ratio_vs_forwarder"], 3), fmt(a["regression_pct"])])
        L.append(table(rows, ["factors", "tier costs", "as-merged / forwarder req/s", "regression %"]))
    return "\n".join(L) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="shorter runs (time scale 0.4, one as-merged repetition)")
    p.add_argument("--out", default=os.path.join(RESULTS, "coreclr.json"), help="JSON result (default %(default)s)")
    p.add_argument("--reps", type=int, default=None, help="as-merged repetitions (default 3, quick 1)")
    p.add_argument("--cost-calls", type=int, default=2000000, help="calls timed per cost run (default %(default)s)")
    p.add_argument("--no-as-merged", action="store_true", help="leave out the as-merged rows")
    a = p.parse_args(argv)
    why = D.dotnet_missing()
    if why:
        print("reproduce-coreclr: SKIP: %s" % why)
        return 0
    ts = 0.4 if a.quick else 1.0
    reps = a.reps or (1 if a.quick else 3)
    work = os.path.join(RESULTS, "coreclr")
    t0 = time.time()
    doc = {"schema_version": SCHEMA_VERSION, "schema": "runtimes/coreclr/coreclr.schema.json",
           "runtime_version": D.runtime_version(), "quick": a.quick, "time_scale": ts,
           "knobs": {"TC_CallCountThreshold": REF_KNOBS["threshold"], "TC_CallCountingDelayMs": REF_KNOBS["delay_ms"],
                     "written_as": "hex (DOTNET_TC_CallCountThreshold=%s, DOTNET_TC_CallCountingDelayMs=%s)" % (
                         D.hex_knob(REF_KNOBS["threshold"]), D.hex_knob(REF_KNOBS["delay_ms"]))},
           "measured_on_coreclr": ["workloads.*.coreclr", "cost"],
           "modelled": ["workloads.*.reference", "as_merged"], "workloads": {}}
    try:
        for wl in ("seed-vtable-test", "orchard-like"):
            doc["workloads"][wl] = {"pgo": workload_pgo(wl),
                                    "coreclr": coreclr_run(wl, work, ts, workload_pgo(wl)),
                                    "reference": reference_run(wl, work, ts)}
        doc["cost"] = cost_ratios("orchard-like", work, a.cost_calls // (2 if a.quick else 1))
        if not a.no_as_merged:
            c = doc["cost"]["configs"]
            measured = {"tier0_cost": round(c["Tier0"]["body_cost_factor"], 3),
                        "tier0_instrumented_cost": round(c["Tier0-instr"]["body_cost_factor"], 3),
                        "tier1_cost": 1.0}
            doc["as_merged"] = {"assumed": as_merged(work, ASSUMED, reps, ts),
                                "measured": as_merged(work, measured, reps, ts)}
    except D.RunError as e:
        sys.stderr.write("reproduce-coreclr: %s\n" % e)
        return 1
    doc["elapsed_s"] = round(time.time() - t0, 1)
    problem = schema_problem(doc)
    if problem:
        keep = a.out + ".invalid"
        with open(keep, "w") as fh:
            json.dump(doc, fh, indent=1)
        sys.stderr.write("reproduce-coreclr: the result does not match %s: %s (kept as %s)\n"
                         % (doc["schema"], problem, keep))
        return 1
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=1)
    os.replace(tmp, a.out)
    md = report(doc)
    with open(os.path.splitext(a.out)[0] + ".md", "w") as fh:
        fh.write(md)
    sys.stdout.write(md)
    print("\nwrote %s and %s (%.0f s)" % (a.out, os.path.splitext(a.out)[0] + ".md", doc["elapsed_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

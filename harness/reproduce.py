#!/usr/bin/python3
"""`make reproduce`: runs tk-bench and valgrind, reads their JSON and
output, and writes results/reproduce.json and results/reproduce.md.

  1. seed-vtable-test under every strategy, deterministic mode, twice (the
     counters must be identical), beside the PR #125359 counter table;
  2. orchard-like with real threads, strategies alternating across
     repetitions (ABCDE ABCDE), throughput and lock figures as ratios
     against forwarder, beside the published 12-13% precode-reuse regression;
  3. steady-state ns/call (median of repetitions) and instructions/call
     (cachegrind, run with N calls minus a run with 0 calls) per strategy as
     ratios against notier.

With --sensitivity (make reproduce-sensitivity) it runs only the
sensitivity analysis of the as-merged regression instead: forwarder vs the
as-merged driver over a fixed grid of tier0_cost x owning-slot share
(tk-bench --set), written to results/sensitivity.json and .md.

Python 3 standard library only.  Quick mode: --quick or REPRODUCE_QUICK=1.
Usage and output: README.md "Reproducing the published figures"; JSON schema:
harness/schema/reproduce.schema.json (SPEC.md "Workloads").
Exit status: 0 ok, 1 a run failed or the output did not validate, 2 usage (or
the run could not be recorded in the tk-track history, OUT/history.sqlite).
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import repro as L  # noqa: E402
import schema_check  # noqa: E402
from track.cli import write_atomic  # noqa: E402

ROOT = os.path.dirname(HERE)
SCHEMA = os.path.join(HERE, "schema", "reproduce.schema.json")
SENSITIVITY_SCHEMA = os.path.join(HERE, "schema", "sensitivity.schema.json")


class RunError(Exception):
    pass


class Reproducer:
    def __init__(self, args):
        self.a = args
        self.t0 = time.monotonic()
        self.tmp = tempfile.mkdtemp(prefix="tk-reproduce-")
        self.commands = []
        self.nrun = 0

    def log(self, msg):
        sys.stderr.write("reproduce [%5.1fs] %s\n" % (time.monotonic() - self.t0, msg))
        sys.stderr.flush()

    def bench(self, workload, strategy, extra=(), tag=None, impl=None):
        """Runs tk-bench once (never two at a time: the runs share 2 cores);
        returns its parsed JSON."""
        self.nrun += 1
        out = os.path.join(self.tmp, "%s-%s-%d.json" % (workload, tag or strategy, self.nrun))
        cmd = [self.a.bin, workload, "--strategy", strategy, "--json", out]
        impl = impl or self.a.impl
        if impl:
            cmd += ["--impl", impl]
        cmd += list(extra)
        self.commands.append(" ".join(cmd[:1] + cmd[1:]))
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=self.a.timeout)
        except subprocess.TimeoutExpired:
            raise RunError("timed out after %d s: %s" % (self.a.timeout, " ".join(cmd)))
        if p.returncode != 0 or not os.path.exists(out):
            tail = "\n".join((p.stderr or "").strip().splitlines()[-8:])
            raise RunError("tk-bench failed (exit %d): %s\n%s" % (p.returncode, " ".join(cmd), tail))
        with open(out) as f:
            return json.load(f)

    def valgrind_irefs(self, strategy, calls):
        cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
               self.a.bin, "steady-state", "--strategy", strategy, "--calls", str(calls),
               "--scale", str(self.valgrind_scale)]
        if self.a.impl:
            cmd += ["--impl", self.a.impl]
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True, timeout=self.a.timeout)
        except subprocess.TimeoutExpired:
            raise RunError("valgrind timed out: %s" % " ".join(cmd))
        if p.returncode != 0:
            raise RunError("valgrind run failed (exit %d): %s\n%s" % (
                p.returncode, " ".join(cmd), "\n".join(p.stderr.strip().splitlines()[-6:])))
        ir = L.parse_valgrind_irefs(p.stderr)
        if ir is None:
            raise RunError("no 'I refs' line in valgrind output: %s" % " ".join(cmd))
        return ir, " ".join(cmd)

    def selected(self, offered):
        """The strategies to run: the five published ones the implementation
        offers, then the ones --strategy names (any the implementation
        offers: README.md "Adding a strategy"; none is hard-coded here), in
        the implementation's order.  The published five always run, so the
        verdicts and baselines keep their meaning."""
        missing = [s for s in L.STRATEGIES if s not in offered]
        if missing and not getattr(self, "_told_missing", False):
            self._told_missing = True
            self.log("implementation lacks strategies %s; they are left out" % ", ".join(missing))
        out = [s for s in L.STRATEGIES if s in offered]
        wanted = [s for s in (self.a.strategy or "").split(",") if s]
        unknown = [s for s in wanted if s not in offered]
        if unknown:
            raise RunError("--strategy: %s not offered by the implementation (offers: %s)"
                           % (", ".join(unknown), ", ".join(offered)))
        return out + [s for s in offered if s in wanted and s not in out]

    # ---- 1. seed-vtable-test --------------------------------------------------------------
    def seed(self):
        self.log("seed-vtable-test: all strategies, deterministic (run 1/2)")
        j1 = self.bench("seed-vtable-test", "all", ["--deterministic"], tag="all-a")
        self.log("seed-vtable-test: all strategies, deterministic (run 2/2)")
        j2 = self.bench("seed-vtable-test", "all", ["--deterministic"], tag="all-b")
        self.first = j1
        strat = j1["strategies"]
        same = all(L.deterministic_counters(strat[s]) ==
                   L.deterministic_counters(j2["strategies"].get(s, {})) for s in strat)
        rows = L.seed_comparison(strat)
        return {
            "workload": self.workload_info(j1),
            "repeat_identical": same,
            "shape_matches": L.seed_verdict(rows),
            "strategies": {s: {"config": r["config"], "counters": r["counters"]} for s, r in strat.items()},
            "comparison": rows,
            # SPEC.md "Counting memory": counting stubs + infos per counted method
            "counting_bytes_per_counted_method": {
                s: r.get("counting_bytes_per_counted_method") for s, r in strat.items()},
            "tier_timeline": self.seed_timeline(j1),
        }

    def seed_timeline(self, j1):
        """A third run with the event trace on (the two compared runs stay
        untraced): methods at each tier over the trace's event sequence, per
        strategy.  {} when the implementation writes no trace file."""
        if "trace_file" not in (j1["implementation"].get("caps") or []):
            return {}
        self.log("seed-vtable-test: all strategies, deterministic, traced (tier timeline)")
        base = os.path.join(self.tmp, "seed-trace")
        self.bench("seed-vtable-test", "all", ["--deterministic", "--trace", base], tag="all-trace")
        out = {}
        for s in j1["strategies"]:
            path = base + "." + s if len(j1["strategies"]) > 1 else base
            if os.path.exists(path):
                with open(path) as f:
                    tl = L.tier_timeline(f)
                if tl:
                    out[s] = tl
        return out

    # ---- 2. orchard-like --------------------------------------------------------------------
    def as_merged_impl(self):
        """The as-merged driver (OWNING_SLOT_BYPASS mutant of the reference),
        or None when it does not apply (another --impl) or is not built."""
        if self.a.no_as_merged:
            return None
        path = self.a.as_merged_impl
        if path is None:
            if self.a.impl:
                return None                   # a mutant of the reference only
            path = os.path.join(ROOT, L.AS_MERGED_MUTANT)
        if not os.path.isfile(path):
            self.log("as-merged row left out: %s not built (make %s)" % (path, L.AS_MERGED_MUTANT))
            return None
        return path

    def orchard(self, strategies):
        rows = list(strategies)
        merged = self.as_merged_impl() if "precode-reuse" in strategies else None
        if merged:
            rows.append(L.AS_MERGED)
        order = L.alternating_order(rows, self.reps)
        runs = {s: [] for s in rows}
        extra = []
        if self.a.quick:
            extra.append("--quick")
        if self.a.orchard_scale != 1.0:
            extra += ["--scale", str(self.a.orchard_scale)]
        if self.orchard_time_scale != 1.0:
            extra += ["--time-scale", str(self.orchard_time_scale)]
        if self.orchard_threads:
            extra += ["--threads", str(self.orchard_threads)]
        last = None
        for i, (rep, s) in enumerate(order):
            self.log("orchard-like %d/%d: %s (repetition %d)" % (i + 1, len(order), s, rep + 1))
            if s == L.AS_MERGED:
                j = self.bench("orchard-like", L.AS_MERGED_STRATEGY, extra, tag="%s-r%d" % (s, rep),
                               impl=merged)
                runs[s].append(j["strategies"][L.AS_MERGED_STRATEGY])
            else:
                j = self.bench("orchard-like", s, extra, tag="%s-r%d" % (s, rep))
                runs[s].append(j["strategies"][s])
                last = j
        agg = L.orchard_summary(runs, baseline="forwarder")
        verdict = L.orchard_verdict(agg)
        out = {"workload": self.workload_info(last), "reps": self.reps,
               "window_ms": (next(iter(last["strategies"].values())).get("windows") or {}).get("window_ms"),
               "scale": self.a.orchard_scale, "time_scale": self.orchard_time_scale,
               "threads": last["workload"]["threads"],
               "order": [s for _, s in order], "strategies": {}, "verdict": verdict}
        if merged:
            out["as_merged"] = {"label": L.AS_MERGED_LABEL, "impl": merged,
                                "strategy": L.AS_MERGED_STRATEGY,
                                "verdict": L.orchard_verdict(
                                    agg, suspect=L.AS_MERGED, label=L.AS_MERGED_LABEL,
                                    explain=L.ORCHARD_EXPLAIN_COUNTERS + L.TIERING_COUNTERS),
                                "mechanism": L.as_merged_explanation(agg)}
        for s in rows:
            a = agg[s]
            out["strategies"][s] = {
                "config": runs[s][0]["config"], "counters": a["counters"],
                "requests_per_s": a["requests_per_s"], "ratio_vs_forwarder": a["ratio_vs_forwarder"],
                "lock_hold_share_pct": a["lock_hold_share_pct"],
                "measured_bodies_pct": a["measured_bodies_pct"],
                "time_to_steady_state_ms": a["time_to_steady_state_ms"],
                "time_to_steady_state_closest_pct": a["time_to_steady_state_closest_pct"],
                "time_to_steady_state_text": a["time_to_steady_state_text"],
                "first_request_us": a["first_request_us"],
                "windows": self.last_windows(runs[s][-1])}
        return out

    @staticmethod
    def last_windows(run):
        """The sampling windows of the last repetition: throughput per window."""
        w = run.get("windows") or {}
        return {k: w.get(k) for k in ("window_ms", "start_ms", "requests_per_s", "phase")} if w else None

    # ---- sensitivity of the as-merged regression (--sensitivity) ------------------------------
    def sensitivity(self):
        """forwarder vs the as-merged driver over a fixed grid of tier0_cost x
        owning-slot share (tk-bench --set), alternating, short runs."""
        merged = self.as_merged_impl()
        if not merged:
            raise RunError("--sensitivity needs the as-merged driver (%s; `make reproduce-sensitivity` "
                           "builds it) and the reference as --impl" % L.AS_MERGED_MUTANT)
        reps = self.a.reps or (2 if self.a.quick else 4)
        threads = self.a.threads or min(4, os.cpu_count() or 2)
        extra = ["--quick", "--threads", str(threads)]
        if self.a.orchard_scale != 1.0:
            extra += ["--scale", str(self.a.orchard_scale)]
        if self.a.quick:
            extra += ["--time-scale", "0.6"]
        points = L.sensitivity_points()
        runs = {p["id"]: {"forwarder": [], L.AS_MERGED: []} for p in points}
        order = []
        n = len(points) * 2 * reps
        k = 0
        first = None
        for rep in range(reps):
            for p in points:
                sets = [x for kv in p["sets"] for x in ("--set", kv)]
                for row in ("forwarder", L.AS_MERGED):
                    k += 1
                    self.log("sensitivity %d/%d: %s, %s (repetition %d)" % (k, n, p["id"], row, rep + 1))
                    if row == L.AS_MERGED:
                        j = self.bench("orchard-like", L.AS_MERGED_STRATEGY, extra + sets,
                                       tag="sens-%d-merged-r%d" % (k, rep), impl=merged)
                        runs[p["id"]][row].append(j["strategies"][L.AS_MERGED_STRATEGY])
                    else:
                        j = self.bench("orchard-like", "forwarder", extra + sets, tag="sens-%d-r%d" % (k, rep))
                        runs[p["id"]][row].append(j["strategies"]["forwarder"])
                        first = first or j
                    p["fingerprint"] = j["workload"]["fingerprint"]
                    order.append("%s:%s" % (p["id"], row))
        results = [L.sensitivity_point_summary(p, runs[p["id"]]["forwarder"], runs[p["id"]][L.AS_MERGED])
                   for p in points]
        pub = L.PUBLISHED["orchard_regression"]
        return {
            "schema_version": 1,
            "tool": "tierkit-reproduce-sensitivity",
            "note": L.SENSITIVITY_NOTE,
            "quick": bool(self.a.quick),
            "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "elapsed_s": round(time.monotonic() - self.t0, 1),
            "git_revision": first.get("git_revision", "unknown"),
            "machine": first["machine"],
            "implementation": first["implementation"],
            "as_merged_impl": merged,
            "published": {"regression_pct": [pub["regression_pct_low"], pub["regression_pct_high"]],
                          "source": pub["source"]},
            "workload": "orchard-like",
            "run": {"reps": reps, "threads": threads, "tk_bench_options": extra,
                    "durations": "tk-bench --quick%s" % (" --time-scale 0.6" if self.a.quick else "")},
            "grid": {"tier0_cost": L.SENSITIVITY_TIER0_COSTS,
                     "tier0_instrumented_cost": "tier0_cost + %g" % L.SENSITIVITY_T0I_GAP,
                     "owning_settings": L.SENSITIVITY_OWNING},
            "order": order,
            "points": results,
            "consistent_points": [p["id"] for p in results if p["consistent_with_published"]],
            "in_range_points": [p["id"] for p in results if p["in_published_range"]],
            "brackets": L.sensitivity_brackets(results),
            "commands": self.commands,
        }

    # ---- 3. steady-state ----------------------------------------------------------------------
    def steady(self, strategies):
        ns = {s: [] for s in strategies}
        last_run = {}
        info = None
        for rep, s in L.alternating_order(strategies, self.steady_reps):
            self.log("steady-state ns/call: %s (repetition %d/%d)" % (s, rep + 1, self.steady_reps))
            j = self.bench("steady-state", s, ["--deterministic"], tag="%s-r%d" % (s, rep))
            r = j["strategies"][s]
            if r.get("ns_per_call") is not None:
                ns[s].append(r["ns_per_call"])
            last_run[s] = r
            info = j
        instr = {s: None for s in strategies}
        have_vg = shutil.which("valgrind") is not None and not self.a.skip_valgrind
        note = ""
        if have_vg:
            # Instruction counts do not depend on what else runs, so these
            # (untimed, after every timed run) use every core: on 2 cores
            # this halves the longest part of a quick run.
            jobs = [(s, c) for s in strategies for c in (self.valgrind_calls, 0)]
            workers = max(1, min(len(jobs), os.cpu_count() or 1))
            self.log("steady-state instructions/call: %s (cachegrind, %d and 0 calls, %d at a time)"
                     % (", ".join(strategies), self.valgrind_calls, workers))
            with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex:
                got = list(ex.map(lambda j: self.valgrind_irefs(*j), jobs))
            self.commands += [cmd for _, cmd in got]
            irefs = {j: ir for j, (ir, _) in zip(jobs, got)}
            for s in strategies:
                instr[s] = L.instructions_per_call(irefs[(s, self.valgrind_calls)], irefs[(s, 0)],
                                                   self.valgrind_calls)
            note = ("instructions/call = (I refs with --calls %d - I refs with --calls 0) / %d, "
                    "steady-state at --scale %g under cachegrind"
                    % (self.valgrind_calls, self.valgrind_calls, self.valgrind_scale))
        else:
            note = "skipped (--skip-valgrind)" if self.a.skip_valgrind else "valgrind not found"
        summary = L.steady_summary(ns, instr, last_run, baseline="notier")
        out = {"workload": self.workload_info(info), "reps": self.steady_reps,
               "valgrind": {"available": have_vg, "tool": "cachegrind", "calls": self.valgrind_calls,
                            "scale": self.valgrind_scale, "note": note},
               "strategies": {}}
        for s in strategies:
            row = dict(summary[s])
            row["config"] = last_run[s]["config"]
            row["counters"] = last_run[s]["counters"]
            out["strategies"][s] = row
        return out

    @staticmethod
    def workload_info(j):
        w = j["workload"]
        return {"name": w["name"], "fingerprint": w["fingerprint"], "seed": w["seed"],
                "mode": w["mode"], "threads": w["threads"], "scale": w["scale"], "quick": w["quick"],
                "universe": w["universe"]}

    def run(self):
        a = self.a
        self.reps = a.reps or (2 if a.quick else 4)
        # shorter runs, more of them (noise on a shared 2-core host): full
        # mode runs orchard-like at 0.4x its durations, quick at 0.25x (--quick)
        self.orchard_time_scale = a.orchard_time_scale or (1.0 if a.quick else 0.4)
        # no more workers than cores: oversubscription turns scheduler time
        # slices into throughput noise
        self.orchard_threads = a.threads or min(4, os.cpu_count() or 2)
        self.steady_reps = a.steady_reps or (2 if a.quick else 3)
        self.valgrind_calls = 100000 if a.quick else 200000
        self.valgrind_scale = 0.25 if a.quick else 0.5
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        seed = self.seed()
        offered = self.first["implementation"].get("strategies") or []
        strategies = self.selected(offered)
        if "forwarder" not in strategies or "notier" not in strategies:
            raise RunError("the implementation must offer forwarder and notier (baselines); offers: %s"
                           % ", ".join(offered))
        orchard = self.orchard(strategies)
        steady = self.steady(strategies)
        doc = {
            "schema_version": 1,
            "tool": "tierkit-reproduce",
            "quick": bool(a.quick),
            "started_at": started,
            "elapsed_s": round(time.monotonic() - self.t0, 1),
            "git_revision": self.first.get("git_revision", "unknown"),
            "machine": self.first["machine"],
            "implementation": self.first["implementation"],
            "published": L.PUBLISHED,
            "commands": self.commands,
            "seed_vtable_test": seed,
            "orchard_like": orchard,
            "steady_state": steady,
        }
        return doc, strategies


def render_text(doc, strategies, markdown=False):
    md = markdown
    out = []
    h = (lambda t: out.append("\n## " + t + "\n")) if md else (lambda t: out.append("\n== " + t))
    m = doc["machine"]
    if md:
        out.append("# tierkit: reproduction of the published tiering figures\n")
    out.append("git %s; %s %s %s, %d CPUs (%s); implementation %s %s; %s mode; %.0f s"
               % (doc["git_revision"], m["sysname"], m["release"], m["arch"], m["nproc"], m["cpu_model"],
                  doc["implementation"]["name"], doc["implementation"]["version"],
                  "quick" if doc["quick"] else "full", doc["elapsed_s"]))
    # 1
    sv = doc["seed_vtable_test"]
    h("1. seed-vtable-test vs PR #125359 (deterministic; counters non-final/final)")
    out.append("workload fingerprint %s; repeated run identical: %s; published shape (lazy 0 in "
               "non-final tiers, eager strategies > 0): %s\n"
               % (sv["workload"]["fingerprint"], "yes" if sv["repeat_identical"] else "NO",
                  "holds" if sv["shape_matches"] else "DOES NOT HOLD"))
    out.append(L.seed_table(sv["comparison"], md))
    out.append("")
    out.append(L.commit_table(md))
    out.append("")
    for r in sv["comparison"]:
        out.append(("- " if md else "  ") + "%s: %s" % (r["counter"], r["why"]))
    out.append(("- " if md else "  ") + "note: " + L.PUBLISHED["pr125359_commit"]["note"])
    cb = sv.get("counting_bytes_per_counted_method") or {}
    if cb:
        out.append(("- " if md else "  ") + "counting memory per counted method (counting stubs + "
                   "counting infos / methods counted; CoreCLR x64 ~88.5 B, PR #67563): " +
                   ", ".join("%s %s" % (s, "n/a" if v is None else "%.1f B" % v) for s, v in cb.items()))
    # 2
    ol = doc["orchard_like"]
    h("2. orchard-like, threaded: ratios against forwarder")
    rows = list(strategies) + ([L.AS_MERGED] if L.AS_MERGED in ol["strategies"] else [])
    out.append("%d repetition(s), order %s; %d threads; durations x%g; measured = measured + "
               "measured2 windows; req/s is the median over repetitions, spread = (max - min) / mean\n"
               % (ol["reps"], " ".join(ol["order"]), ol["threads"],
                  ol.get("time_scale", 1.0) * (0.25 if doc["quick"] else 1.0)))
    agg = {s: {"requests_per_s": v["requests_per_s"], "counters": v["counters"],
               "ratio_vs_forwarder": v["ratio_vs_forwarder"],
               "measured_bodies_pct": v.get("measured_bodies_pct")} for s, v in ol["strategies"].items()}
    out.append(L.orchard_table(agg, rows, "forwarder", md))
    out.append("")
    out.append(("- " if md else "  ") + ol["verdict"]["explanation"])
    if "as_merged" in ol:
        out.append(("- " if md else "  ") + ol["as_merged"]["verdict"]["explanation"])
        out.append(("- " if md else "  ") + "mechanism: " + ol["as_merged"]["mechanism"]["text"])
    out.append("")
    out.append("Tiering state per row (end of run, means over repetitions; body executions in "
               "the measured windows by the tier that ran them):\n")
    out.append(L.tiering_table(agg, rows, md))
    out.append("")
    tts = {s: {"time_to_steady_state_text": v.get("time_to_steady_state_text")}
           for s, v in ol["strategies"].items()}
    out.append("Time to steady state (end of the first %s window, from the start of warmup, whose "
               "rate is within 2%% of the measured mean; per repetition; when there is none, the "
               "window closest to the mean): %s"
               % (("%g ms" % ol["window_ms"]) if ol.get("window_ms") else "sampling", L.tts_line(tts, rows)))
    # 3
    ss = doc["steady_state"]
    h("3. steady-state: ns/call and instructions/call against notier")
    out.append("%d repetition(s) for ns/call; valgrind: %s\n" % (ss["reps"], ss["valgrind"]["note"]))
    out.append(L.steady_table(ss["strategies"], strategies, "notier", md))
    out.append("")
    for s in strategies:
        out.append(("- " if md else "  ") + "%s: %s" % (s, ss["strategies"][s]["why"]))
    return "\n".join(out) + "\n"


def render_sensitivity(doc, markdown=False):
    md = markdown
    out = []
    m = doc["machine"]
    lo, hi = doc["published"]["regression_pct"]
    if md:
        out.append("# tierkit: sensitivity of the as-merged orchard-like regression\n")
    else:
        out.append("== sensitivity of the as-merged orchard-like regression (PR #124664 as merged vs forwarder)")
    out.append("git %s; %s %s %s, %d CPUs (%s); %s; %s mode; %.0f s"
               % (doc["git_revision"], m["sysname"], m["release"], m["arch"], m["nproc"], m["cpu_model"],
                  doc["as_merged_impl"], "quick" if doc["quick"] else "full", doc["elapsed_s"]))
    out.append("")
    out.append(("**Not a fit.** " if md else "NOT A FIT. ") + doc["note"])
    out.append("")
    out.append("%d repetition(s) per point, forwarder and as-merged alternating (%s, %d threads); "
               "regression = 1 - as-merged/forwarder median req/s over both measured windows; noise as "
               "in table 2 (spread, or 2x the window standard error); published %.0f-%.0f%%; "
               "'consistent' = the published band overlaps regression +- noise\n"
               % (doc["run"]["reps"], doc["run"]["durations"], doc["run"]["threads"], lo, hi))
    out.append(L.sensitivity_table(doc["points"], md))
    out.append("")
    b = "- " if md else "  "
    for line in doc["brackets"]:
        out.append(b + line)
    out.append(b + "within %.0f-%.0f%%: %s" % (lo, hi, ", ".join(doc["in_range_points"]) or "no grid point"))
    out.append(b + "consistent within noise: %s" % (", ".join(doc["consistent_points"]) or "no grid point"))
    return "\n".join(out) + "\n"


def parse_args(argv):
    p = argparse.ArgumentParser(description="Reproduce the published tiering figures (make reproduce).")
    p.add_argument("--quick", action="store_true", default=os.environ.get("REPRODUCE_QUICK", "") not in ("", "0"),
                   help="shorter runs (also REPRODUCE_QUICK=1); target < 60 s")
    p.add_argument("--bin", default=os.path.join(ROOT, "build", "bin", "tk-bench"), help="tk-bench binary")
    p.add_argument("--impl", default=None, help="driver library (default: tk-bench's default)")
    p.add_argument("--strategy", default=None, metavar="S[,S..]",
                   help="also run these strategies the implementation offers, after the five published "
                        "ones (e.g. --strategy eager-final)")
    p.add_argument("--out", default=os.path.join(ROOT, "results"), help="output directory")
    p.add_argument("--reps", type=int, default=0, help="orchard-like repetitions (default 4, quick 2)")
    p.add_argument("--steady-reps", type=int, default=0, help="steady-state ns/call repetitions (default 3, quick 2)")
    p.add_argument("--orchard-scale", type=float, default=1.0, help="--scale for orchard-like runs")
    p.add_argument("--threads", type=int, default=0,
                   help="orchard-like worker threads (default: the number of CPUs, at most 4)")
    p.add_argument("--orchard-time-scale", type=float, default=0.0,
                   help="orchard-like --time-scale (default 0.4, quick 1 on top of --quick)")
    p.add_argument("--as-merged-impl", default=None,
                   help="driver for the as-merged row (default: %s when --impl is not given)"
                        % L.AS_MERGED_MUTANT)
    p.add_argument("--no-as-merged", action="store_true", help="leave out the as-merged row")
    p.add_argument("--skip-valgrind", action="store_true", help="no instruction counts")
    p.add_argument("--sensitivity", action="store_true",
                   help="instead of the three tables: the as-merged regression over a grid of "
                        "tier0_cost x owning-slot share (results/sensitivity.json, .md; < 4 min)")
    p.add_argument("--timeout", type=int, default=300, help="per-run timeout, seconds")
    p.add_argument("--history", default=None,
                   help="tk-track history to record the run in (default OUT/history.sqlite)")
    p.add_argument("--no-history", action="store_true", help="do not record the run in the history")
    a = p.parse_args(argv)
    if a.reps < 0 or a.steady_reps < 0 or a.threads < 0 or not a.orchard_scale > 0 \
            or a.orchard_time_scale < 0:
        p.error("--reps, --steady-reps, --threads must be >= 0 and --orchard-scale > 0")
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if not (os.path.isfile(a.bin) and os.access(a.bin, os.X_OK)):
        sys.stderr.write("reproduce: %s not found or not executable; build it with `make native`\n" % a.bin)
        return 2
    if a.impl and not os.path.isfile(a.impl):
        sys.stderr.write("reproduce: implementation %s not found\n" % a.impl)
        return 2
    r = Reproducer(a)
    if a.sensitivity:
        return sensitivity_main(a, r)
    ok, res = run_cleaned(r, r.run)
    if not ok:
        return 1
    doc, strategies = res
    if not matches_schema(doc, SCHEMA):
        return 1
    text = render_text(doc, strategies)
    sys.stdout.write(text)
    write_atomic(os.path.join(a.out, "reproduce.json"), json.dumps(doc, indent=2, sort_keys=False) + "\n")
    write_atomic(os.path.join(a.out, "reproduce.md"), render_text(doc, strategies, markdown=True))
    r.log("wrote %s and %s" % (os.path.join(a.out, "reproduce.json"), os.path.join(a.out, "reproduce.md")))
    return record_history(a, doc, r)


def record_history(a, doc, r):
    """Records the run into tk-track's history (README "Tracking performance
    in CI"); a history that cannot be written is an infrastructure error."""
    if a.no_history:
        return 0
    from track import history as H, ingest
    path = a.history or os.path.join(a.out, "history.sqlite")
    try:
        rid = ingest.record_reproduce(doc, path)
    except H.HistoryError as e:
        sys.stderr.write("reproduce: not recorded in the history: %s\n" % e)
        return 2
    r.log("recorded as run %d in %s (tk-track log / report)" % (rid, path))
    return 0


def run_cleaned(r, run):
    """Calls run(); a RunError is reported on stderr.  The scratch directory
    goes either way.  Returns (True, result), or (False, None) on error."""
    try:
        return True, run()
    except RunError as e:
        sys.stderr.write("reproduce: %s\n" % e)
        return False, None
    finally:
        shutil.rmtree(r.tmp, ignore_errors=True)


def matches_schema(doc, schema_path):
    """Checks doc against the JSON schema at schema_path before anything is
    written; reports the first 20 problems on stderr."""
    with open(schema_path) as f:
        schema = json.load(f)
    errors = schema_check.validate(doc, schema)
    if errors:
        sys.stderr.write("reproduce: output does not match %s:\n  %s\n"
                         % (schema_path, "\n  ".join(errors[:20])))
        return False
    return True


def sensitivity_main(a, r):
    ok, doc = run_cleaned(r, r.sensitivity)
    if not ok:
        return 1
    if not matches_schema(doc, SENSITIVITY_SCHEMA):
        return 1
    sys.stdout.write(render_sensitivity(doc))
    write_atomic(os.path.join(a.out, "sensitivity.json"), json.dumps(doc, indent=2) + "\n")
    write_atomic(os.path.join(a.out, "sensitivity.md"), render_sensitivity(doc, markdown=True))
    r.log("wrote %s and %s" % (os.path.join(a.out, "sensitivity.json"), os.path.join(a.out, "sensitivity.md")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

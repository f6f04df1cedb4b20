#!/usr/bin/env python3
"""reference/tests/golden.py — the reference runtime's golden behaviour test.

Regenerates, for every strategy the reference driver offers, the
deterministic behaviour the restructuring of reference/ must not change
(reference/tests/golden/README.md), and compares it exactly with the files
recorded in reference/tests/golden/:

  STRATEGY/scenarios.json      counters, final method states and call hashes
                               of the scripted scenarios (tk-golden-scenarios)
  STRATEGY/trace-SCENARIO.jsonl
                               the scenarios' traces (TK_Trace), addresses
                               renamed @1, @2, ... in order of appearance
  STRATEGY/bench.json          tk-bench --deterministic: counters and every
                               other non-timing figure of seed-vtable-test,
                               steady-state and megamorphic
  STRATEGY/conform.json        tk-conform: status of every test (a test added
                               later that PASSes or is UNSUPPORTED is
                               reported, not a failure)
  STRATEGY/instr.json          instructions per call of tk-bench steady-state
                               under cachegrind ((Ir(N calls) - Ir(0)) / N),
                               compared within INSTR_TOL (clock-read noise)
  bench-instr.json             tk-instr-paths: instructions per call of every
                               stub-layer dispatch path (bench/instr_report.py),
                               also within INSTR_TOL

usage: golden.py [--build DIR] [--golden DIR] [--strategy S[,S..]]
                 [--update] [--no-valgrind] [--keep DIR]
  --update       re-record the golden files (make golden-update); commit them
                 with the reason the behaviour changed
  --no-valgrind  skip the instruction counts (for a quick local check)
Prints one PASS/FAIL line per file, a unified diff (first 40 lines) for
every mismatch, and ends with "N passed, N failed".  Exit 1 on a mismatch,
2 on a usage or tool error."""
import argparse, difflib, json, os, re, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
INSTR_CALLS = 200000
INSTR_SCALE = "0.25"
# tk-bench reads the clock around its loops, so a run's instruction total
# moves by a few hundred instructions from run to run (measured: +-0.035 per
# call at 20000 calls, +-0.002 at 200000); a stub or slot that gains one
# instruction moves it by >= 1.  instr.json therefore compares within this tolerance, every
# other file exactly.
INSTR_TOL = 0.1
BENCH_WORKLOADS = [("seed-vtable-test", []), ("steady-state", ["--calls", "2000"]),
                   ("megamorphic", ["--quick"])]
TIMING_KEY = re.compile(r"(_ms|_us|_ns|_per_s)$|^latency_|^ns_per_call$|^Trace$|^windows$|^time_to_")
ADDR = re.compile(r"^0x[0-9a-f]+$")


class ToolError(Exception):
    pass


def run(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, **kw)
    return p


def stable(v):
    """v without the figures that depend on time (durations, rates, paths)."""
    if isinstance(v, dict):
        return {k: stable(x) for k, x in v.items() if not TIMING_KEY.search(k)}
    if isinstance(v, list):
        return [stable(x) for x in v]
    return v


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True) + "\n"


def normalize_trace(path):
    """The trace with run-dependent addresses renamed in order of first
    appearance (the same event sequence gives the same names), so two runs
    compare line by line."""
    names = {"0x0": "0x0"}

    def ren(v):
        if isinstance(v, dict):
            return {k: ren(x) for k, x in v.items()}
        if isinstance(v, list):
            return [ren(x) for x in v]
        if isinstance(v, str) and ADDR.match(v):
            if v not in names:
                names[v] = "@%d" % len(names)
            return names[v]
        return v

    out = []
    with open(path) as f:
        for line in f:
            ev = json.loads(line)
            if ev.get("type") == "header":
                ev.get("config", {}).pop("Trace", None)
            out.append(json.dumps(ren(ev), sort_keys=True))
    return "\n".join(out) + "\n"


def scenarios(a, strategy, tmp):
    d = os.path.join(tmp, "trace-" + strategy)
    os.makedirs(d, exist_ok=True)
    p = run([os.path.join(a.build, "bin", "tk-golden-scenarios"), strategy, d])
    if p.returncode != 0:
        raise ToolError("tk-golden-scenarios %s failed (exit %d): %s" % (strategy, p.returncode, p.stderr.strip()))
    files = {}
    recs = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    files["scenarios.json"] = dump(recs)
    for r in recs:
        files["trace-%s.jsonl" % r["scenario"]] = normalize_trace(os.path.join(d, r["scenario"] + ".jsonl"))
    return files


def bench(a, strategy, tmp):
    out = {}
    for wl, extra in BENCH_WORKLOADS:
        js = os.path.join(tmp, "bench-%s-%s.json" % (strategy, wl))
        cmd = [os.path.join(a.build, "bin", "tk-bench"), wl, "--deterministic", "--strategy", strategy,
               "--json", js] + extra
        p = run(cmd)
        if p.returncode != 0:
            raise ToolError("%s failed (exit %d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[-400:]))
        with open(js) as f:
            out[wl] = stable(json.load(f)["strategies"][strategy])
    return {"bench.json": dump(out)}


def conform(a, strategy, tmp):
    js = os.path.join(tmp, "conform-%s.json" % strategy)
    cmd = [os.path.join(a.build, "bin", "tk-conform"), "--impl", os.path.join(a.build, "lib", "libtk_ref_driver.so"),
           "--config", "Strategy=" + strategy, "--json", js]
    # The expectations the conform suites use (known defects marked SKIP with
    # the issue that fixes them), so a known timing-dependent failure does not
    # make this file flaky; fixing one changes its status here on purpose.
    expect = os.path.join(ROOT, "conformance", "expectations", "reference.txt")
    if os.path.exists(expect):
        cmd += ["--expect", expect]
    p = run(cmd)
    if p.returncode == 2 or not os.path.exists(js):
        raise ToolError("%s failed (exit %d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[-400:]))
    with open(js) as f:
        doc = json.load(f)
    return {"conform.json": dump({t["name"]: t["status"] for t in doc["tests"]})}


def irefs(cmd):
    p = run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"] + cmd)
    m = re.search(r"I\s+refs:\s+([\d,]+)", p.stderr)
    if p.returncode != 0 or not m:
        raise ToolError("valgrind %s failed (exit %d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[-400:]))
    return int(m.group(1).replace(",", ""))


def instr(a, strategy, tmp):
    base = [os.path.join(a.build, "bin", "tk-bench"), "steady-state", "--strategy", strategy, "--scale", INSTR_SCALE]
    n = irefs(base + ["--calls", str(INSTR_CALLS)]) - irefs(base + ["--calls", "0"])
    return {"instr.json": dump({"workload": "steady-state", "scale": INSTR_SCALE, "calls": INSTR_CALLS,
                                "instructions_per_call": "%.4f" % (n / INSTR_CALLS)})}


def bench_instr(a, tmp):
    out = os.path.join(tmp, "bench-instr.json")
    p = run([sys.executable, os.path.join(ROOT, "bench", "instr_report.py"),
             os.path.join(a.build, "bin", "tk-instr-paths"), "100000", out])
    if p.returncode != 0:
        raise ToolError("bench/instr_report.py failed (exit %d): %s" % (p.returncode, p.stderr.strip()[-400:]))
    with open(out) as f:
        doc = json.load(f)
    return {"bench-instr.json": dump({"calls_per_path": doc["calls_per_path"],
                                      "instructions_per_call": {r["path"]: "%.3f" % r["instructions_per_call"]
                                                                for r in doc["paths"]}})}


def new_passing_tests(rel, want, text):
    """conform.json: equal except for tests added to the suite after the
    recording that PASS or are UNSUPPORTED (such a test says nothing changed
    in the runtime; one that fails, or a recorded test whose status changed or that
    disappeared, is a difference).  Returns the new tests' names, or None
    when the files differ otherwise."""
    if os.path.basename(rel) != "conform.json":
        return None
    w, t = json.loads(want), json.loads(text)
    added = sorted(k for k in t if k not in w)
    if any(t[k] not in ("PASS", "UNSUPPORTED") for k in added) or {k: t[k] for k in w if k in t} != w or any(k not in t for k in w):
        return None
    return added


def same_within_noise(rel, want, text):
    """instr.json and bench-instr.json: equal apart from instruction counts
    per call, which may differ by at most INSTR_TOL (clock reads and loop
    set-up move a run's total by a few hundred instructions)."""
    if os.path.basename(rel) not in ("instr.json", "bench-instr.json"):
        return False

    def close(w, t):
        if isinstance(w, dict) and isinstance(t, dict):
            return w.keys() == t.keys() and all(close(w[k], t[k]) for k in w)
        if isinstance(w, str) and isinstance(t, str) and re.match(r"^\d+\.\d+$", w) and re.match(r"^\d+\.\d+$", t):
            return abs(float(w) - float(t)) <= INSTR_TOL
        return w == t

    return close(json.loads(want), json.loads(text))


def offered_strategies(a):
    """The strategies the reference driver offers (tk-bench --help does not
    list them; tk-conform's JSON report names the driver's)."""
    p = run([os.path.join(a.build, "bin", "tk-golden-scenarios"), "--list"])
    names = [l.strip() for l in p.stdout.splitlines() if l.strip()]
    if p.returncode != 0 or not names:
        raise ToolError("tk-golden-scenarios --list failed: %s" % p.stderr.strip())
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--golden", default=os.path.join(HERE, "golden"))
    ap.add_argument("--strategy", help="comma-separated (default: every strategy the reference offers)")
    ap.add_argument("--update", action="store_true")
    ap.add_argument("--no-valgrind", action="store_true")
    ap.add_argument("--keep", help="also write the regenerated files to this directory")
    a = ap.parse_args()
    if not a.no_valgrind and not shutil.which("valgrind"):
        print("golden.py: valgrind not found (install it, or --no-valgrind)", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="tk-golden-")
    passed = failed = 0
    try:
        strategies = a.strategy.split(",") if a.strategy else offered_strategies(a)
        produced = {}
        for s in strategies:
            print("golden: %s" % s, file=sys.stderr, flush=True)
            files = {}
            for step in (scenarios, bench, conform) + (() if a.no_valgrind else (instr,)):
                files.update(step(a, s, tmp))
            produced.update({os.path.join(s, k): v for k, v in files.items()})
        if not a.no_valgrind:
            produced.update(bench_instr(a, tmp))
    except ToolError as e:
        print("golden.py: %s" % e, file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for rel, text in sorted(produced.items()):
        if a.keep:
            os.makedirs(os.path.dirname(os.path.join(a.keep, rel)) or a.keep, exist_ok=True)
            with open(os.path.join(a.keep, rel), "w") as f:
                f.write(text)
        path = os.path.join(a.golden, rel)
        if a.update:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            print("RECORDED %s" % rel)
            passed += 1
            continue
        if not os.path.exists(path):
            print("FAIL %s: no recorded file (new strategy? run make golden-update)" % rel)
            failed += 1
            continue
        with open(path) as f:
            want = f.read()
        added = None if want == text else new_passing_tests(rel, want, text)
        if want == text or same_within_noise(rel, want, text) or added is not None:
            print("PASS %s%s" % (rel, " (new tests that pass, not recorded yet: %s)" % ", ".join(added)
                                  if added else ""))
            passed += 1
        else:
            print("FAIL %s: differs from the recorded behaviour" % rel)
            diff = list(difflib.unified_diff(want.splitlines(), text.splitlines(), "recorded/" + rel,
                                             "now/" + rel, n=2, lineterm=""))
            for line in diff[:40]:
                print("    " + line)
            if len(diff) > 40:
                print("    ... %d more diff lines (golden.py --keep DIR writes the new files)" % (len(diff) - 40))
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

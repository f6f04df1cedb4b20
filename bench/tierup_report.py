#!/usr/bin/env python3
"""bench/tierup_report.py — runtime instructions per tiered method, per
strategy and size, from tk-tierup under valgrind cachegrind (deterministic).

usage: tierup_report.py TK-TIERUP IMPL.so OUT.json [--sizes N,N,..]
           [--strategies S,S,..] [--config K=V].. [--max-growth X]

For every (strategy, size): one native run finds the rounds tk-tierup needs
to bring every method to its final tier; then two cachegrind runs with
--no-destroy: A = those rounds, B = --rounds 0 (the same setup, no call).
Per function, A - B is what the tier-up executed; the runtime's share is
every function except tk-tierup's own code (bench/tierup.c: the call loop
and the method bodies) and code without a symbol (the generated stubs and
method entries, measured by `make bench-instr`).  So the figure counts the
runtime's handlers, background work, backpatching, allocation, locks and
everything they call in libc, ld.so and liburcu.  Lock instructions: the
pthread mutex functions, the runtime's lock wrappers (and their rank
checker's thread-local lookups).

Why cachegrind and not callgrind: callgrind's cost grows faster than
linearly with the number of distinct generated code addresses (every method
entry and stub is one), measured 7.6 s for 3,000 methods and 53 s for
10,000; cachegrind stays linear, so 300,000 methods take minutes.

--max-growth X: exit 1 unless, per strategy, instructions per method at the
largest size are at most X times those at the smallest (flatness).
"""
import json, os, re, subprocess, sys, tempfile, time

LOCK_FN = re.compile(r"(^|[^a-z])(pthread_mutex_(lock|unlock|trylock)|__pthread_mutex_(lock|unlock)"
                     r"(_full|_usercnt)?|lll_lock_wait|__lll_lock_wait|__lll_lock_wake|"
                     r"tkr_lock|tkr_unlock|tkr_bp_lock|tkr_bp_unlock|lock_rank_check|__tls_get_addr|"
                     r"update_get_addr)")
BENCH_FILE = "bench/tierup.c"
DEFAULT_STRATEGIES = ["notier", "forwarder", "precode-reuse", "lazy", "entry-cell"]


def fail(msg, code=2):
    print("tierup_report.py: " + msg, file=sys.stderr)
    sys.exit(code)


def cachegrind(cmd):
    """{(file, function): Ir} of one run."""
    with tempfile.NamedTemporaryFile(prefix="tk-tierup-cg-", delete=False) as f:
        out = f.name
    try:
        r = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no",
                            "--cachegrind-out-file=" + out] + cmd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            fail("%s failed under cachegrind (exit %d): %s" % (" ".join(cmd), r.returncode,
                                                               r.stderr.strip()[-500:]), 1)
        costs, fl, fn = {}, "", ""
        with open(out) as fh:
            for line in fh:
                if line.startswith("fl="):
                    fl = line[3:].strip()
                elif line.startswith("fn="):
                    fn = line[3:].strip()
                elif line[:1].isdigit():
                    parts = line.split()
                    if len(parts) >= 2:
                        costs[(fl, fn)] = costs.get((fl, fn), 0) + int(parts[1])
        return costs
    finally:
        os.unlink(out)


def measure(binary, impl, strategy, n, config):
    base = [binary, "--impl", impl, "--strategy", strategy, "--methods", str(n)]
    for kv in config:
        base += ["--config", kv]
    r = subprocess.run(base, capture_output=True, text=True)
    if r.returncode != 0:
        fail("%s: %s" % (" ".join(base), r.stderr.strip()), 1)
    native = json.loads(r.stdout)
    rounds = native["rounds"]
    a = cachegrind(base + ["--rounds", str(rounds), "--no-destroy"])
    b = cachegrind(base + ["--rounds", "0", "--no-destroy"])
    runtime = locks = bench = generated = 0
    for key in set(a) | set(b):
        d = a.get(key, 0) - b.get(key, 0)
        fl, fn = key
        if fl.endswith(BENCH_FILE):
            bench += d
        elif fl == "???" and fn.startswith("0x"):
            generated += d
        else:
            runtime += d
            if LOCK_FN.search(fn):
                locks += d
    m = native["methods"]
    return {"strategy": strategy, "methods": m, "rounds": rounds, "calls": native["calls"],
            "config": native["config"],
            "runtime_instructions": runtime,
            "runtime_instructions_per_method": round(runtime / m, 1),
            "lock_instructions_per_method": round(locks / m, 1),
            "lock_share": round(locks / runtime, 4) if runtime else 0.0,
            "generated_code_instructions_per_method": round(generated / m, 1),
            "driver_loop_instructions_per_method": round(bench / m, 1)}


def main():
    args = sys.argv[1:]
    if len(args) < 3 or "--help" in args:
        print(__doc__)
        sys.exit(0 if "--help" in args else 2)
    binary, impl, out = args[:3]
    sizes, strategies, config, max_growth = [1000, 10000, 100000, 300000], DEFAULT_STRATEGIES, [], None
    rest = args[3:]
    while rest:
        opt = rest.pop(0)
        if not rest:
            fail("%s needs a value" % opt)
        val = rest.pop(0)
        try:
            if opt == "--sizes":
                sizes = [int(x) for x in val.split(",")]
                if any(s < 8 for s in sizes):
                    raise ValueError
            elif opt == "--strategies":
                strategies = [s for s in val.split(",") if s]
            elif opt == "--config":
                if "=" not in val:
                    raise ValueError
                config.append(val)
            elif opt == "--max-growth":
                max_growth = float(val)
            else:
                fail("unknown option %s" % opt)
        except ValueError:
            fail("%s: bad value '%s'" % (opt, val))
    for p in (binary, impl):
        if not os.path.exists(p):
            fail("%s: no such file (run make first)" % p)
    rows = []
    print("%-14s %8s %7s %16s %12s %10s" % ("strategy", "methods", "rounds", "runtime instr/m",
                                           "lock instr/m", "lock share"))
    for s in strategies:
        for n in sizes:
            t0 = time.time()
            r = measure(binary, impl, s, n, config)
            rows.append(r)
            print("%-14s %8d %7d %16.1f %12.1f %9.1f%%   (%.0f s)" % (
                s, r["methods"], r["rounds"], r["runtime_instructions_per_method"],
                r["lock_instructions_per_method"], 100 * r["lock_share"], time.time() - t0),
                flush=True)
    doc = {"schema_version": 1, "tool": "valgrind --tool=cachegrind --cache-sim=no",
           "binary": binary, "impl": impl, "config": config,
           "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "definition": "per function, Ir(tier-up rounds) - Ir(set-up only), summed over every "
                         "function except tk-tierup's (bench/tierup.c) and unsymbolised generated "
                         "code; divided by the methods brought to their final tier",
           "rows": rows}
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, out)
    print("wrote " + out)
    if max_growth is not None:
        bad = []
        for s in strategies:
            rs = sorted((r for r in rows if r["strategy"] == s), key=lambda r: r["methods"])
            if len(rs) >= 2 and rs[0]["runtime_instructions_per_method"] > 0:
                g = rs[-1]["runtime_instructions_per_method"] / rs[0]["runtime_instructions_per_method"]
                ok = g <= max_growth
                print("%s %s: instructions per method grow x%.3f from %d to %d methods (limit x%.2f)"
                      % ("PASS" if ok else "FAIL", s, g, rs[0]["methods"], rs[-1]["methods"], max_growth))
                if not ok:
                    bad.append(s)
        sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

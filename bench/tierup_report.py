#!/usr/bin/env python3
"""bench/tierup_report.py — the runtime's instructions per tiered method,
per strategy and size, from tk-tierup under valgrind (deterministic).

usage: tierup_report.py TK-TIERUP IMPL.so OUT.json [--sizes N,N,..]
           [--strategies S,S,..] [--config K=V].. [--locks-upto N]
           [--max-growth X]

For every (strategy, size): one native run finds the rounds tk-tierup needs
to bring every method to its final tier; then two cachegrind runs with
--no-destroy: A = those rounds, B = --rounds 0 (the same set-up, no call).
Per function, A - B is what the tier-up executed.  Definitions (one module,
harness/track/tierup.py, shared with tk-track's tk-tierup runner):
  runtime instr/m   every function but tk-tierup's own (bench/tierup.c) and
                    the generated code without a symbol (stubs and method
                    entries, per call: `make bench-instr`)
  lock instr/m      the mutex functions and the runtime's lock wrappers among them
  +generated        runtime + generated code: the definition of the figures
                    published before 2026-11-27 (they included the stubs)
  lock acq/m        calls to pthread_mutex_lock/trylock (callgrind) for sizes
                    up to --locks-upto (default 10000: callgrind's cost grows
                    faster than linearly with generated code addresses)
  counting B/m      counting stubs + infos per counted method after the run

Why cachegrind for instructions: callgrind took 7.6 s for 3,000 methods and
53 s for 10,000; cachegrind grows more slowly (valgrind's translation table
still makes 300,000 methods cost minutes per run).

--max-growth X: exit 1 unless, per strategy, instructions per method at the
largest size are at most X times those at the smallest (flatness).
"""
import json, os, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "harness"))
from track import tierup as T  # noqa: E402

DEFAULT_STRATEGIES = ["notier", "forwarder", "precode-reuse", "lazy", "entry-cell"]


def fail(msg, code=2):
    print("tierup_report.py: " + msg, file=sys.stderr)
    sys.exit(code)


def main():
    args = sys.argv[1:]
    if len(args) < 3 or "--help" in args:
        print(__doc__)
        sys.exit(0 if "--help" in args else 2)
    binary, impl, out = args[:3]
    sizes, strategies, config, max_growth, locks_upto = [1000, 10000, 100000, 300000], DEFAULT_STRATEGIES, [], None, 10000
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
            elif opt == "--locks-upto":
                locks_upto = int(val)
            else:
                fail("unknown option %s" % opt)
        except ValueError:
            fail("%s: bad value '%s'" % (opt, val))
    for p in (binary, impl):
        if not os.path.exists(p):
            fail("%s: no such file (run make first)" % p)
    rows = []
    print("%-14s %8s %6s %15s %12s %6s %13s %10s %11s" % (
        "strategy", "methods", "rounds", "runtime instr/m", "lock instr/m", "share", "+generated",
        "lock acq/m", "counting B/m"), flush=True)
    for s in strategies:
        for n in sizes:
            t0 = time.time()
            try:
                r = T.measure(T.base_command(binary, impl, s, n, config), acquisitions=n <= locks_upto)
            except T.TierupError as e:
                fail(str(e), 1)
            r.pop("counters")
            fns = r.pop("functions")
            r["top_functions"] = dict(sorted(fns.items(), key=lambda kv: -kv[1])[:15])
            r["strategy"] = s
            r["runtime_and_generated_instructions_per_method"] = round(
                r["runtime_instructions_per_method"] + r["generated_code_instructions_per_method"], 1)
            rows.append(r)
            acq = r.get("lock_acquisitions_per_method")
            cb = r["counting_bytes_per_counted_method"]
            print("%-14s %8d %6d %15.1f %12.1f %5.1f%% %13.1f %10s %11s   (%.0f s)" % (
                s, r["methods"], r["rounds"], r["runtime_instructions_per_method"],
                r["lock_instructions_per_method"], 100 * r["lock_share"],
                r["runtime_and_generated_instructions_per_method"],
                "-" if acq is None else "%.2f" % acq, "-" if cb is None else "%.1f" % cb,
                time.time() - t0), flush=True)
    doc = {"schema_version": 2, "tool": "valgrind cachegrind (instructions), callgrind (lock acquisitions)",
           "binary": binary, "impl": impl, "config": config,
           "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "definition": "per function, Ir(tier-up rounds) - Ir(set-up only), summed over every "
                         "function except tk-tierup's (bench/tierup.c) and unsymbolised generated "
                         "code; divided by the methods brought to their final tier "
                         "(harness/track/tierup.py)",
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

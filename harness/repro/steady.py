"""steady-state: ns/call and instructions/call (cachegrind) against notier.
Pure logic (no processes, no files); harness/reproduce.py does the I/O."""

import statistics

from .runs import counter, ratio, spread_pct


def parse_valgrind_irefs(text):
    """Total instructions from cachegrind's summary ('I refs: 1,234')."""
    for line in text.splitlines():
        if "I" in line and "refs:" in line:
            tail = line.split("refs:", 1)[1].strip().replace(",", "")
            num = tail.split()[0] if tail else ""
            if num.isdigit():
                return int(num)
    return None


def instructions_per_call(ir_with, ir_without, calls):
    if ir_with is None or ir_without is None or calls <= 0:
        return None
    return (ir_with - ir_without) / calls


def steady_summary(ns_runs, instr, counters_by_strategy, baseline="notier"):
    """ns_runs: strategy -> [ns/call]; instr: strategy -> instructions/call
    or None; counters_by_strategy: strategy -> tk-bench strategy object."""
    out = {}
    base_ns = statistics.median(ns_runs[baseline]) if ns_runs.get(baseline) else None
    base_in = instr.get(baseline)
    for s, vals in ns_runs.items():
        med = statistics.median(vals) if vals else None
        run = counters_by_strategy.get(s, {})
        nonfinal_methods = sum(counter(run, n) for n in ("methods_at_tier0", "methods_at_tier0instr"))
        final_methods = sum(counter(run, n) for n in ("methods_at_tier1", "methods_at_optimized"))
        conv = run.get("warmup_convergence")
        ipc = instr.get(s)
        out[s] = {
            "ns_per_call": {"median": med, "runs": vals, "spread_pct": spread_pct(vals)},
            "instructions_per_call": ipc,
            "ratio_vs_" + baseline: {"ns_per_call": ratio(med, base_ns),
                                     "instructions_per_call": ratio(ipc, base_in)},
            "methods_not_final_after_warmup": nonfinal_methods,
            "methods_final_after_warmup": final_methods,
            "warmup_convergence": conv,
        }
        out[s]["why"] = steady_why(s, out[s], base_in, baseline)
    return out


def steady_why(s, row, base_in, baseline):
    if s == baseline:
        return "baseline: no tiering, final code compiled at the first call, slots patched once"
    ipc = row["instructions_per_call"]
    parts = []
    if ipc is not None and base_in:
        d = round(ipc - base_in, 1) + 0.0          # no "-0.0"
        parts.append("%+.1f instructions/call (%+.1f%%) vs %s" % (d, d / base_in * 100.0, baseline))
    elif ipc is None:
        parts.append("no instruction count (valgrind unavailable or skipped)")
    nf = row["methods_not_final_after_warmup"]
    tot = nf + row["methods_final_after_warmup"]
    if nf:
        parts.append("%d of %d published methods still below the final tier after warmup "
                     "(their calls still pass counting stubs or precodes)" % (nf, tot))
    else:
        parts.append("all %d published methods at the final tier" % tot)
    conv = row.get("warmup_convergence")
    if conv:
        parts.append("warmup convergence: %d round(s), %d of %d reached methods not final"
                     % (conv["rounds"], conv["methods_not_final"], conv["methods"]))
    return "; ".join(parts)

__all__ = ['instructions_per_call', 'parse_valgrind_irefs', 'steady_summary', 'steady_why']

"""Text and GitHub-markdown tables of reproduce's three parts.
Pure logic (no processes, no files); harness/reproduce.py does the I/O."""

import math

from .published import AS_MERGED, AS_MERGED_LABEL, PUBLISHED
from .runs import central


def fmt_ratio(x):
    if x is None:
        return "-"
    if x == math.inf:
        return "inf"
    return "%.3f" % x


def fmt_num(x, nd=1):
    if x is None:
        return "-"
    if isinstance(x, int):
        return str(x)
    if abs(x - round(x)) < 1e-9 and abs(x) < 1e15:
        return str(int(round(x)))
    return ("%." + str(nd) + "f") % x


def table(headers, rows, markdown=False):
    """Aligned text table, or a GitHub markdown table."""
    cells = [[str(c) for c in r] for r in rows]
    if markdown:
        out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in cells]
        return "\n".join(out)
    widths = [len(h) for h in headers]
    for r in cells:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    line = lambda r: "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                               for i, c in enumerate(r))
    out = [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)


def seed_table(rows, markdown=False):
    headers = ["counter", "published before", "ours forwarder (nf/f)", "ours precode-reuse (nf/f)",
               "published after", "ours lazy (nf/f)", "diff lazy-after (nf)"]
    body = []
    for r in rows:
        o = r["ours"]
        cell = lambda s: ("%d/%d" % (o[s]["nonfinal"], o[s]["final"])) if s in o else "-"
        diff = (o["lazy"]["nonfinal"] - r["published_after"]) if "lazy" in o else None
        body.append([r["counter"], r["published_before"], cell("forwarder"), cell("precode-reuse"),
                     r["published_after"], cell("lazy"), fmt_num(diff)])
    return table(headers, body, markdown)


def commit_table(markdown=False):
    c = PUBLISHED["pr125359_commit"]
    body = [[r["label"]] + [("-" if v is None else v) for v in r["values"]] for r in c["rows"]]
    return table(["published (commit message)"] + c["columns"], body, markdown)


def orchard_table(agg, order, baseline="forwarder", markdown=False):
    headers = ["strategy", "req/s (median)", "spread %", "ratio", "lock acq", "ratio", "contended",
               "ratio", "lock hold ms", "ratio", "published"]
    body = []
    pub = PUBLISHED["orchard_regression"]
    for s in order:
        if s not in agg:
            continue
        a = agg[s]
        rr = a.get("ratio_vs_" + baseline) or {}
        c = a["counters"]
        published = ("-%.0f..-%.0f%%" % (pub["regression_pct_low"], pub["regression_pct_high"])
                     if s in (pub["strategy"], AS_MERGED) else ("1.000" if s == baseline else ""))
        body.append([AS_MERGED_LABEL if s == AS_MERGED else s, fmt_num(central(a["requests_per_s"])),
                     fmt_num(a["requests_per_s"]["spread_pct"]),
                     fmt_ratio(rr.get("requests_per_s")),
                     fmt_num(c.get("backpatch_lock_acquisitions", {}).get("total")),
                     fmt_ratio(rr.get("backpatch_lock_acquisitions")),
                     fmt_num(c.get("backpatch_lock_contended", {}).get("total")),
                     fmt_ratio(rr.get("backpatch_lock_contended")),
                     fmt_num(c.get("backpatch_lock_hold_ns", {}).get("total", 0.0) / 1e6, 2),
                     fmt_ratio(rr.get("backpatch_lock_hold_ns")), published])
    return table(headers, body, markdown)


def tiering_table(agg, order, markdown=False):
    """End-of-run tiering counters (means over repetitions) and the tier mix
    of the measured body executions, per orchard-like row."""
    headers = ["strategy", "at tier0", "at tier0instr", "at tier1+opt", "calls_counted",
               "promotions", "measured bodies tier0 %", "final %", "owning-slot calls %"]
    body = []
    for s in order:
        if s not in agg:
            continue
        c = agg[s]["counters"]
        g = lambda n: c.get(n, {}).get("total")
        promo = sum((g(n) or 0) for n in ("promotions_tier0_to_tier0instr", "promotions_tier0_to_tier1",
                                           "promotions_tier0instr_to_tier1"))
        b = agg[s].get("measured_bodies_pct") or {}
        body.append([AS_MERGED_LABEL if s == AS_MERGED else s, fmt_num(g("methods_at_tier0")),
                     fmt_num(g("methods_at_tier0instr")),
                     fmt_num((g("methods_at_tier1") or 0) + (g("methods_at_optimized") or 0)),
                     fmt_num(g("calls_counted")), fmt_num(promo),
                     fmt_num(b.get("tier0_pct")), fmt_num(b.get("final_pct")),
                     fmt_num(b.get("owning_slot_pct"))])
    return table(headers, body, markdown)


def steady_table(summary, order, baseline="notier", markdown=False):
    headers = ["strategy", "ns/call (median)", "spread %", "ratio vs " + baseline,
               "instr/call", "ratio vs " + baseline, "methods not final"]
    body = []
    for s in order:
        if s not in summary:
            continue
        r = summary[s]
        rr = r["ratio_vs_" + baseline]
        body.append([s, fmt_num(r["ns_per_call"]["median"], 2), fmt_num(r["ns_per_call"]["spread_pct"]),
                     fmt_ratio(rr["ns_per_call"]), fmt_num(r["instructions_per_call"], 1),
                     fmt_ratio(rr["instructions_per_call"]), r["methods_not_final_after_warmup"]])
    return table(headers, body, markdown)

__all__ = ['commit_table', 'fmt_num', 'fmt_ratio', 'orchard_table', 'seed_table', 'steady_table', 'table', 'tiering_table']

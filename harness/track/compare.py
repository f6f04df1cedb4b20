"""Comparing two runs: per metric the exact difference (exact metrics) or
the ratio of medians with a bootstrap confidence interval and a
Mann-Whitney p-value (noisy metrics), a verdict (improved, regressed,
unchanged, noisy), and for every regressed benchmark the diagnosis: the
runtime counters that moved most and the functions whose instruction
counts grew.  Renders a terminal table, markdown (a PR comment) and JSON."""

import math
import statistics

from . import stats as ST
from . import suite as S

VERDICTS = ("regressed", "improved", "unchanged", "noisy")
TOP_COUNTERS = 5
TOP_FUNCTIONS = 8


def _median(v):
    return statistics.median(v) if v else None


def metric_verdict(kind, better, base, head, th, noise_floor=None):
    """One metric's comparison.  base/head are sample lists."""
    out = {"kind": kind, "better": better, "base_n": len(base), "head_n": len(head),
           "base": _median(base), "head": _median(head), "change_pct": None, "worse_pct": None,
           "ci": None, "p": None, "threshold_pct": None, "verdict": "unchanged", "note": ""}
    if not base or not head:
        out.update(verdict="noisy", note="no samples on one side")
        return out
    b, h = out["base"], out["head"]
    rc = ST.rel_change(b, h)
    out["change_pct"] = None if rc is None else rc * 100.0
    sign = -1.0 if better == "higher" else 1.0
    out["worse_pct"] = None if rc is None else sign * rc * 100.0
    if kind == "exact":
        out["threshold_pct"] = th["exact_pct"]
        out["delta"] = h - b
        w = out["worse_pct"]
        if w is None:
            out["verdict"] = "regressed" if sign * (h - b) > 0 else "improved"
        elif w > th["exact_pct"]:
            out["verdict"] = "regressed"
        elif -w > th["exact_pct"]:
            out["verdict"] = "improved"
        return out
    thr = th["noisy_pct"]
    if noise_floor is not None and noise_floor.get("pct", 0) > thr:
        thr = noise_floor["pct"]
        out["note"] = "threshold raised to the history's noise floor"
    out["threshold_pct"] = thr
    out["noise_floor_pct"] = noise_floor["pct"] if noise_floor else None
    need = ST.min_samples(th["alpha"])
    if min(len(base), len(head)) < need:
        out.update(verdict="noisy", note="%d/%d samples; at least %d per side are needed for p < %g"
                   % (len(base), len(head), need, th["alpha"]))
        return out
    out["p"] = ST.mann_whitney(base, head)["p"]
    out["ci"] = ST.bootstrap_ratio_ci(base, head)
    w = out["worse_pct"]
    if w is None:
        return out
    if out["p"] < th["alpha"] and w > thr:
        out["verdict"] = "regressed"
    elif out["p"] < th["alpha"] and -w > thr:
        out["verdict"] = "improved"
    return out


def counters_moved(bc, hc, top=TOP_COUNTERS):
    """Counters that changed, largest relative change first:
    [{name, base, head, delta, ratio}] (ratio None when base is 0)."""
    rows = []
    for k in sorted(set(bc) | set(hc)):
        b, h = bc.get(k, 0.0), hc.get(k, 0.0)
        if b == h or k.endswith("_ns") or k.endswith("_us"):
            continue        # times are noisy; the counts explain
        ratio = (h / b) if b else None
        mag = abs(math.log(ratio)) if ratio and ratio > 0 else math.inf
        rows.append({"name": k, "base": b, "head": h, "delta": h - b, "ratio": ratio, "_m": mag})
    rows.sort(key=lambda r: (-r["_m"], -abs(r["delta"])))
    for r in rows:
        del r["_m"]
    return rows[:top]


def functions_grew(bf, hf, top=TOP_FUNCTIONS):
    rows = [{"function": k, "base": bf.get(k, 0), "head": hf.get(k, 0), "delta": hf.get(k, 0) - bf.get(k, 0)}
            for k in set(bf) | set(hf)]
    rows = [r for r in rows if r["delta"] > 0]
    rows.sort(key=lambda r: -r["delta"])
    return rows[:top]


def compare(base, head, th, noise_floor=None):
    """base/head: run documents.  noise_floor(benchmark, metric) -> dict or
    None.  Returns the comparison document (schema_version 1)."""
    rows = []
    diagnosis = {}
    for name, hb in head["benchmarks"].items():
        bb = base["benchmarks"].get(name)
        if bb is None:
            continue
        regressed = False
        for m, hm in hb["metrics"].items():
            bm = bb["metrics"].get(m)
            if bm is None:
                continue
            kind, better, unit = S.metric_info(m)
            # a confirmation re-run's samples are judged on their own (gate)
            bs = [v for v, ph in zip(bm["samples"], bm.get("phases") or ["main"] * len(bm["samples"]))
                  if ph == "main"]
            hs = [v for v, ph in zip(hm["samples"], hm.get("phases") or ["main"] * len(hm["samples"]))
                  if ph == "main"]
            nf = noise_floor(name, m) if (noise_floor and kind == "noisy") else None
            v = metric_verdict(kind, better, bs, hs, th, nf)
            v.update(benchmark=name, metric=m, unit=unit)
            rows.append(v)
            regressed = regressed or v["verdict"] == "regressed"
        if regressed:
            diagnosis[name] = {"counters": counters_moved(bb.get("counters") or {}, hb.get("counters") or {}),
                               "functions": functions_grew(bb.get("functions") or {}, hb.get("functions") or {})}
    missing = sorted(set(base["benchmarks"]) ^ set(head["benchmarks"]))
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in VERDICTS}
    return {"schema_version": 1, "tool": "tk-track", "kind": "compare",
            "base": _side(base), "head": _side(head), "thresholds": th, "metrics": rows,
            "diagnosis": diagnosis, "benchmarks_in_one_run_only": missing, "counts": counts}


def _side(doc):
    return {"revision": doc.get("revision"), "run_id": doc.get("run_id"), "dirty": doc.get("dirty"),
            "label": doc.get("label"), "suite": doc.get("suite"), "extra_args": doc.get("extra_args") or [],
            "machine_fingerprint": (doc.get("machine") or {}).get("fingerprint")}


# ---- rendering -----------------------------------------------------------------------------------
def fmt(x):
    if x is None:
        return "-"
    if isinstance(x, float) and (abs(x) >= 1e5 or x == int(x)):
        return "{:,.0f}".format(x)
    if isinstance(x, int):
        return "{:,}".format(x)
    return "%.4g" % x


def _row(r):
    ci = "%.3f..%.3f" % tuple(r["ci"]) if r.get("ci") else "-"
    ch = "-" if r["change_pct"] is None else "%+.2f%%" % r["change_pct"]
    p = "-" if r["p"] is None else ("%.2g" % r["p"])
    return [r["benchmark"], r["metric"], r["kind"], fmt(r["base"]), fmt(r["head"]), ch, ci, p,
            r["verdict"].upper() if r["verdict"] == "regressed" else r["verdict"]]


HEADERS = ["benchmark", "metric", "kind", "base", "head", "change", "95% CI of ratio", "p", "verdict"]


def table(headers, rows, markdown=False):
    cells = [[str(c) for c in r] for r in rows]
    if markdown:
        out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in cells]
        return "\n".join(out)
    w = [len(h) for h in headers]
    for r in cells:
        for i, c in enumerate(r):
            w[i] = max(w[i], len(c))
    line = lambda r: "  ".join(c.ljust(w[i]) if i < 3 or i == len(r) - 1 else c.rjust(w[i])
                               for i, c in enumerate(r))
    return "\n".join([line(headers), "  ".join("-" * x for x in w)] + [line(r) for r in cells])


def _short(rev):
    return (rev or "?")[:12]


def render(cmp, markdown=False, title=None):
    md = markdown
    out = []
    b, h = cmp["base"], cmp["head"]
    desc = lambda s: "%s%s%s%s" % (_short(s["revision"]), " (dirty)" if s.get("dirty") else "",
                                   (" run %s" % s["run_id"]) if s.get("run_id") else "",
                                   (" with %s" % " ".join(s["extra_args"])) if s.get("extra_args") else "")
    th = cmp["thresholds"]
    if md:
        out.append("### %s\n" % (title or "tk-track: performance comparison"))
    elif title:
        out.append("== " + title)
    out.append("base %s vs head %s; exact metrics fail above %.2g%%, noisy metrics above %.2g%% with "
               "p < %g%s" % (desc(b), desc(h), th["exact_pct"], th["noisy_pct"], th["alpha"],
                            " and a confirming re-run" if th.get("confirm") else ""))
    if b.get("machine_fingerprint") != h.get("machine_fingerprint"):
        out.append("WARNING: base and head were measured on different machines (%s vs %s): noisy "
                   "metrics are not comparable" % (b.get("machine_fingerprint"), h.get("machine_fingerprint")))
    out.append("")
    out.append(table(HEADERS, [_row(r) for r in cmp["metrics"]], md))
    notes = ["%s %s: %s" % (r["benchmark"], r["metric"], r["note"]) for r in cmp["metrics"] if r.get("note")]
    if notes:
        out.append("")
        out += [("- " if md else "  ") + n for n in notes]
    for name, d in cmp["diagnosis"].items():
        out.append("")
        out.append(("**%s regressed: what moved**" if md else "%s regressed: what moved") % name)
        if d["counters"]:
            out.append("")
            out.append(table(["counter", "base", "head", "delta", "ratio"],
                             [[c["name"], fmt(c["base"]), fmt(c["head"]), "%+g" % c["delta"],
                               "-" if c["ratio"] is None else "%.3f" % c["ratio"]] for c in d["counters"]], md))
        else:
            out.append(("- " if md else "  ") + "no runtime counter changed")
        if d["functions"]:
            out.append("")
            out.append(table(["function (cachegrind self instructions)", "base", "head", "delta"],
                             [[f["function"], fmt(f["base"]), fmt(f["head"]), "%+d" % f["delta"]]
                              for f in d["functions"]], md))
    if cmp["benchmarks_in_one_run_only"]:
        out.append("")
        out.append("in one run only (not compared): " + ", ".join(cmp["benchmarks_in_one_run_only"]))
    c = cmp["counts"]
    out.append("")
    out.append("%d regressed, %d improved, %d unchanged, %d noisy"
               % (c["regressed"], c["improved"], c["unchanged"], c["noisy"]))
    return "\n".join(out) + "\n"

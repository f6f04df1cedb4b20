"""The CI gate: base and head measured on this machine in this job,
interleaved (base head, head base, ...), compared with the suite's
thresholds.  An exact metric fails above exact_pct; a noisy metric fails
only when it is worse by more than noisy_pct (or the history's noise floor,
if larger) with p < alpha, and again in an automatic confirmation re-run on
fresh samples (so a false alarm needs two independent ones); a noisy
improvement is confirmed the same way before it is reported.
Exit status: 0 pass, 1 regression, 2 usage/infrastructure."""

import os
import sys
import time

from . import build as B
from . import compare as C
from . import history as H
from . import measure as M


def add_parser(sub, common, output_opts):
    from . import cli
    g = sub.add_parser("gate", help="measure base and head here, interleaved, and fail on a regression",
                       description="Measures BASE and HEAD builds on this machine in one job, "
                                   "interleaved, compares them with the suite's thresholds, re-runs "
                                   "flagged noisy benchmarks to confirm, records both runs, and exits "
                                   "0 (pass), 1 (regression) or 2 (usage/infrastructure error).")
    common(g)
    g.add_argument("--base", metavar="REV", help="base revision: built in a temporary worktree "
                   "(cached in --build-cache) unless --base-bin is given; default: the merge base "
                   "of HEAD with main, else HEAD's parent")
    g.add_argument("--base-bin", metavar="DIR", help="an existing build's bin directory for the base")
    g.add_argument("--head", metavar="REV", help="head revision, built like --base (default: this "
                   "checkout, measured from --head-bin)")
    g.add_argument("--head-bin", metavar="DIR", default=os.path.join(cli.ROOT, "build", "bin"),
                   help="head build's bin directory (default: this tree's build/bin)")
    g.add_argument("--head-impl", metavar="FILE",
                   help="measure head with this driver library (tk-bench / tk-tierup --impl): a variant "
                        "build, e.g. an injected regression from harness/inject/")
    cli.build_cache_opt(g)
    g.add_argument("--benchmark", action="append", help="only this benchmark (repeatable)")
    cli.measuring_opts(g, "the two runs", reps="repetitions per side (default: the suite's)")
    g.add_argument("--no-confirm", action="store_true", help="no confirmation re-run (not for CI)")
    g.add_argument("--inject", action="append", metavar="KEY=VALUE",
                   help="measure head with tk-bench --set KEY=VALUE (an injected regression; calibration)")
    g.add_argument("--inject-config", action="append", metavar="K=V",
                   help="measure head with tk-bench --config K=V (an injected configuration change)")
    output_opts(g)
    g.set_defaults(fn=cmd_gate)


def default_base():
    from . import cli
    for ref in ("origin/main", "main"):
        rc, mb, _ = cli.git(["merge-base", "HEAD", ref])
        if rc == 0 and mb:
            rc2, head, _ = cli.git(["rev-parse", "HEAD"])
            if mb != head:
                return mb, "merge base with %s" % ref
    return cli.resolve_revision("HEAD~1"), "parent of HEAD"


def sides_from_args(a):
    from . import cli
    if a.base_bin:
        base_rev = cli.resolve_revision(a.base) if a.base else "unknown"
        base_bin, why = a.base_bin, "given build"
    else:
        if a.base:
            base_rev, why = cli.resolve_revision(a.base), "given"
        else:
            base_rev, why = default_base()
        base_bin = None
    if a.head:
        head_rev, head_dirty, head_bin = cli.resolve_revision(a.head), False, None
    else:
        head_rev, head_dirty = cli.worktree_state()
        head_bin = a.head_bin
    inject = cli.parse_inject(a.inject)
    for v in a.inject_config or []:
        if "=" not in v:
            raise cli.UsageError("--inject-config '%s': expected K=V" % v)
        inject += ["--config", v]
    return (base_rev, base_bin, why), (head_rev, head_dirty, head_bin), inject


def cmd_gate(a):
    from . import cli
    suite = cli.load_suite(a.suite)
    th = dict(suite["thresholds"])
    if a.no_confirm:
        th["confirm"] = False
    cli.select_benchmarks(suite, a.benchmark)
    (base_rev, base_bin, why), (head_rev, head_dirty, head_bin), inject = sides_from_args(a)
    hist = None if a.no_history else H.open_history(a.history)
    try:
        if base_bin is None:
            base_bin = B.build_revision(cli.ROOT, base_rev, a.build_cache)
        if head_bin is None:
            head_bin = B.build_revision(cli.ROOT, head_rev, a.build_cache)
    except B.BuildError as e:
        raise M.MeasureError(str(e))
    base = M.Side("base", base_bin, base_rev, False)
    head = M.Side("head", head_bin, head_rev, head_dirty, inject, a.head_impl)
    if not a.quiet:
        sys.stderr.write("tk-track gate: base %s (%s) vs head %s%s\n"
                         % (base_rev[:12], why, head_rev[:12], " (dirty)" if head_dirty else ""))
    res = run_gate(suite, th, base, head, a.reps, a.benchmark, hist, quiet=a.quiet)
    emit_title = "tk-track gate (%s): %s" % (suite["name"], "FAIL" if res["fail"] else "pass")
    cli.emit(res["compare"], a, emit_title)
    if hist is not None:
        hist.close()
    return 1 if res["fail"] else 0


def run_gate(suite, th, base, head, reps=None, benchmarks=None, hist=None, quiet=False):
    """Measures, compares, confirms; records both sides in hist (if any).
    Returns {"fail": bool, "compare": comparison document, "run_ids": [...]}."""
    mz = M.Measurer(suite, progress=not quiet)
    job = "gate-%d-%d" % (int(time.time()), os.getpid())
    mach = M.machine()
    try:
        started = cli_now()
        rec = mz.measure([base, head], reps=reps, benchmarks=benchmarks, phase="measure")
        docs = {s.label: M.run_document(suite, s, rec[s.label], mach, started, cli_now(), "gate", job)
                for s in (base, head)}
        nf = hist_noise(hist, mach["fingerprint"])
        cmp = C.compare(docs["base"], docs["head"], th, nf)
        # a noisy change in either direction must show up twice: an
        # "improved" from one disturbed measurement misleads as much
        moved = ("regressed", "improved")
        flagged = sorted({r["benchmark"] for r in cmp["metrics"]
                          if r["verdict"] in moved and r["kind"] == "noisy"})
        if flagged and th.get("confirm", True):
            mz.log("confirming %s: a re-run on fresh samples" % ", ".join(flagged))
            rec2 = mz.measure([base, head], reps=suite["confirm_reps"], benchmarks=flagged, phase="confirm")
            conf = {s.label: M.run_document(suite, s, rec2[s.label], mach, started, cli_now(), "gate", job)
                    for s in (base, head)}
            cmp2 = C.compare(conf["base"], conf["head"], th, nf)
            second = {(r["benchmark"], r["metric"]): r for r in cmp2["metrics"]}
            for r in cmp["metrics"]:
                if r["verdict"] not in moved or r["kind"] != "noisy":
                    continue
                r2 = second.get((r["benchmark"], r["metric"]))
                r["confirmation"] = {k: r2.get(k) for k in ("base", "head", "change_pct", "p", "ci", "verdict")} if r2 else None
                if r2 is None or r2["verdict"] != r["verdict"]:
                    r["verdict"] = "noisy"
                    r["note"] = ("flagged (%+.1f%%, p=%.2g) but not confirmed by the re-run (%s)"
                                 % (r["change_pct"], r["p"],
                                    "%+.1f%%, p=%.2g" % (r2["change_pct"], r2["p"]) if r2 and r2["p"] is not None else "no result"))
                else:
                    r["note"] = "confirmed by the re-run (%+.1f%%, p=%.2g)" % (r2["change_pct"], r2["p"])
            _append_confirm(docs, conf)
            # the diagnosis lists only benchmarks that are still regressed
            still = {r["benchmark"] for r in cmp["metrics"] if r["verdict"] == "regressed"}
            cmp["diagnosis"] = {k: v for k, v in cmp["diagnosis"].items() if k in still}
            cmp["counts"] = {v: sum(1 for r in cmp["metrics"] if r["verdict"] == v) for v in C.VERDICTS}
        for d in docs.values():
            d["finished_at"] = cli_now()
    finally:
        mz.close()
    ids = []
    if hist is not None:
        ids = [hist.add_run(docs["base"]), hist.add_run(docs["head"])]
        cmp["base"]["run_id"], cmp["head"]["run_id"] = ids
    cmp["kind"] = "gate"
    cmp["job"] = job
    fail = cmp["counts"]["regressed"] > 0
    cmp["result"] = "fail" if fail else "pass"
    return {"fail": fail, "compare": cmp, "run_ids": ids, "docs": docs}


def _append_confirm(docs, conf):
    for label, d in docs.items():
        for name, b in conf[label]["benchmarks"].items():
            for m, md in b["metrics"].items():
                dm = d["benchmarks"][name]["metrics"][m]
                dm.setdefault("phases", ["main"] * len(dm["samples"]))
                dm["samples"] = dm["samples"] + md["samples"]
                dm["phases"] = dm["phases"] + ["confirm"] * len(md["samples"])


def hist_noise(hist, fingerprint):
    if hist is None:
        return None
    return lambda b, m: hist.noise_floor(b, m, fingerprint)


def cli_now():
    from . import cli
    return cli.now()

"""tk-track report: a static HTML page with matplotlib plots (PNG, and SVG
beside each): every benchmark metric's history across revisions with
regressions marked, the latest gate/compare, the figures of the last
`make reproduce` (throughput per strategy and repetition, tier mix,
dispatch cost) and the gate's calibration.  Everything is read from files:
the history, results/track-gate.json, results/reproduce.json,
results/track-calibration.json."""

import html
import json
import os
import sys

from . import compare as C
from . import history as H
from . import suite as S

COLORS = {"regressed": "#c0392b", "improved": "#27ae60", "unchanged": "#7f8c8d", "noisy": "#e67e22"}


def add_parser(sub):
    r = sub.add_parser("report", help="write a static HTML report with plots",
                       description="Writes OUT/index.html with PNG and SVG plots: history per "
                                   "benchmark metric (regressions marked), the latest gate or compare, "
                                   "the last `make reproduce`, and the calibration.  Inputs that do "
                                   "not exist are left out of the page.")
    r.add_argument("--history", default=os.path.join("results", "history.sqlite"))
    r.add_argument("--out", default=os.path.join("results", "track-report"), help="output directory")
    r.add_argument("--compare", default=os.path.join("results", "track-gate.json"),
                   help="a gate/compare JSON to show (default %(default)s)")
    r.add_argument("--reproduce", default=os.path.join("results", "reproduce.json"))
    r.add_argument("--calibration", default=os.path.join("results", "track-calibration.json"))
    r.add_argument("--suite", default="quick", help="thresholds for the history markers (default quick)")
    r.set_defaults(fn=cmd_report)


def _plt():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        from . import cli
        raise cli.UsageError("tk-track report needs matplotlib (Debian: python3-matplotlib, ci/deps)")


def _load_json(path, kind=None):
    if not path or not os.path.exists(path):
        return None
    from . import cli
    try:
        with open(path) as f:
            d = json.load(f)
    except ValueError as e:
        raise cli.UsageError("%s: not JSON: %s" % (path, e))
    if not isinstance(d, dict):
        raise cli.UsageError("%s: not a JSON object" % path)
    return d


class Page:
    def __init__(self, out, plt):
        self.out = out
        self.plt = plt
        self.parts = []
        self.images = []

    def save(self, fig, name):
        png = name + ".png"
        fig.savefig(os.path.join(self.out, png), dpi=90, bbox_inches="tight")
        fig.savefig(os.path.join(self.out, name + ".svg"), bbox_inches="tight")
        self.plt.close(fig)
        self.images.append(png)
        self.parts.append('<figure><img src="%s" alt="%s"><figcaption><a href="%s.svg">SVG</a></figcaption></figure>'
                          % (png, html.escape(name), name))

    def h(self, text, level=2):
        self.parts.append("<h%d>%s</h%d>" % (level, html.escape(text), level))

    def p(self, text):
        self.parts.append("<p>%s</p>" % html.escape(text))

    def table(self, headers, rows, classes=None):
        out = ["<table><tr>%s</tr>" % "".join("<th>%s</th>" % html.escape(str(h)) for h in headers)]
        for i, r in enumerate(rows):
            cls = ' class="%s"' % classes[i] if classes and classes[i] else ""
            out.append("<tr%s>%s</tr>" % (cls, "".join("<td>%s</td>" % html.escape(str(c)) for c in r)))
        self.parts.append("".join(out) + "</table>")


def history_section(page, hist, th):
    plt = page.plt
    page.h("History per benchmark")
    page.p("Median of each run's samples per revision (runs with injected arguments are left out). "
           "A red triangle marks a run that regressed against the run before it (a different "
           "revision) under the gate's rule: exact metrics worse by more than %.2g%%, noisy ones by "
           "more than %.2g%% with p < %g." % (th["exact_pct"], th["noisy_pct"], th["alpha"]))
    n = 0
    for bench, metric, kind, better, unit in hist.metrics():
        ser = hist.series(bench, metric)
        if not ser:
            continue
        fig, ax = plt.subplots(figsize=(7.5, 2.6))
        xs = list(range(len(ser)))
        ax.plot(xs, [s["median"] for s in ser], "-o", color="#2c3e50", ms=4)
        if kind == "noisy":
            ax.vlines(xs, [min(s["samples"]) for s in ser], [max(s["samples"]) for s in ser],
                      color="#95a5a6", lw=1)
        reg = []
        for i in range(1, len(ser)):
            if ser[i]["revision"] == ser[i - 1]["revision"]:
                continue
            v = C.metric_verdict(kind, better, ser[i - 1]["samples"], ser[i]["samples"], th)
            if v["verdict"] == "regressed":
                reg.append(i)
        if reg:
            ax.plot(reg, [ser[i]["median"] for i in reg], "v", color=COLORS["regressed"], ms=10,
                    label="regressed vs previous revision")
            ax.legend(loc="best", fontsize=7)
        ax.set_xticks(xs)
        ax.set_xticklabels(["%s\n%s" % (s["revision"][:7], s["source"]) for s in ser], fontsize=6)
        ax.set_title("%s: %s (%s, %s is better)" % (bench, metric, kind, better), fontsize=9)
        ax.set_ylabel(unit, fontsize=8)
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
        ax.tick_params(axis="y", labelsize=7)
        page.save(fig, "history-%02d-%s-%s" % (n, _safe(bench), _safe(metric)))
        n += 1
    if n == 0:
        page.p("The history has no runs yet (tk-track run, make track or make reproduce record them).")


def compare_section(page, cmp):
    plt = page.plt
    page.h("Latest %s" % cmp.get("kind", "compare"))
    b, h = cmp["base"], cmp["head"]
    page.p("base %s vs head %s%s: %s" % ((b.get("revision") or "?")[:12], (h.get("revision") or "?")[:12],
                                         (" (head with %s)" % " ".join(h["extra_args"])) if h.get("extra_args") else "",
                                         cmp.get("result", "compared")))
    rows = [C._row(r) for r in cmp["metrics"]]
    page.table(C.HEADERS, rows, [r["verdict"] for r in cmp["metrics"]])
    ms = [r for r in cmp["metrics"] if r.get("worse_pct") is not None]
    if ms:
        fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(ms) + 1))
        labels = ["%s / %s" % (r["benchmark"], r["metric"]) for r in ms]
        ax.barh(range(len(ms)), [r["worse_pct"] for r in ms], color=[COLORS[r["verdict"]] for r in ms])
        ax.set_yticks(range(len(ms)))
        ax.set_yticklabels(labels, fontsize=7)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel("% worse (positive) or better (negative) than base; colour = verdict", fontsize=8)
        ax.invert_yaxis()
        page.save(fig, "compare")
    for name, d in (cmp.get("diagnosis") or {}).items():
        page.h("%s regressed: what moved" % name, 3)
        if d["counters"]:
            page.table(["counter", "base", "head", "delta", "ratio"],
                       [[c["name"], C.fmt(c["base"]), C.fmt(c["head"]), "%+g" % c["delta"],
                         "-" if c["ratio"] is None else "%.3f" % c["ratio"]] for c in d["counters"]])
        if d["functions"]:
            page.table(["function", "base", "head", "delta"],
                       [[f["function"], C.fmt(f["base"]), C.fmt(f["head"]), "%+d" % f["delta"]] for f in d["functions"]])


def reproduce_section(page, rep):
    plt = page.plt
    page.h("Last make reproduce (%s, %s mode)" % ((rep.get("git_revision") or "?")[:12],
                                                   "quick" if rep.get("quick") else "full"))
    ol = (rep.get("orchard_like") or {}).get("strategies") or {}
    if ol:
        fig, ax = plt.subplots(figsize=(7.5, 2.8))
        names = list(ol)
        for i, s in enumerate(names):
            runs = ol[s]["requests_per_s"].get("runs") or []
            ax.plot([i] * len(runs), runs, "o", color="#2980b9", alpha=0.7)
            ax.plot([i - 0.25, i + 0.25], [ol[s]["requests_per_s"].get("median") or 0] * 2, color="black")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([n.replace("-as-merged", "\nas merged") for n in names], fontsize=7)
        ax.set_ylabel("requests/s", fontsize=8)
        ax.set_title("orchard-like throughput per strategy (each repetition; bar = median)", fontsize=9)
        page.save(fig, "reproduce-throughput")
        tiers = ["methods_at_tier0", "methods_at_tier0instr", "methods_at_tier1", "methods_at_optimized"]
        fig, ax = plt.subplots(figsize=(7.5, 2.8))
        bottom = [0.0] * len(names)
        for t, col in zip(tiers, ["#e74c3c", "#f39c12", "#27ae60", "#16a085"]):
            vals = [((ol[s].get("counters") or {}).get(t) or {}).get("total", 0.0) for s in names]
            ax.bar(range(len(names)), vals, bottom=bottom, color=col, label=t.replace("methods_at_", ""))
            bottom = [a + b for a, b in zip(bottom, vals)]
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([n.replace("-as-merged", "\nas merged") for n in names], fontsize=7)
        ax.legend(fontsize=7, ncol=4)
        ax.set_title("orchard-like: methods at each tier at the end of the run (mean over repetitions)", fontsize=9)
        page.save(fig, "reproduce-tiers")
    wins = {s: v.get("windows") for s, v in ol.items() if v.get("windows") and v["windows"].get("start_ms")}
    if wins:
        fig, ax = plt.subplots(figsize=(7.5, 2.8))
        for s, w in wins.items():
            ax.plot(w["start_ms"], w["requests_per_s"], "-", lw=1.2, label=s)
        ax.set_xlabel("window start, ms from the start of warmup", fontsize=8)
        ax.set_ylabel("requests/s", fontsize=8)
        ax.legend(fontsize=7, ncol=3)
        ax.set_title("orchard-like throughput per sampling window (last repetition)", fontsize=9)
        page.save(fig, "reproduce-windows")
    tl = (rep.get("seed_vtable_test") or {}).get("tier_timeline") or {}
    if tl:
        names = list(tl)
        fig, axes = plt.subplots(1, len(names), figsize=(7.5, 2.4), sharey=True)
        if len(names) == 1:
            axes = [axes]
        colors = {"tier0": "#e74c3c", "tier0-instrumented": "#f39c12", "tier1": "#27ae60", "optimized": "#16a085"}
        for ax, s in zip(axes, names):
            t = tl[s]
            ax.stackplot(t["seq"], [t["tiers"][k] for k in colors], colors=list(colors.values()),
                         labels=list(colors))
            ax.set_title(s, fontsize=8)
            ax.tick_params(labelsize=6)
            ax.set_xlabel("trace event #", fontsize=7)
        axes[0].set_ylabel("methods", fontsize=8)
        axes[-1].legend(fontsize=6, loc="lower right")
        fig.suptitle("seed-vtable-test tier timeline: methods by published tier over the event sequence",
                     fontsize=9, y=1.03)
        page.save(fig, "reproduce-tier-timeline")
    ss = (rep.get("steady_state") or {}).get("strategies") or {}
    if ss:
        names = list(ss)
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(7.5, 2.6))
        a1.bar(range(len(names)), [ss[s]["ns_per_call"]["median"] or 0 for s in names], color="#8e44ad")
        a1.set_title("steady-state ns/call (median)", fontsize=9)
        a2.bar(range(len(names)), [ss[s].get("instructions_per_call") or 0 for s in names], color="#2c3e50")
        a2.set_title("instructions/call (cachegrind)", fontsize=9)
        for ax in (a1, a2):
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, fontsize=6, rotation=30)
        page.save(fig, "reproduce-steady")


def calibration_section(page, cal):
    plt = page.plt
    aa = cal["aa"]
    page.h("Gate calibration (%s)" % (cal.get("revision") or "?")[:12])
    page.p("%d A/A compares: %d false positive(s); %d noisy metric(s) flagged by a first measurement "
           "and cleared by the confirmation re-run." % (aa["compares"], aa["false_positives"], aa["first_stage_flags"]))
    page.table(["injected change", "result", "flagged", "top counter"],
               [[x["name"], x["result"], ", ".join(x["flagged"]) or "-",
                 ", ".join("%s: %s" % kv for kv in x["top_counter"].items()) or "-"] for x in cal["injected"]])
    pw = cal.get("noisy_power") or {}
    if pw:
        fig, ax = plt.subplots(figsize=(7.5, 2.8))
        for k, v in pw.items():
            ax.plot([c["regression_pct"] for c in v["curve"]], [c["power"] for c in v["curve"]], "-o", ms=3, label=k)
        ax.axhline(0.95, color="gray", ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("regression of a noisy metric, % (log scale)", fontsize=8)
        ax.set_ylabel("detected (power)", fontsize=8)
        ax.legend(fontsize=7)
        ax.set_title("gate power from the A/A samples (measurement + confirmation)", fontsize=9)
        page.save(fig, "calibration-power")


# Marks the body with how many images a browser actually decoded, so a test
# in headless chromium (--dump-dom) can check that every plot loads.
LOAD_CHECK = ("<script>window.addEventListener('load',function(){var im=document.images,ok=0;"
              "for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)ok++;}"
              "document.body.setAttribute('data-images-loaded',ok+'/'+im.length);});</script>")


def _safe(s):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in s)


CSS = """body{font-family:sans-serif;max-width:60em;margin:1em auto;color:#222}
table{border-collapse:collapse;font-size:80%;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px}
tr.regressed{background:#fadbd8}tr.improved{background:#d5f5e3}tr.noisy{background:#fdebd0}
figure{margin:.5em 0}img{max-width:100%}figcaption{font-size:70%}"""


def cmd_report(a):
    from . import cli
    th = cli.load_suite(a.suite)["thresholds"] if a.suite else dict(S.DEFAULT_THRESHOLDS)
    cmp = _load_json(a.compare)
    rep = _load_json(a.reproduce)
    cal = _load_json(a.calibration)
    hist = H.open_history(a.history, create=False) if os.path.exists(a.history) else None
    plt = _plt()
    os.makedirs(a.out, exist_ok=True)
    for f in os.listdir(a.out):
        if f.endswith((".png", ".svg")):
            os.unlink(os.path.join(a.out, f))
    page = Page(a.out, plt)
    if cmp and cmp.get("tool") == "tk-track":
        compare_section(page, cmp)
    if hist is not None:
        history_section(page, hist, th)
        hist.close()
    else:
        page.p("No history at %s." % a.history)
    if rep and rep.get("tool") == "tierkit-reproduce":
        reproduce_section(page, rep)
    if cal and cal.get("kind") == "calibration":
        calibration_section(page, cal)
    doc = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>tk-track report</title>"
           "<style>%s</style></head><body><h1>tierkit performance report</h1>%s"
           "<p id=\"images\" data-count=\"%d\">%d plots</p>%s</body></html>\n"
           % (CSS, "\n".join(page.parts), len(page.images), len(page.images), LOAD_CHECK))
    cli.write_atomic(os.path.join(a.out, "index.html"), doc)
    sys.stderr.write("tk-track report: wrote %s (%d plots)\n" % (os.path.join(a.out, "index.html"), len(page.images)))
    print(os.path.join(a.out, "index.html"))
    return 0

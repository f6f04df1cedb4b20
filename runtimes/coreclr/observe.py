"""runtimes/coreclr/observe.py: what a probe run saw, in tierkit's terms
(SPEC.md "CoreCLR observation").

- compile log (DOTNET_JitStdOutFile + JitDisasmSummary): one line per compile
  with its tier;
- runtime events (MethodLoadVerbose: code address, MethodDesc, tier from
  MethodFlags bits 7-9; TieredCompilation 280-284);
- vtable slot snapshots, each value classified by tierkit's own recogniser
  (tk-coreclr-classify: arch/'s x86-64 templates applied to the dumped code
  and data bytes) and, for JIT code, by the MethodLoad event whose start
  address it is."""
import collections
import re
import subprocess

from dotnet_run import tool, RunError

GENERATED_TYPE = re.compile(r"^(TkGen\.)?(Base|C)\d+$")
JIT_LINE = re.compile(r"^\s*(\d+): JIT compiled (.+) \[([^\[\]]+), IL size=(\d+), code size=(\d+)\]\s*$")
TIER_ORDER = {"Tier0": 0, "Tier0-instr": 1, "Tier1-instr": 2, "Tier1": 3, "FullOpts": 3, "MinOpts": 0, "OSR": 3}
# MethodFlags bits 7-9 (OptimizationTier in the runtime's event manifest)
EVENT_TIER = {1: "MinOpts", 2: "FullOpts", 3: "Tier0", 4: "Tier1", 5: "OSR", 6: "Tier0-instr", 7: "Tier1-instr"}
OBJECT_SLOTS = 4            # System.Object's virtuals precede every generated slot


# Compile-log tier prefixes, most specific first ("Instrumented Tier0" before "Tier0").
LOG_TIER_PREFIXES = (("Instrumented Tier0", "Tier0-instr"), ("Instrumented Tier1", "Tier1-instr"),
                     ("Tier1", "Tier1"), ("Tier0", "Tier0"), ("FullOpts", "FullOpts"),
                     ("MinOpts", "MinOpts"))


def norm_tier(raw):
    """Compile-log tier text -> tierkit tier name."""
    r = raw.strip()
    if "OSR" in r:
        return "OSR"
    for prefix, tier in LOG_TIER_PREFIXES:
        if r.startswith(prefix):
            return tier
    return "other:" + r


def method_group(full):
    """'TkGen.C12:V3(...)' -> ('body'|'site'|'handler'|'harness'|'runtime', type, method)."""
    typ, _, rest = full.partition(":")
    name = rest.split("(", 1)[0]
    if not typ.startswith("TkGen."):
        return "runtime", typ, name
    short = typ[len("TkGen."):]
    if GENERATED_TYPE.match(short):
        return ("ctor" if name == ".ctor" else "body"), short, name
    return {"S": "site", "H": "handler"}.get(short, "harness"), short, name


def parse_jit_log(path):
    out = []
    with open(path, errors="replace") as fh:
        for line in fh:
            m = JIT_LINE.match(line)
            if not m:
                continue
            full = m.group(2)
            g, typ, name = method_group(full)
            out.append({"n": int(m.group(1)), "method": full, "group": g, "type": typ, "name": name,
                        "tier_raw": m.group(3), "tier": norm_tier(m.group(3)),
                        "il_size": int(m.group(4)), "code_size": int(m.group(5))})
    if not out:
        raise RunError("%s: no 'JIT compiled' lines (DOTNET_JitStdOutFile/JitDisasmSummary ignored?)" % path)
    return out


def compiles_per_tier(log, groups=("body",)):
    c = collections.Counter(e["tier"] for e in log if e["group"] in groups)
    return dict(sorted(c.items(), key=lambda kv: TIER_ORDER.get(kv[0], 9)))


def method_loads(probe):
    """MethodLoadVerbose events, each {t_ms, md, start, size, tier, type, name}."""
    out = []
    for e in probe.get("events", []):
        if e.get("id") != 143:
            continue
        ns = e.get("MethodNamespace", "")
        out.append({"t_ms": e["t_ms"], "md": "%x" % int(e["MethodID"]), "start": "%x" % int(e["MethodStartAddress"]),
                    "size": int(e["MethodSize"]), "flags": int(e["MethodFlags"]),
                    "tier": EVENT_TIER.get((int(e["MethodFlags"]) >> 7) & 7, "unknown"),
                    "type": ns.split(".")[-1] if ns.startswith("TkGen.") else ns, "name": e.get("MethodName", ""),
                    "generated": bool(ns.startswith("TkGen.") and GENERATED_TYPE.match(ns[len("TkGen."):]))})
    return out


def event_tier_agreement(log, loads):
    """Per generated method, the sequence of tiers in the compile log and in
    the MethodLoad events must agree (checks the MethodFlags decoding)."""
    a = collections.defaultdict(list)
    b = collections.defaultdict(list)
    for e in log:
        if e["group"] == "body":
            a[(e["type"], e["name"].split(".")[-1] if "." in e["name"] else e["name"])].append(e["tier"])
    for e in loads:
        if e["generated"] and e["name"] != ".ctor":
            b[(e["type"], e["name"].split(".")[-1] if "." in e["name"] else e["name"])].append(e["tier"])
    same = sum(1 for k in a if a[k] == b.get(k))
    return {"methods": len(a), "agree": same,
            "disagree_examples": [{"method": "%s.%s" % k, "log": a[k], "events": b.get(k)}
                                  for k in a if a[k] != b.get(k)][:5]}


def classify_mem(probe):
    """Run tk-coreclr-classify over every dumped address of every snapshot.
    Returns {(snapshot index, addr): {"kind", "target", "token", "third"}}."""
    lines, keys = [], []
    for si, sn in enumerate(probe["snapshots"]):
        for rec in sn["mem"]:
            if not rec.get("mapped"):
                continue
            keys.append((si, rec["addr"]))
            lines.append("%s %s %s\n" % (rec["addr"], rec["code"], rec.get("data", "-")))
    r = subprocess.run([tool("tk-coreclr-classify")], input="".join(lines), capture_output=True, text=True)
    if r.returncode:
        raise RunError("tk-coreclr-classify: %s" % r.stderr.strip())
    out = {}
    res = r.stdout.splitlines()
    if len(res) != len(keys):
        raise RunError("tk-coreclr-classify answered %d lines for %d" % (len(res), len(keys)))
    for k, line in zip(keys, res):
        f = line.split()
        out[k] = {"kind": f[1], "target": f[2] if len(f) > 2 else None,
                  "token": f[3] if len(f) > 3 else None, "third": f[4] if len(f) > 4 else None}
    return out


class Snapshots:
    """Slot values of every snapshot, classified."""

    def __init__(self, probe, log=None):
        self.probe = probe
        self.cls = classify_mem(probe)
        self.loads = method_loads(probe)
        self.code = {e["start"]: e for e in self.loads}
        self.md_name = {m["md"]: "%s.%s" % (m["type"], m["name"]) for m in probe.get("methods", [])}
        for e in self.loads:
            self.md_name.setdefault(e["md"], "%s.%s" % (e["type"], e["name"]))
        self.mem = [{r["addr"]: r for r in sn["mem"]} for sn in probe["snapshots"]]

    def target_kind(self, si, addr, depth=0):
        """What a precode's target is: prestub (fixup entry), callcount,
        precode, code:<tier>, other-code."""
        c = self.cls.get((si, addr))
        if c and c["kind"] == "callcount":
            return "callcount"
        if c and c["kind"] in ("fixup", "fixup-prestub", "stub-precode"):
            return "precode"
        e = self.code.get(addr)
        if e:
            return "code:" + e["tier"]
        return "other-code"

    def value(self, si, v):
        """Classify slot value v in snapshot si -> dict(kind, method, ...)."""
        if v == "0":
            return {"kind": "null"}
        rec = self.mem[si].get(v)
        if rec is None or not rec.get("mapped"):
            return {"kind": "unmapped"}
        c = self.cls.get((si, v))
        if c is None:
            return {"kind": "unknown"}
        k = c["kind"]
        if k == "fixup-prestub":
            return {"kind": "fixup->prestub", "md": c["token"]}
        if k == "fixup":
            return {"kind": "fixup->" + self.target_kind(si, c["target"]), "md": c["token"], "target": c["target"]}
        if k == "stub-precode":
            return {"kind": "stubprecode->" + self.target_kind(si, c["target"]), "md": c["token"],
                    "target": c["target"]}
        if k == "callcount":
            return {"kind": "callcount", "target": c["target"], "cell": c["token"]}
        e = self.code.get(v)
        if e:
            return {"kind": "code:" + e["tier"], "md": e["md"]}
        return {"kind": "unknown"}

    def census(self):
        """Per snapshot: counts per kind over the slots of generated types
        (slots >= 4; System.Object's four slots counted apart)."""
        out = []
        for si, sn in enumerate(self.probe["snapshots"]):
            gen, obj = collections.Counter(), collections.Counter()
            unknown = []
            for t in sn["types"]:
                for k, v in enumerate(t["slots"]):
                    c = self.value(si, v)
                    (obj if k < OBJECT_SLOTS else gen)[c["kind"]] += 1
                    # unmapped: the value's page was not listed readable in
                    # /proc/self/maps even after a re-read (seen for a few of
                    # ~7,000 values in threaded runs); counted, not guessed
                    if k >= OBJECT_SLOTS and c["kind"] in ("unknown", "fixup->other-code",
                                                             "stubprecode->other-code"):
                        unknown.append({"type": t["name"], "slot": k, "value": v, "kind": c["kind"]})
            out.append({"point": sn["point"], "t_ms": sn["t_ms"], "types": len(sn["types"]),
                        "slots": sum(gen.values()), "kinds": dict(sorted(gen.items())),
                        "object_slots": dict(sorted(obj.items())), "unexplained": unknown[:20],
                        "unexplained_count": len(unknown), "unmapped_count": gen.get("unmapped", 0)})
        return out


def methods_per_tier_over_time(loads, times):
    """For each time t: generated methods whose latest compile at or before t
    is of each tier."""
    ev = sorted((e for e in loads if e["generated"] and e["name"] != ".ctor"), key=lambda e: e["t_ms"])
    out = []
    for t in times:
        cur = {}
        for e in ev:
            if e["t_ms"] > t:
                break
            cur[e["md"]] = e["tier"]
        out.append({"t_ms": t, "tiers": dict(collections.Counter(cur.values()))})
    return out


def steady_time(windows, from_ms, to_ms, mean, tol=0.02):
    """workloads/wl_run.c tk_wl_steady_time(): end of the first window starting
    in [from_ms, to_ms) whose rate is within tol of mean, ms after from_ms."""
    if not mean:
        return None
    for w in windows:
        if from_ms <= w["start_ms"] < to_ms and abs(w["rps"] - mean) <= tol * mean:
            return w["start_ms"] + (windows[1]["start_ms"] - windows[0]["start_ms"] if len(windows) > 1 else 0) - from_ms
    return None


def compile_summary(log, groups=("body",)):
    """First compile of each method by tier, later compiles (promotions) by
    the tier reached, and methods by their last tier."""
    seq = collections.OrderedDict()
    for e in log:
        if e["group"] in groups:
            seq.setdefault(e["method"], []).append(e["tier"])
    first = collections.Counter(t[0] for t in seq.values())
    promo = collections.Counter(x for t in seq.values() for x in t[1:])
    last = collections.Counter(t[-1] for t in seq.values())
    return {"methods": len(seq), "first": dict(first), "promotions": dict(promo), "last": dict(last),
            "compiles": sum(len(t) for t in seq.values())}


def monotonic_violations(log, groups=("body", "site", "handler")):
    """inv.tiering.monotonic on the compile log: within one method, a later
    compile never has a lower tier (OSR bodies are not entry points and are
    left out)."""
    seen = {}
    bad = []
    for e in log:
        if e["group"] not in groups or e["tier"] == "OSR":
            continue
        prev = seen.get(e["method"])
        if prev is not None and TIER_ORDER.get(e["tier"], 9) < TIER_ORDER.get(prev, 9):
            bad.append({"method": e["method"], "from": prev, "to": e["tier"], "n": e["n"]})
        seen[e["method"]] = e["tier"]
    return bad

"""CoreCLR observation suite (make test-coreclr; SPEC.md "CoreCLR observation").

Part 1 runs everywhere: tierkit's recogniser (tk-coreclr-classify) on stub
bytes recorded from the .NET 10.0.12 runtime on x86-64, the compile-log
parser, the knob encoding and tk-bench --emit-csharp.  Part 2 needs dotnet
(SKIP with the reason otherwise): the invariants observed on the real
runtime, one test per anchor, and the same-calls check of the emitted
program against tk-bench."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import dotnet_run as D  # noqa: E402
import observe as O  # noqa: E402

CLASSIFY = os.path.join(D.BIN, "tk-coreclr-classify")
BENCH = os.path.join(D.BIN, "tk-bench")

# Recorded from a live .NET 10.0.12 process (vtable slot values and what
# their data pages held): a FixupPrecode still aimed at its fixup entry
# (self + 6), a forwarder FixupPrecode aimed at a counting stub, and that
# counting stub (cell, target, OnCallCountThresholdReached).
FIXUP_CODE = "ff25fa3f00004c8b15fb3f0000ff25fd3f000090662e0f1f"
COUNT_CODE = "488b05f93f000066ff087406ff25f63f0000ff25f83f0000"
STUBP_CODE = "4c8b15f93f0000ff25fb3f000090662e0f1f840000000000"


def le(*words):
    return "".join(w.to_bytes(8, "little").hex() for w in words)


def classify(lines):
    r = subprocess.run([CLASSIFY], input="".join(l + "\n" for l in lines), capture_output=True, text=True)
    return r.returncode, r.stdout.split("\n"), r.stderr


def test_fixup_to_prestub_recognised():
    a = 0x7f5684043738
    rc, out, _ = classify(["%x %s %s" % (a, FIXUP_CODE, le(a + 6, 0x7f5684146a28, 0x7f57025fc2c0))])
    assert rc == 0
    assert out[0].split() == ["%x" % a, "fixup-prestub", "%x" % (a + 6), "7f5684146a28", "7f57025fc2c0"]


def test_forwarder_fixup_and_counting_stub_recognised():
    f, c = 0x7f5684302fb8, 0x7f5684342640
    rc, out, _ = classify(["%x %s %s" % (f, FIXUP_CODE, le(c, 0x7f5684146a28, 0x7f57025fc2c0)),
                           "%x %s %s" % (c, COUNT_CODE, le(0x7f4a84005088, 0x7f56840939f0, 0x7f57025fc5b0))])
    assert rc == 0
    assert out[0].split()[1:3] == ["fixup", "%x" % c]
    assert out[1].split() == ["%x" % c, "callcount", "7f56840939f0", "7f4a84005088", "7f57025fc5b0"]


def test_stub_precode_needs_its_type_word():
    a = 0x7f0000001000
    rc, out, _ = classify(["%x %s %s" % (a, STUBP_CODE, le(0x1234, 0x7f0000abc000, 0x4c)),
                           "%x %s %s" % (a, STUBP_CODE, le(0x1234, 0x7f0000abc000, 0x4d))])
    assert out[0].split()[1:4] == ["stub-precode", "7f0000abc000", "1234"]
    assert out[1].split()[1] == "unknown"


def test_jit_code_other_page_size_and_missing_data_are_unknown():
    jit = "554883ec10488d6c241048897df8488975f0488b45f0488d"
    fixup_4k = FIXUP_CODE.replace("fa3f", "fa0f", 1)        # displacement of a 4 KiB data page
    count_bad = COUNT_CODE[:14] + "90" + COUNT_CODE[16:]      # one instruction byte changed
    rc, out, _ = classify(["1000 %s %s" % (jit, le(1, 2, 3)), "2000 %s %s" % (fixup_4k, le(0x2006, 1, 2)),
                           "3000 %s %s" % (count_bad, le(1, 2, 3)), "4000 %s -" % FIXUP_CODE])
    assert rc == 0
    assert [l.split()[1] for l in out[:4]] == ["unknown"] * 4


def test_classifier_rejects_bad_input_with_the_line():
    rc, _, err = classify(["1000 %s %s" % (FIXUP_CODE, le(1, 2, 3)), "zz %s -" % FIXUP_CODE])
    assert rc == 2 and "line 2" in err


def test_classifier_page_size_is_16k():
    assert subprocess.run([CLASSIFY, "--page-size"], capture_output=True, text=True).stdout.strip() == "16384"


def test_knobs_are_written_in_hex():
    assert D.hex_knob(30) == "1e" and D.hex_knob(100) == "64" and D.hex_knob(0) == "0"
    env = D.knob_env(threshold=30, delay_ms=100, pgo=False)
    assert env == {"DOTNET_TC_CallCountThreshold": "1e", "DOTNET_TC_CallCountingDelayMs": "64",
                   "DOTNET_TieredPGO": "0"}
    with pytest.raises(ValueError):
        D.hex_knob(-1)


def test_jit_log_tiers_and_monotonic(tmp_path):
    p = tmp_path / "jit.txt"
    p.write_text("\n".join([
        "   1: JIT compiled TkGen.C1:V1(TkGen.W,long,long) [Instrumented Tier0, IL size=54, code size=199]",
        "   2: JIT compiled TkGen.C1:V1(TkGen.W,long,long) [Instrumented Tier0, IL size=54, code size=199]",
        "   3: JIT compiled TkGen.C1:V1(TkGen.W,long,long) [Tier1 with Dynamic PGO, IL size=54, code size=68]",
        "   4: JIT compiled TkGen.S:S3(TkGen.W,long,long) [Tier0, IL size=9, code size=40]",
        "   5: JIT compiled TkGen.C2:TkGen.I0.M1(TkGen.W,long,long) [Tier1-OSR, IL size=9, code size=40]",
        "   6: JIT compiled System.String:Concat(System.String) [Tier1, IL size=9, code size=40]",
        "garbage line"]) + "\n")
    log = O.parse_jit_log(str(p))
    assert [e["tier"] for e in log] == ["Tier0-instr", "Tier0-instr", "Tier1", "Tier0", "OSR", "Tier1"]
    assert [e["group"] for e in log] == ["body", "body", "body", "site", "body", "runtime"]
    assert O.compile_summary(log) == {"methods": 2, "first": {"Tier0-instr": 1, "OSR": 1},
                                      "promotions": {"Tier0-instr": 1, "Tier1": 1},
                                      "last": {"Tier1": 1, "OSR": 1}, "compiles": 4}
    assert O.monotonic_violations(log) == []
    log.append(dict(log[0], n=7))                  # Tier0-instr after Tier1: a downgrade
    assert [b["n"] for b in O.monotonic_violations(log)] == [7]


def test_jit_log_without_compiles_is_an_error(tmp_path):
    p = tmp_path / "jit.txt"
    p.write_text("nothing\n")
    with pytest.raises(D.RunError):
        O.parse_jit_log(str(p))


def test_emit_csharp_writes_the_project(tmp_path):
    d = tmp_path / "seed"
    r = subprocess.run([BENCH, "seed-vtable-test", "--emit-csharp", str(d)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(d)) == ["Probe.cs", "Runner.cs", "Universe.cs", "tkgen.csproj"]
    desc = subprocess.run([BENCH, "seed-vtable-test", "--describe"], capture_output=True, text=True).stdout
    u = (d / "Universe.cs").read_text()
    fp = [w for w in desc.split() if len(w) == 16 and all(c in "0123456789abcdef" for c in w)]
    assert fp and ('Fingerprint = "%s"' % fp[0]) in u
    assert u.count("public abstract class Base0") == 1 and u.count(" : Base0") == 4
    assert "PackageReference" not in (d / "tkgen.csproj").read_text()


def test_emit_csharp_refuses_what_it_cannot_express(tmp_path):
    d = tmp_path / "mega"
    r = subprocess.run([BENCH, "megamorphic", "--emit-csharp", str(d)], capture_output=True, text=True)
    assert r.returncode == 2 and "rotation_ms" in r.stderr
    assert not d.exists() or not os.listdir(d)
    f = tmp_path / "file"
    f.write_text("x")
    r = subprocess.run([BENCH, "seed-vtable-test", "--emit-csharp", str(f)], capture_output=True, text=True)
    assert r.returncode == 2 and "not a directory" in r.stderr


# ---- part 2: on the real runtime --------------------------------------------------
MISSING = D.dotnet_missing()
needs_dotnet = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture(scope="session")
def observed(tmp_path_factory):
    import conform_coreclr as C
    checks, runs = C.run_all(str(tmp_path_factory.mktemp("coreclr")))
    return {c.anchor: c for c in checks}, runs


@needs_dotnet
@pytest.mark.parametrize("anchor", ["inv.slot.no-deletable-stub", "inv.slot.final-direct",
                                    "inv.slot.inherit-temporary-entry", "inv.tiering.monotonic",
                                    "stub.recognition", "inv.counting.threshold-exact", "coreclr.knob-hex",
                                    "inv.tiering.delay-restart", "inv.counting.first-call-not-counted"])
def test_invariant_on_dotnet(observed, anchor):
    c = observed[0][anchor]
    assert c.status == "PASS", "%s: %s %s" % (anchor, c.detail, json.dumps(c.evidence)[:1500])


@needs_dotnet
def test_slot_layout_facts(observed):
    """The MethodTable facts the probe relies on: numVirtuals at MT+0x0C
    counts Object's 4 virtuals first, chunk pointers at MT+0x40 point at
    8-slot chunks (the first one right after the pointers, or the parent's),
    and every precode in a generated slot carries a MethodDesc of a method
    declared by the type or an ancestor."""
    _, runs = observed
    r, log, S = runs["seed-vtable-test"]
    sn = r["probe"]["snapshots"][0]
    mds = {m["md"] for m in r["probe"]["methods"]}
    checked = 0
    for t in sn["types"]:
        assert t["num_virtuals"] >= 4 + 4          # Object's 4 + Base0's 4 virtuals
        assert len(t["chunks"]) == (t["num_virtuals"] + 7) // 8
        for k, v in enumerate(t["slots"][4:], 4):
            c = S.value(0, v)
            if c.get("md") and c["kind"].startswith("fixup"):
                assert c["md"] in mds, (t["name"], k, c)
                checked += 1
    assert checked > 0


@needs_dotnet
def test_same_calls_as_tk_bench(observed, tmp_path):
    _, runs = observed
    r = runs["seed-vtable-test"][0]["run"]
    out = tmp_path / "ref.json"
    subprocess.run([BENCH, "seed-vtable-test", "--strategy", "forwarder", "--json", str(out)], check=True,
                   capture_output=True)
    ref = json.loads(out.read_text())["strategies"]["forwarder"]["phases"]
    for ph in ("startup", "warmup", "measured"):
        assert r["phases"][ph]["calls"] == ref[ph]["calls"], ph
        assert r["phases"][ph]["requests"] == ref[ph]["requests"], ph


def test_result_schema_and_report():
    """results/coreclr.json of a real run (.NET 10.0.12, this machine)
    matches the schema, a wrong one does not, and the report prints every
    table from it."""
    import copy
    import reproduce_coreclr as R
    pytest.importorskip("jsonschema")
    with open(os.path.join(HERE, "coreclr-sample.json")) as fh:
        doc = json.load(fh)
    assert R.schema_problem(doc) is None
    bad = copy.deepcopy(doc)
    del bad["workloads"]["orchard-like"]["coreclr"]["census"][0]["kinds"]
    assert "kinds" in R.schema_problem(bad)
    bad = copy.deepcopy(doc)
    bad["cost"]["configs"]["Tier0"]["bodies_at_tier_share"] = 1.5
    assert R.schema_problem(bad)
    md = R.report(doc)
    for s in ("## seed-vtable-test", "## orchard-like", "later compile at Tier1", "after-late-load",
              "body cost factor", "as-merged / forwarder req/s", "measured  tier0_cost=2.31"):
        assert s in md, s

"""tk-track's tk-tierup runner on the real build (build/bin/tk-tierup and
the reference driver, small sizes): the tier-up and counting-memory
figures issue 13 asks the tracker to guard are recorded, are exact (the
same on both sides of an A/A gate), and a change that makes the tier-up
costlier fails the gate with the counters and functions that moved."""
import json
import os
import shutil
import subprocess
import sys

import jsonschema
import pytest

from conftest import HARNESS, REF, ROOT

TK = os.path.join(HARNESS, "tk-track")
BIN = os.path.join(ROOT, "build", "bin")
TIERUP = os.path.join(BIN, "tk-tierup")

pytestmark = pytest.mark.skipif(not (os.path.exists(TIERUP) and os.path.exists(REF)
                                     and shutil.which("valgrind")),
                                reason="needs build/bin/tk-tierup, the reference driver and valgrind")

SUITE = '''schema_version = 1
name = "tierup-test"
reps = 5
[[benchmark]]
name = "tierup-pgo0"
runner = "tk-tierup"
args = ["--strategy", "lazy", "--methods", "64", "--config", "TieredPGO=0"]
metrics = ["tierup_instructions_per_method", "tierup_lock_instructions_per_method",
           "tierup_generated_instructions_per_method", "tierup_lock_acquisitions_per_method",
           "counting_bytes_per_counted_method"]
[[benchmark]]
name = "tierup-pgo0-deleted"
runner = "tk-tierup"
args = ["--strategy", "lazy", "--methods", "64", "--config", "TieredPGO=0",
        "--config", "DeleteCallCountingStubsAfter=1"]
metrics = ["counting_bytes_per_counted_method"]
'''


def tk(*args):
    return subprocess.run([sys.executable, TK] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, cwd=ROOT, timeout=600)


@pytest.fixture
def suite(tmp_path):
    p = tmp_path / "tierup.toml"
    p.write_text(SUITE)
    return str(p)


def one(doc, bench, metric):
    s = doc["benchmarks"][bench]["metrics"][metric]["samples"]
    assert len(s) == 1, s            # exact: measured once per side
    return s[0]


def test_aa_gate_is_exact_and_records_the_figures(suite, tmp_path):
    j = str(tmp_path / "g.json")
    hist = str(tmp_path / "h.sqlite")
    r = tk("gate", "--suite", suite, "--history", hist, "--base", "HEAD", "--base-bin", BIN,
           "--head-bin", BIN, "--quiet", "--json", j)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.load(open(j))
    rows = {(m["benchmark"], m["metric"]): m for m in doc["metrics"]}
    assert len(rows) == 6
    for m in rows.values():          # deterministic: equal sides (valgrind counts vary by ppm at most)
        assert m["kind"] == "exact" and m["verdict"] == "unchanged", m
        assert m["head"] == pytest.approx(m["base"], rel=1e-4), m
    runs = json.loads(tk("log", "--history", hist, "--format", "json").stdout)["runs"]
    assert len(runs) == 2
    # the recorded run document: schema-valid, figures consistent with the
    # runtime's own counters of the same run
    out = str(tmp_path / "run.json")
    r = tk("run", "--suite", suite, "--no-history", "--json", out, "--quiet")
    assert r.returncode == 0, r.stderr
    d = json.load(open(out))
    jsonschema.validate(d, json.load(open(os.path.join(HARNESS, "schema", "track-run.schema.json"))))
    b = d["benchmarks"]["tierup-pgo0"]
    c = b["counters"]
    assert b["runner"] == "tk-tierup" and b["deterministic"]
    assert c["methods_counted"] == 64 and c["methods_at_tier1"] == 64
    cb = one(d, "tierup-pgo0", "counting_bytes_per_counted_method")
    assert cb == (c["counting_stub_bytes"] + c["counting_info_bytes"]) / 64
    assert 0 < cb <= 88.5            # issue 13's goal: CoreCLR's ~88.5 B with TieredPGO=0
    assert one(d, "tierup-pgo0-deleted", "counting_bytes_per_counted_method") == 0.0
    ins = one(d, "tierup-pgo0", "tierup_instructions_per_method")
    locks = one(d, "tierup-pgo0", "tierup_lock_instructions_per_method")
    acq = one(d, "tierup-pgo0", "tierup_lock_acquisitions_per_method")
    gen = one(d, "tierup-pgo0", "tierup_generated_instructions_per_method")
    assert 0 < locks < ins and acq >= 1
    # the stubs and entries ran: at least the counted calls' counting stubs
    # (a few instructions each) and one entry per call
    assert gen * 64 >= c["calls_counted"] * 3
    assert rows[("tierup-pgo0", "tierup_instructions_per_method")]["base"] == pytest.approx(ins, rel=1e-4)
    assert sum(b["functions"].values()) == pytest.approx(ins * 64, abs=64)


def test_costlier_tierup_fails_the_gate_with_its_diagnosis(suite, tmp_path):
    j = str(tmp_path / "g.json")
    # TieredPGO=1 on head: a second counted tier per method (two more
    # counting stubs' worth of work and memory)
    r = tk("gate", "--suite", suite, "--no-history", "--base", "HEAD", "--base-bin", BIN, "--head-bin", BIN,
           "--benchmark", "tierup-pgo0", "--inject-config", "TieredPGO=1", "--quiet", "--json", j)
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.load(open(j))
    verdicts = {m["metric"]: m["verdict"] for m in doc["metrics"]}
    assert verdicts == {"tierup_instructions_per_method": "regressed",
                        "tierup_generated_instructions_per_method": "regressed",
                        "tierup_lock_instructions_per_method": "regressed",
                        "tierup_lock_acquisitions_per_method": "regressed",
                        "counting_bytes_per_counted_method": "regressed"}, verdicts
    diag = json.dumps(doc["diagnosis"])
    assert "counting_stub_bytes" in diag and "promotions_tier0instr_to_tier1" in diag
    assert "tkr_install_counting" in diag       # a runtime function that grew


PLUS_ONE = os.path.join(ROOT, "build", "lib", "inject", "libtk_inj_plus_one_counted_call.so")


@pytest.mark.skipif(not os.path.exists(PLUS_ONE), reason="needs %s (make test builds it)" % PLUS_ONE)
def test_one_more_instruction_per_counted_call_fails_the_gate(suite, tmp_path):
    # harness/inject/plus_one_counted_call.patch: a real code change (one
    # more instruction in the x86-64 counting stub), built as a variant
    # driver; head is measured with it
    j = str(tmp_path / "g.json")
    r = tk("gate", "--suite", suite, "--no-history", "--base", "HEAD", "--base-bin", BIN, "--head-bin", BIN,
           "--head-impl", PLUS_ONE, "--benchmark", "tierup-pgo0", "--quiet", "--json", j)
    assert r.returncode == 1, r.stdout + r.stderr
    rows = {m["metric"]: m for m in json.load(open(j))["metrics"]}
    gen = rows["tierup_generated_instructions_per_method"]
    assert gen["verdict"] == "regressed", gen
    # exactly one instruction more per call that went through a counting
    # stub: the runtime's own count of counted calls, from a native run
    native = subprocess.run([TIERUP, "--impl", PLUS_ONE, "--strategy", "lazy", "--methods", "64",
                             "--config", "TieredPGO=0"], stdout=subprocess.PIPE, universal_newlines=True,
                            check=True)
    doc = json.loads(native.stdout)
    counted = doc["counters_settled"]["calls_counted"]
    assert counted >= 64 * 2
    assert (gen["head"] - gen["base"]) * doc["methods"] == pytest.approx(counted, abs=0.1 * doc["methods"])
    # the longer stub takes a 32-byte slot (the 24-byte template had no spare byte)
    assert rows["counting_bytes_per_counted_method"]["verdict"] == "regressed"


def test_missing_tk_tierup_is_an_infrastructure_error(suite, tmp_path):
    b = tmp_path / "bin"
    b.mkdir()
    shutil.copy2(os.path.join(BIN, "tk-bench"), str(b / "tk-bench"))
    r = tk("run", "--suite", suite, "--build-bin", str(b), "--no-history", "--json", str(tmp_path / "x.json"))
    assert r.returncode == 2
    assert str(b / "tk-tierup") + " not found" in r.stderr, r.stderr
    assert not os.path.exists(str(tmp_path / "x.json"))

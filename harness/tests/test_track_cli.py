"""tk-track end to end on a stand-in tk-bench (tests/track_fake.py): the
gate's verdicts and exit codes, the diagnosis, and bad inputs (exit 2, a
message naming the input, the history untouched)."""
import hashlib
import json
import os
import subprocess
import sys

import jsonschema
import pytest

from conftest import HARNESS, ROOT
import track_fake

TK = os.path.join(HARNESS, "tk-track")


def tk(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, TK] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=e, cwd=ROOT, timeout=120)


def schema(name):
    with open(os.path.join(HARNESS, "schema", name)) as f:
        return json.load(f)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def setup(tmp_path):
    bin_dir = track_fake.write_fake(str(tmp_path / "bin"))
    suite = track_fake.write_suite(str(tmp_path / "fake.toml"))
    hist = str(tmp_path / "h.sqlite")
    return {"bin": bin_dir, "suite": suite, "hist": hist, "tmp": tmp_path}


def gate(s, *extra):
    return tk("gate", "--suite", s["suite"], "--history", s["hist"], "--base", "HEAD", "--base-bin", s["bin"],
              "--head-bin", s["bin"], "--quiet", *extra)


def test_gate_aa_passes_and_records_both_sides(setup):
    j = str(setup["tmp"] / "g.json")
    r = gate(setup, "--json", j)
    assert r.returncode == 0, r.stderr
    doc = json.load(open(j))
    jsonschema.validate(doc, schema("track-compare.schema.json"))
    assert doc["schema_version"] == 1 and doc["result"] == "pass"
    assert {m["verdict"] for m in doc["metrics"]} == {"unchanged"}
    r = tk("log", "--history", setup["hist"], "--format", "json")
    runs = json.loads(r.stdout)["runs"]
    assert [x["label"] for x in runs] == ["base", "head"] and {x["source"] for x in runs} == {"gate"}


def test_gate_fails_on_exact_regression_and_names_the_counter(setup):
    md = str(setup["tmp"] / "g.md")
    r = gate(setup, "--inject", "stub_extra=50", "--markdown", md)   # +5% stub bytes, +50 slot writes
    assert r.returncode == 1, r.stdout + r.stderr
    assert "REGRESSED" in r.stdout
    text = open(md).read()
    assert "| fake-bench | live_stub_bytes | exact |" in text
    # the diagnosis names slot_writes (10 -> 60, x6) before calls_counted (unchanged)
    diag = text.split("what moved")[1]
    assert "slot_writes" in diag and "calls_counted" not in diag


def test_gate_noisy_regression_confirmed_and_small_one_passes(setup):
    j = str(setup["tmp"] / "g.json")
    r = gate(setup, "--inject", "ns_factor=1.3", "--json", j)
    assert r.returncode == 1, r.stdout + r.stderr
    m = [x for x in json.load(open(j))["metrics"] if x["metric"] == "ns_per_call"][0]
    assert m["verdict"] == "regressed" and m["confirmation"]["verdict"] == "regressed"
    assert m["p"] < 0.01 and m["change_pct"] > 20
    r = gate(setup, "--inject", "ns_factor=1.03", "--json", j)     # below the 5% threshold
    assert r.returncode == 0, r.stdout + r.stderr
    r = gate(setup, "--inject", "ns_factor=0.7", "--json", j)      # an improvement is confirmed too
    assert r.returncode == 0, r.stdout + r.stderr
    m = [x for x in json.load(open(j))["metrics"] if x["metric"] == "ns_per_call"][0]
    assert m["verdict"] == "improved" and m["confirmation"]["verdict"] == "improved"


def test_compare_json_files_and_run_ids(setup):
    a, b = str(setup["tmp"] / "a.json"), str(setup["tmp"] / "b.json")
    for out, inj in ((a, []), (b, ["--inject", "stub_extra=100"])):
        r = tk("run", "--suite", setup["suite"], "--history", setup["hist"], "--build-bin", setup["bin"],
               "--json", out, "--quiet", *inj)
        assert r.returncode == 0, r.stderr
    for f in (a, b):
        jsonschema.validate(json.load(open(f)), schema("track-run.schema.json"))
    r = tk("compare", a, b, "--format", "json")
    assert r.returncode == 0
    jsonschema.validate(json.loads(r.stdout), schema("track-compare.schema.json"))
    rows = {m["metric"]: m for m in json.loads(r.stdout)["metrics"]}
    assert rows["live_stub_bytes"]["verdict"] == "regressed" and rows["live_stub_bytes"]["delta"] == 100
    r = tk("compare", "run:1", "2", "--history", setup["hist"], "--format", "markdown")
    assert r.returncode == 0 and "REGRESSED" in r.stdout


def test_too_few_samples_is_noisy_with_the_number_needed(setup):
    r = tk("run", "--suite", setup["suite"], "--history", setup["hist"], "--build-bin", setup["bin"],
           "--reps", "3", "--quiet")
    r = tk("compare", "1", "1", "--history", setup["hist"], "--format", "json")
    m = [x for x in json.loads(r.stdout)["metrics"] if x["metric"] == "ns_per_call"][0]
    assert m["verdict"] == "noisy" and "at least 5 per side" in m["note"]


def test_bad_inputs_exit_2_and_leave_history_untouched(setup, tmp_path):
    s = setup
    r = tk("run", "--suite", s["suite"], "--history", s["hist"], "--build-bin", s["bin"], "--quiet")
    assert r.returncode == 0
    before = digest(s["hist"])
    bad_suite = tmp_path / "bad.toml"
    bad_suite.write_text(open(s["suite"]).read().replace('name = "fake"\n', ""))
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"garbage" * 500)
    cases = [
        (("compare", "no-such-revision-xyz", "1", "--history", s["hist"]), "unknown revision 'no-such-revision-xyz'"),
        (("compare", "run:99", "1", "--history", s["hist"]), "no run with id 99"),
        (("run", "--suite", str(bad_suite), "--history", s["hist"], "--build-bin", s["bin"]),
         "key 'name': missing required key"),
        (("run", "--suite", "no-such-suite", "--history", s["hist"]), "no-such-suite.toml: suite file not found"),
        (("run", "--suite", s["suite"], "--history", s["hist"], "--build-bin", str(tmp_path / "nobuild")),
         "nobuild/tk-bench not found"),
        (("run", "--suite", s["suite"], "--history", s["hist"], "--build-bin", s["bin"], "--benchmark", "nope"),
         "no benchmark 'nope'"),
        (("gate", "--suite", s["suite"], "--history", s["hist"], "--base-bin", s["bin"], "--head-bin", s["bin"],
          "--benchmark", "nope"), "suite fake has no benchmark 'nope' (it has: fake-bench)"),
        (("bisect", "HEAD", "HEAD", "nope", "--suite", s["suite"], "--history", s["hist"]),
         "suite fake has no benchmark 'nope' (it has: fake-bench)"),
        (("bisect", "HEAD", "HEAD", "fake-bench", "--metric", "nope", "--suite", s["suite"], "--history", s["hist"]),
         "benchmark fake-bench has no metric 'nope'"),
        (("gate", "--suite", s["suite"], "--history", s["hist"], "--base-bin", s["bin"], "--head-bin", s["bin"],
          "--inject", "novalue"), "expected KEY=VALUE"),
        (("run", "--suite", s["suite"], "--history", str(corrupt), "--build-bin", s["bin"]), "corrupt.sqlite: not a tk-track history"),
        (("compare", str(corrupt), "1", "--history", s["hist"]), "not JSON"),
    ]
    for args, msg in cases:
        r = tk(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert msg in r.stderr, (args, r.stderr)
    assert digest(s["hist"]) == before
    assert corrupt.read_bytes() == b"garbage" * 500


def test_failing_benchmark_records_nothing(setup, tmp_path):
    s = setup
    tk("run", "--suite", s["suite"], "--history", s["hist"], "--build-bin", s["bin"], "--quiet")
    before = digest(s["hist"])
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tk-bench").write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    os.chmod(broken / "tk-bench", 0o755)
    r = tk("run", "--suite", s["suite"], "--history", s["hist"], "--build-bin", str(broken), "--quiet")
    assert r.returncode == 2 and "tk-bench failed (exit 3)" in r.stderr and "boom" in r.stderr
    assert digest(s["hist"]) == before


def test_help_of_every_command():
    for cmd in ([], ["run"], ["compare"], ["gate"], ["bisect"], ["report"], ["log"]):
        r = tk(*(cmd + ["--help"]))
        assert r.returncode == 0 and "usage: tk-track" in r.stdout


def test_shipped_suites_are_valid():
    from track import suite as S
    names = sorted(f[:-5] for f in os.listdir(os.path.join(HARNESS, "suites")) if f.endswith(".toml"))
    assert {"quick", "default"} <= set(names)
    for n in names:
        s = S.load(os.path.join(HARNESS, "suites", n + ".toml"))
        assert s["name"] == n and s["benchmarks"]
        assert s["reps"] >= 5          # p < 0.01 needs 5 samples per side


@pytest.mark.parametrize("text,msg", [
    ('schema_version = 1\nname = "x"\n', "key 'benchmark': missing required key"),
    ('schema_version = 2\nname = "x"\n[[benchmark]]\n', "unsupported version 2"),
    ('schema_version = 1\nname = "x"\nrpes = 3\n[[benchmark]]\n', "key 'rpes': unknown key"),
    ('schema_version = 1\nname = "x"\n[[benchmark]]\nname = "b"\nrunner = "tk-bench"\nargs = ["w"]\nmetrics = ["wall_ms"]\n',
     "metric 'wall_ms' comes from runner hyperfine"),
    ('schema_version = 1\nname = "x"\n[[benchmark]]\nname = "b"\nrunner = "tk-bench"\nargs = ["w", "--json", "f"]\nmetrics = ["ns_per_call"]\n',
     "--json is set by tk-track"),
    ('schema_version = 1\nname = "x"\n[thresholds]\nalpha = 2\n[[benchmark]]\n', "thresholds.alpha': must be < 1"),
    ('schema_version = 1\nname = "x"\n[[benchmark]]\nname = "b"\nrunner = "tk-tierup"\nargs = ["--rounds", "3"]\nmetrics = ["counting_bytes_per_counted_method"]\n',
     "--rounds is set by tk-track"),
    ('schema_version = 1\nname = "x"\n[[benchmark]]\nname = "b"\nrunner = "tk-bench"\nargs = ["w"]\nmetrics = ["tierup_instructions_per_method"]\n',
     "comes from runner tk-tierup, not tk-bench"),
    ('schema_version = 1\nname = = "x"\n', "not valid TOML"),
])
def test_suite_errors_name_file_and_key(tmp_path, text, msg):
    from track import suite as S
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(S.SuiteError) as e:
        S.load(str(p))
    assert str(p) in str(e.value) and msg in str(e.value), str(e.value)

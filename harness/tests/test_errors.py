"""Error paths of reproduce.py and tk-bench: clear messages, exit codes,
nothing half-written."""
import json
import os
import stat
import subprocess
import sys

import pytest

import reproduce
from conftest import BIN, FAKE, ROOT

needs_bin = pytest.mark.skipif(not (os.path.exists(BIN) and os.path.exists(FAKE)),
                               reason="build/bin/tk-bench or the fake driver is not built (make native)")


def test_missing_binary(tmp_path, capsys):
    rc = reproduce.main(["--bin", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert rc == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "reproduce.json").exists()


def test_missing_impl(tmp_path, capsys):
    fake_bin = tmp_path / "tk-bench"
    fake_bin.write_text("#!/bin/sh\nexit 0\n")
    fake_bin.chmod(0o755)
    rc = reproduce.main(["--bin", str(fake_bin), "--impl", str(tmp_path / "x.so"), "--out", str(tmp_path)])
    assert rc == 2
    assert "implementation" in capsys.readouterr().err


def test_failing_benchmark_writes_nothing(tmp_path, capsys):
    fake_bin = tmp_path / "tk-bench"
    fake_bin.write_text("#!/bin/sh\necho 'tk-bench: boom' >&2\nexit 1\n")
    fake_bin.chmod(0o755)
    out = tmp_path / "out"
    rc = reproduce.main(["--bin", str(fake_bin), "--out", str(out), "--quick"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "tk-bench failed (exit 1)" in err and "boom" in err
    assert not out.exists()


def test_bad_arguments():
    with pytest.raises(SystemExit) as e:
        reproduce.parse_args(["--reps", "-1"])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        reproduce.parse_args(["--orchard-scale", "0"])


def _bench(*args, cwd=ROOT):
    return subprocess.run([BIN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, cwd=cwd, timeout=120)


@needs_bin
@pytest.mark.parametrize("args,fragment", [
    (["no-such-workload"], "unknown workload 'no-such-workload'"),
    (["seed-vtable-test", "--strategy", "bogus"], "unknown strategy 'bogus'"),
    (["seed-vtable-test", "--threads", "zero"], "--threads: 'zero': not a decimal integer"),
    (["seed-vtable-test", "--scale", "-1"], "--scale: '-1': out of range [0, 1000]"),
    (["seed-vtable-test", "--seed", "1x"], "--seed: '1x': not a decimal integer"),
    (["seed-vtable-test", "--config", "Novalue"], "is not KEY=VALUE"),
    (["seed-vtable-test", "--frobnicate"], "unknown option '--frobnicate'"),
    (["orchard-like", "--calls", "10"], "--calls needs deterministic mode"),
    (["workloads/tests/bad/dist-sum.wl"], "probabilities sum to 0.950000000, not 1"),
    (["orchard-like", "--set", "tier0_cost=0"], "--set: key 'tier0_cost': 0 out of range [0.01, 100]"),
    (["orchard-like", "--set", "nokey=1"], "--set: key 'nokey': unknown key"),
    (["orchard-like", "--set", "tier0_cost"], "--set: 'tier0_cost' is not KEY=VALUE"),
    (["orchard-like", "--set", "direct_call_share=0.9"], "(with --set direct_call_share=0.9)"),
])
def test_tk_bench_usage_errors(tmp_path, args, fragment):
    out = tmp_path / "r.json"
    p = _bench(*(args + ["--impl", FAKE, "--json", str(out)]))
    assert p.returncode == 2, p.stderr
    assert fragment in p.stderr
    assert not out.exists()
    assert not [f for f in os.listdir(tmp_path) if ".tmp." in f]


@needs_bin
def test_tk_bench_runtime_rejects_config(tmp_path):
    out = tmp_path / "r.json"
    p = _bench("seed-vtable-test", "--impl", FAKE, "--config", "NoSuchKey=1", "--json", str(out))
    assert p.returncode == 1
    assert "unknown config key" in p.stderr
    assert not out.exists()


@needs_bin
def test_tk_bench_json_with_fake_driver(tmp_path):
    out = tmp_path / "r.json"
    p = _bench("seed-vtable-test", "--impl", FAKE, "--strategy", "lazy,notier", "--json", str(out))
    assert p.returncode == 0, p.stderr
    d = json.loads(out.read_text())
    assert d["schema_version"] == 1 and d["tool"] == "tk-bench"
    assert list(d["strategies"]) == ["lazy", "notier"]
    lazy = d["strategies"]["lazy"]
    assert lazy["config"]["Strategy"] == "lazy"
    assert lazy["config"]["Mode"] == "deterministic"
    assert lazy["counters"]["slot_writes"]["total"] > 0
    assert lazy["phases"]["measured"]["calls"] > 0
    assert len(d["workload"]["fingerprint"]) == 16
    assert d["machine"]["nproc"] >= 1


@needs_bin
def test_describe_fingerprint_is_stable(tmp_path):
    a = _bench("orchard-like", "--describe").stdout
    b = _bench("orchard-like", "--describe").stdout
    c = _bench("orchard-like", "--describe", "--seed", "7").stdout
    fp = lambda s: s.split("fingerprint ")[1].split()[0]
    assert fp(a) == fp(b) != fp(c)

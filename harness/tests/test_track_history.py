"""The SQLite history: schema, migration from version 1, refusal of corrupt,
foreign or newer files (harness/track/history.py; SPEC.md "Performance
history")."""
import hashlib
import json
import os
import sqlite3

import pytest

from track import history as H


def run_doc(rev="a" * 40, ns=(100.0, 101.0), stub=1000, extra=()):
    return {"schema_version": 1, "tool": "tk-track", "kind": "run", "source": "run", "job": None,
            "suite": "quick", "revision": rev, "dirty": False, "label": "head", "extra_args": list(extra),
            "implementation": {"name": "ref", "version": "1"}, "environment": {"TK_X": "1"},
            "machine": {"cpu_model": "cpu", "cores": 2, "kernel": "k", "arch": "x86_64",
                        "compiler": "cc", "fingerprint": "fp"},
            "started_at": "2026-11-27T00:00:00+00:00", "finished_at": "2026-11-27T00:01:00+00:00",
            "benchmarks": {"b": {"runner": "tk-bench", "deterministic": True, "commands": ["tk-bench x"],
                                 "config": {"Strategy": "lazy"}, "workload": {"name": "w"},
                                 "metrics": {"ns_per_call": {"kind": "noisy", "better": "lower", "unit": "ns",
                                                             "samples": list(ns)},
                                             "live_stub_bytes": {"kind": "exact", "better": "lower",
                                                                 "unit": "bytes", "samples": [stub]}},
                                 "counters": {"slot_writes": 5.0}, "functions": {"main": 123}}}}


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_round_trip(tmp_path):
    p = str(tmp_path / "h.sqlite")
    h = H.open_history(p)
    rid = h.add_run(run_doc())
    d = h.load(rid)
    assert d["revision"] == "a" * 40 and d["environment"] == {"TK_X": "1"}
    b = d["benchmarks"]["b"]
    assert b["metrics"]["ns_per_call"]["samples"] == [100.0, 101.0]
    assert b["counters"] == {"slot_writes": 5.0} and b["functions"] == {"main": 123}
    assert b["config"] == {"Strategy": "lazy"} and b["runner"] == "tk-bench"
    assert h.db.execute("PRAGMA user_version").fetchone()[0] == H.SCHEMA_VERSION
    h.close()


def test_noise_floor_from_repeated_runs_of_one_revision(tmp_path):
    h = H.open_history(str(tmp_path / "h.sqlite"))
    assert h.noise_floor("b", "ns_per_call") is None
    h.add_run(run_doc(ns=[100.0, 100.0, 100.0]))
    assert h.noise_floor("b", "ns_per_call") is None          # one run is no spread
    h.add_run(run_doc(ns=[104.0, 104.0, 104.0]))
    h.add_run(run_doc(rev="b" * 40, ns=[300.0]))               # another revision: not pooled
    h.add_run(run_doc(ns=[500.0], extra=["--set", "x=1"]))     # injected: left out
    nf = h.noise_floor("b", "ns_per_call", "fp")
    assert nf["pct"] == pytest.approx(4.0 / 102.0 * 100) and nf["runs"] == 2
    assert h.noise_floor("b", "ns_per_call", "other-machine") is None


def make_v1(path):
    db = sqlite3.connect(path)
    for stmt in H.MIGRATIONS[0]:
        db.execute(stmt)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO runs (suite, revision, dirty, implementation, machine_json, config_json, "
               "started_at, finished_at) VALUES ('quick', ?, 0, 'ref', ?, '{}', 't0', 't1')",
               ("c" * 40, json.dumps({"cpu_model": "cpu", "cores": 2, "kernel": "k", "arch": "x86_64",
                                      "compiler": "cc"})))
    db.executemany("INSERT INTO samples (run_id, benchmark, metric, rep, value) VALUES (1, 'b', ?, ?, ?)",
                   [("ns_per_call", 0, 10.0), ("ns_per_call", 1, 11.0), ("instructions", 0, 5000.0)])
    db.commit()
    db.close()


def test_migration_from_version_1_keeps_every_sample(tmp_path):
    p = str(tmp_path / "old.sqlite")
    make_v1(p)
    before = digest(p)
    h = H.open_history(p)
    assert h.db.execute("PRAGMA user_version").fetchone()[0] == 2
    d = h.load(1)
    assert d["benchmarks"]["b"]["metrics"]["ns_per_call"]["samples"] == [10.0, 11.0]
    assert d["benchmarks"]["b"]["metrics"]["ns_per_call"]["kind"] == "noisy"
    assert d["benchmarks"]["b"]["metrics"]["instructions"]["kind"] == "exact"
    assert d["source"] == "run" and len(d["machine"]) == 5
    fp = h.db.execute("SELECT machine_fingerprint FROM runs").fetchone()[0]
    assert fp and len(fp) == 12
    rid = h.add_run(run_doc())          # the upgraded file takes new runs
    assert rid == 2
    h.close()
    assert digest(p + ".v1.bak") == before     # the old file is kept as it was


@pytest.mark.parametrize("content,what", [
    (b"this is not a database at all" * 100, "not a tk-track history"),
    (b"SQLite format 3\x00" + b"\xff" * 200, "not a tk-track history"),
])
def test_corrupt_file_is_refused_untouched(tmp_path, content, what):
    p = str(tmp_path / "bad.sqlite")
    with open(p, "wb") as f:
        f.write(content)
    before = digest(p)
    with pytest.raises(H.HistoryError) as e:
        H.open_history(p)
    assert p in str(e.value)
    assert digest(p) == before


def test_foreign_and_newer_files_are_refused(tmp_path):
    p = str(tmp_path / "foreign.sqlite")
    db = sqlite3.connect(p)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(H.HistoryError, match="no tk-track schema version"):
        H.open_history(p)
    q = str(tmp_path / "newer.sqlite")
    db = sqlite3.connect(q)
    db.execute("CREATE TABLE runs (x)")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    with pytest.raises(H.HistoryError, match="newer"):
        H.open_history(q)
    with pytest.raises(H.HistoryError, match="no history"):
        H.open_history(str(tmp_path / "missing.sqlite"), create=False)


def test_failed_write_leaves_history_unchanged(tmp_path):
    p = str(tmp_path / "h.sqlite")
    h = H.open_history(p)
    h.add_run(run_doc())
    bad = run_doc()
    bad["benchmarks"]["b"]["metrics"]["ns_per_call"]["samples"] = [1.0, "not a number"]
    with pytest.raises(ValueError):
        h.add_run(bad)
    assert h.run_ids() == [1]
    assert h.db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 3
    h.close()

"""The whole reproduce pipeline against the fake driver (no tiering), tiny
and quick: the output must validate, alternate strategies and be complete."""
import json
import os

import pytest

import repro as L
import reproduce
import schema_check
from conftest import BIN, FAKE, SCHEMA


@pytest.mark.skipif(not (os.path.exists(BIN) and os.path.exists(FAKE)),
                    reason="build/bin/tk-bench or the fake driver is not built (make native)")
def test_reproduce_with_fake_driver(tmp_path, capsys):
    rc = reproduce.main(["--bin", BIN, "--impl", FAKE, "--out", str(tmp_path), "--quick",
                         "--reps", "2", "--steady-reps", "1", "--orchard-scale", "0.1",
                         "--threads", "2", "--skip-valgrind"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    doc = json.loads((tmp_path / "reproduce.json").read_text())
    with open(SCHEMA) as f:
        assert schema_check.validate(doc, json.load(f)) == []
    assert doc["orchard_like"]["order"] == L.STRATEGIES * 2
    for part in ("seed_vtable_test", "orchard_like", "steady_state"):
        assert set(doc[part]["strategies"]) == set(L.STRATEGIES)
    assert doc["seed_vtable_test"]["repeat_identical"] is True
    # the fake driver never backpatches: the eager shape cannot hold
    assert doc["seed_vtable_test"]["shape_matches"] is False
    assert doc["steady_state"]["valgrind"]["available"] is False
    md = (tmp_path / "reproduce.md").read_text()
    for heading in ("## 1. seed-vtable-test", "## 2. orchard-like", "## 3. steady-state"):
        assert heading in md
    assert "| forwarder |" in md
    assert "orchard-like 10/10" in out.err          # progress on stderr
    # the run is recorded in the tk-track history beside the output
    from track import history as H
    h = H.open_history(str(tmp_path / "history.sqlite"), create=False)
    runs = h.runs()
    assert [r["source"] for r in runs] == ["reproduce"]
    rec = h.load(runs[0]["id"])
    h.close()
    fwd = rec["benchmarks"]["reproduce/orchard-like/forwarder"]
    assert fwd["metrics"]["requests_per_s"]["samples"] == doc["orchard_like"]["strategies"]["forwarder"]["requests_per_s"]["runs"]
    assert "reproduce/steady-state/notier" in rec["benchmarks"]
    assert rec["benchmarks"]["reproduce/seed-vtable-test/lazy"]["counters"]
    # a history that cannot be written is an infrastructure error, named
    bad = tmp_path / "corrupt.sqlite"
    bad.write_bytes(b"x" * 4096)
    args = reproduce.parse_args(["--out", str(tmp_path), "--history", str(bad)])
    assert reproduce.record_history(args, doc, reproduce.Reproducer(args)) == 2
    assert "corrupt.sqlite: not a tk-track history" in capsys.readouterr().err
    assert bad.read_bytes() == b"x" * 4096

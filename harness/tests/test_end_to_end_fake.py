"""The whole reproduce pipeline against the fake driver (no tiering), tiny
and quick: the output must validate, alternate strategies and be complete."""
import json
import os

import pytest

import repro_lib as L
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

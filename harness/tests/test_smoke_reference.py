"""Smoke test against the reference runtime: seed-vtable-test in
deterministic mode; lazy must not touch slots in non-final tiers while the
eager strategies (forwarder, precode-reuse) do — the PR #125359 shape."""
import json
import os
import subprocess

import pytest

from conftest import BIN, REF, ROOT

pytestmark = pytest.mark.skipif(
    not (os.path.exists(BIN) and os.path.exists(REF)),
    reason="reference driver build/lib/libtk_ref_driver.so (or tk-bench) is not built; "
           "`make native` builds it")

COUNTERS = ("try_backpatch_calls", "slot_writes", "entry_point_oscillations")


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "seed.json"
    p = subprocess.run([BIN, "seed-vtable-test", "--deterministic", "--impl", REF,
                        "--strategy", "forwarder,precode-reuse,lazy", "--json", str(out)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("name", COUNTERS)
def test_lazy_has_no_nonfinal_slot_traffic(result, name):
    assert result["strategies"]["lazy"]["counters"][name]["nonfinal"] == 0


@pytest.mark.parametrize("strategy", ["forwarder", "precode-reuse"])
@pytest.mark.parametrize("name", COUNTERS)
def test_eager_strategies_do(result, strategy, name):
    assert result["strategies"][strategy]["counters"][name]["nonfinal"] > 0


def test_everything_promoted(result):
    for s, r in result["strategies"].items():
        c = r["counters"]
        assert c["methods_at_tier0"]["total"] == 0, s
        assert c["methods_at_tier1"]["total"] > 0, s


@pytest.mark.parametrize("strategy", ["forwarder", "precode-reuse", "lazy", "entry-cell", "notier"])
def test_steady_state_warmup_converges(tmp_path, strategy):
    """steady-state's warmup (det_converge) drives every reached method to
    the final tier: tk-bench reports 0 methods not final, and the runtime's
    own counters agree (no method at Tier0 or Tier0Instrumented)."""
    out = tmp_path / "ss.json"
    p = subprocess.run([BIN, "steady-state", "--impl", REF, "--strategy", strategy, "--scale", "0.25",
                        "--calls", "0", "--json", str(out)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    r = json.loads(out.read_text())["strategies"][strategy]
    conv = r["warmup_convergence"]
    assert conv["methods"] > 0
    assert conv["methods_not_final"] == 0, conv
    assert conv["rounds"] < json.loads(out.read_text())["workload"]["schedule"]["det_converge"]
    c = r["counters"]
    assert c["methods_at_tier0"]["total"] == 0 and c["methods_at_tier0instr"]["total"] == 0
    assert c["methods_at_tier1"]["total"] + c["methods_at_optimized"]["total"] == conv["methods"]


@pytest.mark.parametrize("strategy", ["lazy", "forwarder"])
def test_phase_deltas_add_up_to_the_totals(tmp_path, strategy):
    """Each phase's counter deltas sum to the run's totals, for every counter:
    megamorphic's churn and burst make gauges (methods at a tier, live and
    counting bytes) go down in a phase, and a delta is then negative in the
    JSON (it used to be written as an unsigned wraparound near 2**64)."""
    out = tmp_path / "mm.json"
    p = subprocess.run([BIN, "megamorphic", "--deterministic", "--impl", REF, "--strategy", strategy,
                        "--json", str(out)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    r = json.loads(out.read_text())["strategies"][strategy]
    phases = r["phases"].values()
    for name, total in r["counters"].items():
        for part in ("nonfinal", "final"):
            deltas = [ph["counters"][name][part] for ph in phases]
            assert all(abs(d) < 2 ** 62 for d in deltas), (name, part, deltas)
            assert sum(deltas) == total[part], (name, part, deltas, total[part])
    assert any(ph["counters"][n][part] < 0 for ph in phases for n in r["counters"]
               for part in ("nonfinal", "final")), "megamorphic's churn lowers no gauge in any phase"

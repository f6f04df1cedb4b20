"""Tests of conformance/mutate/tk-mutate itself (run by `make test-mutate-tool`).

TK_CONFORM and TK_HANG_DRIVER name the built tk-conform and the hang driver
(conformance/tests/hang_driver.c, whose create() blocks forever after
writing its pid to $TK_HANG_PIDFILE); the make target sets them.
"""
import importlib.machinery
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(HERE, "..", "tk-mutate")


def load_tool():
    loader = importlib.machinery.SourceFileLoader("tk_mutate", TOOL)
    spec = importlib.util.spec_from_loader("tk_mutate", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


tkm = load_tool()


@pytest.fixture(autouse=True)
def not_stopping():
    """die() (called in-process by the parse_unit error tests) marks the
    tool as stopping, which kills every later command at once; each test
    starts from a tool that is not stopping."""
    tkm.STOPPING[0] = False
    yield
    tkm.STOPPING[0] = False


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rindex(")") + 2:].split()[0] != "Z"


def wait_gone(pid, seconds=5.0):
    end = time.time() + seconds
    while time.time() < end:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


def read_pids(path, seconds=10.0):
    end = time.time() + seconds
    while True:
        if os.path.exists(path):
            with open(path) as f:
                pids = [int(x) for x in f.read().split()]
            if pids:
                return pids
        if time.time() >= end:
            return []
        time.sleep(0.02)


# A parent that puts a spinning child into a process group of its own (as
# tk-conform does with every test) and then blocks: killing the parent's
# group alone leaves the child running.
SPAWNER = r"""
import os, sys, time
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    while True:
        pass
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % pid)
time.sleep(600)
"""


def test_timeout_kills_child_in_its_own_process_group(tmp_path):
    pidfile = str(tmp_path / "pid")
    t0 = time.time()
    rc, out = tkm.run([sys.executable, "-c", SPAWNER, pidfile], timeout=1.5)
    assert rc is None, "run() did not report the timeout (rc %r, output %r)" % (rc, out)
    assert time.time() - t0 < 30
    pids = read_pids(pidfile, 0)
    assert pids, "the spawner did not start its child"
    assert wait_gone(pids[0]), "the timed-out command's child (own process group) %d is still running" % pids[0]
    assert not tkm.LIVE_SESSIONS, "a finished command is still listed as live"


def test_timeout_kills_tk_conform_test_child(tmp_path):
    """The real case: tk-conform runs a test in a process group of its own;
    the mutant hangs in it; tk-mutate's per-mutant timeout must kill the
    test child too, not only tk-conform."""
    conform, hang = os.environ.get("TK_CONFORM"), os.environ.get("TK_HANG_DRIVER")
    if not (conform and hang):
        pytest.skip("TK_CONFORM / TK_HANG_DRIVER not set (run through make test-mutate-tool)")
    pidfile = str(tmp_path / "pids")
    saved = dict(tkm.RUN_ENV)
    tkm.RUN_ENV["TK_HANG_PIDFILE"] = pidfile
    try:
        rc, out = tkm.run([conform, "--impl", hang, "--filter", "counting_threshold_exact", "--timeout", "600"],
                          timeout=2.0)
    finally:
        tkm.RUN_ENV.clear()
        tkm.RUN_ENV.update(saved)
    assert rc is None, "tk-conform did not time out (rc %r): %s" % (rc, out[-500:])
    pids = read_pids(pidfile, 0)
    assert pids, "the hang driver's create() never ran: %s" % out[-500:]
    for p in pids:
        assert wait_gone(p), "tk-conform's test child %d survived tk-mutate's timeout" % p


def test_normal_exit_returns_status_and_output():
    rc, out = tkm.run([sys.executable, "-c", "import sys; print('hello'); sys.exit(3)"], timeout=30)
    assert rc == 3 and "hello" in out


def test_interrupted_tk_mutate_kills_running_commands(tmp_path):
    """SIGTERM to tk-mutate while a command runs: the command's session
    (here: a child in its own process group) is killed before tk-mutate
    exits."""
    pidfile = str(tmp_path / "pid")
    driver = r"""
import importlib.machinery, importlib.util, signal, sys, threading
loader = importlib.machinery.SourceFileLoader("tk_mutate", sys.argv[1])
spec = importlib.util.spec_from_loader("tk_mutate", loader)
m = importlib.util.module_from_spec(spec); loader.exec_module(m)
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, m.reap_all_and_exit)
t = threading.Thread(target=m.run, args=([sys.executable, "-c", sys.argv[2], sys.argv[3]],), daemon=True)
t.start()
t.join()
"""
    p = subprocess.Popen([sys.executable, "-c", driver, TOOL, SPAWNER, pidfile], stderr=subprocess.PIPE)
    pids = read_pids(pidfile)
    assert pids, "the spawner did not start"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 128 + signal.SIGTERM, err
    assert b"every started process was killed" in err
    assert wait_gone(pids[0]), "the child %d outlived the interrupted tk-mutate" % pids[0]


def test_unit_spec_is_validated():
    u = tkm.parse_unit("ref|build/checked/obj|-DX|a.c b.c|t.o|-lcheck")
    assert u["name"] == "ref" and u["sources"] == ["a.c", "b.c"] and u["cflags"] == ["-DX"]
    with pytest.raises(SystemExit) as e:
        tkm.parse_unit("ref|x|y")
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        tkm.parse_unit("ref||||t.o|")          # no sources


def tce_builder(tmp_path, tce_cc=()):
    import argparse
    a = argparse.Namespace(cc="cc", cflags="-O2 -g", ldflags="", units=[], tce_cc=list(tce_cc))
    return tkm.Builder(a, ["probe.c"], str(tmp_path / "work"))


def tce_mutant(b, text, op, orig):
    mu = [m for m in tkm.operators.mutants_of("probe.c", text, (op,)) if m.orig.strip() == orig][0]
    d = os.path.join(b.workdir, mu.id)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "probe.c"), "w") as f:
        f.write(tkm.operators.apply(text, mu))
    return mu


TCE_TEXT = """int g;
int f(int x)
{
    (void)x;
    g = 2;
#ifdef VARIANT
    g = 7;
#endif
    return g + 1;
}
"""


def test_tce_equivalent_only_with_identical_object_code(tmp_path, monkeypatch):
    """Trivial Compiler Equivalence: a mutant is equivalent only when its
    object code is byte-identical to the original's (a deleted `(void)x;`),
    not when the code differs (a changed constant); paths in the object (the
    sources live in different directories) do not matter."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "probe.c").write_text(TCE_TEXT)
    b = tce_builder(tmp_path)
    assert b.identical_code(tce_mutant(b, TCE_TEXT, "SDL", "(void)x;"), TCE_TEXT) == ["driver"]
    assert b.identical_code(tce_mutant(b, TCE_TEXT, "CRP", "g = 2;"), TCE_TEXT) is None


def test_tce_compares_every_build_configuration(tmp_path, monkeypatch):
    """A line that one configuration compiles out is identical there but not
    equivalent when another configuration (--tce-cc, e.g. the arm64 cross
    compiler, or a unit's flags) compiles it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "probe.c").write_text(TCE_TEXT)
    variant = tmp_path / "cc-variant"
    variant.write_text('#!/bin/sh\nexec cc -DVARIANT "$@"\n')
    variant.chmod(0o755)
    plain = tce_builder(tmp_path)
    assert plain.identical_code(tce_mutant(plain, TCE_TEXT, "CRP", "g = 7;"), TCE_TEXT) == ["driver"]
    both = tce_builder(tmp_path / "v", [str(variant)])
    assert both.identical_code(tce_mutant(both, TCE_TEXT, "CRP", "g = 7;"), TCE_TEXT) is None
    assert both.identical_code(tce_mutant(both, TCE_TEXT, "SDL", "(void)x;"), TCE_TEXT) == ["driver", "cc-variant"]


def test_unit_spec_six_fields_has_no_env_or_prefix():
    u = tkm.parse_unit("arch|||a.c|t.o|-lcheck")
    assert u["env"] == {} and u["prefix"] == [] and u["objdir"] == "" and u["libs"] == ["-lcheck"]


def test_unit_spec_env_and_prefix():
    u = tkm.parse_unit('tsan|build/tsan/obj|-O1 -fsanitize=thread|a.c b.c|t.o|-fsanitize=thread -lcheck|'
                       'CK_FORK=no TSAN_OPTIONS="suppressions=/x/tsan.supp halt_on_error=1"|setarch -R')
    assert u["env"] == {"CK_FORK": "no", "TSAN_OPTIONS": "suppressions=/x/tsan.supp halt_on_error=1"}
    assert u["prefix"] == ["setarch", "-R"]
    assert u["cflags"] == ["-O1", "-fsanitize=thread"]
    # seven fields: an environment, no prefix; empty values are allowed
    u = tkm.parse_unit("asan|o|-O1|a.c|t.o|-lcheck|ASAN_OPTIONS=detect_leaks=1 EMPTY=")
    assert u["env"] == {"ASAN_OPTIONS": "detect_leaks=1", "EMPTY": ""} and u["prefix"] == []


@pytest.mark.parametrize("spec, words", [
    ("u|o|c|a.c|t.o|l|NOEQUALS", ["u", "ENV", "NOEQUALS", "NAME=VALUE"]),
    ("u|o|c|a.c|t.o|l|1BAD=x", ["u", "ENV", "1BAD=x"]),
    ("u|o|c|a.c|t.o|l|=x", ["u", "ENV"]),
    ("u|o|c|a.c|t.o|l|A=1 A=2", ["u", "ENV", "A set twice"]),
    ("u|o|c|a.c|t.o|l|A=\"unclosed", ["u", "ENV"]),
    ("u|o|c|a.c|t.o|l||no-such-command-tk-mutate -x", ["u", "PREFIX", "no-such-command-tk-mutate", "not found"]),
    ("u|o|c|a.c|t.o|l|A=1|env|extra", ["6 to 8", "got 9"]),
    ("u|o|c", ["6 to 8", "got 3"]),
])
def test_unit_spec_errors_name_the_unit_and_field(capsys, spec, words):
    with pytest.raises(SystemExit) as e:
        tkm.parse_unit(spec)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("tk-mutate: --unit"), err
    for w in words:
        assert w in err, (w, err)


def test_unit_runs_with_its_env_and_prefix(tmp_path):
    """unit_cmd + run: the ENV words reach the binary on top of RUN_ENV, and
    PREFIX is what is executed (here `env`, which then runs the binary)."""
    exe = tmp_path / "unit"
    exe.write_text("#!/bin/sh\necho \"TK_A=$TK_A TK_B=$TK_B TK_RANDOM_PROGRAMS=$TK_RANDOM_PROGRAMS\"\n"
                   "[ \"$TK_A\" = 'x y' ] || exit 3\n")
    exe.chmod(0o755)
    u = tkm.parse_unit("u|||a.c|t.o||TK_A='x y' TK_B=2|env TK_B=3")
    saved = dict(tkm.RUN_ENV)
    tkm.RUN_ENV["TK_RANDOM_PROGRAMS"] = "64"
    try:
        cmd, env = tkm.unit_cmd(u, str(exe))
        assert cmd == ["env", "TK_B=3", str(exe)]
        rc, out = tkm.run(cmd, timeout=30, env=env)
    finally:
        tkm.RUN_ENV.clear()
        tkm.RUN_ENV.update(saved)
    assert rc == 0, out
    assert "TK_A=x y TK_B=3 TK_RANDOM_PROGRAMS=64" in out, out
    assert "TK_A" not in tkm.RUN_ENV, "a unit's environment leaked into the one every command gets"


def test_unit_failure_names_the_sanitizer_report():
    out = ("Running suite(s): ref\n"
           "=================================================================\n"
           "==123==ERROR: LeakSanitizer: detected memory leaks\n"
           "x.c:1:F:core:t:0: Assertion failed\n")
    assert tkm.unit_failure(out, 1) == "ERROR: LeakSanitizer: detected memory leaks"
    assert tkm.unit_failure("WARNING: ThreadSanitizer: data race (pid=1)\n", 66) == \
        "WARNING: ThreadSanitizer: data race (pid=1)"
    assert tkm.unit_failure("reference/x.c:12:5: runtime error: shift exponent 64\n", 1) == \
        "reference/x.c:12:5: runtime error: shift exponent 64"
    assert tkm.unit_failure("x.c:1:F:core:t:0: Assertion 'a' failed\n", 1).startswith("x.c:1:F:")
    assert tkm.unit_failure("nothing useful\n", 7) == "exit 7"


LIB_C = "int add(int a, int b)\n{\n    return a + b;\n}\n"
MAIN_C = r"""
#include <stdlib.h>
#include <string.h>
int add(int, int);
int main(void)
{
    const char *e = getenv("TK_UNIT_MARK");
    if (!e || strcmp(e, "on") != 0) return 9;   /* run without the unit's ENV */
    return add(2, 3) == 5 ? 0 : 1;
}
"""


def tiny_project(tmp_path):
    """A one-function 'implementation' and a unit test of it, built: enough
    for a whole tk-mutate run with units only (no strategies)."""
    (tmp_path / "obj").mkdir()
    (tmp_path / "lib.c").write_text(LIB_C)
    (tmp_path / "main.c").write_text(MAIN_C)
    for src in ("lib.c", "main.c"):
        subprocess.run(["cc", "-fPIC", "-c", src, "-o", "obj/" + src[:-2] + ".o"], cwd=tmp_path, check=True)
    return ["--sources", "lib.c", "--objdir", "obj", "--conform", "/bin/true", "--strategies= ",
            "--cflags=-fPIC", "--min-score", "0", "--quiet"]


def run_tool(tmp_path, args):
    return subprocess.run([sys.executable, TOOL] + args, cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_unit_failing_on_unmutated_code_stops_the_run(tmp_path):
    base = tiny_project(tmp_path)
    p = run_tool(tmp_path, base + ["--unit", "u|||lib.c|obj/main.o|", "--json", "out.json"])
    assert p.returncode == 2, p.stdout + p.stderr
    assert "--unit u: the unmutated code fails this unit (exit 9)" in p.stderr, p.stderr
    assert "no mutant was run" in p.stderr
    assert not (tmp_path / "out.json").exists(), "a run stopped at the baseline wrote results"


def test_unit_env_reaches_the_binary_and_kills(tmp_path):
    base = tiny_project(tmp_path)
    p = run_tool(tmp_path, base + ["--unit", "u|||lib.c|obj/main.o||TK_UNIT_MARK=on|env", "--json", "out.json"])
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads((tmp_path / "out.json").read_text())
    (ur,) = doc["unit_runs"]
    assert ur["name"] == "u" and ur["env"] == {"TK_UNIT_MARK": "on"} and ur["prefix"] == ["env"]
    assert ur["baseline_seconds"] is not None and ur["timeout_seconds"] >= 120
    ran = [m for m in doc["mutants"] if m["status"] != "stillborn"]
    assert ran, doc["mutants"]
    # a + b -> a - b must die in the unit (exit 1, not the 9 of a missing ENV)
    aor = [m for m in ran if m["operator"] == "AOR"]
    assert aor and all(m["status"] == "killed" and m["strategy"] == "unit:u" for m in aor), aor
    assert all("u" in m["unit_seconds"] for m in aor)
    assert ur["killed"] == sum(1 for m in ran if m["status"] == "killed")

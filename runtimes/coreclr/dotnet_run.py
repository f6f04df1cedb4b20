"""runtimes/coreclr/dotnet_run.py: building and running the C# program that
`tk-bench --emit-csharp` writes, on the .NET 10 runtime (SPEC.md "CoreCLR
observation").  Python 3 stdlib only; run with /usr/bin/python3.

Knobs: CoreCLR reads DOTNET_* configuration values of this kind as
hexadecimal (clrconfignative / CLRConfig::GetConfigValue parse with base 16;
verified on the installed runtime by `conform-coreclr`'s
knob.threshold-hex check), so every numeric knob is written with
hex_knob()."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "build", "bin")
CACHE = os.path.join(ROOT, "build", "coreclr")

DOTNET_ENV = {"DOTNET_CLI_TELEMETRY_OPTOUT": "1", "DOTNET_NOLOGO": "1",
              "DOTNET_SKIP_FIRST_TIME_EXPERIENCE": "1", "DOTNET_GENERATE_ASPNET_CERTIFICATE": "0",
              "MSBUILDDISABLENODEREUSE": "1", "DOTNET_CLI_UI_LANGUAGE": "en"}


class RunError(Exception):
    pass


def log(msg):
    sys.stderr.write("coreclr: %s\n" % msg)
    sys.stderr.flush()


def hex_knob(n):
    """DOTNET_ value for the integer n: CoreCLR parses it as hex."""
    if n < 0:
        raise ValueError("knob values are unsigned: %r" % n)
    return "%x" % n


def dotnet_missing():
    """None when `dotnet` with a .NET 10 runtime is usable, else the reason."""
    exe = shutil.which("dotnet")
    if not exe:
        return "dotnet is not on PATH (install the .NET 10 SDK to run the CoreCLR observations)"
    try:
        out = subprocess.run([exe, "--list-runtimes"], capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, **DOTNET_ENV)).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return "dotnet --list-runtimes failed: %s" % e
    if "Microsoft.NETCore.App 10." not in out:
        return "no Microsoft.NETCore.App 10.x runtime (dotnet --list-runtimes: %s)" % (out.strip() or "empty")
    if subprocess.run(["uname", "-m"], capture_output=True, text=True).stdout.strip() != "x86_64":
        return "the CoreCLR observations read x86-64 stubs; this machine is not x86-64"
    return None


def runtime_version():
    out = subprocess.run(["dotnet", "--list-runtimes"], capture_output=True, text=True,
                         env=dict(os.environ, **DOTNET_ENV)).stdout
    for line in out.splitlines():
        if line.startswith("Microsoft.NETCore.App 10."):
            return line.split()[1]
    return "unknown"


def tool(name):
    p = os.path.join(BIN, name)
    if not os.path.isfile(p):
        raise RunError("%s is not built (run `make native`)" % p)
    return p


def build_program(workload, bench_args=(), cache=CACHE):
    """Emit WORKLOAD as C# (tk-bench --emit-csharp) and `dotnet build` it once:
    the build is reused while the emitted sources are byte-identical.
    Returns the project directory (program: DIR/out/tkgen.dll)."""
    key = hashlib.sha256(("%s %s" % (workload, " ".join(bench_args))).encode()).hexdigest()[:10]
    d = os.path.join(cache, "%s-%s" % (os.path.basename(workload).replace(".wl", ""), key))
    src = d + ".src"
    os.makedirs(cache, exist_ok=True)
    if os.path.isdir(src):
        shutil.rmtree(src)
    r = subprocess.run([tool("tk-bench"), workload, "--emit-csharp", src] + list(bench_args),
                       capture_output=True, text=True)
    if r.returncode:
        raise RunError("tk-bench --emit-csharp failed: %s" % (r.stderr.strip() or r.stdout.strip()))
    h = hashlib.sha256()
    for f in sorted(os.listdir(src)):
        h.update(f.encode())
        with open(os.path.join(src, f), "rb") as fh:
            h.update(fh.read())
    digest = h.hexdigest()
    stamp = os.path.join(d, "sources.sha256")
    dll = os.path.join(d, "out", "tkgen.dll")
    if os.path.isfile(dll) and os.path.isfile(stamp) and open(stamp).read().strip() == digest:
        shutil.rmtree(src)
        return d
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(src):
        shutil.copyfile(os.path.join(src, f), os.path.join(d, f))
    shutil.rmtree(src)
    log("dotnet build %s (offline, Release; %s)" % (d, workload))
    t0 = time.time()
    env = dict(os.environ, **DOTNET_ENV)
    r = subprocess.run(["dotnet", "build", d, "-c", "Release", "-o", os.path.join(d, "out"),
                        "-nologo", "-v:q", "-p:UseSharedCompilation=false"],
                       capture_output=True, text=True, env=env)
    if r.returncode:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:])
        raise RunError("dotnet build %s failed:\n%s" % (d, tail))
    with open(stamp, "w") as fh:
        fh.write(digest + "\n")
    log("built in %.1f s" % (time.time() - t0))
    return d


def knob_env(threshold=None, delay_ms=None, pgo=None, extra=None):
    """DOTNET_ environment for the tiering knobs (values in hex)."""
    env = {}
    if threshold is not None:
        env["DOTNET_TC_CallCountThreshold"] = hex_knob(threshold)
    if delay_ms is not None:
        env["DOTNET_TC_CallCountingDelayMs"] = hex_knob(delay_ms)
    if pgo is not None:
        env["DOTNET_TieredPGO"] = hex_knob(1 if pgo else 0)
    for k, v in (extra or {}).items():
        env[k] = v
    return env


def run_program(project, outdir, tag, knobs, args=(), probe=True, timeout=600):
    """Run the program once.  Returns {"run": run.json, "probe": probe.json or
    None, "jit_log": path, "env": knobs}.  The compile log comes from
    DOTNET_JitStdOutFile + DOTNET_JitDisasmSummary=1 (release runtime)."""
    os.makedirs(outdir, exist_ok=True)
    base = os.path.join(outdir, tag)
    paths = {"run": base + ".run.json", "probe": base + ".probe.json", "jit": base + ".jit.txt"}
    env = dict(os.environ, **DOTNET_ENV)
    for k in list(env):
        if k.startswith("DOTNET_") and k not in DOTNET_ENV:
            del env[k]        # only the knobs of this run
    env.update(knobs)
    env["DOTNET_JitStdOutFile"] = paths["jit"]
    env["DOTNET_JitDisasmSummary"] = "1"
    cmd = ["dotnet", os.path.join(project, "out", "tkgen.dll"), "--json", paths["run"]] + list(args)
    if probe:
        cmd += ["--probe", paths["probe"]]
    crashes = []
    for attempt in range(3):
        for p in paths.values():          # the compile log is appended to: start empty
            if os.path.exists(p):
                os.unlink(p)
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        # Seen on 10.0.12, rarely: SIGSEGV at process exit after the program
        # finished and wrote its files (with and without the probe).  A
        # signal is retried (twice) and recorded; any other failure is not.
        if r.returncode >= 0:
            break
        crashes.append({"signal": -r.returncode, "stdout_tail": r.stdout.strip()[-200:]})
        log("%s: killed by signal %d, retrying (%d/2)" % (tag, -r.returncode, attempt + 1))
    if r.returncode:
        raise RunError("%s failed (exit %d): %s" % (" ".join(cmd), r.returncode, (r.stderr or r.stdout).strip()[-2000:]))
    res = {"env": dict(knobs), "cmd": cmd, "jit_log": paths["jit"], "crashes": crashes}
    with open(paths["run"]) as fh:
        res["run"] = json.load(fh)
    res["probe"] = None
    if probe:
        with open(paths["probe"]) as fh:
            res["probe"] = json.load(fh)
    return res

"""tk-track bisect on a scripted git repository with a planted regression,
and the HTML report loaded in a real browser (headless chromium)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import HARNESS, ROOT
import track_fake

TK = os.path.join(HARNESS, "tk-track")


def sh(args, cwd):
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def commit(repo, msg):
    sh(["git", "add", "-A"], repo)
    sh(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", msg], repo)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, stdout=subprocess.PIPE,
                          universal_newlines=True).stdout.strip()


def test_bisect_names_the_planted_commit(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    sh(["git", "init", "-q", "-b", "main"], repo)
    (repo / "build.sh").write_text("mkdir -p build/bin && cp tk-bench.in build/bin/tk-bench && chmod +x build/bin/tk-bench\n")
    revs = []
    for i in range(8):
        stub = 1000 if i < 5 else 1100            # commit 5 plants +10% stub bytes
        (repo / "tk-bench.in").write_text(track_fake.fake_text(stub_bytes=stub, slot_writes=10 + (i >= 5) * 7))
        (repo / "notes.txt").write_text("change %d\n" % i)
        revs.append(commit(repo, "change %d" % i))
    suite = track_fake.write_suite(str(tmp_path / "fake.toml"), reps=1, metrics=("live_stub_bytes",))
    out = str(tmp_path / "bisect.json")
    r = subprocess.run([sys.executable, TK, "bisect", revs[0], revs[-1], "fake-bench", "--repo", str(repo),
                        "--suite", suite, "--build-cmd", "sh build.sh", "--build-cache", str(tmp_path / "cache"),
                        "--history", str(tmp_path / "h.sqlite"), "--json", out, "--quiet"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.load(open(out))
    assert doc["first_bad"] == revs[5] and doc["subject"] == "change 5"
    assert "first bad commit: %s" % revs[5][:12] in r.stdout
    assert len(doc["steps"]) >= 2 and {s["verdict"] for s in doc["steps"]} <= {"good", "bad"}
    # the caller's checkout is untouched: no bisect in progress, HEAD unchanged
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, stdout=subprocess.PIPE,
                          universal_newlines=True).stdout.strip()
    assert head == revs[-1]
    assert not (repo / ".git" / "BISECT_LOG").exists()
    # a range without a regression: nothing to bisect, exit 1
    r = subprocess.run([sys.executable, TK, "bisect", revs[0], revs[4], "fake-bench", "--repo", str(repo),
                        "--suite", suite, "--build-cmd", "sh build.sh", "--build-cache", str(tmp_path / "cache"),
                        "--no-history", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=300)
    assert r.returncode == 1 and "nothing to bisect" in r.stdout


def test_report_loads_every_image_in_chromium(tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "chromium is installed by ci/deps"
    bin_dir = track_fake.write_fake(str(tmp_path / "bin"))
    suite = track_fake.write_suite(str(tmp_path / "fake.toml"))
    hist = str(tmp_path / "h.sqlite")
    gate_json = str(tmp_path / "gate.json")
    for inject in ([], ["--inject", "stub_extra=100"]):
        subprocess.run([sys.executable, TK, "gate", "--suite", suite, "--history", hist, "--base", "HEAD",
                        "--base-bin", bin_dir, "--head-bin", bin_dir, "--json", gate_json, "--quiet"] + inject,
                       stdout=subprocess.PIPE, cwd=ROOT, timeout=120)
    out = tmp_path / "report"
    r = subprocess.run([sys.executable, TK, "report", "--history", hist, "--out", str(out), "--compare", gate_json,
                        "--reproduce", str(tmp_path / "none.json"), "--calibration", str(tmp_path / "none.json")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    html = (out / "index.html").read_text()
    n = html.count("<img ")
    assert n >= 3 and "what moved" in html
    # a copy with one image missing: the same check must catch it
    broken = tmp_path / "broken"
    shutil.copytree(str(out), str(broken))
    os.unlink(str(broken / "compare.png"))
    shot = os.path.join(ROOT, "results", "track-report-test.png")
    os.makedirs(os.path.dirname(shot), exist_ok=True)
    if os.path.exists(shot):
        os.unlink(shot)
    # chromium mostly waits (start-up), so the three loads run side by side
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]
    procs = [subprocess.Popen([chromium] + flags + ["--dump-dom", d.as_uri()], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, universal_newlines=True)
             for d in (out / "index.html", broken / "index.html")]
    procs.append(subprocess.Popen([chromium] + flags + ["--hide-scrollbars", "--window-size=1200,1600",
                                                        "--screenshot=" + shot, (out / "index.html").as_uri()],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    doms = [p.communicate(timeout=120)[0] for p in procs]
    assert 'data-images-loaded="%d/%d"' % (n, n) in doms[0], doms[0][-400:]
    assert 'data-images-loaded="%d/%d"' % (n - 1, n) in doms[1], doms[1][-400:]
    assert os.path.getsize(shot) > 10000

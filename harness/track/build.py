"""Builds of other revisions, for gate and bisect: a revision is checked out
in a temporary git worktree (the caller's checkout is never touched), built
with make, and its tk-bench and driver libraries are kept in a cache
directory keyed by the full commit id (results/track-builds/COMMIT/{bin,lib})
so bisect steps and repeated gates build each revision once."""

import os
import shutil
import subprocess
import sys
import tempfile

DEFAULT_TARGETS = ["build/bin/tk-bench", "build/bin/tk-tierup", "build/lib/libtk_ref_driver.so"]
# Programs that older revisions do not have: built and required only where
# the revision has their source.
OPTIONAL = {"build/bin/tk-tierup": "bench/tierup.c"}


def _has(repo, commit, path):
    return subprocess.run(["git", "-C", repo, "cat-file", "-e", "%s:%s" % (commit, path)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


class BuildError(Exception):
    pass


def build_revision(repo, commit, cache_dir, targets=None, jobs=2, log=sys.stderr, make_cmd=None):
    """Returns the bin directory of commit's build (cached)."""
    dest = os.path.join(cache_dir, commit)
    absent = [t for t, src in OPTIONAL.items() if not _has(repo, commit, src)]
    wanted = [t for t in (targets or DEFAULT_TARGETS) if t not in absent]
    if all(os.path.isfile(os.path.join(dest, "bin", os.path.basename(t)))
           for t in ["build/bin/tk-bench"] + [t for t in OPTIONAL if t not in absent]):
        return os.path.join(dest, "bin")
    tmp = tempfile.mkdtemp(prefix="tk-track-build-")
    wt = os.path.join(tmp, "src")
    try:
        p = subprocess.run(["git", "-C", repo, "worktree", "add", "--detach", wt, commit],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        if p.returncode != 0:
            raise BuildError("cannot check out %s in a temporary worktree: %s" % (commit[:12], p.stdout.strip()))
        # ../shared beside the checkout, as in CI (the build may read it)
        shared = os.path.join(os.path.dirname(os.path.abspath(repo)), "shared")
        if os.path.isdir(shared) and not os.path.exists(os.path.join(tmp, "shared")):
            os.symlink(shared, os.path.join(tmp, "shared"))
        cmd = make_cmd or (["make", "-j%d" % jobs, "--no-print-directory"] + wanted)
        log.write("tk-track: building %s in %s: %s\n" % (commit[:12], wt, " ".join(cmd)))
        log.flush()
        p = subprocess.run(cmd, cwd=wt, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        if p.returncode != 0:
            raise BuildError("building %s failed (%s):\n%s" % (commit[:12], " ".join(cmd),
                                                              "\n".join(p.stdout.strip().splitlines()[-15:])))
        copy_build(wt, dest)
        return os.path.join(dest, "bin")
    finally:
        subprocess.run(["git", "-C", repo, "worktree", "remove", "--force", wt],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["git", "-C", repo, "worktree", "prune"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def copy_build(tree, dest):
    """Copies tree/build/bin/tk-bench (and tk-tierup) and tree/build/lib/*.so to dest/{bin,lib}
    (tk-bench finds its driver at ../lib next to itself)."""
    src_bin = os.path.join(tree, "build", "bin", "tk-bench")
    if not os.path.isfile(src_bin):
        raise BuildError("the build of %s produced no build/bin/tk-bench" % tree)
    part = dest + ".part"
    shutil.rmtree(part, ignore_errors=True)
    os.makedirs(os.path.join(part, "bin"))
    os.makedirs(os.path.join(part, "lib"))
    shutil.copy2(src_bin, os.path.join(part, "bin", "tk-bench"))
    tierup = os.path.join(tree, "build", "bin", "tk-tierup")
    if os.path.isfile(tierup):      # revisions before tk-tierup have none (its runner then says so)
        shutil.copy2(tierup, os.path.join(part, "bin", "tk-tierup"))
    libdir = os.path.join(tree, "build", "lib")
    if os.path.isdir(libdir):
        for f in os.listdir(libdir):
            if f.endswith(".so"):
                shutil.copy2(os.path.join(libdir, f), os.path.join(part, "lib", f))
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(part, dest)

#!/usr/bin/env python3
"""Checks the exercise track end to end (`make student-check`, run by CI):

1. a student copy (tools/student.py) in a temporary folder builds, and grades none passed;
2. with one exercise's solution put back (E03.2) exactly that one passes;
3. with that undone and the project's own autodiff/ copied in, exactly the exercises
   whose regions are in autodiff/ pass.
Only the copy's test binary is built, with -j from nproc; the first build is a full one
(the library and the tests), the other two recompile the changed files.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # (no __pycache__ in the repository)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exercise_regions as ex  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESTORED = "E03.2"
TEST_BIN = "build/release/tests/run_tests"


# A compiler's warning reads "file:line:col: warning: ..."; make's own notes (a jobserver
# inherited from the calling make, for one) also say "warning:" and are not the copy's fault.
COMPILER_WARNING = re.compile(r"^[^\s:]+:\d+:(\d+:)? warning:")


def build(copy, cxx):
    start = time.time()
    jobs = str(os.cpu_count() or 2)
    run = subprocess.run(["make", "--no-print-directory", "-C", copy, f"-j{jobs}", f"CXX={cxx}",
                          TEST_BIN], capture_output=True, text=True, env=ex.own_project_env())
    warnings = [l for l in run.stderr.splitlines() if COMPILER_WARNING.match(l)]
    if run.returncode != 0:
        sys.exit("student-check: the copy does not build:\n" + run.stderr[-4000:])
    print(f"  built in {time.time() - start:.0f} s, {len(warnings)} warnings")
    for w in warnings[:10]:
        print("   ", w)
    return warnings


def put_back(source, target):
    """Copies the files of source that differ into target, with new times (so make sees them)."""
    for folder, _, names in os.walk(source):
        for name in names:
            src = os.path.join(folder, name)
            dst = os.path.join(target, os.path.relpath(src, source))
            if not os.path.exists(dst) or open(src, "rb").read() != open(dst, "rb").read():
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copyfile(src, dst)


def passed(copy):
    run = subprocess.run([sys.executable, os.path.join(copy, "tools", "grade.py"), "--bin",
                          os.path.join(copy, TEST_BIN)], capture_output=True, text=True)
    lines = run.stdout.splitlines()
    print("  " + (lines[-1] if lines else "grade printed nothing: " + run.stderr[-500:]))
    return {l.split()[0] for l in lines if l.endswith("  passed")}


def expect(what, got, wanted):
    if got != wanted:
        sys.exit(f"student-check: {what}: passed {sorted(got)}, expected {sorted(wanted)}")
    print(f"  ok: {what}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cxx", default="g++")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = parser.parse_args()
    started = time.time()
    tmp = tempfile.mkdtemp(prefix="student-check-")
    copy = os.path.join(tmp, "copy")
    try:
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "student.py"), "make", copy],
                       check=True)
        print("1. the fresh copy")
        if build(copy, args.cxx):
            sys.exit("student-check: the student copy compiles with warnings")
        expect("a fresh copy", passed(copy), set())

        print(f"2. {RESTORED} put back")
        kl = os.path.join(copy, "vae", "kl.cpp")
        stubbed = open(kl, encoding="utf-8").read()
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "student.py"), "restore",
                        "--from", ROOT, "--id", RESTORED, copy], check=True)
        build(copy, args.cxx)
        expect(f"{RESTORED} restored", passed(copy), {RESTORED})

        print("3. the project's autodiff/ put back")
        open(kl, "w", encoding="utf-8").write(stubbed)
        put_back(os.path.join(ROOT, "autodiff"), os.path.join(copy, "autodiff"))
        autodiff_ids = {r.id for r in ex.all_regions(ROOT) if r.path.startswith("autodiff/")}
        build(copy, args.cxx)
        expect("autodiff/ restored", passed(copy), autodiff_ids)
        print(f"student-check: ok in {time.time() - started:.0f} s")
    finally:
        if args.keep:
            print(f"student-check: the copy is in {copy}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

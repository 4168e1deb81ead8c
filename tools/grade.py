#!/usr/bin/env python3
"""Grades the exercise track (docs/exercises.md): `make grade`, `make grade E=E03.2`.

Runs the test binary once per exercise on that exercise's own doctest cases (named
"E03.2: ...") and prints one line per exercise:
  passed | failed: the first failing check | not started (its stub threw) |
  needs E0x.y (the stub of another exercise threw)
and a last line "exercises: N passed, M failed". Exits 1 when any did not pass.
"""
import argparse
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # (no __pycache__ in the repository)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exercise_regions as ex  # noqa: E402

NOT_DONE = re.compile(r"(E\d\d\.\d+) not done yet")
SUMMARY = re.compile(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")


def first_failure(output):
    """The first failing check of doctest's output, on one line."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if "ERROR:" in line or "FATAL ERROR" in line:
            text = line.split("ERROR:", 1)[-1].strip()
            following = [s.strip() for s in lines[i + 1:i + 3] if s.strip()]
            if following and following[0].startswith("values:"):  # "values: CHECK( 1 == 2 )"
                text += " " + (following[0] if following[0] != "values:" else
                               "values: " + following[1] if len(following) > 1 else "")
            return text
    return "the test binary stopped: " + (lines[-1] if lines else "no output")


def grade(binary, exercise_id):
    run = subprocess.run([binary, f"--test-case={exercise_id}:*", "--no-colors=true",
                          "--no-version=true"], capture_output=True, text=True)
    output = run.stdout + run.stderr
    summary = SUMMARY.search(output)
    if summary and int(summary.group(1)) == 0:
        return "failed: no test case is named for this exercise"
    if run.returncode == 0 and summary:
        return "passed"
    not_done = NOT_DONE.search(output)
    if not_done:
        return "not started" if not_done.group(1) == exercise_id else f"needs {not_done.group(1)}"
    return "failed: " + first_failure(output)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True, help="the doctest binary (run_tests)")
    parser.add_argument("--only", default="", help="one exercise ID, e.g. E03.2")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    track = ex.exercises(root)
    if args.only:
        if args.only not in track:
            sys.exit(f"grade: no exercise {args.only}; the track has {', '.join(track)}")
        track = {args.only: track[args.only]}
    width = max(len(t) for t in track.values())
    passed = 0
    for exercise_id, title in track.items():
        result = grade(args.bin, exercise_id)
        passed += result == "passed"
        print(f"{exercise_id}  {title:<{width}}  {result}", flush=True)
    print(f"exercises: {passed} passed, {len(track) - passed} failed")
    sys.exit(0 if passed == len(track) else 1)


if __name__ == "__main__":
    main()

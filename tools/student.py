#!/usr/bin/env python3
"""The student copy of the exercise track (docs/exercises.md).

  python3 tools/student.py make DIR
      writes the project's committed files (git ls-files of HEAD) to DIR as a fresh git
      repository with one commit, every exercise region replaced by a stub that throws
      ad::ExerciseNotDone naming the exercise, the page and the equation to implement.
  python3 tools/student.py restore --from ORIGINAL --id E03.2 DIR
      puts one exercise's solution from ORIGINAL back into DIR (what the check of the
      track does to show that finishing one exercise makes exactly that one pass).
"""
import argparse
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # (no __pycache__ in the repository)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exercise_regions as ex  # noqa: E402

CONTROL = re.compile(r"^(if|for|while|switch|else|do|try|catch|case|default)\b|^\}?\s*else\b")
SCOPE = re.compile(r"(namespace|struct|class|enum|union)\b")
TEMPLATE = re.compile(r"^template\s*<[^{;]*?>\s*")
EQUATION = re.compile(r"^\*\*Equation:\*\*\s*(.+?)\s*$")
HEADING = re.compile(r"^#+ (E\d\d\.\d+)")


def without_comments_and_strings(text):
    """text with comments, string and character literals blanked (braces in them vanish)."""
    pattern = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def last_paren_group(header):
    """The text inside the last balanced (...) of a function or lambda header."""
    end = header.rfind(")")
    if end < 0:
        return None
    depth = 0
    for i in range(end, -1, -1):
        depth += {")": 1, "(": -1}.get(header[i], 0)
        if depth == 0:
            return header[i + 1:end]
    return None


def parameter_names(params):
    names, depth, part = [], 0, ""
    for c in params + ",":
        if c in "<([{":
            depth += 1
        elif c in ">)]}":
            depth -= 1
        if c == "," and depth == 0:
            declaration = part.split("=")[0].strip()
            match = re.search(r"([A-Za-z_]\w*)\s*$", declaration)
            if match and match.group(1) != "void" and len(declaration.split()) > 1:
                names.append(match.group(1))
            part = ""
        else:
            part += c
    return names


def enclosing_parameters(code_before):
    """Parameter names of the function or lambda whose body the region sits in."""
    text = without_comments_and_strings(code_before)
    depth, i = 0, len(text) - 1
    while i >= 0:
        c = text[i]
        if c == "}":
            depth += 1
        elif c == "{":
            if depth > 0:
                depth -= 1
            else:  # an unmatched brace: the start of an enclosing block
                j, parens = i - 1, 0  # back to the statement's start, past (...{...}...)
                while j >= 0 and not (parens <= 0 and text[j] in ";{}"):
                    parens += {")": 1, "(": -1}.get(text[j], 0)
                    j -= 1
                header = TEMPLATE.sub("", text[j + 1:i].strip())
                if SCOPE.match(header):
                    return []
                if header and not CONTROL.search(header):  # a function's or lambda's body
                    group = last_paren_group(header)
                    return parameter_names(group) if group is not None else []
        i -= 1
    return []


def c_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stub_lines(region, region_text, code_before, equation):
    used = [n for n in enclosing_parameters(code_before)
            if re.search(r"\b" + re.escape(n) + r"\b", region_text)]
    lines = []
    if used:
        lines.append(region.indent + ", ".join(f"(void){n}" for n in used) +
                     ";  // (your code will use these)")
    lines.append(f"{region.indent}ad::exercise_not_done({c_string(region.id)}, "
                 f"{c_string(region.title)},")
    lines.append(f"{region.indent}                      {c_string(equation)});")
    return lines


def equations(docs_page):
    """{id: the equation line of its section} from docs/exercises.md."""
    found, current = {}, None
    if os.path.exists(docs_page):
        for line in open(docs_page, encoding="utf-8"):
            heading, equation = HEADING.match(line), EQUATION.match(line)
            if heading:
                current = heading.group(1)
            elif equation and current and current not in found:
                found[current] = equation.group(1).replace("*", "")
    return found


def replace_regions(lines, regions, body_for):
    """lines with each region's body replaced by body_for(region) (markers kept)."""
    out, previous = [], 0
    for r in regions:
        out += lines[previous:r.start + 1] + body_for(r)
        previous = r.end
    return out + lines[previous:]


def stub_file(path, equation_of):
    lines = open(path, encoding="utf-8").read().split("\n")
    regions = ex.regions_in(path, lines)
    if not regions:
        return 0

    def stub(r):
        return stub_lines(r, "\n".join(lines[r.start + 1:r.end]), "\n".join(lines[:r.start]),
                          equation_of.get(r.id, "docs/exercises.md"))
    open(path, "w", encoding="utf-8").write("\n".join(replace_regions(lines, regions, stub)))
    return len(regions)


def make_copy(root, dest):
    if os.path.exists(dest) and os.listdir(dest):
        sys.exit(f"student.py: {dest} exists and is not empty; name a new folder")
    equation_of = equations(os.path.join(root, "docs", "exercises.md"))
    missing = [i for i in ex.exercises(root) if i not in equation_of]
    if missing:
        sys.exit(f"student.py: docs/exercises.md has no **Equation:** line for {', '.join(missing)}")
    os.makedirs(dest, exist_ok=True)  # the committed files of HEAD, modes kept
    archive = subprocess.run(["git", "-C", root, "archive", "HEAD"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    stubbed = sum(stub_file(os.path.join(dest, rel), equation_of)
                  for rel in ex.source_files(dest))
    adam = os.path.join(dest, "nn", "optim_kernels.cpp")  # nn::Adam runs the reference
    text = open(adam, encoding="utf-8").read()
    flag = "constexpr bool kExerciseCopy = false;"
    if flag not in text:
        sys.exit("student.py: nn/optim_kernels.cpp has no kExerciseCopy flag to set")
    open(adam, "w", encoding="utf-8").write(text.replace(flag, flag.replace("false", "true")))
    if os.path.exists(os.path.join(dest, "tools", "excerpts.py")):  # the book shows the stubs
        subprocess.run(["make", "--no-print-directory", "-C", dest, "excerpts"], check=True,
                       env=ex.own_project_env())
    git = ["git", "-C", dest, "-c", "user.name=Exercise track", "-c",
           "user.email=exercises@localhost"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git[:3] + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "The exercise track: every exercise a stub"],
                   check=True)
    count = len(ex.exercises(dest))
    print(f"student copy in {dest}: {count} exercises ({stubbed} regions) replaced by stubs; "
          f"start with docs/exercises.md, grade with make grade")


def restore(original, dest, exercise_id):
    restored = 0
    for rel in ex.source_files(dest):
        path = os.path.join(dest, rel)
        lines = open(path, encoding="utf-8").read().split("\n")
        regions = ex.regions_in(rel, lines)
        mine = [r for r in regions if r.id == exercise_id]
        if not mine:
            continue
        source = open(os.path.join(original, rel), encoding="utf-8").read().split("\n")
        solutions = [r for r in ex.regions_in(rel, source) if r.id == exercise_id]
        if len(solutions) != len(mine):
            sys.exit(f"student.py: {rel} has {len(mine)} regions of {exercise_id}, "
                     f"the original {len(solutions)}")
        body = {id(m): source[s.start + 1:s.end] for m, s in zip(mine, solutions)}
        new = replace_regions(lines, regions,
                              lambda r: body.get(id(r), lines[r.start + 1:r.end]))
        open(path, "w", encoding="utf-8").write("\n".join(new))
        restored += len(mine)
    if not restored:
        sys.exit(f"student.py: no region of {exercise_id} in {dest}")
    print(f"{exercise_id}: {restored} region(s) restored from {original}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("make")
    make.add_argument("dir")
    back = sub.add_parser("restore")
    back.add_argument("--from", dest="original", required=True)
    back.add_argument("--id", required=True)
    back.add_argument("dir")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if args.command == "make":
        make_copy(root, os.path.abspath(args.dir))
    else:
        restore(os.path.abspath(args.original), os.path.abspath(args.dir), args.id)


if __name__ == "__main__":
    main()

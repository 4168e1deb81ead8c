"""The exercise regions of the sources (docs/exercises.md), shared by student.py, grade.py
and student_check.py, and the one environment those tools run make in on a student copy.

A region is the code between two marker lines,
    // EXERCISE E01.6: the backward of logsumexp
    ...solution...
    // END EXERCISE E01.6
and one exercise may have several regions (in one file or several).
"""
import os
import re

START = re.compile(r"^(\s*)// EXERCISE (E\d\d\.\d+): (.+?)\s*$")
END = re.compile(r"^\s*// END EXERCISE (E\d\d\.\d+)\s*$")
# The book's excerpt markers (tools/excerpts.py). An exercise may sit inside an excerpt,
# never across one's edge; an excerpt may not sit inside an exercise (the stub would
# remove its markers, and the student copy's pages could not be rewritten).
EXCERPT = re.compile(r"^\s*// (end )?excerpt: ([a-z0-9_]+)\s*$")
SOURCE_DIRS = ("autodiff", "nn", "vae", "tutorials")
SOURCE_SUFFIXES = (".cpp", ".h")


class Region:
    def __init__(self, path, start, end, exercise_id, title, indent):
        self.path, self.start, self.end = path, start, end  # marker line indices
        self.id, self.title, self.indent = exercise_id, title, indent


def regions_in(path, lines):
    """The regions of one file's lines; raises ValueError on unbalanced markers."""
    found, open_region, open_excerpts = [], None, []
    for i, line in enumerate(lines):
        start, end, excerpt = START.match(line), END.match(line), EXCERPT.match(line)
        if excerpt:
            if open_region:
                raise ValueError(f"{path}:{i + 1}: an excerpt marker inside {open_region[1]}")
            if excerpt.group(1):
                open_excerpts = [n for n in open_excerpts if n != excerpt.group(2)]
            else:
                open_excerpts.append(excerpt.group(2))
        elif start:
            if open_region:
                raise ValueError(f"{path}:{i + 1}: {start.group(2)} starts inside {open_region[1]}")
            open_region = (i, start.group(2), start.group(3), start.group(1), list(open_excerpts))
        elif end:
            if not open_region or open_region[1] != end.group(1):
                raise ValueError(f"{path}:{i + 1}: END EXERCISE {end.group(1)} without its start")
            if open_region[4] != open_excerpts:
                raise ValueError(f"{path}:{i + 1}: {end.group(1)} crosses an excerpt's edge")
            found.append(Region(path, open_region[0], i, open_region[1], open_region[2],
                                open_region[3]))
            open_region = None
    if open_region:
        raise ValueError(f"{path}:{open_region[0] + 1}: {open_region[1]} is never ended")
    return found


def source_files(root):
    """The C++ sources that may hold exercises, relative to root, sorted."""
    out = []
    for top in SOURCE_DIRS:
        for folder, _, names in os.walk(os.path.join(root, top)):
            out += [os.path.relpath(os.path.join(folder, n), root) for n in names
                    if n.endswith(SOURCE_SUFFIXES)]
    return sorted(out)


def all_regions(root):
    regions = []
    for rel in source_files(root):
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            regions += regions_in(rel, f.read().split("\n"))
    return regions


def id_key(exercise_id):
    chapter, number = exercise_id[1:].split(".")
    return int(chapter), int(number)


def exercises(root):
    """{id: title} in track order (the title of an exercise's first region)."""
    titles = {}
    for r in all_regions(root):
        titles.setdefault(r.id, r.title)
    return dict(sorted(titles.items(), key=lambda kv: id_key(kv[0])))


def own_project_env():
    """The environment for running make on a student copy: a project of its own, not a
    sub-make of the make that ran us (whose jobserver it could not use: it would warn)."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}

#!/usr/bin/env python3
"""Rewrite the code excerpts of the docs pages from the sources.

A page marks an excerpt with a comment line followed by a fenced block:

    <!-- excerpt: vae/kl.cpp#kl_diag_standard -->
    ```cpp
    ...
    ```

and the source file marks the region with two comment lines:

    // excerpt: kl_diag_standard
    ...
    // end excerpt: kl_diag_standard

This script replaces each block by the region's lines, minus the marker lines inside it
(other excerpts' and exercises' markers), with the common indentation removed. A block
that is missing after the comment is inserted. tests/test_docs_excerpts.cpp checks the
same thing without rewriting, so a page that drifts from its source fails `make test`.

Usage: python3 tools/excerpts.py [--check] [PAGE.md ...]   (default: docs/*.md)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXCERPT_COMMENT = re.compile(r"^<!-- excerpt: (?P<path>[^#\s]+)#(?P<name>[a-z0-9_]+) -->\s*$")
REGION_BEGIN = re.compile(r"^\s*// excerpt: (?P<name>[a-z0-9_]+)\s*$")
REGION_END = re.compile(r"^\s*// end excerpt: (?P<name>[a-z0-9_]+)\s*$")
EXERCISE_MARKER = re.compile(r"^\s*// (END )?EXERCISE E\d+\.\d+\b")
FENCE_LANGUAGE = {".cpp": "cpp", ".h": "cpp", ".py": "python", ".md": "markdown"}


class ExcerptError(Exception):
    pass


def is_marker(line):
    return bool(REGION_BEGIN.match(line) or REGION_END.match(line) or EXERCISE_MARKER.match(line))


def dedent(lines):
    """Removes the indentation common to the non-blank lines, and trailing spaces."""
    indents = [len(line) - len(line.lstrip(" ")) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return [line[cut:].rstrip() for line in lines]


def regions(path):
    """Every named region of one source file: name -> its lines, markers removed."""
    found, open_regions = {}, {}
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        begin, end = REGION_BEGIN.match(line), REGION_END.match(line)
        if begin:
            name = begin["name"]
            if name in found or name in open_regions:
                raise ExcerptError(f"{path.relative_to(ROOT)}:{number}: region '{name}' is marked twice")
            open_regions[name] = number
        elif end:
            name = end["name"]
            if name not in open_regions:
                raise ExcerptError(f"{path.relative_to(ROOT)}:{number}: 'end excerpt: {name}' without its start")
            start = open_regions.pop(name)
            found[name] = dedent([l for l in lines[start:number - 1] if not is_marker(l)])
    if open_regions:
        name, number = next(iter(open_regions.items()))
        raise ExcerptError(f"{path.relative_to(ROOT)}:{number}: region '{name}' is never closed")
    return found


def region(source, name, cache):
    path = ROOT / source
    if not path.is_file():
        raise ExcerptError(f"excerpt {source}#{name}: no file {source}")
    if path not in cache:
        cache[path] = regions(path)
    if name not in cache[path]:
        raise ExcerptError(f"excerpt {source}#{name}: {source} has no region '{name}'")
    return cache[path][name]


def rewrite(page_text, page_name, cache):
    """The page with every excerpt block replaced by its region's current lines."""
    lines, out, i = page_text.split("\n"), [], 0
    while i < len(lines):
        match = EXCERPT_COMMENT.match(lines[i])
        out.append(lines[i])
        i += 1
        if not match:
            continue
        try:
            code = region(match["path"], match["name"], cache)
        except ExcerptError as error:
            raise ExcerptError(f"docs/{page_name}: {error}") from None
        language = FENCE_LANGUAGE.get(pathlib.Path(match["path"]).suffix, "")
        if i < len(lines) and lines[i].startswith("```"):
            close = i + 1
            while close < len(lines) and lines[close] != "```":
                close += 1
            if close == len(lines):
                raise ExcerptError(f"docs/{page_name}: the block of {match['path']}#{match['name']} is never closed")
            i = close + 1
        out += ["```" + language, *code, "```"]
    return "\n".join(out)


def main(argv):
    check = "--check" in argv
    pages = [pathlib.Path(a) for a in argv if a != "--check"] or sorted((ROOT / "docs").glob("*.md"))
    cache, changed = {}, []
    try:
        for page in pages:
            text = page.read_text()
            new = rewrite(text, page.name, cache)
            if new != text:
                changed.append(page.name)
                if not check:
                    page.write_text(new)
    except ExcerptError as error:
        print(f"excerpts: {error}", file=sys.stderr)
        return 1
    verb = "differ from their sources" if check else "rewritten"
    print(f"excerpts: {len(pages)} pages, {len(changed)} {verb}" + (": " + " ".join(changed) if changed else ""))
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""MkDocs hooks for the book (mkdocs.yml names this file under `hooks:`).

Four jobs, each small:
  * leave out of the navigation the optional pages (mkdocs.yml, extra.optional_pages) that
    are not written yet, so the book builds without them;
  * read the pages' lists as GitHub does: Python-Markdown wants a blank line before a list
    and four spaces per nesting level, GitHub neither; the pages stay GitHub markdown and
    are adjusted here, on the way into the book;
  * show a pipe written \| in a table cell's code as GitHub does, without the backslash;
  * copy KaTeX (Debian's libjs-katex) into the site, so every formula is typeset offline.
"""

import logging
import os
import re
import shutil

log = logging.getLogger("mkdocs.hooks.book")

KATEX_DIR = "/usr/share/javascript/katex"
KATEX_FILES = ["katex.min.js", "katex.min.css"]


# ---- the optional pages -------------------------------------------------------------

def _without_missing(nav, docs_dir, optional):
    """The nav with every entry naming a missing optional page taken out."""
    kept = []
    for entry in nav:
        (title, target), = entry.items() if isinstance(entry, dict) else [(None, entry)]
        if isinstance(target, list):
            children = _without_missing(target, docs_dir, optional)
            if children:
                kept.append({title: children})
        elif target in optional and not os.path.exists(os.path.join(docs_dir, target)):
            log.info("book: %s is not written yet; left out of the navigation", target)
        else:
            kept.append(entry)
    return kept


def on_config(config):
    optional = set(config["extra"].get("optional_pages", []))
    config["nav"] = _without_missing(config["nav"], config["docs_dir"], optional)
    return config


# ---- GitHub-style lists --------------------------------------------------------------

LIST_ITEM = re.compile(r"^( *)([-*+]|\d+[.)])( +)\S")
FENCE = re.compile(r"^ *(```|~~~)")


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def github_lists(markdown):
    """The page with its lists in Python-Markdown's form.

    Walks the lines keeping the stack of open list items, each by the column its text
    starts at (GitHub's rule for what belongs to an item). An item nested n deep starts at
    4n spaces and its other lines (paragraphs, $$ blocks, code fences) at 4(n + 1), as
    Python-Markdown wants; a list that follows a paragraph line directly gets a blank line
    before it. Code fences and $$ blocks outside lists pass through untouched.
    """
    out = []
    open_items = []          # (text column, spaces added to its lines) per open item
    closing = None           # inside a code fence or $$ block: the line that closes it
    previous_blank = True
    for line in markdown.split("\n"):
        stripped = line.strip()
        if closing is not None:                      # inside a fence or $$ block: shift only
            out.append(" " * open_items[-1][1] + line if open_items and stripped else line)
            if stripped.startswith(closing) or (closing == "$$" and stripped.endswith("$$")):
                closing = None
                previous_blank = True                # what follows is no lazy line
            continue
        if not stripped:
            out.append(line)
            previous_blank = True
            continue

        indent = _indent(line)
        item = LIST_ITEM.match(line) if open_items or indent < 4 else None  # else code
        in_list = bool(open_items)
        if item or previous_blank:                   # a lazy line stays in its item
            while open_items and indent < open_items[-1][0]:
                open_items.pop()
        if item:
            if not in_list and not previous_blank:
                out.append("")                       # GitHub needs none, Python-Markdown does
            depth = len(open_items)
            text_column = indent + len(item.group(2)) + len(item.group(3))
            open_items.append((text_column, 4 * (depth + 1) - text_column))
            line = " " * (4 * depth) + line.lstrip(" ")
        elif open_items:
            line = " " * max(0, indent + open_items[-1][1]) + line.lstrip(" ")
        opener = FENCE.match(line)
        if opener:
            closing = opener.group(1)
        elif stripped.startswith("$$") and (stripped == "$$" or not stripped.endswith("$$")):
            closing = "$$"
        out.append(line)
        previous_blank = False
    return "\n".join(out)


# ---- GitHub-style pipes in tables ----------------------------------------------------

CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def github_table_pipes(markdown):
    """The page with `a\|b` in a table cell's code written `a|b`.

    In a GitHub table a pipe inside code is written \| and shown as |; Python-Markdown
    already keeps a pipe inside code within its cell, and would show the backslash.
    """
    out = []
    fence = None
    for line in markdown.split("\n"):
        opener = FENCE.match(line)
        if opener and fence is None:
            fence = opener.group(1)
        elif fence and line.strip().startswith(fence):
            fence = None
        elif fence is None and line.lstrip().startswith("|"):
            line = CODE_SPAN.sub(lambda m: m.group(0).replace("\\|", "|"), line)
        out.append(line)
    return "\n".join(out)


def on_page_markdown(markdown, page, config, files):
    return github_table_pipes(github_lists(markdown))


# ---- KaTeX, offline ------------------------------------------------------------------

def on_post_build(config):
    """Copies KaTeX's script, style sheet and fonts into site/assets/katex."""
    target = os.path.join(config["site_dir"], "assets", "katex")
    for name in KATEX_FILES:
        source = os.path.join(KATEX_DIR, name)
        if not os.path.exists(source):
            raise SystemExit(f"book: {source} is missing (Debian's libjs-katex installs it)")
        os.makedirs(target, exist_ok=True)
        shutil.copyfile(source, os.path.join(target, name))
    # The fonts folder is a link into /usr/share/fonts; copy the files it points at.
    shutil.copytree(os.path.join(KATEX_DIR, "fonts"), os.path.join(target, "fonts"),
                    dirs_exist_ok=True)

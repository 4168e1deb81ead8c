"""Tests of the book's markdown adjustments (tools/book/hooks.py): each case is a piece of
GitHub markdown as the pages write it, and the form Python-Markdown needs to show the same.

    /usr/bin/python3 -m unittest discover -s tools/book      (make book-check runs it)
"""

import os
import tempfile
import unittest

from hooks import _without_missing, github_lists, github_table_pipes


def lines(*text):
    return "\n".join(text)


class GitHubLists(unittest.TestCase):
    def test_a_list_right_after_a_paragraph_gets_a_blank_line(self):
        self.assertEqual(github_lists(lines("Text:", "- one", "- two")),
                         lines("Text:", "", "- one", "- two"))

    def test_a_list_after_a_blank_line_is_left_alone(self):
        page = lines("Text:", "", "- one", "  more of one", "- two")
        self.assertEqual(github_lists(page), lines("Text:", "", "- one", "    more of one",
                                                   "- two"))

    def test_a_two_space_nested_list_is_nested_four(self):
        self.assertEqual(github_lists(lines("- one", "  - inner", "    more", "- two")),
                         lines("- one", "    - inner", "        more", "- two"))

    def test_a_numbered_item_keeps_its_paragraphs(self):
        self.assertEqual(github_lists(lines("1. first", "", "   second paragraph")),
                         lines("1. first", "", "    second paragraph"))

    def test_a_formula_block_in_an_item_stays_in_the_item(self):
        page = lines("- item:", "", "  $$", "  g = 1", "  $$", "", "- next")
        self.assertEqual(github_lists(page),
                         lines("- item:", "", "    $$", "    g = 1", "    $$", "", "- next"))

    def test_code_in_an_item_moves_with_the_item(self):
        page = lines("- item:", "  ```cpp", "  - not an item", "  ```")
        self.assertEqual(github_lists(page),
                         lines("- item:", "    ```cpp", "    - not an item", "    ```"))

    def test_code_and_formulas_outside_lists_are_untouched(self):
        page = lines("Text", "```", "- x", "  - y", "```", "$$", "- z", "$$", "",
                     "    - indented code")
        self.assertEqual(github_lists(page), page)

    def test_a_paragraph_after_the_list_ends_it(self):
        page = lines("- one", "", "Paragraph", "- new list")
        self.assertEqual(github_lists(page), lines("- one", "", "Paragraph", "", "- new list"))


class GitHubTablePipes(unittest.TestCase):
    def test_an_escaped_pipe_in_code_in_a_table_loses_its_backslash(self):
        self.assertEqual(github_table_pipes("| `KL(p\\|\\|q)` | $a$ |"), "| `KL(p||q)` | $a$ |")

    def test_outside_tables_and_in_fences_the_backslash_stays(self):
        page = lines("text `a\\|b`", "```", "| `a\\|b` |", "```")
        self.assertEqual(github_table_pipes(page), page)


class OptionalPages(unittest.TestCase):
    def test_a_missing_optional_page_leaves_the_nav_and_nothing_else_does(self):
        with tempfile.TemporaryDirectory() as docs:
            open(os.path.join(docs, "notes.md"), "w").close()
            nav = [{"Home": "index.md"},
                   {"Reference": [{"Notes": "notes.md"}, {"Exercises": "exercises.md"}]},
                   {"Only": [{"Exercises": "exercises.md"}]}]
            self.assertEqual(_without_missing(nav, docs, {"notes.md", "exercises.md"}),
                             [{"Home": "index.md"}, {"Reference": [{"Notes": "notes.md"}]}])


if __name__ == "__main__":
    unittest.main()

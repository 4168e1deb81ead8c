// The code shown on the docs pages is the code in the sources. A page marks an excerpt
// with `<!-- excerpt: FILE#NAME -->` followed by a fenced block; FILE marks the region
// between `// excerpt: NAME` and `// end excerpt: NAME`. The block must equal the region's
// lines without the marker lines inside it (other excerpts', exercises') and without their
// common indentation: exactly what tools/excerpts.py (`make excerpts`) writes. A page whose
// block has drifted fails here, naming the page, the region and the first differing line.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/helpers.h"

namespace fs = std::filesystem;

namespace {

using test_helpers::read_file;

const std::regex excerpt_comment(R"(^<!-- excerpt: ([^#\s]+)#([a-z0-9_]+) -->\s*$)");
const std::regex region_begin(R"(^\s*// excerpt: ([a-z0-9_]+)\s*$)");
const std::regex region_end(R"(^\s*// end excerpt: ([a-z0-9_]+)\s*$)");
const std::regex exercise_marker(R"(^\s*// (END )?EXERCISE E\d+\.\d+\b.*$)");

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool is_marker(const std::string& line) {
  return std::regex_match(line, region_begin) || std::regex_match(line, region_end) ||
         std::regex_match(line, exercise_marker);
}

// Removes the indentation common to the non-blank lines, and trailing spaces.
std::vector<std::string> dedent(std::vector<std::string> lines) {
  size_t cut = std::string::npos;
  for (const std::string& line : lines)
    if (line.find_first_not_of(" \t") != std::string::npos)
      cut = std::min(cut, line.find_first_not_of(' '));
  for (std::string& line : lines) {
    line = line.size() > cut && cut != std::string::npos ? line.substr(cut) : (cut ? "" : line);
    line.erase(line.find_last_not_of(" \t") + 1);
  }
  return lines;
}

// A source file's regions (name -> lines, markers removed), or what is wrong with them.
struct SourceRegions {
  std::map<std::string, std::vector<std::string>> regions;
  std::vector<std::string> problems;
};

SourceRegions read_regions(const fs::path& path, const std::string& shown_name) {
  SourceRegions result;
  const std::vector<std::string> lines = split_lines(read_file(path));
  std::map<std::string, size_t> open;  // name -> index of its first line
  for (size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    const std::string where = shown_name + ":" + std::to_string(i + 1);
    if (std::regex_match(lines[i], m, region_begin)) {
      if (result.regions.count(m[1]) || open.count(m[1]))
        result.problems.push_back(where + ": region '" + m[1].str() + "' is marked twice");
      open[m[1]] = i + 1;
    } else if (std::regex_match(lines[i], m, region_end)) {
      const auto start = open.find(m[1]);
      if (start == open.end()) {
        result.problems.push_back(where + ": 'end excerpt: " + m[1].str() + "' without its start");
        continue;
      }
      std::vector<std::string> body;
      for (size_t j = start->second; j < i; ++j)
        if (!is_marker(lines[j])) body.push_back(lines[j]);
      result.regions[m[1]] = dedent(body);
      open.erase(start);
    }
  }
  for (const auto& [name, line] : open)
    result.problems.push_back(shown_name + ":" + std::to_string(line) + ": region '" + name + "' is never closed");
  return result;
}

// Every disagreement between one page's excerpt blocks and the sources under root.
std::vector<std::string> excerpt_problems(const fs::path& root, const std::string& page_name,
                                          const std::string& page_text) {
  std::vector<std::string> problems;
  std::map<std::string, SourceRegions> sources;
  const std::vector<std::string> lines = split_lines(page_text);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    if (!std::regex_match(lines[i], m, excerpt_comment)) continue;
    const std::string file = m[1], name = m[2], excerpt = page_name + ": excerpt " + file + "#" + name;
    if (!fs::is_regular_file(root / file)) {
      problems.push_back(excerpt + ": no file " + file);
      continue;
    }
    if (!sources.count(file)) {
      sources[file] = read_regions(root / file, file);
      for (const std::string& p : sources[file].problems) problems.push_back(page_name + ": " + p);
    }
    const auto region = sources[file].regions.find(name);
    if (region == sources[file].regions.end()) {
      problems.push_back(excerpt + ": " + file + " has no region '" + name + "'");
      continue;
    }
    if (i + 1 >= lines.size() || lines[i + 1].rfind("```", 0) != 0) {
      problems.push_back(excerpt + ": no fenced block follows the comment (run make excerpts)");
      continue;
    }
    std::vector<std::string> block;
    size_t close = i + 2;
    for (; close < lines.size() && lines[close] != "```"; ++close) block.push_back(lines[close]);
    const std::vector<std::string>& code = region->second;
    for (size_t k = 0; k < std::max(block.size(), code.size()); ++k) {
      const std::string shown = k < block.size() ? block[k] : "(the block ends)";
      const std::string source = k < code.size() ? code[k] : "(the region ends)";
      if (shown != source) {
        problems.push_back(excerpt + ", line " + std::to_string(k + 1) + " of the block differs (run make excerpts):\n" +
                           "  page:   " + shown + "\n  source: " + source);
        break;
      }
    }
    i = close;
  }
  return problems;
}

fs::path repository_root() { return fs::path(__FILE__).parent_path().parent_path(); }

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

}  // namespace

TEST_CASE("docs: every code excerpt on a page equals its region in the sources") {
  const fs::path root = repository_root();
  int pages = 0, excerpts = 0;
  for (const auto& entry : fs::directory_iterator(root / "docs")) {
    if (entry.path().extension() != ".md") continue;
    ++pages;
    const std::string text = read_file(entry.path());
    for (const std::string& line : split_lines(text)) excerpts += std::regex_match(line, excerpt_comment);
    for (const std::string& problem : excerpt_problems(root, "docs/" + entry.path().filename().string(), text))
      FAIL_CHECK(problem);
  }
  CHECK(pages >= 14);
  CHECK(excerpts > 0);
}

TEST_CASE("docs: the excerpt check finds a drifted block, a missing region and a doubled name") {
  const test_helpers::TemporaryFolder folder("docs_excerpts");
  write(folder.path / "src/a.cpp",
        "int f() {\n"
        "  // excerpt: body\n"
        "  int x = 1;\n"
        "  // EXERCISE E01.1: the answer\n"
        "  return x + 1;\n"
        "  // END EXERCISE E01.1\n"
        "  // end excerpt: body\n"
        "}\n");
  const std::string in_step = "<!-- excerpt: src/a.cpp#body -->\n```cpp\nint x = 1;\nreturn x + 1;\n```\n";
  CHECK(excerpt_problems(folder.path, "page.md", in_step).empty());

  const std::string drifted = "<!-- excerpt: src/a.cpp#body -->\n```cpp\nint x = 1;\nreturn x + 2;\n```\n";
  const std::vector<std::string> drift = excerpt_problems(folder.path, "page.md", drifted);
  REQUIRE(drift.size() == 1);
  CHECK(drift[0].find("page.md: excerpt src/a.cpp#body, line 2") != std::string::npos);
  CHECK(drift[0].find("return x + 2;") != std::string::npos);

  const std::string missing = "<!-- excerpt: src/a.cpp#nothing -->\n```cpp\n```\n"
                              "<!-- excerpt: src/b.cpp#body -->\n```cpp\n```\n";
  const std::vector<std::string> absent = excerpt_problems(folder.path, "page.md", missing);
  REQUIRE(absent.size() == 2);
  CHECK(absent[0].find("has no region 'nothing'") != std::string::npos);
  CHECK(absent[1].find("no file src/b.cpp") != std::string::npos);

  write(folder.path / "src/c.cpp", "// excerpt: twice\nint a;\n// end excerpt: twice\n"
                                   "// excerpt: twice\nint b;\n// end excerpt: twice\n");
  const std::vector<std::string> doubled =
      excerpt_problems(folder.path, "page.md", "<!-- excerpt: src/c.cpp#twice -->\n```cpp\nint b;\n```\n");
  REQUIRE(!doubled.empty());
  CHECK(doubled[0].find("region 'twice' is marked twice") != std::string::npos);
}

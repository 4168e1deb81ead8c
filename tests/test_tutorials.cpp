// Smoke runs: every tutorial, with --quick, into a temporary folder of its own (so that two
// test runs at the same time do not collide). Each must exit 0 (no FAILED check) and leave
// at least one PNG figure. Every catalogue ID a tutorial prints ([L05]) must be an item of
// docs/notes.md, which lists exactly L01-L37; together the quick runs check every item, and
// the check counts and labels docs/notes.md gives each item are those the quick runs print.
// The Makefile passes the folder of the built tutorials in TUTORIAL_BIN_DIR.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/helpers.h"

namespace fs = std::filesystem;

namespace {

fs::path tutorial_bin_dir() {
  const char* dir = std::getenv("TUTORIAL_BIN_DIR");
  return dir ? fs::path(dir) : fs::path("build/release/tutorials");
}

// Runs a command; returns its exit status (or -1 when it did not exit normally).
int run(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int count_files(const fs::path& dir, const std::string& extension) {
  int n = 0;
  for (const auto& f : fs::recursive_directory_iterator(dir))
    n += f.path().extension() == extension;
  return n;
}

// TUTORIAL_SMOKE_ONLY="00_autodiff_tape 08_vae" limits the smoke runs to those tutorials
// (make cross-test: each runs many times slower under emulation); unset, all of them.
bool selected(const std::string& stem) {
  const char* only = std::getenv("TUTORIAL_SMOKE_ONLY");
  if (only == nullptr || *only == '\0') return true;
  const std::string list = " " + std::string(only) + " ";
  return list.find(" " + stem + " ") != std::string::npos;
}

fs::path repository() { return fs::path(__FILE__).parent_path().parent_path(); }

// The IDs of the catalogue table of docs/notes.md, in order: its rows start "| L05 |".
std::vector<std::string> catalogue_ids() {
  std::istringstream page(test_helpers::read_file(repository() / "docs" / "notes.md"));
  const std::regex row(R"(^\| (L[0-9]{2}) \|)");
  std::vector<std::string> ids;
  std::smatch m;
  for (std::string line; std::getline(page, line);)
    if (std::regex_search(line, m, row)) ids.push_back(m[1]);
  return ids;
}

// A text with every number replaced by '#': some labels quote a measured value ("worst
// difference 1.1e-10 over 6 entries"), whose last digits differ between builds (a
// sanitizer build rounds differently); what identifies the check is the rest.
std::string numbers_masked(const std::string& text) {
  static const std::regex number(R"([-+]?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?)");
  return std::regex_replace(text, number, "#");
}

// A passed check line of a quick run: "  [L05] what: ...  ok", by the tutorial's number.
struct PassedCheck {
  std::string tutorial;  // "03"
  std::string line;      // after "[L05] ", numbers masked (numbers_masked)
};
using PassedChecks = std::map<std::string, std::vector<PassedCheck>>;  // by catalogue ID

// Every [Lnn] in a tutorial's output must be a catalogue item; its passed check lines are
// added to `checked`.
void check_printed_ids(const std::string& tutorial, const std::string& output,
                       const std::set<std::string>& catalogue, PassedChecks& checked) {
  const std::regex id(R"(\[(L[0-9]{2})\])"), passed_check(R"(^  \[(L[0-9]{2})\] (.*  ok)$)");
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    for (std::sregex_iterator it(line.begin(), line.end(), id), end; it != end; ++it) {
      INFO("printed: ", line);
      CHECK(catalogue.count((*it)[1]) == 1);
    }
    std::smatch m;
    if (std::regex_search(line, m, passed_check))
      checked[m[1]].push_back({tutorial, numbers_masked(m[2])});
  }
}

// What docs/notes.md says an item's checks are: the count in its table row ("[8](#l01)")
// and, under "### L01", one line per check "- 01: `label`".
struct ListedLabel {
  std::string tutorial;  // "03"
  std::string label;     // as written on the page
};
struct ListedChecks {
  int count = -1;
  std::vector<ListedLabel> labels;
};
std::map<std::string, ListedChecks> listed_checks() {
  std::istringstream page(test_helpers::read_file(repository() / "docs" / "notes.md"));
  const std::regex row(R"(^\| (L[0-9]{2}) \|.*\| \[([0-9]+)\]\(#l[0-9]{2}\) \|$)"),
      heading(R"(^### (L[0-9]{2})$)"), label(R"(^- ([0-9]{2}): `(.*)`$)");
  std::map<std::string, ListedChecks> listed;
  std::string section;
  std::smatch m;
  for (std::string line; std::getline(page, line);) {
    if (std::regex_match(line, m, row)) listed[m[1]].count = std::stoi(m[2]);
    if (std::regex_match(line, m, heading)) section = m[1];
    if (!section.empty() && std::regex_match(line, m, label))
      listed[section].labels.push_back({m[1], m[2]});
  }
  return listed;
}

// Does a check line (after "[L05] ", numbers masked) carry this label (numbers masked): the
// label, then its ": " and the values, or the two spaces before "ok"?
bool carries_label(const std::string& line, const std::string& label) {
  return line.rfind(label, 0) == 0 &&
         (line.compare(label.size(), 1, ":") == 0 || line.compare(label.size(), 2, "  ") == 0);
}

// docs/notes.md's count and labels of each item against the passed checks of the quick runs.
void check_catalogue_counts(const PassedChecks& checked) {
  for (const auto& entry : listed_checks()) {  // (no structured binding: INFO captures id)
    const std::string& id = entry.first;
    const auto& listed = entry.second;
    INFO("catalogue item ", id, " in docs/notes.md");
    static const std::vector<PassedCheck> none;
    const auto found = checked.find(id);
    const std::vector<PassedCheck>& printed = found == checked.end() ? none : found->second;
    CHECK(listed.count == static_cast<int>(printed.size()));
    CHECK(listed.labels.size() == printed.size());
    for (const ListedLabel& l : listed.labels) {
      INFO("listed check ", l.tutorial, ": `", l.label, "`");
      const std::string label = numbers_masked(l.label);
      CHECK(std::any_of(printed.begin(), printed.end(), [&](const PassedCheck& p) {
        return p.tutorial == l.tutorial && carries_label(p.line, label);
      }));
    }
  }
}

}  // namespace

TEST_CASE("docs/notes.md lists the catalogue items L01 to L37, each once and in order") {
  std::string expected, listed;  // "L01 L02 ...", so that a failure shows both lists
  for (int i = 1; i <= 37; ++i) expected += (i < 10 ? "L0" : "L") + std::to_string(i) + " ";
  for (const std::string& id : catalogue_ids()) listed += id + " ";
  CHECK(listed == expected);
}

TEST_CASE(
    "every tutorial runs with --quick, passes its checks and writes its figures; together they "
    "check every catalogue item") {
  const std::vector<std::string> ids = catalogue_ids();
  const std::set<std::string> catalogue(ids.begin(), ids.end());
  PassedChecks checked;  // the passed checks of the quick runs, by catalogue ID
  bool all_selected = true;
  const fs::path sources = repository() / "tutorials";
  int tutorials = 0;
  for (const auto& source : fs::directory_iterator(sources)) {
    const std::string stem = source.path().stem().string();
    if (source.path().extension() != ".cpp" || stem.size() < 3 || !std::isdigit(stem[0])) continue;
    if (!selected(stem)) {
      all_selected = false;
      continue;
    }
    ++tutorials;
    const fs::path binary = tutorial_bin_dir() / stem;
    const test_helpers::TemporaryFolder folder("tutorial_smoke_" + stem);
    const fs::path out = folder.path / "out";
    INFO("tutorial ", stem, " (binary ", binary.string(), ", output ", out.string(), ")");
    REQUIRE(fs::exists(binary));
    const std::string log = (folder.path / "output.log").string();
    const int status = run(test_helpers::tutorial_runner() + "'" + binary.string() +
                           "' --quick --out '" + out.string() + "' > '" + log + "' 2>&1");
    if (status != 0) {  // show the end of what it printed
      std::ifstream in(log);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      FAIL_CHECK("exit status ", status, "; output ends with:\n",
                 text.substr(text.size() > 3000 ? text.size() - 3000 : 0));
    }
    CHECK(count_files(out, ".png") >= 1);
    CHECK(count_files(out, ".csv") >= 1);
    check_printed_ids(stem.substr(0, 2), test_helpers::read_file(log), catalogue, checked);
  }
  CHECK(tutorials >= 1);
  if (!all_selected) return;  // TUTORIAL_SMOKE_ONLY ran only some of them
  for (const std::string& item : catalogue) {
    INFO("catalogue item ", item, " has no passed check in any tutorial's --quick run");
    CHECK(checked.count(item) == 1);
  }
  check_catalogue_counts(checked);
}

TEST_CASE("a tutorial given a bad flag prints its usage and exits with status 2") {
  const fs::path binary = tutorial_bin_dir() / "00_autodiff_tape";
  REQUIRE(fs::exists(binary));
  CHECK(run(test_helpers::tutorial_runner() + "'" + binary.string() +
            "' --no-such-flag > /dev/null 2>&1") == 2);
}

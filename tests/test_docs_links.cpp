// The pages a reader opens on a code host (README.md and docs/*.md) show figures that are
// in the repository: every image they link exists, none points into out/ (which exists only
// after a local run), and every figure in docs/figures/ that a page shows is in the
// Makefile's FIGURES list, so that `make figures` refreshes it from a full run.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tests/helpers.h"

namespace fs = std::filesystem;
using test_helpers::read_file;

namespace {

fs::path repository_root() { return fs::path(__FILE__).parent_path().parent_path(); }

std::vector<fs::path> pages() {
  std::vector<fs::path> result{repository_root() / "README.md"};
  for (const auto& entry : fs::directory_iterator(repository_root() / "docs"))
    if (entry.path().extension() == ".md") result.push_back(entry.path());
  std::sort(result.begin(), result.end());
  return result;
}

struct Link {
  bool image;          // ![alt](target) rather than [text](target)
  std::string target;  // as written, relative to the page's folder
};

// Markdown links and images: [text](target) and ![alt](target).
std::vector<Link> links_in(const std::string& text) {
  static const std::regex link(R"((!?)\[[^\]]*\]\(([^)\s]+)\))");
  std::vector<Link> result;
  for (std::sregex_iterator it(text.begin(), text.end(), link), end; it != end; ++it)
    result.push_back({(*it)[1].length() > 0, (*it)[2].str()});
  return result;
}

bool points_into_out(const std::string& target) {
  return target.rfind("out/", 0) == 0 || target.find("../out/") != std::string::npos ||
         target.find("/out/") != std::string::npos;
}

// The names in `FIGURES := a/b c/d \ ...` of the Makefile, as docs/figures/ names (a-b.png).
std::set<std::string> makefile_figures() {
  const std::string makefile = read_file(repository_root() / "Makefile");
  const size_t start = makefile.find("\nFIGURES :=");
  REQUIRE_MESSAGE(start != std::string::npos, "the Makefile has no FIGURES list");
  static const std::regex figure(R"([\w.-]+/[\w.-]+)");  // tutorial/figure
  std::set<std::string> names;
  size_t end = start + 1;
  for (;;) {  // the list continues while a line ends in a backslash
    size_t line_end = makefile.find('\n', end);
    std::string line = makefile.substr(end, line_end - end);
    bool continued = !line.empty() && line.back() == '\\';
    if (end == start + 1) line = line.substr(line.find(":=") + 2);
    for (std::sregex_iterator it(line.begin(), line.end(), figure), e; it != e; ++it) {
      std::string name = it->str();
      std::replace(name.begin(), name.end(), '/', '-');
      names.insert(name + ".png");
    }
    if (!continued || line_end == std::string::npos) break;
    end = line_end + 1;
  }
  return names;
}

}  // namespace

TEST_CASE("docs and README: every image exists in the repository, and nothing links into out/") {
  const std::set<std::string> refreshed = makefile_figures();
  size_t images = 0;
  for (const fs::path& page : pages()) {
    for (const Link& link : links_in(read_file(page))) {
      if (link.target.find("://") != std::string::npos) continue;  // a web address
      INFO("page ", page.filename().string(), ", link ", link.target);
      CHECK_MESSAGE(!points_into_out(link.target),
                    "out/ exists only after a local run: link a copy in docs/figures/ instead");
      if (!link.image) continue;
      ++images;
      const fs::path file = page.parent_path() / link.target;
      CHECK_MESSAGE(fs::is_regular_file(file), "the image does not exist");
      if (file.parent_path().filename() == "figures")
        CHECK_MESSAGE(refreshed.count(file.filename().string()) == 1,
                      "not in the Makefile's FIGURES list, so `make figures` would not refresh it");
    }
  }
  CHECK(images > 0);
}

TEST_CASE("the link checker finds images and links, and knows an out/ path") {
  const std::vector<Link> found =
      links_in("see ![a plot](figures/a-b.png) and [the data](../out/x/table.csv), `out/x.csv`");
  REQUIRE(found.size() == 2);
  CHECK(found[0].image);
  CHECK(found[0].target == "figures/a-b.png");
  CHECK_FALSE(found[1].image);
  CHECK(points_into_out(found[1].target));
  CHECK_FALSE(points_into_out("figures/08_vae-samples.png"));
}

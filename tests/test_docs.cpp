// Tests for the documentation (README.md, EXPERIMENTS.md, docs/*.md): the
// README stays a short front door, every relative link and every backticked
// repository path names something that exists (brace patterns such as
// `src/study/hessian.{h,cpp}` expanded, anchors checked against the target's
// headings), and no page points at files that are not in the repository.
// Paths are relative to the repository root, where make test runs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "test_helpers.h"

namespace fs = std::filesystem;

namespace {

// Paths that the documentation names as outputs of a documented command, not
// as files of the repository (runs/ and build/ are skipped as a whole).
const std::set<std::string> GENERATED = {"data/brown_train.bin", "data/brown_val.bin"};

// The pages: README.md, EXPERIMENTS.md and every docs/*.md, sorted.
std::vector<std::string> doc_pages() {
    std::vector<std::string> out = {"README.md", "EXPERIMENTS.md"};
    std::vector<std::string> docs;
    for (const auto& e : fs::directory_iterator("docs"))
        if (e.is_regular_file() && e.path().extension() == ".md") docs.push_back(e.path().generic_string());
    std::sort(docs.begin(), docs.end());
    out.insert(out.end(), docs.begin(), docs.end());
    return out;
}

// A page split into its prose (inline text, fenced blocks blanked out) and its
// fenced code blocks, line by line.
struct Page {
    std::vector<std::string> prose, code;
};

Page split_page(const std::string& text) {
    Page p;
    std::istringstream in(text);
    std::string line;
    bool fenced = false;
    while (std::getline(in, line)) {
        size_t first = line.find_first_not_of(" \t");
        bool fence = first != std::string::npos && line.compare(first, 3, "```") == 0;
        if (fence) {
            fenced = !fenced;
            continue;
        }
        (fenced ? p.code : p.prose).push_back(line);
    }
    return p;
}

// `a{b,c}d` -> abd, acd (nested braces expanded too).
std::vector<std::string> expand_braces(const std::string& s) {
    size_t open = s.find('{');
    if (open == std::string::npos) return {s};
    int depth = 0;
    size_t close = std::string::npos;
    std::vector<size_t> commas;
    for (size_t i = open; i < s.size(); i++) {
        if (s[i] == '{') depth++;
        else if (s[i] == '}' && --depth == 0) {
            close = i;
            break;
        } else if (s[i] == ',' && depth == 1)
            commas.push_back(i);
    }
    if (close == std::string::npos) return {s};
    std::vector<std::string> out;
    size_t start = open + 1;
    commas.push_back(close);
    for (size_t c : commas) {
        std::string alt = s.substr(0, open) + s.substr(start, c - start) + s.substr(close + 1);
        for (const std::string& e : expand_braces(alt)) out.push_back(e);
        start = c + 1;
    }
    return out;
}

// GitHub's anchor for a heading: lower case, spaces to '-', ASCII punctuation
// other than '-' and '_' dropped, other characters kept.
std::string slug(const std::string& heading) {
    std::string s;
    for (unsigned char c : heading) {
        if (c >= 0x80 || std::isalnum(c) || c == '-' || c == '_') s += (char)std::tolower(c);
        else if (c == ' ') s += '-';
    }
    return s;
}

std::set<std::string> anchors_of(const std::string& path) {
    std::set<std::string> out;
    for (const std::string& line : split_page(text_of(path)).prose) {
        size_t n = line.find_first_not_of('#');
        if (n == 0 || n == std::string::npos || n > 6 || line[n] != ' ') continue;
        out.insert(slug(line.substr(n + 1)));
    }
    return out;
}

bool is_output(const std::string& p) { return p.rfind("runs/", 0) == 0 || p.rfind("build/", 0) == 0; }

// Joins a link's target to the directory of the page it is on, resolving "..".
std::string resolve(const std::string& page, const std::string& target) {
    fs::path joined = fs::path(page).parent_path() / target;
    return joined.lexically_normal().generic_string();
}

struct Problems {
    std::vector<std::string> broken;
    void missing(const std::string& page, const std::string& what, const std::string& /*path*/) {
        broken.push_back(page + ": " + what);
    }
};

// Every [text](target) on a page: its file must exist, and an anchor on a
// Markdown file must be one of its headings.
void check_links(const std::string& page, const Page& p, Problems& out) {
    static const std::regex link(R"(\]\(([^)\s]+)\))");
    for (const std::string& line : p.prose) {
        for (std::sregex_iterator it(line.begin(), line.end(), link), end; it != end; ++it) {
            std::string target = (*it)[1];
            if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0 ||
                target.rfind("mailto:", 0) == 0)
                continue;
            std::string file = target, anchor;
            size_t hash = target.find('#');
            if (hash != std::string::npos) {
                file = target.substr(0, hash);
                anchor = target.substr(hash + 1);
            }
            std::string path = file.empty() ? page : resolve(page, file);
            if (is_output(path)) continue;
            if (!fs::exists(path)) {
                out.missing(page, "link (" + target + ") -> " + path + " does not exist", path);
                continue;
            }
            if (!anchor.empty() && path.size() > 3 && path.compare(path.size() - 3, 3, ".md") == 0 &&
                !anchors_of(path).count(anchor))
                out.broken.push_back(page + ": link (" + target + "): " + path + " has no heading #" + anchor);
        }
    }
}

// Every repository path on a page, in `backticks` or in a fenced block: a
// run of path characters after one of the repository's top-level folders.
void check_paths(const std::string& page, const Page& p, Problems& out) {
    static const std::regex inline_code("`([^`]+)`");
    static const std::regex path(R"((?:^|[^\w./~-])((?:src|docs|tests|experiments|bench|data|cuda)/[\w./{},*?+-]*))");
    std::vector<std::string> spans;
    for (const std::string& line : p.prose)
        for (std::sregex_iterator it(line.begin(), line.end(), inline_code), end; it != end; ++it)
            spans.push_back((*it)[1]);
    spans.insert(spans.end(), p.code.begin(), p.code.end());
    for (const std::string& span : spans) {
        for (std::sregex_iterator it(span.begin(), span.end(), path), end; it != end; ++it) {
            std::string raw = (*it)[1];
            while (!raw.empty() && (raw.back() == '.' || raw.back() == ',')) raw.pop_back();
            for (const std::string& candidate : expand_braces(raw)) {
                if (GENERATED.count(candidate)) continue;
                bool found;
                if (candidate.find_first_of("*?") != std::string::npos) {
                    found = false;
                    std::regex glob(std::regex_replace(
                        std::regex_replace(std::regex_replace(candidate, std::regex(R"([.+])"), R"(\$&)"),
                                           std::regex(R"(\*)"), "[^/]*"),
                        std::regex(R"(\?)"), "[^/]"));
                    fs::path dir = fs::path(candidate.substr(0, candidate.find_first_of("*?"))).parent_path();
                    if (fs::is_directory(dir))
                        for (const auto& e : fs::directory_iterator(dir))
                            if (std::regex_match(e.path().generic_string(), glob)) found = true;
                } else {
                    found = fs::exists(candidate);
                }
                if (!found) out.missing(page, "`" + raw + "` -> " + candidate + " does not exist", candidate);
            }
        }
    }
}

}  // namespace

TEST_CASE("the README is a short front door", "[docs]") {
    REQUIRE(fs::exists("README.md"));
    uintmax_t size = fs::file_size("README.md");
    INFO("README.md is " << size << " bytes; move detail into docs/");
    REQUIRE(size < 15000);
}

TEST_CASE("brace patterns expand to every file they name", "[docs]") {
    REQUIRE(expand_braces("src/study/hessian.{h,cpp}") ==
            std::vector<std::string>{"src/study/hessian.h", "src/study/hessian.cpp"});
    REQUIRE(expand_braces("a{b,c{d,e}}f") == std::vector<std::string>{"abf", "acdf", "acef"});
    REQUIRE(expand_braces("docs/science.md") == std::vector<std::string>{"docs/science.md"});
    REQUIRE(slug("Comparing your implementation: `lrt compare`") == "comparing-your-implementation-lrt-compare");
    REQUIRE(slug("Bad files get a clear error, never a crash") == "bad-files-get-a-clear-error-never-a-crash");
}

TEST_CASE("every link and repository path in the documentation exists", "[docs]") {
    Problems problems;
    std::vector<std::string> pages = doc_pages();
    REQUIRE(pages.size() >= 3);
    for (const std::string& page : pages) {
        Page p = split_page(text_of(page));
        check_links(page, p, problems);
        check_paths(page, p, problems);
    }
    std::string list;
    for (const std::string& s : problems.broken) list += "\n  " + s;
    INFO("broken:" << list);
    REQUIRE(problems.broken.empty());
}

TEST_CASE("no page refers to files outside the repository", "[docs]") {
    for (const std::string& page : doc_pages()) {
        std::string text = text_of(page);
        INFO(page);
        CHECK(text.find("../shared") == std::string::npos);
        CHECK(text.find("SCIENCE.md") == std::string::npos);
    }
}

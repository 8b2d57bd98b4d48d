#include "io/csv.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "util/util.h"

static std::string at_line(const std::string& path, int line) { return path + ":" + std::to_string(line); }

// Field text for a message: quoted, and cut short so a binary file's "field"
// does not flood the terminal.
static std::string shown(const std::string& field) {
    std::string s = field.size() > 40 ? field.substr(0, 40) + "..." : field;
    for (char& c : s)
        if ((unsigned char)c < 0x20 || c == 0x7f) c = '?';
    return "'" + s + "'";
}

CsvTable parse_csv(const std::string& text, const std::string& path) {
    CsvTable t;
    t.path = path;
    if (text.empty()) fail(path + ": empty file (no header line)");
    std::vector<std::string> lines = split(text, '\n');
    // split gives a final "" when the text ends with a newline; anything else
    // there is a last line whose newline was never written.
    const bool torn_last = !lines.back().empty() && lines.size() > 1;
    if (lines.back().empty()) lines.pop_back();
    for (std::string& l : lines)
        if (!l.empty() && l.back() == '\r') l.pop_back();

    if (lines.empty() || lines[0].empty()) fail(at_line(path, 1) + ": empty header line");
    t.header = split(lines[0], ',');
    for (size_t i = 1; i < lines.size(); i++) {
        const int line = (int)i + 1;
        if (lines[i].empty()) continue;
        if (torn_last && i + 1 == lines.size()) {
            t.warning = at_line(path, line) + ": the last line has no newline (cut short by an interrupted write?); "
                        "skipped it";
            break;
        }
        CsvRow row;
        row.line = line;
        row.fields = split(lines[i], ',');
        if (row.fields.size() != t.header.size())
            fail(at_line(path, line) + ": " + std::to_string(row.fields.size()) + " fields, but the header has " +
                 std::to_string(t.header.size()) + " (a damaged or hand-edited file?)");
        t.rows.push_back(std::move(row));
    }
    return t;
}

CsvTable read_csv(const std::string& path) {
    std::vector<uint8_t> bytes = read_file(path);
    CsvTable t = parse_csv(std::string(bytes.begin(), bytes.end()), path);
    if (!t.warning.empty()) std::fprintf(stderr, "warning: %s\n", t.warning.c_str());
    return t;
}

int CsvTable::col(const std::string& name) const {
    for (size_t i = 0; i < header.size(); i++)
        if (header[i] == name) return (int)i;
    fail(path + ": no column '" + name + "'");
}

// The field, after checking that `col` is one of the header's columns (rows
// are checked against the header when parsed, so the index is then in range).
static const std::string& field_of(const CsvTable& t, const CsvRow& row, int col) {
    if (col < 0 || (size_t)col >= t.header.size() || (size_t)col >= row.fields.size())
        fail(at_line(t.path, row.line) + ": no column " + std::to_string(col) + " in a row of " +
             std::to_string(row.fields.size()) + " fields");
    return row.fields[(size_t)col];
}

const std::string& CsvTable::text(const CsvRow& row, int col) const { return field_of(*this, row, col); }

double CsvTable::number(const CsvRow& row, int col) const {
    const std::string& s = field_of(*this, row, col);
    // strtod skips leading blanks and stops at the first character it cannot
    // use; the whole field must be the number (an embedded NUL would end
    // c_str() early, hence the comparison with the string's length).
    char* end = nullptr;
    double v = s.empty() ? 0 : std::strtod(s.c_str(), &end);
    if (s.empty() || end == s.c_str() || end != s.c_str() + s.size())
        fail(at_line(path, row.line) + ": column '" + header[(size_t)col] + "': " + shown(s) + " is not a number");
    return v;
}

double CsvTable::optional_number(const CsvRow& row, int col) const {
    return field_of(*this, row, col).empty() ? NAN : number(row, col);
}

double CsvTable::finite_number(const CsvRow& row, int col) const {
    double v = number(row, col);
    if (!std::isfinite(v))
        fail(at_line(path, row.line) + ": column '" + header[(size_t)col] + "': " + shown(row.fields[(size_t)col]) +
             " must be a finite number");
    return v;
}

// A checked reader for the CSV files this program writes (log.csv,
// measure.csv): a header line of column names, then rows of comma-separated
// fields without quoting.
//
// The files are written while a run goes on, so a run killed mid-write, or a
// full disk, leaves a last row cut short. The reader therefore treats the
// last line specially: a last line without its terminating newline is a torn
// row from an interrupted write and is skipped, with a warning (the table's
// `warning`; read_csv also prints it on stderr). Every other row must have as
// many fields as the header, or reading fails with "<file>:<line>: ...".
// Blank lines are skipped; a '\r' before a newline is dropped (a file edited
// on Windows).
#pragma once
#include <string>
#include <vector>

struct CsvRow {
    int line = 0;  // 1-based line number in the file, for messages
    std::vector<std::string> fields;
};

struct CsvTable {
    std::string path;  // names the file in messages
    std::vector<std::string> header;
    std::vector<CsvRow> rows;  // every one has header.size() fields
    std::string warning;       // "" or why a torn last line was skipped

    // Index of a column; fails "<file>: no column 'x'".
    int col(const std::string& name) const;
    // The field as a number; fails "<file>:<line>: column 'x': 'abc' is not a
    // number" on an empty field or one with anything after the number. "nan"
    // and "inf" pass (the writers print them for undefined measurements).
    double number(const CsvRow& row, int col) const;
    // number(), but an empty field is NaN: log.csv leaves the columns that a
    // row does not measure empty (the final validation row has no LR).
    double optional_number(const CsvRow& row, int col) const;
    // number() that must also be finite (steps, LRs that index or key things).
    double finite_number(const CsvRow& row, int col) const;
    const std::string& text(const CsvRow& row, int col) const;
};

// Parses CSV text; `path` only names it in messages and the warning. Fails
// on an empty text (no header line).
CsvTable parse_csv(const std::string& text, const std::string& path);

// Reads and parses a file (at most READ_FILE_DEFAULT_MAX bytes) and prints
// the table's warning, if any, on stderr as "warning: <warning>".
CsvTable read_csv(const std::string& path);

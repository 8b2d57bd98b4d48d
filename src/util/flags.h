// Command-line flags, declared once: each flag binds to a variable and
// carries its help text and valid range, so `--help`, validation, error
// messages and the settings saved in a checkpoint all come from one list.
//
// Syntax: --name value | --name=value; booleans: --name | --no-name |
// --name=true/false.
#pragma once
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

struct FlagRange {
    double lo = -1e308, hi = 1e308;
    bool lo_open = false;  // lo itself excluded (for "positive")
};
inline FlagRange any_value() { return {}; }
inline FlagRange at_least(double lo) { return {lo, 1e308, false}; }
inline FlagRange positive() { return {0, 1e308, true}; }
inline FlagRange between(double lo, double hi) { return {lo, hi, false}; }

class FlagSet {
public:
    FlagSet(std::string command, std::string usage) : command_(std::move(command)), usage_(std::move(usage)) {}
    void section(const std::string& title);
    void add(const std::string& name, int* v, const std::string& help, FlagRange range = any_value());
    void add(const std::string& name, int64_t* v, const std::string& help, FlagRange range = any_value());
    void add(const std::string& name, double* v, const std::string& help, FlagRange range = any_value());
    void add(const std::string& name, bool* v, const std::string& help);
    void add(const std::string& name, std::string* v, const std::string& help, std::vector<std::string> choices = {});
    // A choice parsed straight into an enum: the names are the flag's text
    // (in --help, in checkpoints and run.json), the program sees only E.
    template <typename E>
    void add(const std::string& name, E* v, const std::string& help, std::vector<std::pair<std::string, E>> choices) {
        static_assert(std::is_enum<E>::value && sizeof(E) == sizeof(int), "an enum with int's size");
        std::vector<std::string> names;
        std::vector<int> values;
        for (auto& c : choices) names.push_back(c.first), values.push_back((int)c.second);
        add_enum(name, reinterpret_cast<int*>(v), help, std::move(names), std::move(values));
    }

    // Parses argv[first..argc); arguments not starting with "--" go to
    // `positional` (an error if it is nullptr). Returns false when --help was
    // asked for (and printed). Fails with a clear message on anything wrong.
    bool parse(int argc, char** argv, int first, std::vector<std::string>* positional = nullptr);

    // Sets one flag from its text form, with the same checks as parse().
    void set(const std::string& name, const std::string& text);
    bool was_set(const std::string& name) const;   // given on the command line
    bool has(const std::string& name) const;
    std::string value_string(const std::string& name) const;  // current value as text
    std::vector<std::string> names() const;
    std::string help() const;
    // {"flag": "value", ...} of every flag, for logs and checkpoints.
    std::string to_json() const;
    const std::string& command() const { return command_; }

private:
    enum class Kind { Int, Int64, Double, Bool, String, Enum };
    struct Flag {
        std::string name, help, section;
        Kind kind;
        void* target;
        FlagRange range;
        std::vector<std::string> choices;
        std::string default_text;
        bool set = false;
        std::vector<int> enum_values;  // Kind::Enum: the value of each choice
    };
    Flag* find(const std::string& name);
    const Flag* find(const std::string& name) const;
    void assign(Flag& f, const std::string& text);
    std::string text_of(const Flag& f) const;
    void add_flag(Flag f);
    void add_enum(const std::string& name, int* v, const std::string& help, std::vector<std::string> names,
                  std::vector<int> values);

    std::string command_, usage_, current_section_;
    std::vector<Flag> flags_;
};

// Comma-separated list flags ("64,128,256"): each item must parse in full,
// and the first bad one fails with the flag's name. An empty list fails too.
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& flag, int64_t lo, int64_t hi);
std::vector<double> parse_positive_list(const std::string& text, const std::string& flag);  // finite, > 0

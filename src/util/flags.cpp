#include "util/flags.h"

#include <cerrno>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "io/json.h"
#include "util/util.h"

void FlagSet::section(const std::string& title) { current_section_ = title; }

void FlagSet::add_flag(Flag f) {
    if (find(f.name)) fail("internal: flag --" + f.name + " declared twice");
    f.section = current_section_;
    f.default_text = text_of(f);
    flags_.push_back(std::move(f));
}

void FlagSet::add(const std::string& name, int* v, const std::string& help, FlagRange range) {
    add_flag({name, help, "", Kind::Int, v, range, {}, "", false, {}});
}
void FlagSet::add(const std::string& name, int64_t* v, const std::string& help, FlagRange range) {
    add_flag({name, help, "", Kind::Int64, v, range, {}, "", false, {}});
}
void FlagSet::add(const std::string& name, double* v, const std::string& help, FlagRange range) {
    add_flag({name, help, "", Kind::Double, v, range, {}, "", false, {}});
}
void FlagSet::add(const std::string& name, bool* v, const std::string& help) {
    add_flag({name, help, "", Kind::Bool, v, {}, {}, "", false, {}});
}
void FlagSet::add(const std::string& name, std::string* v, const std::string& help, std::vector<std::string> choices) {
    add_flag({name, help, "", Kind::String, v, {}, std::move(choices), "", false, {}});
}

void FlagSet::add_enum(const std::string& name, int* v, const std::string& help, std::vector<std::string> names,
                       std::vector<int> values) {
    // the default must have a name: it is written into --help, checkpoints and run.json
    if (std::find(values.begin(), values.end(), *v) == values.end())
        fail("internal error: --" + name + "'s current value has no name among its choices");
    add_flag({name, help, "", Kind::Enum, v, {}, std::move(names), "", false, std::move(values)});
}

FlagSet::Flag* FlagSet::find(const std::string& name) {
    for (auto& f : flags_)
        if (f.name == name) return &f;
    return nullptr;
}
const FlagSet::Flag* FlagSet::find(const std::string& name) const {
    for (auto& f : flags_)
        if (f.name == name) return &f;
    return nullptr;
}
bool FlagSet::has(const std::string& name) const { return find(name) != nullptr; }
bool FlagSet::was_set(const std::string& name) const {
    const Flag* f = find(name);
    return f && f->set;
}

static std::string format_number(double x) {
    char buf[40];
    // whole numbers as such: "1000", not "1e+03"
    if (x == std::floor(x) && std::fabs(x) < 1e15) {
        std::snprintf(buf, sizeof buf, "%.0f", x);
        return buf;
    }
    std::snprintf(buf, sizeof buf, "%.17g", x);
    // prefer the shortest text that reads back to the same double
    for (int p = 1; p <= 17; p++) {
        char shorter[40];
        std::snprintf(shorter, sizeof shorter, "%.*g", p, x);
        if (std::strtod(shorter, nullptr) == x) return shorter;
    }
    return buf;
}

static std::string describe_range(const FlagRange& r) {
    bool has_lo = r.lo > -1e308, has_hi = r.hi < 1e308;
    if (has_lo && has_hi) return "in [" + format_number(r.lo) + ", " + format_number(r.hi) + "]";
    if (has_lo) return (r.lo_open ? "> " : ">= ") + format_number(r.lo);
    if (has_hi) return "<= " + format_number(r.hi);
    return "";
}

void FlagSet::assign(Flag& f, const std::string& text) {
    const std::string flag = "--" + f.name;
    auto check_range = [&](double x) {
        bool ok = (f.range.lo_open ? x > f.range.lo : x >= f.range.lo) && x <= f.range.hi;
        if (!ok) fail(flag + " must be " + describe_range(f.range) + ", got " + text);
    };
    switch (f.kind) {
        case Kind::Int:
        case Kind::Int64: {
            errno = 0;
            char* end = nullptr;
            long long x = std::strtoll(text.c_str(), &end, 10);
            if (text.empty() || *end != '\0') fail(flag + " expects an integer, got '" + text + "'");
            if (errno == ERANGE || (f.kind == Kind::Int && (x > 2147483647LL || x < -2147483648LL)))
                fail(flag + " value " + text + " is out of range");
            check_range((double)x);
            if (f.kind == Kind::Int) *static_cast<int*>(f.target) = (int)x;
            else *static_cast<int64_t*>(f.target) = (int64_t)x;
            break;
        }
        case Kind::Double: {
            char* end = nullptr;
            double x = std::strtod(text.c_str(), &end);
            if (text.empty() || *end != '\0' || !std::isfinite(x))
                fail(flag + " expects a number, got '" + text + "'");
            check_range(x);
            *static_cast<double*>(f.target) = x;
            break;
        }
        case Kind::Bool: {
            bool* b = static_cast<bool*>(f.target);
            if (text == "true" || text == "1" || text == "yes") *b = true;
            else if (text == "false" || text == "0" || text == "no") *b = false;
            else fail(flag + " expects true or false, got '" + text + "'");
            break;
        }
        case Kind::Enum:
        case Kind::String: {
            if (!f.choices.empty()) {
                bool ok = false;
                std::string list;
                for (auto& c : f.choices) {
                    ok |= c == text;
                    list += (list.empty() ? "" : ", ") + c;
                }
                if (!ok) fail(flag + " must be one of " + list + ", got '" + text + "'");
            }
            if (f.kind == Kind::Enum) {
                for (size_t i = 0; i < f.choices.size(); i++)
                    if (f.choices[i] == text) *static_cast<int*>(f.target) = f.enum_values[i];
                break;
            }
            *static_cast<std::string*>(f.target) = text;
            break;
        }
    }
}

std::string FlagSet::text_of(const Flag& f) const {
    switch (f.kind) {
        case Kind::Int: return std::to_string(*static_cast<const int*>(f.target));
        case Kind::Int64: return std::to_string(*static_cast<const int64_t*>(f.target));
        case Kind::Double: return format_number(*static_cast<const double*>(f.target));
        case Kind::Bool: return *static_cast<const bool*>(f.target) ? "true" : "false";
        case Kind::String: return *static_cast<const std::string*>(f.target);
        case Kind::Enum:
            for (size_t i = 0; i < f.choices.size(); i++)
                if (f.enum_values[i] == *static_cast<const int*>(f.target)) return f.choices[i];
            return "?";  // a value no choice names (a bug: the enum grew, the flag did not)
    }
    return "";
}

void FlagSet::set(const std::string& name, const std::string& text) {
    Flag* f = find(name);
    if (!f) fail("unknown flag --" + name + " (see `lrt " + command_ + " --help`)");
    assign(*f, text);
    f->set = true;
}

std::string FlagSet::value_string(const std::string& name) const {
    const Flag* f = find(name);
    if (!f) fail("unknown flag --" + name);
    return text_of(*f);
}

std::vector<std::string> FlagSet::names() const {
    std::vector<std::string> out;
    for (auto& f : flags_) out.push_back(f.name);
    return out;
}

bool FlagSet::parse(int argc, char** argv, int first, std::vector<std::string>* positional) {
    for (int i = first; i < argc; i++) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(help().c_str(), stdout);
            return false;
        }
        if (arg.rfind("--", 0) != 0) {
            if (!positional) fail("unexpected argument '" + arg + "' (see `lrt " + command_ + " --help`)");
            positional->push_back(arg);
            continue;
        }
        std::string name = arg.substr(2), value;
        bool has_value = false;
        size_t eq = name.find('=');
        if (eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            has_value = true;
        }
        Flag* f = find(name);
        if (!f && !has_value && name.rfind("no-", 0) == 0) {  // --no-bias
            Flag* b = find(name.substr(3));
            if (b && b->kind == Kind::Bool) {
                assign(*b, "false");
                b->set = true;
                continue;
            }
        }
        if (!f) fail("unknown flag --" + name + " (see `lrt " + command_ + " --help`)");
        if (!has_value) {
            if (f->kind == Kind::Bool) value = "true";
            else if (i + 1 < argc) value = argv[++i];
            else fail("--" + name + " needs a value");
        }
        assign(*f, value);
        f->set = true;
    }
    return true;
}

std::string FlagSet::help() const {
    std::ostringstream s;
    s << "usage: " << usage_ << "\n";
    std::string section = "\x01";
    for (auto& f : flags_) {
        if (f.section != section) {
            section = f.section;
            if (!section.empty()) s << "\n" << section << ":\n";
        }
        std::string left = "  --" + f.name;
        switch (f.kind) {
            case Kind::Int:
            case Kind::Int64: left += " N"; break;
            case Kind::Double: left += " X"; break;
            case Kind::Bool: left = "  --[no-]" + f.name; break;
            case Kind::Enum:
            case Kind::String: left += f.choices.empty() ? " S" : " {" + [&] {
                std::string l;
                for (auto& c : f.choices) l += (l.empty() ? "" : "|") + c;
                return l;
            }() + "}"; break;
        }
        if (left.size() < 30) left.resize(30, ' ');
        else left += "\n" + std::string(30, ' ');
        s << left << f.help;
        std::string extra;
        if (!f.default_text.empty()) extra = "default " + f.default_text;
        std::string range = describe_range(f.range);
        if (!range.empty() && f.kind != Kind::Bool && f.kind != Kind::String && f.kind != Kind::Enum) extra += (extra.empty() ? "" : "; ") + range;
        if (!extra.empty()) s << " (" << extra << ")";
        s << "\n";
    }
    return s.str();
}

std::string FlagSet::to_json() const {
    std::string s = "{";
    for (size_t i = 0; i < flags_.size(); i++)
        s += (i ? "," : "") + json_quote(flags_[i].name) + ":" + json_quote(text_of(flags_[i]));
    return s + "}";
}

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& flag, int64_t lo, int64_t hi) {
    std::vector<int64_t> out;
    for (const std::string& item : split(text, ',')) {
        char* end = nullptr;
        long long v = std::strtoll(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || v < lo || v > hi)
            fail(flag + ": '" + item + "' is not " +
                 (lo == 1 ? std::string("a positive integer") : "a whole number >= " + std::to_string(lo)) +
                 (hi < std::numeric_limits<int64_t>::max() ? " up to " + std::to_string(hi) : std::string()) +
                 " (give a comma-separated list)");
        out.push_back(v);
    }
    if (out.empty()) fail(flag + " is empty");
    return out;
}

std::vector<double> parse_positive_list(const std::string& text, const std::string& flag) {
    std::vector<double> out;
    for (const std::string& item : split(text, ',')) {
        char* end = nullptr;
        double v = std::strtod(item.c_str(), &end);
        if (item.empty() || *end != '\0' || !(v > 0) || !std::isfinite(v))
            fail(flag + ": '" + item + "' is not a positive number (give a comma-separated list)");
        out.push_back(v);
    }
    if (out.empty()) fail(flag + " is empty");
    return out;
}

#include "io/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "util/util.h"

// Integers below this magnitude are exactly representable as doubles.
static const double EXACT_INTEGER_LIMIT = 9007199254740992.0;  // 2^53

// ---------------------------------------------------------------------------
// JsonValue
// ---------------------------------------------------------------------------

JsonValue JsonValue::make_bool(bool value) {
    JsonValue v;
    v.type = Bool;
    v.b = value;
    return v;
}

JsonValue JsonValue::make_number(double value) {
    JsonValue v;
    v.type = Number;
    v.num = value;
    return v;
}

JsonValue JsonValue::make_string(const std::string& value) {
    JsonValue v;
    v.type = String;
    v.str = value;
    return v;
}

JsonValue JsonValue::make_array() {
    JsonValue v;
    v.type = Array;
    return v;
}

JsonValue JsonValue::make_object() {
    JsonValue v;
    v.type = Object;
    return v;
}

const char* json_type_name(JsonValue::Type type) {
    switch (type) {
        case JsonValue::Null: return "null";
        case JsonValue::Bool: return "bool";
        case JsonValue::Number: return "number";
        case JsonValue::String: return "string";
        case JsonValue::Array: return "array";
        case JsonValue::Object: return "object";
    }
    return "?";
}

static void expect_type(const JsonValue& v, JsonValue::Type want) {
    if (v.type != want)
        fail(std::string("expected a JSON ") + json_type_name(want) + ", got " + json_type_name(v.type));
}

const JsonValue* JsonValue::find(const std::string& key) const {
    if (type != Object) return nullptr;
    for (const auto& kv : obj)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

const JsonValue& JsonValue::at(const std::string& key) const {
    expect_type(*this, Object);
    const JsonValue* v = find(key);
    if (!v) fail("missing key " + json_quote(key));
    return *v;
}

const JsonValue& JsonValue::at(size_t index) const {
    expect_type(*this, Array);
    if (index >= arr.size())
        fail("index " + std::to_string(index) + " out of range for an array of " + std::to_string(arr.size()));
    return arr[index];
}

size_t JsonValue::size() const {
    if (type == Array) return arr.size();
    if (type == Object) return obj.size();
    fail(std::string("expected a JSON array or object, got ") + json_type_name(type));
}

bool JsonValue::as_bool() const {
    expect_type(*this, Bool);
    return b;
}

double JsonValue::as_number() const {
    expect_type(*this, Number);
    return num;
}

const std::string& JsonValue::as_string() const {
    expect_type(*this, String);
    return str;
}

int64_t JsonValue::as_int() const {
    expect_type(*this, Number);
    if (num != std::floor(num)) fail("expected an integer, got " + to_json(*this));
    if (std::fabs(num) >= EXACT_INTEGER_LIMIT) fail("integer " + to_json(*this) + " is too large (limit 2^53)");
    return (int64_t)num;
}

void JsonValue::set(const std::string& key, JsonValue value) {
    expect_type(*this, Object);
    for (auto& kv : obj) {
        if (kv.first == key) {
            kv.second = std::move(value);
            return;
        }
    }
    obj.emplace_back(key, std::move(value));
}

void JsonValue::push(JsonValue value) {
    expect_type(*this, Array);
    arr.push_back(std::move(value));
}

// ---------------------------------------------------------------------------
// UTF-8
// ---------------------------------------------------------------------------

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 if there is
// none (stray continuation byte, truncated sequence, overlong encoding,
// surrogate code point, or beyond U+10FFFF). Table 3-7 of the Unicode
// standard lists exactly these byte ranges.
static size_t utf8_sequence_length(const std::string& s, size_t i) {
    auto byte = [&](size_t k) -> unsigned { return k < s.size() ? (unsigned char)s[k] : 0x100; };
    auto cont = [&](size_t k, unsigned lo, unsigned hi) { return byte(k) >= lo && byte(k) <= hi; };
    unsigned c = byte(i);
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return cont(i + 1, 0x80, 0xBF) ? 2 : 0;
    if (c == 0xE0) return cont(i + 1, 0xA0, 0xBF) && cont(i + 2, 0x80, 0xBF) ? 3 : 0;
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
        return cont(i + 1, 0x80, 0xBF) && cont(i + 2, 0x80, 0xBF) ? 3 : 0;
    if (c == 0xED) return cont(i + 1, 0x80, 0x9F) && cont(i + 2, 0x80, 0xBF) ? 3 : 0;  // no surrogates
    if (c == 0xF0) return cont(i + 1, 0x90, 0xBF) && cont(i + 2, 0x80, 0xBF) && cont(i + 3, 0x80, 0xBF) ? 4 : 0;
    if (c >= 0xF1 && c <= 0xF3)
        return cont(i + 1, 0x80, 0xBF) && cont(i + 2, 0x80, 0xBF) && cont(i + 3, 0x80, 0xBF) ? 4 : 0;
    if (c == 0xF4) return cont(i + 1, 0x80, 0x8F) && cont(i + 2, 0x80, 0xBF) && cont(i + 3, 0x80, 0xBF) ? 4 : 0;
    return 0;
}

static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += (char)cp;
    } else if (cp < 0x800) {
        out += (char)(0xC0 | (cp >> 6));
        out += (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += (char)(0xE0 | (cp >> 12));
        out += (char)(0x80 | ((cp >> 6) & 0x3F));
        out += (char)(0x80 | (cp & 0x3F));
    } else {
        out += (char)(0xF0 | (cp >> 18));
        out += (char)(0x80 | ((cp >> 12) & 0x3F));
        out += (char)(0x80 | ((cp >> 6) & 0x3F));
        out += (char)(0x80 | (cp & 0x3F));
    }
}

// ---------------------------------------------------------------------------
// Parser: recursive descent over the RFC 8259 grammar.
// ---------------------------------------------------------------------------

namespace {

struct JsonParser {
    const std::string& text;
    size_t pos = 0;
    int depth = 0;

    explicit JsonParser(const std::string& t) : text(t) {}

    // Reports the line and column (1-based, counting bytes) of `at`, which
    // is what an editor shows; the reason says what was expected there.
    [[noreturn]] void error_at(size_t at, const std::string& reason) const {
        size_t line = 1, column = 1;
        for (size_t i = 0; i < at && i < text.size(); i++) {
            if (text[i] == '\n') {
                line++;
                column = 1;
            } else {
                column++;
            }
        }
        fail("JSON error at line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + reason);
    }
    [[noreturn]] void error(const std::string& reason) const { error_at(pos, reason); }

    bool at_end() const { return pos >= text.size(); }
    char peek() const { return at_end() ? '\0' : text[pos]; }

    // What is at the cursor, for "expected X, found Y" messages.
    std::string found() const {
        if (at_end()) return "end of input";
        unsigned char c = (unsigned char)text[pos];
        if (c >= 0x20 && c < 0x7F) return std::string("'") + (char)c + "'";
        char buf[16];
        std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
        return buf;
    }

    void skip_whitespace() {
        while (!at_end() && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r')) pos++;
    }

    void expect_literal(const char* word) {
        size_t n = std::strlen(word);
        if (text.compare(pos, n, word) != 0) error("invalid literal (expected " + std::string(word) + ")");
        pos += n;
    }

    JsonValue parse_value() {
        skip_whitespace();
        switch (peek()) {
            case '{': return parse_object();
            case '[': return parse_array();
            case '"': return JsonValue::make_string(parse_string());
            case 't': expect_literal("true"); return JsonValue::make_bool(true);
            case 'f': expect_literal("false"); return JsonValue::make_bool(false);
            case 'n': expect_literal("null"); return JsonValue::make_null();
            default:
                if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return parse_number();
                error("expected a value, found " + found());
        }
    }

    void enter() {
        if (++depth > JSON_MAX_DEPTH) error("nesting deeper than " + std::to_string(JSON_MAX_DEPTH) + " levels");
    }

    JsonValue parse_object() {
        enter();
        pos++;  // '{'
        JsonValue v = JsonValue::make_object();
        skip_whitespace();
        if (peek() == '}') {
            pos++;
            depth--;
            return v;
        }
        for (;;) {
            skip_whitespace();
            if (peek() != '"') error("expected a string key, found " + found());
            size_t key_pos = pos;
            std::string key = parse_string();
            if (v.find(key)) error_at(key_pos, "duplicate key " + json_quote(key));
            skip_whitespace();
            if (peek() != ':') error("expected ':' after object key, found " + found());
            pos++;
            JsonValue member = parse_value();
            v.obj.emplace_back(std::move(key), std::move(member));
            skip_whitespace();
            if (peek() == ',') {
                pos++;
                continue;
            }
            if (peek() == '}') {
                pos++;
                break;
            }
            error("expected ',' or '}' in object, found " + found());
        }
        depth--;
        return v;
    }

    JsonValue parse_array() {
        enter();
        pos++;  // '['
        JsonValue v = JsonValue::make_array();
        skip_whitespace();
        if (peek() == ']') {
            pos++;
            depth--;
            return v;
        }
        for (;;) {
            v.arr.push_back(parse_value());
            skip_whitespace();
            if (peek() == ',') {
                pos++;
                continue;
            }
            if (peek() == ']') {
                pos++;
                break;
            }
            error("expected ',' or ']' in array, found " + found());
        }
        depth--;
        return v;
    }

    uint32_t parse_hex4() {
        uint32_t v = 0;
        for (int i = 0; i < 4; i++) {
            char c = peek();
            int d;
            if (c >= '0' && c <= '9') d = c - '0';
            else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
            else error("expected 4 hex digits after \\u");
            v = v * 16 + (uint32_t)d;
            pos++;
        }
        return v;
    }

    std::string parse_string() {
        size_t start = pos;
        pos++;  // opening quote
        std::string out;
        for (;;) {
            if (at_end()) error_at(start, "unterminated string");
            unsigned char c = (unsigned char)text[pos];
            if (c == '"') {
                pos++;
                return out;
            }
            if (c < 0x20) error("control character (byte 0x" + hex2(c) + ") in string; it must be escaped");
            if (c == '\\') {
                size_t escape_pos = pos;
                pos++;
                char e = peek();
                pos++;
                switch (e) {
                    case '"': out += '"'; break;
                    case '\\': out += '\\'; break;
                    case '/': out += '/'; break;
                    case 'b': out += '\b'; break;
                    case 'f': out += '\f'; break;
                    case 'n': out += '\n'; break;
                    case 'r': out += '\r'; break;
                    case 't': out += '\t'; break;
                    case 'u': {
                        uint32_t cp = parse_hex4();
                        // Characters beyond U+FFFF arrive as a UTF-16 surrogate
                        // pair: \uD83D\uDE00 is U+1F600.
                        if (cp >= 0xDC00 && cp <= 0xDFFF) error_at(escape_pos, "lone low surrogate in \\u escape");
                        if (cp >= 0xD800 && cp <= 0xDBFF) {
                            if (text.compare(pos, 2, "\\u") != 0)
                                error_at(escape_pos, "high surrogate not followed by a \\u low surrogate");
                            pos += 2;
                            uint32_t low = parse_hex4();
                            if (low < 0xDC00 || low > 0xDFFF)
                                error_at(escape_pos, "high surrogate not followed by a \\u low surrogate");
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                        }
                        append_utf8(out, cp);
                        break;
                    }
                    default: error_at(escape_pos, "invalid escape sequence in string");
                }
                continue;
            }
            size_t n = utf8_sequence_length(text, pos);
            if (n == 0) error("invalid UTF-8 in string (byte 0x" + hex2(c) + ")");
            out.append(text, pos, n);
            pos += n;
        }
    }

    static std::string hex2(unsigned char c) {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%02X", c);
        return buf;
    }

    // Roughly log10 of the number spanning [start, pos): the position of its
    // first significant digit relative to the decimal point, plus the
    // exponent. Only its sign is used, to tell overflow from underflow.
    long decimal_magnitude(size_t start) const {
        size_t i = start + (text[start] == '-');
        long magnitude = 0;
        bool significant = false;
        for (; i < pos && text[i] >= '0' && text[i] <= '9'; i++) {  // integer part
            if (text[i] != '0') significant = true;
            if (significant) magnitude++;
        }
        if (i < pos && text[i] == '.') {
            for (i++; i < pos && text[i] >= '0' && text[i] <= '9'; i++) {  // fraction
                if (text[i] != '0') significant = true;
                if (!significant) magnitude--;
            }
        }
        if (i < pos) {  // exponent; strtol saturates, clamp so the sum can't overflow
            long exponent = std::strtol(text.c_str() + i + 1, nullptr, 10);
            magnitude += std::max(-1000000L, std::min(exponent, 1000000L));
        }
        return magnitude;
    }

    // number = [ "-" ] ( "0" / [1-9] *DIGIT ) [ "." 1*DIGIT ] [ ("e"/"E") ["+"/"-"] 1*DIGIT ]
    // The grammar is checked here; std::from_chars then converts the exact
    // span (it is locale-independent, unlike strtod, and correctly rounded).
    JsonValue parse_number() {
        size_t start = pos;
        auto digits = [&]() {
            size_t d = pos;
            while (!at_end() && text[pos] >= '0' && text[pos] <= '9') pos++;
            return pos - d;
        };
        if (peek() == '-') pos++;
        if (peek() == '0') {
            pos++;
            if (peek() >= '0' && peek() <= '9') error_at(start, "leading zeros are not allowed in numbers");
        } else if (digits() == 0) {
            error("expected a digit in number, found " + found());
        }
        if (peek() == '.') {
            pos++;
            if (digits() == 0) error("expected a digit after '.' in number, found " + found());
        }
        if (peek() == 'e' || peek() == 'E') {
            pos++;
            if (peek() == '+' || peek() == '-') pos++;
            if (digits() == 0) error("expected a digit in exponent, found " + found());
        }
        double value = 0;
        auto r = std::from_chars(text.data() + start, text.data() + pos, value);
        if (r.ec == std::errc::result_out_of_range) {
            // from_chars reports underflow (1e-400) the same way as overflow.
            // Rounding a tiny number to zero is what every JSON reader does;
            // a huge one has no double, so it is an error.
            if (decimal_magnitude(start) > 0) error_at(start, "number too large for a double");
            value = text[start] == '-' ? -0.0 : 0.0;
        } else if (r.ec != std::errc() || r.ptr != text.data() + pos) {
            error_at(start, "malformed number");
        }
        return JsonValue::make_number(value);
    }
};

}  // namespace

JsonValue parse_json(const std::string& text) {
    JsonParser p(text);
    JsonValue v = p.parse_value();
    p.skip_whitespace();
    if (!p.at_end()) p.error("unexpected " + p.found() + " after the JSON value");
    return v;
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

std::string json_quote(const std::string& s) {
    std::string out = "\"";
    for (size_t i = 0; i < s.size();) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
            case '"': out += "\\\""; i++; continue;
            case '\\': out += "\\\\"; i++; continue;
            case '\b': out += "\\b"; i++; continue;
            case '\f': out += "\\f"; i++; continue;
            case '\n': out += "\\n"; i++; continue;
            case '\r': out += "\\r"; i++; continue;
            case '\t': out += "\\t"; i++; continue;
            default: break;
        }
        if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04X", c);
            out += buf;
            i++;
            continue;
        }
        // Everything else, including non-ASCII, is written as raw UTF-8.
        size_t n = utf8_sequence_length(s, i);
        if (n == 0) fail("cannot write a JSON string: invalid UTF-8 at byte " + std::to_string(i));
        out.append(s, i, n);
        i += n;
    }
    out += '"';
    return out;
}

static void write_number(std::string& out, double x) {
    if (!std::isfinite(x)) fail("cannot write NaN or infinity as JSON");
    if (x == std::floor(x) && std::fabs(x) < EXACT_INTEGER_LIMIT) {
        // Integral: print the integer itself (sizes and offsets stay readable
        // and any reader, including ones that parse ints separately, agrees).
        if (x == 0 && std::signbit(x)) out += "-0";
        else out += std::to_string((long long)x);
        return;
    }
    // %.17g: 17 significant digits always read back to the same double.
    // to_chars gives that output without depending on the C locale.
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::general, 17);
    out.append(buf, r.ptr);
}

static void write_value(std::string& out, const JsonValue& v) {
    switch (v.type) {
        case JsonValue::Null: out += "null"; break;
        case JsonValue::Bool: out += v.b ? "true" : "false"; break;
        case JsonValue::Number: write_number(out, v.num); break;
        case JsonValue::String: out += json_quote(v.str); break;
        case JsonValue::Array:
            out += '[';
            for (size_t i = 0; i < v.arr.size(); i++) {
                if (i) out += ',';
                write_value(out, v.arr[i]);
            }
            out += ']';
            break;
        case JsonValue::Object:
            out += '{';
            for (size_t i = 0; i < v.obj.size(); i++) {
                if (i) out += ',';
                out += json_quote(v.obj[i].first);
                out += ':';
                write_value(out, v.obj[i].second);
            }
            out += '}';
            break;
    }
}

std::string to_json(const JsonValue& v) {
    std::string out;
    write_value(out, v);
    return out;
}

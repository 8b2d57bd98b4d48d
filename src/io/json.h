// Just enough JSON for safetensors headers and our config metadata: a value
// type, a strict parser (RFC 8259) and a compact writer. No library: the whole
// thing fits in one file that a reader can check against the grammar.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

struct JsonValue {
    enum Type { Null, Bool, Number, String, Array, Object };
    Type type = Null;
    bool b = false;    // when type == Bool
    double num = 0;    // when type == Number (JSON has one number type)
    std::string str;   // when type == String (UTF-8)
    std::vector<JsonValue> arr;                               // when type == Array
    std::vector<std::pair<std::string, JsonValue>> obj;       // when type == Object; keeps insertion order

    static JsonValue make_null() { return JsonValue(); }
    static JsonValue make_bool(bool value);
    static JsonValue make_number(double value);
    static JsonValue make_string(const std::string& value);
    static JsonValue make_array();
    static JsonValue make_object();

    // Object member lookup: nullptr if absent (or if this is not an object).
    const JsonValue* find(const std::string& key) const;
    // Like find, but fails with `missing key "key"` (or `expected an object`).
    const JsonValue& at(const std::string& key) const;
    // Array element; fails if out of range or not an array.
    const JsonValue& at(size_t index) const;
    size_t size() const;  // elements of an array or members of an object

    // Typed reads that fail with "expected a string, got number" and the like.
    bool as_bool() const;
    double as_number() const;
    const std::string& as_string() const;
    // The number as an exact integer: fails if it has a fractional part or is
    // outside +-2^53 (beyond which a double no longer holds every integer, so
    // the value in the text may already have been rounded).
    int64_t as_int() const;

    // Building: set() replaces an existing key or appends a new one; push()
    // appends to an array. Both fail if the value has the wrong type.
    void set(const std::string& key, JsonValue value);
    void push(JsonValue value);
};

// "null", "bool", "number", "string", "array", "object", for messages.
const char* json_type_name(JsonValue::Type type);

// Parses a whole JSON text. Fails with the position and the reason, e.g.
// `JSON error at line 2, column 7: expected ':' after object key`. Strict:
// no comments, no trailing commas, no NaN, no duplicate object keys (they
// would make lookups ambiguous), strings must be valid UTF-8, and nesting is
// limited to JSON_MAX_DEPTH so a hostile file cannot overflow the stack.
constexpr int JSON_MAX_DEPTH = 128;
JsonValue parse_json(const std::string& text);

// `s` as a JSON string literal with quotes and escapes. Fails if `s` is not
// valid UTF-8 (a JSON text must be; Python's json module would reject it).
std::string json_quote(const std::string& s);

// Compact text (no spaces). Numbers that are exact integers with |x| < 2^53
// are written as integers ("1000", not "1e3"); other numbers use %.17g, which
// reads back to the identical double. Fails on NaN or infinity (JSON has none).
std::string to_json(const JsonValue& v);

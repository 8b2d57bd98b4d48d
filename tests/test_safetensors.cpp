// JSON and safetensors: round trips, the exact bytes of a small file (so we
// know the Python `safetensors` package reads what we write), and a message
// for every way a file can be corrupt.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <unistd.h>
#include <vector>

#include "io/json.h"
#include "io/safetensors.h"
#include "util/util.h"

using Catch::Contains;

namespace {

// A unique path under /tmp, removed when the test ends.
struct TempFile {
    std::string path;
    explicit TempFile(const std::string& tag)
        : path("/tmp/lrt_test_safetensors_" + std::to_string(getpid()) + "_" + tag + ".safetensors") {}
    ~TempFile() { unlink(path.c_str()); }
};

std::vector<uint8_t> le_u64(uint64_t n) {
    std::vector<uint8_t> b;
    for (int i = 0; i < 8; i++) b.push_back((uint8_t)(n >> (8 * i)));
    return b;
}

// A file built by hand: length field, header padded with spaces to a multiple
// of 8 (as writers do), data. `length_field` overrides the length when given.
std::vector<uint8_t> make_file(std::string header, const std::vector<uint8_t>& data,
                               uint64_t length_field = UINT64_MAX) {
    header.append((8 - header.size() % 8) % 8, ' ');
    std::vector<uint8_t> f = le_u64(length_field == UINT64_MAX ? header.size() : length_field);
    f.insert(f.end(), header.begin(), header.end());
    f.insert(f.end(), data.begin(), data.end());
    return f;
}

std::vector<uint8_t> zeros(size_t n) { return std::vector<uint8_t>(n, 0); }

// Header entry text for one tensor.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, uint64_t begin,
                  uint64_t end) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
           std::to_string(begin) + "," + std::to_string(end) + "]}";
}

SafeTensors parse_bad(const std::vector<uint8_t>& file) { return parse_safetensors(file, "bad.safetensors"); }

}  // namespace

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

TEST_CASE("json: compact text round trips exactly", "[safetensors][json]") {
    const char* texts[] = {
        R"({"a":1,"b":[true,false,null],"c":"x","d":{"e":-2.5,"f":[]},"g":{}})",
        R"({"z":1,"a":2,"m":3})",  // insertion order, not sorted
        "[]", "{}", "\"\"", "0", "-7", "[1,[2,[3]]]", "0.10000000000000001", "1.0000000000000001e+300", "1e+20",
        "-1.4999999999999999e-07", "null", "true",
    };
    for (const char* t : texts) {
        INFO(t);
        CHECK(to_json(parse_json(t)) == t);
    }
    // Whitespace (space, tab, newline, return) is allowed anywhere between tokens.
    CHECK(to_json(parse_json(" {\n \"a\" :\t[ 1 , 2 ]\r\n}  ")) == R"({"a":[1,2]})");

    JsonValue v = parse_json(texts[0]);
    REQUIRE(v.type == JsonValue::Object);
    CHECK(v.size() == 5);
    CHECK(v.obj[0].first == "a");
    CHECK(v.at("a").as_number() == 1);
    CHECK(v.at("b").at(0).as_bool() == true);
    CHECK(v.at("b").at(2).type == JsonValue::Null);
    CHECK(v.at("c").as_string() == "x");
    CHECK(v.at("d").find("e")->num == -2.5);
    CHECK(v.find("missing") == nullptr);

    JsonValue built = JsonValue::make_object();
    built.set("x", JsonValue::make_number(1));
    built.set("y", JsonValue::make_array());
    built.set("x", JsonValue::make_string("replaced"));  // keeps its place
    CHECK(to_json(built) == R"({"x":"replaced","y":[]})");
}

TEST_CASE("json: numbers", "[safetensors][json]") {
    CHECK(parse_json("42").num == 42);
    CHECK(parse_json("-17").num == -17);
    CHECK(parse_json("0").num == 0);
    CHECK(std::signbit(parse_json("-0").num));
    CHECK(parse_json("1e3").num == 1000);
    CHECK(parse_json("2.5E-3").num == 0.0025);
    CHECK(parse_json("1.5e+2").num == 150);
    CHECK(parse_json("123456789012345").as_int() == 123456789012345);
    CHECK(parse_json("-9007199254740991").as_int() == -9007199254740991);
    CHECK(parse_json("1e-400").num == 0);  // underflow rounds to zero, as in every JSON reader
    CHECK_THROWS_WITH(parse_json("1e400"), Contains("too large for a double"));
    CHECK_THROWS_WITH(parse_json("-123e999"), Contains("too large for a double"));

    // Integral values print as integers; everything else as %.17g.
    CHECK(to_json(JsonValue::make_number(1000.0)) == "1000");
    CHECK(to_json(JsonValue::make_number(-3)) == "-3");
    CHECK(to_json(JsonValue::make_number(9007199254740991.0)) == "9007199254740991");
    CHECK(to_json(JsonValue::make_number(9007199254740992.0)) == "9007199254740992");
    CHECK(to_json(JsonValue::make_number(1e20)) == "1e+20");
    CHECK(to_json(JsonValue::make_number(0.5)) == "0.5");
    CHECK(to_json(JsonValue::make_number(0.1)) == "0.10000000000000001");
    CHECK(to_json(JsonValue::make_number(-0.0)) == "-0");

    const double values[] = {0.1, 1.0 / 3, 1e-300, 4.9e-324, 1.7976931348623157e308, -2.5, 123456.789, 6e23};
    for (double x : values) {
        INFO(x);
        CHECK(parse_json(to_json(JsonValue::make_number(x))).num == x);
    }
    CHECK_THROWS_WITH(to_json(JsonValue::make_number(std::nan(""))), Contains("NaN"));
    CHECK_THROWS_WITH(to_json(JsonValue::make_number(INFINITY)), Contains("infinity"));

    CHECK_THROWS_WITH(parse_json("3.5").as_int(), Contains("expected an integer"));
    CHECK_THROWS_WITH(parse_json("1e300").as_int(), Contains("too large"));

    const char* malformed[] = {"01", "1.", ".5", "+1", "-", "1e", "1e+", "-a", "NaN", "Infinity", "0x10", "1.e5"};
    for (const char* t : malformed) {
        INFO(t);
        CHECK_THROWS_WITH(parse_json(t), Contains("JSON error"));
    }
    CHECK_THROWS_WITH(parse_json("01"), Contains("leading zeros"));
}

TEST_CASE("json: strings, escapes and unicode", "[safetensors][json]") {
    CHECK(parse_json(R"("a\"b\\c\/d\b\f\n\r\t")").str == "a\"b\\c/d\b\f\n\r\t");
    CHECK(json_quote("a\"b\\c\nd\x01\x1f/") == R"("a\"b\\c\nd\u0001\u001F/")");
    CHECK(parse_json(R"("a\u0000b")").str == std::string("a\0b", 3));
    CHECK(json_quote(std::string("a\0b", 3)) == R"("a\u0000b")");

    std::string ascii;
    for (int c = 1; c < 128; c++) ascii += (char)c;
    CHECK(parse_json(json_quote(ascii)).str == ascii);

    // \u escapes become UTF-8; characters beyond U+FFFF come as surrogate pairs.
    CHECK(parse_json(R"("\u00e9")").str == "\xC3\xA9");          // é
    CHECK(parse_json(R"("\u20AC")").str == "\xE2\x82\xAC");      // €
    CHECK(parse_json(R"("\ud83d\ude00")").str == "\xF0\x9F\x98\x80");  // U+1F600
    // Raw UTF-8 passes through both ways.
    const std::string raw = "\xC2\xB5P \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";  // "µP é € 😀"
    CHECK(json_quote(raw) == "\"" + raw + "\"");
    CHECK(parse_json(json_quote(raw)).str == raw);

    CHECK_THROWS_WITH(parse_json(R"("\ud83d")"), Contains("surrogate"));
    CHECK_THROWS_WITH(parse_json(R"("\ude00")"), Contains("lone low surrogate"));
    CHECK_THROWS_WITH(parse_json(R"("\ud83d\u0041")"), Contains("surrogate"));
    CHECK_THROWS_WITH(parse_json(R"("\x")"), Contains("invalid escape"));
    CHECK_THROWS_WITH(parse_json(R"("\u12G4")"), Contains("hex digits"));
    CHECK_THROWS_WITH(parse_json("\"a\nb\""), Contains("control character"));
    CHECK_THROWS_WITH(parse_json("\"abc"), Contains("unterminated string"));
    CHECK_THROWS_WITH(parse_json("\"\xC3(\""), Contains("invalid UTF-8"));
    CHECK_THROWS_WITH(parse_json("\"\xC0\xAF\""), Contains("invalid UTF-8"));      // overlong '/'
    CHECK_THROWS_WITH(parse_json("\"\xED\xA0\x80\""), Contains("invalid UTF-8"));  // encoded surrogate
    CHECK_THROWS_WITH(parse_json("\"\xF4\x90\x80\x80\""), Contains("invalid UTF-8"));  // > U+10FFFF
    CHECK_THROWS_WITH(json_quote("ok\xFF"), Contains("invalid UTF-8"));
}

TEST_CASE("json: errors say where and why", "[safetensors][json]") {
    CHECK_THROWS_WITH(parse_json(R"({"a":1,})"), Contains("line 1, column 8") && Contains("expected a string key"));
    CHECK_THROWS_WITH(parse_json("{\n  \"a\" 1}"),
                      Contains("line 2, column 7") && Contains("expected ':' after object key"));
    CHECK_THROWS_WITH(parse_json("[1 2]"), Contains("column 4") && Contains("expected ',' or ']'"));
    CHECK_THROWS_WITH(parse_json(""), Contains("expected a value, found end of input"));
    CHECK_THROWS_WITH(parse_json("[1] x"), Contains("after the JSON value"));
    CHECK_THROWS_WITH(parse_json("tru"), Contains("invalid literal"));
    CHECK_THROWS_WITH(parse_json("{\"a\":1,\"a\":2}"), Contains("duplicate key \"a\"") && Contains("column 8"));
    CHECK_THROWS_WITH(parse_json("[1,]"), Contains("expected a value"));
    CHECK_THROWS_WITH(parse_json("{'a':1}"), Contains("expected a string key"));

    std::string ok = std::string(JSON_MAX_DEPTH, '[') + std::string(JSON_MAX_DEPTH, ']');
    CHECK_NOTHROW(parse_json(ok));
    std::string too_deep = std::string(JSON_MAX_DEPTH + 1, '[') + std::string(JSON_MAX_DEPTH + 1, ']');
    CHECK_THROWS_WITH(parse_json(too_deep), Contains("nesting deeper than 128"));
    CHECK_THROWS_WITH(parse_json(std::string(1000000, '[')), Contains("nesting deeper"));  // no stack overflow

    CHECK_THROWS_WITH(parse_json("1").as_string(), Contains("expected a JSON string, got number"));
    CHECK_THROWS_WITH(parse_json("{}").at("x"), Contains("missing key \"x\""));
    CHECK_THROWS_WITH(parse_json("[]").at(0), Contains("out of range"));
    CHECK_THROWS_WITH(parse_json("[]").at("x"), Contains("expected a JSON object, got array"));
}

// ---------------------------------------------------------------------------
// safetensors
// ---------------------------------------------------------------------------

TEST_CASE("safetensors: round trip of every dtype, scalars and empty tensors", "[safetensors]") {
    const std::vector<float> w = {0.5f, -1.0f, 2.0f, 3.25f, 1e-8f, -0.0f};
    const double pi = 3.141592653589793;
    const std::vector<int64_t> i64 = {-(int64_t(1) << 40), 7};
    const std::vector<uint16_t> tokens = {0, 1, 65535, 256};
    const std::vector<uint8_t> bytes = {0, 1, 127, 128, 255};
    const uint64_t big = UINT64_MAX;
    const std::vector<double> d = {1e-300, -2.5, 1e300, 0.1};
    const std::vector<int32_t> i32 = {-2147483647 - 1, 2147483647, 0};

    SafeTensors st;
    st.set_meta("format", "pt");
    st.set_meta("config", R"({"width":128,"name":"a \"quoted\" string"})");
    st.set_meta("unicode", "\xC2\xB5P \xC3\xA9");
    st.set_meta("empty", "");
    st.add("w", {2, 3}, w.data());
    st.add("scalar", {}, &pi);
    st.add<int32_t>("empty", {0}, nullptr);
    st.add("i64", {2}, i64.data());
    st.add("tokens", {4}, tokens.data());
    st.add("bytes", {5}, bytes.data());
    st.add("big", {1}, &big);
    st.add<float>("empty3d", {3, 0, 2}, nullptr);
    st.add("d", {2, 2}, d.data());
    st.add("i32", {3}, i32.data());

    TempFile file("roundtrip");
    save_safetensors(file.path, st);
    SafeTensors back = load_safetensors(file.path);

    CHECK(back.source == file.path);
    CHECK(back.metadata == st.metadata);
    // Our writer lays tensors out in the given order, and the loader returns
    // them in data order, so the order survives.
    REQUIRE(back.tensors.size() == st.tensors.size());
    for (size_t i = 0; i < st.tensors.size(); i++) {
        INFO(st.tensors[i].name);
        CHECK(back.tensors[i].name == st.tensors[i].name);
        CHECK(back.tensors[i].dtype == st.tensors[i].dtype);
        CHECK(back.tensors[i].shape == st.tensors[i].shape);
        CHECK(back.tensors[i].bytes == st.tensors[i].bytes);
    }
    CHECK(back.read_vector<float>("w") == w);
    CHECK(std::signbit(back.read_vector<float>("w")[5]));
    CHECK(back.get("scalar").shape.empty());
    CHECK(back.get("scalar").numel() == 1);
    CHECK(back.read_vector<double>("scalar") == std::vector<double>{pi});
    CHECK(back.read_vector<int32_t>("empty").empty());
    CHECK(back.read_vector<int64_t>("i64") == i64);
    CHECK(back.read_vector<uint16_t>("tokens") == tokens);
    CHECK(back.read_vector<uint8_t>("bytes") == bytes);
    CHECK(back.read_vector<uint64_t>("big") == std::vector<uint64_t>{big});
    CHECK(back.get("empty3d").shape == std::vector<int64_t>{3, 0, 2});
    CHECK(back.get("empty3d").numel() == 0);
    CHECK(back.read_vector<double>("d") == d);
    CHECK(back.read_vector<int32_t>("i32") == i32);
    CHECK(back.meta("config") == R"({"width":128,"name":"a \"quoted\" string"})");

    // Data starts 8-aligned, and the file is exactly length + header + data.
    std::vector<uint8_t> raw = read_file(file.path);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)raw[i] << (8 * i);
    CHECK(n % 8 == 0);
    size_t data_bytes = 0;
    for (const StTensor& t : st.tensors) data_bytes += t.bytes.size();
    CHECK(raw.size() == 8 + n + data_bytes);

    // Nothing at all is a valid file too: "{}" padded to 8 bytes.
    TempFile empty_file("empty");
    save_safetensors(empty_file.path, SafeTensors());
    std::vector<uint8_t> expected_empty = le_u64(8);
    for (char c : std::string("{}      ")) expected_empty.push_back((uint8_t)c);
    CHECK(read_file(empty_file.path) == expected_empty);
    SafeTensors none = load_safetensors(empty_file.path);
    CHECK(none.tensors.empty());
    CHECK(none.metadata.empty());
}

TEST_CASE("safetensors: exact bytes of a small file", "[safetensors]") {
    SafeTensors st;
    st.set_meta("format", "pt");
    const float w[2] = {1.0f, -2.0f};
    const uint8_t b[3] = {1, 2, 3};
    st.add("w", {2}, w);
    st.add("b", {3}, b);

    // Written out by hand from the format description.
    const std::string json =
        R"({"__metadata__":{"format":"pt"},)"
        R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
        R"("b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}})";
    REQUIRE(json.size() == 138);  // padded with 6 spaces to 144, a multiple of 8
    std::vector<uint8_t> expected = {144, 0, 0, 0, 0, 0, 0, 0};
    for (char c : json) expected.push_back((uint8_t)c);
    for (int i = 0; i < 6; i++) expected.push_back(' ');
    const uint8_t data[] = {
        0x00, 0x00, 0x80, 0x3F,  // 1.0f  = 0x3F800000, little-endian
        0x00, 0x00, 0x00, 0xC0,  // -2.0f = 0xC0000000
        1, 2, 3,                 // U8
    };
    expected.insert(expected.end(), data, data + sizeof data);
    REQUIRE(expected.size() == 8 + 144 + 11);

    TempFile file("layout");
    save_safetensors(file.path, st);
    CHECK(read_file(file.path) == expected);
    CHECK(serialize_safetensors(st) == expected);

    // And the hand-made bytes load back as the same tensors.
    SafeTensors back = parse_safetensors(expected, "");
    CHECK(back.meta("format") == "pt");
    CHECK(back.read_vector<float>("w") == std::vector<float>{1.0f, -2.0f});
    CHECK(back.read_vector<uint8_t>("b") == std::vector<uint8_t>{1, 2, 3});
}

TEST_CASE("safetensors: files from other writers load in data order", "[safetensors]") {
    // Header order differs from data order (the Python writer sorts by dtype
    // then name), metadata comes last, whitespace is free-form, and
    // zero-size tensors sit at the start and the end of the data.
    std::string header = "{\n  " + entry("b", "U8", "[3]", 8, 11) + ",\n  " + entry("z", "F64", "[0]", 11, 11) +
                         ",\n  " + entry("w", "F32", "[2]", 0, 8) + ",\n  " + entry("e", "I64", "[0, 5]", 0, 0) +
                         ",\n  \"__metadata__\": {\"k\": \"v\", \"a\": \"b\"}\n}";
    std::vector<uint8_t> data = {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0, 7, 8, 9};
    SafeTensors st = parse_safetensors(make_file(header, data), "other.safetensors");
    REQUIRE(st.tensors.size() == 4);
    CHECK(st.tensors[0].name == "e");
    CHECK(st.tensors[1].name == "w");
    CHECK(st.tensors[2].name == "b");
    CHECK(st.tensors[3].name == "z");
    CHECK(st.read_vector<float>("w") == std::vector<float>{1.0f, -2.0f});
    CHECK(st.read_vector<uint8_t>("b") == std::vector<uint8_t>{7, 8, 9});
    CHECK(st.get("e").shape == std::vector<int64_t>{0, 5});
    CHECK(st.metadata == std::vector<std::pair<std::string, std::string>>{{"k", "v"}, {"a", "b"}});
}

TEST_CASE("safetensors: corrupt files fail with a message naming the problem", "[safetensors]") {
    const std::string w8 = entry("w", "F32", "[2]", 0, 8);

    SECTION("too short") {
        TempFile file("short");
        write_file_atomic(file.path, "\x10\0\0\0\0", 5);
        CHECK_THROWS_WITH(load_safetensors(file.path), Contains(file.path) && Contains("5 bytes, too short"));
    }
    SECTION("missing file") {
        CHECK_THROWS_WITH(load_safetensors("/tmp/lrt_no_such_file.safetensors"), Contains("cannot open"));
    }
    SECTION("header length beyond the end of the file") {
        CHECK_THROWS_WITH(parse_bad(make_file("{" + w8 + "}", zeros(8), 1000)),
                          Contains("bad.safetensors") && Contains("says 1000 bytes") && Contains("truncated"));
    }
    SECTION("absurd header length") {
        CHECK_THROWS_WITH(parse_bad(make_file("{}", {}, 200000000)), Contains("bad.safetensors") && Contains("limit"));
        CHECK_THROWS_WITH(parse_bad(make_file("{}", {}, UINT64_MAX - 1)), Contains("limit"));
    }
    SECTION("invalid JSON") {
        CHECK_THROWS_WITH(parse_bad(make_file("{not json}", {})),
                          Contains("bad.safetensors") && Contains("not valid JSON") && Contains("column 2"));
        // Padding must be spaces: NUL bytes are not JSON whitespace.
        std::vector<uint8_t> f = make_file("{}", {});
        f[8 + 2] = 0;
        CHECK_THROWS_WITH(parse_bad(f), Contains("not valid JSON"));
    }
    SECTION("invalid UTF-8 in a tensor name") {
        CHECK_THROWS_WITH(parse_bad(make_file("{" + entry("w\xFF", "F32", "[2]", 0, 8) + "}", zeros(8))),
                          Contains("invalid UTF-8"));
    }
    SECTION("header is not an object") {
        CHECK_THROWS_WITH(parse_bad(make_file("[1,2]", {})), Contains("header must be a JSON object, got array"));
    }
    SECTION("metadata that is not string -> string") {
        CHECK_THROWS_WITH(parse_bad(make_file(R"({"__metadata__":{"a":"x","b":1}})", {})),
                          Contains("__metadata__ value for \"b\" must be a string, got number"));
        CHECK_THROWS_WITH(parse_bad(make_file(R"({"__metadata__":["x"]})", {})),
                          Contains("__metadata__ must be an object"));
    }
    SECTION("unknown dtype") {
        CHECK_THROWS_WITH(parse_bad(make_file("{" + entry("w", "I8", "[4]", 0, 8) + "}", zeros(8))),
                          Contains("tensor \"w\"") && Contains("unknown dtype \"I8\""));
    }
    SECTION("entry is not an object, or has missing or extra keys") {
        CHECK_THROWS_WITH(parse_bad(make_file(R"({"w":5})", {})), Contains("header entry must be an object"));
        CHECK_THROWS_WITH(parse_bad(make_file(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", zeros(8))),
                          Contains("missing \"shape\""));
        CHECK_THROWS_WITH(
            parse_bad(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", zeros(8))),
            Contains("unexpected key \"x\""));
    }
    SECTION("bad shapes and offsets") {
        CHECK_THROWS_WITH(parse_bad(make_file("{" + entry("w", "F32", "[-1]", 0, 0) + "}", {})),
                          Contains("non-negative integers"));
        CHECK_THROWS_WITH(parse_bad(make_file("{" + entry("w", "F32", "[1.5]", 0, 4) + "}", zeros(4))),
                          Contains("non-negative integers"));
        CHECK_THROWS_WITH(parse_bad(make_file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", zeros(8))),
                          Contains("data_offsets must be [begin, end]"));
        CHECK_THROWS_WITH(parse_bad(make_file("{" + entry("w", "F32", "[2]", 8, 0) + "}", zeros(8))),
                          Contains("end before they begin"));
        CHECK_THROWS_WITH(
            parse_bad(make_file("{" + entry("w", "F32", "[4294967296,4294967296,4294967296]", 0, 8) + "}", zeros(8))),
            Contains("is too large"));
    }
    SECTION("offsets inconsistent with shape and dtype") {
        CHECK_THROWS_WITH(parse_bad(make_file("{" + entry("w", "F32", "[2,2]", 0, 8) + "}", zeros(8))),
                          Contains("bad.safetensors") && Contains("tensor \"w\"") &&
                              Contains("span 8 bytes but dtype F32 with shape [2, 2] needs 16 bytes"));
    }
    SECTION("offsets past the end of the data") {
        CHECK_THROWS_WITH(parse_bad(make_file("{" + entry("w", "F32", "[4]", 0, 16) + "}", zeros(8))),
                          Contains("past the end of the data section (8 bytes)"));
    }
    SECTION("overlapping tensors") {
        std::string h = "{" + w8 + "," + entry("v", "F32", "[2]", 4, 12) + "}";
        CHECK_THROWS_WITH(parse_bad(make_file(h, zeros(12))),
                          Contains("tensors \"w\" [0, 8) and \"v\" [4, 12) overlap"));
        // The same offsets twice is an overlap too.
        std::string twice = "{" + w8 + "," + entry("v", "F32", "[2]", 0, 8) + "}";
        CHECK_THROWS_WITH(parse_bad(make_file(twice, zeros(8))), Contains("overlap"));
    }
    SECTION("gap between tensors") {
        std::string h = "{" + w8 + "," + entry("v", "F32", "[2]", 12, 20) + "}";
        CHECK_THROWS_WITH(parse_bad(make_file(h, zeros(20))),
                          Contains("gap in the data section: bytes [8, 12) before tensor \"v\""));
        std::string at_start = "{" + entry("v", "F32", "[2]", 4, 12) + "}";
        CHECK_THROWS_WITH(parse_bad(make_file(at_start, zeros(12))), Contains("bytes [0, 4)"));
    }
    SECTION("trailing bytes") {
        CHECK_THROWS_WITH(parse_bad(make_file("{" + w8 + "}", zeros(12))),
                          Contains("bad.safetensors") && Contains("4 trailing bytes"));
        CHECK_THROWS_WITH(parse_bad(make_file("{}", zeros(1))), Contains("1 trailing bytes"));
    }
    SECTION("duplicate tensor names") {
        std::string h = "{" + w8 + "," + entry("w", "F32", "[2]", 8, 16) + "}";
        CHECK_THROWS_WITH(parse_bad(make_file(h, zeros(16))), Contains("duplicate key \"w\""));
    }
    SECTION("a valid file for comparison") {
        CHECK_NOTHROW(parse_bad(make_file("{" + w8 + "}", zeros(8))));
    }
}

TEST_CASE("safetensors: lookups and read_into check dtype and size", "[safetensors]") {
    SafeTensors st;
    const float w[2] = {1.5f, -2.5f};
    st.add("w", {2}, w);
    st.set_meta("a", "1");
    st.set_meta("b", "2");
    st.set_meta("a", "3");  // replaces in place
    CHECK(st.metadata == std::vector<std::pair<std::string, std::string>>{{"a", "3"}, {"b", "2"}});

    TempFile file("lookups");
    save_safetensors(file.path, st);
    SafeTensors back = load_safetensors(file.path);

    float out[2] = {0, 0};
    back.read_into("w", out, 2);
    CHECK(out[0] == 1.5f);
    CHECK(out[1] == -2.5f);

    double wrong_type[2];
    CHECK_THROWS_WITH(back.read_into("w", wrong_type, 2),
                      Contains(file.path) && Contains("tensor \"w\" has dtype F32, expected F64"));
    float wrong_size[3];
    CHECK_THROWS_WITH(back.read_into("w", wrong_size, 3),
                      Contains(file.path) && Contains("shape [2] has 2 elements, expected 3"));
    CHECK_THROWS_WITH(back.read_vector<int32_t>("w"), Contains("has dtype F32, expected I32"));
    CHECK_THROWS_WITH(back.get("nope"), Contains(file.path + ": no tensor named \"nope\""));
    CHECK_THROWS_WITH(back.meta("nope"), Contains("no metadata entry \"nope\""));
    CHECK(back.find("nope") == nullptr);
    CHECK(back.find_meta("nope") == nullptr);
    CHECK(back.meta("a") == "3");

    CHECK_THROWS_WITH(st.add("w", {2}, w), Contains("tensor \"w\" added twice"));
    CHECK_THROWS_WITH(st.add("__metadata__", {2}, w), Contains("reserved"));
    CHECK_THROWS_WITH(st.add("neg", {-2}, w), Contains("negative dimension"));
    CHECK_THROWS_WITH(st.add<float>("null", {2}, nullptr), Contains("null data"));

    // A tensor assembled by hand whose bytes don't match its shape is refused.
    SafeTensors bad;
    StTensor t;
    t.name = "t";
    t.dtype = Dtype::F32;
    t.shape = {1};
    t.bytes = {1, 2, 3};
    bad.tensors.push_back(t);
    TempFile bad_file("inconsistent");
    CHECK_THROWS_WITH(save_safetensors(bad_file.path, bad),
                      Contains("cannot save " + bad_file.path) && Contains("holds 3 bytes") && Contains("needs 4"));
    CHECK_FALSE(file_exists(bad_file.path));
}

TEST_CASE("safetensors: dtype names and sizes", "[safetensors]") {
    CHECK(dtype_of<float>() == Dtype::F32);
    CHECK(dtype_of<double>() == Dtype::F64);
    CHECK(dtype_of<int32_t>() == Dtype::I32);
    CHECK(dtype_of<int64_t>() == Dtype::I64);
    CHECK(dtype_of<uint16_t>() == Dtype::U16);
    CHECK(dtype_of<uint8_t>() == Dtype::U8);
    CHECK(dtype_of<uint64_t>() == Dtype::U64);
    const Dtype all[] = {Dtype::F32, Dtype::F64, Dtype::I32, Dtype::I64, Dtype::U16,
                         Dtype::U8,  Dtype::U64, Dtype::F16, Dtype::BF16};
    const size_t sizes[] = {4, 8, 4, 8, 2, 1, 8, 2, 2};
    for (int i = 0; i < 9; i++) {
        CHECK(dtype_size(all[i]) == sizes[i]);
        CHECK(parse_dtype(dtype_name(all[i])) == all[i]);
    }
    CHECK_THROWS_WITH(parse_dtype("BOOL"), Contains("unknown dtype \"BOOL\""));
    CHECK(format_shape({}) == "[]");
    CHECK(format_shape({2, 3}) == "[2, 3]");
}

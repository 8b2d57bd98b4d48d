// Tests for src/data.*: token files, the byte tokenizer, the train/val split
// and the data loader.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "data/data.h"
#include "data/tokens.h"
#include "util/util.h"

using Catch::Contains;

namespace {

// A fresh directory under /tmp for one test, removed when the test ends.
struct TempDir {
    std::string path;
    TempDir() {
        char name[] = "/tmp/lrt_test_data_XXXXXX";
        if (!mkdtemp(name)) fail("cannot create a temporary directory");
        path = name;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return path + "/" + name; }
};

void put_u32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) b[at + i] = (uint8_t)(v >> (8 * i));
}

// A hand-built token file: header fields as given, `body_bytes` bytes of body.
std::vector<uint8_t> raw_token_file(uint32_t magic, uint32_t version, uint32_t count, size_t body_bytes) {
    std::vector<uint8_t> b(TOKEN_FILE_HEADER_INTS * 4 + body_bytes, 0);
    put_u32(b, 0, magic);
    put_u32(b, 4, version);
    put_u32(b, 8, count);
    for (size_t i = 0; i < body_bytes; i++) b[TOKEN_FILE_HEADER_INTS * 4 + i] = (uint8_t)(i % 7 + 1);
    return b;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
    write_file_atomic(path, b.data(), b.size());
}

std::vector<uint16_t> counting_stream(size_t n) {
    std::vector<uint16_t> v(n);
    for (size_t i = 0; i < n; i++) v[i] = (uint16_t)(i % 65536);
    return v;
}

struct Batch {
    std::vector<int> inputs, targets;
    bool operator==(const Batch& o) const { return inputs == o.inputs && targets == o.targets; }
};

Batch next(DataLoader& loader) {
    Batch b;
    size_t n = (size_t)loader.batch_size() * loader.seq_len();
    b.inputs.resize(n);
    b.targets.resize(n);
    loader.next_batch(b.inputs.data(), b.targets.data());
    return b;
}

}  // namespace

// --- token files ---------------------------------------------------------------

TEST_CASE("token file round trip and exact byte layout", "[data]") {
    TempDir dir;
    std::string path = dir.file("tokens.bin");
    std::vector<uint16_t> tokens = {0, 1, 255, 256, 0x1234, 65535, 42};
    write_token_file(path, tokens);
    REQUIRE(read_token_file(path) == tokens);

    std::vector<uint8_t> b = read_file(path);
    REQUIRE(b.size() == 1024 + 2 * tokens.size());
    auto u32 = [&](size_t at) {
        return (uint32_t)b[at] | (uint32_t)b[at + 1] << 8 | (uint32_t)b[at + 2] << 16 | (uint32_t)b[at + 3] << 24;
    };
    CHECK(u32(0) == 20240520u);
    CHECK(u32(4) == 1u);
    CHECK(u32(8) == tokens.size());
    for (int i = 3; i < 256; i++) CHECK(u32(4 * i) == 0u);
    // uint16 little-endian: low byte first
    CHECK(b[1024 + 2 * 4] == 0x34);
    CHECK(b[1024 + 2 * 4 + 1] == 0x12);
    CHECK(b[1024 + 2 * 5] == 0xFF);
    CHECK(b[1024 + 2 * 5 + 1] == 0xFF);
    CHECK(b[1024 + 2 * 3] == 0x00);
    CHECK(b[1024 + 2 * 3 + 1] == 0x01);

    // Overwriting leaves no temporary behind.
    write_token_file(path, {7, 8, 9});
    REQUIRE(read_token_file(path) == std::vector<uint16_t>{7, 8, 9});
    int entries = 0;
    for (auto& e : std::filesystem::directory_iterator(dir.path)) (void)e, entries++;
    CHECK(entries == 1);
}

TEST_CASE("bad token files are rejected with a message that says why", "[data]") {
    TempDir dir;
    std::string p = dir.file("bad.bin");

    SECTION("missing") {
        REQUIRE_THROWS_WITH(read_token_file(dir.file("nope.bin")), Contains("does not exist") && Contains("nope.bin"));
    }
    SECTION("shorter than the header") {
        write_bytes(p, std::vector<uint8_t>(100, 0));
        REQUIRE_THROWS_WITH(read_token_file(p), Contains("shorter than the 1024-byte header") && Contains(p));
    }
    SECTION("empty file") {
        write_bytes(p, {});
        REQUIRE_THROWS_WITH(read_token_file(p), Contains("shorter than the 1024-byte header"));
    }
    SECTION("wrong magic") {
        write_bytes(p, raw_token_file(12345, 1, 4, 8));
        REQUIRE_THROWS_WITH(read_token_file(p), Contains("bad magic number 12345") && Contains("not an llm.c token file") &&
                                                    Contains(p));
    }
    SECTION("byte-swapped magic") {
        uint32_t m = 20240520u;
        uint32_t swapped = (m >> 24) | ((m >> 8) & 0xFF00u) | ((m << 8) & 0xFF0000u) | (m << 24);
        write_bytes(p, raw_token_file(swapped, 1, 4, 8));
        REQUIRE_THROWS_WITH(read_token_file(p), Contains("byte-swapped"));
    }
    SECTION("llm.c model file") {
        write_bytes(p, raw_token_file(20240326, 3, 4, 8));
        REQUIRE_THROWS_WITH(read_token_file(p), Contains("model-weights file"));
    }
    SECTION("wrong version") {
        write_bytes(p, raw_token_file(20240520, 2, 4, 16));
        REQUIRE_THROWS_WITH(read_token_file(p), Contains("unsupported token file version 2") && Contains(p));
    }
    SECTION("truncated") {
        write_bytes(p, raw_token_file(20240520, 1, 10, 15));
        REQUIRE_THROWS_WITH(read_token_file(p), Contains("header says 10 tokens = 20 bytes") &&
                                                    Contains("has 15 bytes after the header") && Contains("truncated"));
    }
    SECTION("trailing bytes") {
        write_bytes(p, raw_token_file(20240520, 1, 10, 22));
        REQUIRE_THROWS_WITH(read_token_file(p), Contains("22 bytes after the header") && Contains("trailing data"));
    }
    SECTION("zero tokens") {
        write_bytes(p, raw_token_file(20240520, 1, 0, 0));
        REQUIRE_THROWS_WITH(read_token_file(p), Contains("0 tokens") && Contains(p));
    }
    SECTION("token >= vocab") {
        std::vector<uint16_t> t(2000, 5);
        t[1234] = 300;
        REQUIRE_NOTHROW(check_token_range(t, 301, "train.bin"));
        REQUIRE_THROWS_WITH(check_token_range(t, 256, "train.bin"),
                            "train.bin: token id 300 at position 1234 is >= vocab size 256");
    }
}

// --- byte tokenizer ------------------------------------------------------------

TEST_CASE("byte tokenizer round trip, NUL dropped, EOT first", "[data]") {
    std::string text = "caf\xC3\xA9 \xE2\x82\xAC 5\n\ttab\xF0\x9F\x98\x80";  // "café € 5", tab, an emoji
    std::vector<uint16_t> t = byte_encode(text);
    REQUIRE(t.size() == text.size() + 1);
    CHECK(t[0] == EOT_TOKEN);
    CHECK(t[4] == 0xC3);  // bytes, not code points: é is two tokens
    CHECK(t[5] == 0xA9);
    for (size_t i = 1; i < t.size(); i++) CHECK(t[i] != EOT_TOKEN);
    CHECK(byte_decode(t) == "<|eot|>" + text);
    CHECK(byte_decode(byte_encode(text, false)) == text);

    std::string with_nul = std::string("a\0b\0\0c", 6);
    CHECK(byte_encode(with_nul, false) == std::vector<uint16_t>{'a', 'b', 'c'});
    CHECK(byte_encode("", true) == std::vector<uint16_t>{EOT_TOKEN});
    CHECK(byte_encode("", false).empty());

    std::vector<uint16_t> odd = {'x', 300, EOT_TOKEN, 'y'};
    CHECK(byte_decode(odd) == "x<?300><|eot|>y");
}

// --- train/val split -----------------------------------------------------------

TEST_CASE("split_documents: every k-th document goes to val when there are >= 10", "[data]") {
    std::vector<std::string> docs;
    for (int i = 0; i < 25; i++) docs.push_back("document " + std::to_string(i) + std::string(i % 4, '.'));
    std::vector<uint16_t> train, val;
    split_documents(docs, 0.2, &train, &val);  // k = 5: documents 4, 9, 14, 19, 24

    std::string want_train, want_val;
    for (int i = 0; i < 25; i++) (i % 5 == 4 ? want_val : want_train) += "<|eot|>" + docs[i];
    CHECK(byte_decode(val) == want_val);
    CHECK(byte_decode(train) == want_train);

    size_t total = 0;
    for (auto& d : docs) total += d.size() + 1;
    CHECK(train.size() + val.size() == total);

    // Deterministic.
    std::vector<uint16_t> train2, val2;
    split_documents(docs, 0.2, &train2, &val2);
    CHECK(train2 == train);
    CHECK(val2 == val);

    // k = round(1/0.3) = 3
    split_documents(docs, 0.3, &train, &val);
    want_val.clear();
    for (int i = 2; i < 25; i += 3) want_val += "<|eot|>" + docs[i];
    CHECK(byte_decode(val) == want_val);

    // A fraction so small that no document is selected is an error, not an empty val.
    std::vector<std::string> few(12, "abc");
    REQUIRE_THROWS_WITH(split_documents(few, 0.05, &train, &val), Contains("only 12 documents"));
}

TEST_CASE("split_documents: with < 10 documents the stream's tail goes to val", "[data]") {
    std::vector<std::string> docs = {"hello world", std::string("nul\0here", 8), "third one!"};
    std::vector<uint16_t> all;
    for (auto& d : docs) {
        auto t = byte_encode(d);
        all.insert(all.end(), t.begin(), t.end());
    }
    REQUIRE(all.size() == 12 + 8 + 11);  // NUL dropped, EOT per document

    std::vector<uint16_t> train, val;
    split_documents(docs, 0.1, &train, &val);
    CHECK(val.size() == 4);  // ceil(0.1 * 31) = ceil(3.1)
    std::vector<uint16_t> joined = train;
    joined.insert(joined.end(), val.begin(), val.end());
    CHECK(joined == all);

    // 0.1 * 30 is 3.0000000000000004 in floating point; val must get 3, not 4.
    std::vector<std::string> thirty = {std::string(29, 'a')};
    split_documents(thirty, 0.1, &train, &val);
    CHECK(val.size() == 3);
    CHECK(train.size() == 27);

    split_documents(docs, 0.5, &train, &val);
    CHECK(val.size() == 16);
    CHECK(train.size() == 15);
}

TEST_CASE("split_documents rejects bad fractions", "[data]") {
    std::vector<std::string> docs = {"a", "b"};
    std::vector<uint16_t> train, val;
    for (double f : {0.0, -0.1, 0.5000001, 0.9, 1.0, std::nan("")})
        REQUIRE_THROWS_WITH(split_documents(docs, f, &train, &val), Contains("val_fraction must be in (0, 0.5]"));
    REQUIRE_THROWS_WITH(split_documents({}, 0.1, &train, &val), Contains("no documents"));
}

// --- data loader ---------------------------------------------------------------

TEST_CASE("loader: targets are the inputs shifted by one; windows at stride T", "[data]") {
    std::vector<uint16_t> tokens = counting_stream(101);
    DataLoader loader;
    loader.init(&tokens, 3, 10, 1, false);
    REQUIRE(loader.num_windows() == 10);  // (101-1)/10; the last window ends on token 100

    Batch b = next(loader);
    for (int r = 0; r < 3; r++)
        for (int t = 0; t < 10; t++) {
            CHECK(b.inputs[r * 10 + t] == r * 10 + t);  // in order, unshuffled
            CHECK(b.targets[r * 10 + t] == r * 10 + t + 1);
        }
    CHECK(loader.epoch() == 0);
    CHECK(loader.window_index() == 3);

    // Shuffled: every row is still a contiguous window with shifted targets.
    DataLoader shuffled;
    shuffled.init(&tokens, 4, 10, 7, true);
    for (int step = 0; step < 5; step++) {
        Batch s = next(shuffled);
        for (int r = 0; r < 4; r++) {
            CHECK(s.inputs[r * 10] % 10 == 0);
            for (int t = 0; t < 10; t++) {
                CHECK(s.inputs[r * 10 + t] == s.inputs[r * 10] + t);
                CHECK(s.targets[r * 10 + t] == s.inputs[r * 10 + t] + 1);
            }
        }
    }
}

TEST_CASE("loader: shuffle is deterministic per seed and differs across seeds", "[data]") {
    std::vector<uint16_t> tokens = counting_stream(5000);
    DataLoader a, b, c;
    a.init(&tokens, 4, 16, 123, true);
    b.init(&tokens, 4, 16, 123, true);
    c.init(&tokens, 4, 16, 124, true);
    bool differs = false;
    for (int i = 0; i < 20; i++) {
        Batch ba = next(a), bb = next(b), bc = next(c);
        CHECK(ba == bb);
        if (!(ba == bc)) differs = true;
    }
    CHECK(differs);

    // The shuffle actually shuffles (not the identity order).
    DataLoader ordered;
    ordered.init(&tokens, 4, 16, 123, false);
    a.reset();
    CHECK(!(next(a) == next(ordered)));
}

TEST_CASE("loader: one epoch visits every window exactly once, next epoch reshuffles", "[data]") {
    std::vector<uint16_t> tokens = counting_stream(1000);
    const int B = 1, T = 8;
    DataLoader loader;
    loader.init(&tokens, B, T, 5, true);
    size_t n = loader.num_windows();
    REQUIRE(n == 124);  // (1000-1)/8

    std::vector<int> epoch0, epoch1;
    for (size_t i = 0; i < n; i++) epoch0.push_back(next(loader).inputs[0] / T);
    CHECK(loader.epoch() == 1);
    CHECK(loader.window_index() == 0);
    for (size_t i = 0; i < n; i++) epoch1.push_back(next(loader).inputs[0] / T);

    std::set<int> seen0(epoch0.begin(), epoch0.end()), seen1(epoch1.begin(), epoch1.end());
    CHECK(seen0.size() == n);
    CHECK(seen1.size() == n);
    CHECK(*seen0.begin() == 0);
    CHECK(*seen0.rbegin() == (int)n - 1);
    CHECK(epoch0 != epoch1);
}

TEST_CASE("loader: set_position resumes exactly", "[data]") {
    std::vector<uint16_t> tokens = counting_stream(3000);
    for (bool shuffle : {true, false}) {
        DataLoader run;
        run.init(&tokens, 5, 12, 99, shuffle);  // 249 windows of 12
        for (int i = 0; i < 95; i++) next(run);  // 475 windows: epoch 1, window 226
        uint64_t epoch = run.epoch(), window = run.window_index();
        CHECK(epoch == 1);

        DataLoader resumed;
        resumed.init(&tokens, 5, 12, 99, shuffle);
        next(resumed);  // some unrelated state, then restore
        resumed.set_position(epoch, window);
        // the next 25 windows cross the end of epoch 1
        for (int i = 0; i < 5; i++) CHECK(next(run) == next(resumed));
        CHECK(run.epoch() == resumed.epoch());
        CHECK(run.window_index() == resumed.window_index());

        REQUIRE_THROWS_WITH(resumed.set_position(0, resumed.num_windows()), Contains("window index"));
    }
}

TEST_CASE("loader: batches wrap around the epoch end", "[data]") {
    std::vector<uint16_t> tokens = counting_stream(31);  // 3 windows of T=10
    DataLoader loader;
    loader.init(&tokens, 2, 10, 0, false);
    REQUIRE(loader.num_windows() == 3);
    std::vector<int> starts;
    for (int i = 0; i < 3; i++) {
        Batch b = next(loader);
        starts.push_back(b.inputs[0]);
        starts.push_back(b.inputs[10]);
    }
    CHECK(starts == std::vector<int>{0, 10, 20, 0, 10, 20});
    CHECK(loader.epoch() == 2);
    CHECK(loader.window_index() == 0);

    // Fewer windows than B: one batch spans several epochs, each a full permutation.
    DataLoader big;
    big.init(&tokens, 7, 10, 3, true);
    Batch b = next(big);
    CHECK(big.epoch() == 2);
    CHECK(big.window_index() == 1);
    for (int e = 0; e < 2; e++) {
        std::set<int> s;
        for (int r = 0; r < 3; r++) s.insert(b.inputs[(e * 3 + r) * 10]);
        CHECK(s == std::set<int>{0, 10, 20});
    }

    loader.reset();
    CHECK(loader.epoch() == 0);
    CHECK(next(loader).inputs[0] == 0);
}

TEST_CASE("loader: a stream shorter than T+1 fails clearly", "[data]") {
    std::vector<uint16_t> tokens = counting_stream(64);
    DataLoader loader;
    REQUIRE_THROWS_WITH(loader.init(&tokens, 2, 64, 0, true), Contains("64 tokens") && Contains("T+1 = 65"));
    REQUIRE_NOTHROW(loader.init(&tokens, 2, 63, 0, true));
    CHECK(loader.num_windows() == 1);
}

TEST_CASE("split keeps empty fields", "[util]") {
    REQUIRE(split("a,,b,", ',') == std::vector<std::string>{"a", "", "b", ""});
    REQUIRE(split("", ',').empty());
    REQUIRE(split("x", ',') == std::vector<std::string>{"x"});
    REQUIRE(split("1\n2\n", '\n') == std::vector<std::string>{"1", "2", ""});
}

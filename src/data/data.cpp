#include "data/data.h"

#include <cmath>
#include <utility>

#include <sys/stat.h>

#include "util/rng.h"
#include "data/tokens.h"
#include "util/util.h"

// --- token files ---------------------------------------------------------------

// Explicit little-endian packing, so the files are the same on any machine.
static void put_u32_le(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32_le(const uint8_t* p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t byte_swap32(uint32_t v) {
    return (v >> 24) | ((v >> 8) & 0xFF00u) | ((v << 8) & 0xFF0000u) | (v << 24);
}

static const size_t TOKEN_FILE_HEADER_BYTES = TOKEN_FILE_HEADER_INTS * sizeof(int32_t);

// llm.c's model-weights files (gpt2_124M.bin) start with this magic; people
// mix the two up, so it gets its own hint.
static const int32_t LLMC_MODEL_FILE_MAGIC = 20240326;

void write_token_file(const std::string& path, const std::vector<uint16_t>& tokens) {
    if (tokens.size() > (size_t)INT32_MAX) fail("cannot write " + path + ": too many tokens for the int32 count in the header");
    std::vector<uint8_t> bytes(TOKEN_FILE_HEADER_BYTES + 2 * tokens.size(), 0);
    put_u32_le(&bytes[0], (uint32_t)TOKEN_FILE_MAGIC);
    put_u32_le(&bytes[4], (uint32_t)TOKEN_FILE_VERSION);
    put_u32_le(&bytes[8], (uint32_t)tokens.size());
    uint8_t* body = bytes.data() + TOKEN_FILE_HEADER_BYTES;
    for (size_t i = 0; i < tokens.size(); i++) {
        body[2 * i] = (uint8_t)(tokens[i] & 0xFF);
        body[2 * i + 1] = (uint8_t)(tokens[i] >> 8);
    }
    write_file_atomic(path, bytes.data(), bytes.size());
}

std::vector<uint16_t> read_token_file(const std::string& path) {
    if (!file_exists(path))
        fail("token file " + path + " does not exist (make one with `lrt tokenize` or data/get_brown.sh)");
    // The header first: it says how large the file must be, so the body is
    // read bounded by that, and a wrong file (or /dev/zero) fails on its
    // magic number without being read any further.
    std::vector<uint8_t> bytes = read_file_prefix(path, TOKEN_FILE_HEADER_BYTES);
    if (bytes.size() < TOKEN_FILE_HEADER_BYTES)
        fail(path + ": file is " + std::to_string(bytes.size()) + " bytes, shorter than the " +
             std::to_string(TOKEN_FILE_HEADER_BYTES) + "-byte header of a token file (truncated, or not a token file)");

    uint32_t magic = get_u32_le(&bytes[0]);
    if ((int32_t)magic != TOKEN_FILE_MAGIC) {
        std::string msg = path + ": bad magic number " + std::to_string((int32_t)magic) + " (expected " +
                          std::to_string(TOKEN_FILE_MAGIC) + ")";
        if ((int32_t)byte_swap32(magic) == TOKEN_FILE_MAGIC)
            msg += ": the magic is byte-swapped, so the file was written big-endian; token files are little-endian";
        else if ((int32_t)magic == LLMC_MODEL_FILE_MAGIC)
            msg += ": this is an llm.c model-weights file, not a token file";
        else
            msg += ": not an llm.c token file";
        fail(msg);
    }
    int32_t version = (int32_t)get_u32_le(&bytes[4]);
    if (version != TOKEN_FILE_VERSION) {
        std::string msg = path + ": unsupported token file version " + std::to_string(version) +
                          "; only version " + std::to_string(TOKEN_FILE_VERSION) + " (uint16 tokens) is supported";
        if (version == 2) msg += " (llm.c's version 2 holds uint32 LLaMA-3 tokens)";
        fail(msg);
    }
    int32_t count = (int32_t)get_u32_le(&bytes[8]);
    if (count < 0) fail(path + ": header says " + std::to_string(count) + " tokens (corrupt header)");
    if (count == 0) fail(path + ": header says the file holds 0 tokens (an empty corpus?)");

    // One byte more than the header promises, to tell "trailing data" from
    // an exact fit without reading the rest of a longer file.
    const size_t expected = 2 * (size_t)count;
    bytes = read_file_prefix(path, TOKEN_FILE_HEADER_BYTES + expected + 1);
    size_t actual = bytes.size() < TOKEN_FILE_HEADER_BYTES ? 0 : bytes.size() - TOKEN_FILE_HEADER_BYTES;
    if (actual != expected) {
        std::string has = std::to_string(actual);
        if (actual > expected) {
            // the real length, for the message, where the file system knows it
            struct stat st;
            has = stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size >= bytes.size()
                      ? std::to_string((uint64_t)st.st_size - TOKEN_FILE_HEADER_BYTES)
                      : "more than " + std::to_string(expected);
        }
        fail(path + ": header says " + std::to_string(count) + " tokens = " + std::to_string(expected) +
             " bytes but the file has " + has + " bytes after the header: " +
             (actual < expected ? "the file is truncated" : "the file has trailing data"));
    }

    std::vector<uint16_t> tokens((size_t)count);
    const uint8_t* body = bytes.data() + TOKEN_FILE_HEADER_BYTES;
    for (size_t i = 0; i < tokens.size(); i++) tokens[i] = (uint16_t)(body[2 * i] | body[2 * i + 1] << 8);
    return tokens;
}

void check_token_range(const std::vector<uint16_t>& tokens, int vocab, const std::string& what) {
    for (size_t i = 0; i < tokens.size(); i++)
        if ((int)tokens[i] >= vocab)
            fail(what + ": token id " + std::to_string(tokens[i]) + " at position " + std::to_string(i) +
                 " is >= vocab size " + std::to_string(vocab));
}

// --- byte tokenizer ------------------------------------------------------------

std::vector<uint16_t> byte_encode(const std::string& text, bool start_document) {
    std::vector<uint16_t> tokens;
    tokens.reserve(text.size() + 1);
    if (start_document) tokens.push_back(EOT_TOKEN);
    for (unsigned char c : text)
        if (c != 0) tokens.push_back(c);  // NUL is our EOT; it must not appear inside a document
    return tokens;
}

std::string byte_decode(const uint16_t* tokens, size_t n) {
    std::string text;
    text.reserve(n);
    for (size_t i = 0; i < n; i++) {
        uint16_t t = tokens[i];
        if (t == EOT_TOKEN) text += "<|eot|>";
        else if (t < BYTE_VOCAB_SIZE) text += (char)t;
        else text += "<?" + std::to_string(t) + ">";
    }
    return text;
}

void split_documents(const std::vector<std::string>& documents, double val_fraction,
                     std::vector<uint16_t>* train, std::vector<uint16_t>* val) {
    if (!(val_fraction > 0 && val_fraction <= 0.5))  // also rejects NaN
        fail("val_fraction must be in (0, 0.5], got " + std::to_string(val_fraction));
    if (documents.empty()) fail("split_documents: no documents");
    train->clear();
    val->clear();

    size_t n = documents.size();
    if (n >= 10) {
        // Every k-th document goes to val: whole documents (no document is
        // seen in training and then scored in validation), spread over the
        // corpus.
        size_t k = (size_t)std::lround(1.0 / val_fraction);
        if (k > n)
            fail("val_fraction " + std::to_string(val_fraction) + " puts every " + std::to_string(k) +
                 "th document in validation, but there are only " + std::to_string(n) +
                 " documents; use a larger val_fraction");
        for (size_t i = 0; i < n; i++) {
            std::vector<uint16_t> doc = byte_encode(documents[i], true);
            std::vector<uint16_t>* out = (i % k == k - 1) ? val : train;
            out->insert(out->end(), doc.begin(), doc.end());
        }
        return;
    }

    // Too few documents to hold some out: cut the stream instead.
    std::vector<uint16_t> all;
    for (const std::string& d : documents) {
        std::vector<uint16_t> doc = byte_encode(d, true);
        all.insert(all.end(), doc.begin(), doc.end());
    }
    // The (1 - 1e-12) keeps rounding error from turning e.g. 0.1 * 30 =
    // 3.0000000000000004 into 4.
    size_t n_val = (size_t)std::ceil(val_fraction * (double)all.size() * (1.0 - 1e-12));
    size_t n_train = all.size() - n_val;
    train->assign(all.begin(), all.begin() + n_train);
    val->assign(all.begin() + n_train, all.end());
}

// --- data loader ---------------------------------------------------------------

void DataLoader::init(const std::vector<uint16_t>* tokens, int B, int T, uint64_t seed, bool shuffle) {
    if (!tokens) fail("DataLoader: no token stream");
    if (B <= 0 || T <= 0) fail("DataLoader: batch size and sequence length must be positive, got B=" +
                               std::to_string(B) + " T=" + std::to_string(T));
    if (tokens->size() < (size_t)T + 1)
        fail("token stream has " + std::to_string(tokens->size()) + " tokens, too few for one window of T+1 = " +
             std::to_string(T + 1) + " tokens (sequence length T=" + std::to_string(T) +
             "); use a shorter sequence length or more data");
    tokens_ = tokens;
    B_ = B;
    T_ = T;
    seed_ = seed;
    shuffle_ = shuffle;
    // Window w needs tokens up to w*T + T <= size-1, so w < (size-1)/T.
    num_windows_ = (tokens->size() - 1) / (size_t)T;
    if (num_windows_ > UINT32_MAX) fail("DataLoader: too many windows for a 32-bit permutation");
    set_position(0, 0);
}

void DataLoader::make_permutation() {
    // The permutation is a function of (seed, epoch) alone, so resuming at
    // any epoch recomputes it without replaying earlier epochs.
    Rng base(seed_);
    Rng rng(base.next_u64() ^ (epoch_ * 0x9E3779B97F4A7C15ull));
    order_.resize(num_windows_);
    for (size_t i = 0; i < num_windows_; i++) order_[i] = (uint32_t)i;
    for (size_t i = num_windows_; i > 1; i--) {  // Fisher-Yates
        size_t j = (size_t)rng.below(i);
        std::swap(order_[i - 1], order_[j]);
    }
}

void DataLoader::set_position(uint64_t epoch, uint64_t window_index) {
    if (!tokens_) fail("DataLoader: set_position before init");
    if (window_index >= num_windows_)
        fail("DataLoader: window index " + std::to_string(window_index) + " is past the " +
             std::to_string(num_windows_) + " windows of an epoch (checkpoint from different data or T?)");
    epoch_ = epoch;
    window_index_ = window_index;
    if (shuffle_) make_permutation();
    else order_.clear();
}

void DataLoader::reset() { set_position(0, 0); }

void DataLoader::next_batch(int* inputs, int* targets) {
    // inputs, targets are (B,T)
    if (!tokens_) fail("DataLoader: next_batch before init");
    const uint16_t* tok = tokens_->data();
    for (int b = 0; b < B_; b++) {
        size_t w = shuffle_ ? order_[window_index_] : window_index_;
        const uint16_t* window = tok + w * (size_t)T_;  // T+1 tokens
        int* in = inputs + (size_t)b * T_;
        int* tg = targets + (size_t)b * T_;
        for (int t = 0; t < T_; t++) {
            in[t] = window[t];
            tg[t] = window[t + 1];
        }
        // Advance per row, not per batch, so a batch can straddle epochs.
        if (++window_index_ == num_windows_) {
            window_index_ = 0;
            epoch_++;
            if (shuffle_) make_permutation();
        }
    }
}

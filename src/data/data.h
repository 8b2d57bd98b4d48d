// Data: token files on disk, the byte tokenizer, the train/val split, and the
// loader that cuts a token stream into (B,T) batches.
//
// Token files use llm.c's format, so files are interchangeable with llm.c
// (dev/data/*.py writes them, train_gpt2.c reads them):
//   header: 256 int32, little-endian: [0] magic 20240520, [1] version 1,
//           [2] number of tokens, the rest zero
//   body:   the tokens as uint16, little-endian
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

constexpr int32_t TOKEN_FILE_MAGIC = 20240520;
constexpr int32_t TOKEN_FILE_VERSION = 1;
constexpr int TOKEN_FILE_HEADER_INTS = 256;

// Writes atomically (a crash leaves the old file or the new one, never half).
void write_token_file(const std::string& path, const std::vector<uint16_t>& tokens);

// Reads and validates a token file; every failure names the file and says
// what is wrong with it (missing, truncated, not a token file, ...). Reads
// the header first and then no more than it declares (plus one byte), so a
// huge wrong file or /dev/zero fails at once.
std::vector<uint16_t> read_token_file(const std::string& path);

// A token file does not record its vocabulary, so the caller checks the ids
// against the model's before they are used as embedding rows. Fails with
// "<what>: token id 300 at position 1234 is >= vocab size 256".
void check_token_range(const std::vector<uint16_t>& tokens, int vocab, const std::string& what);

// --- byte tokenizer (token id = byte value; see tokens.h) ---------------------

// Text -> tokens: one token per byte; NUL bytes are dropped (NUL is EOT_TOKEN);
// if `start_document`, EOT_TOKEN comes first.
std::vector<uint16_t> byte_encode(const std::string& text, bool start_document = true);

// Tokens -> printable text. Bytes come back unchanged (so decoding an
// encoded text without its EOT returns the text), EOT_TOKEN is rendered as
// "<|eot|>" (GPT-2's name for it, without added newlines so the output keeps
// the model's exact layout), and ids >= 256 (impossible for a byte model, but
// a bad file or a bigger vocab can produce them) as "<?id>", e.g. "<?300>".
// Model samples can be invalid UTF-8; the bytes are passed through as they are.
std::string byte_decode(const uint16_t* tokens, size_t n);
inline std::string byte_decode(const std::vector<uint16_t>& tokens) {
    return byte_decode(tokens.data(), tokens.size());
}

// Splits documents into train/val token streams, deterministically. Each
// document becomes EOT + its bytes. With >= 10 documents, document i goes to
// val iff i % k == k-1, k = round(1/val_fraction): whole documents, drawn
// from every part of the corpus (a corpus is often ordered by genre). With
// fewer documents that would leave val empty or lopsided, so instead the last
// ceil(val_fraction * n) tokens of the concatenated stream go to val.
// val_fraction must be in (0, 0.5].
void split_documents(const std::vector<std::string>& documents, double val_fraction,
                     std::vector<uint16_t>* train, std::vector<uint16_t>* val);

// --- data loader ---------------------------------------------------------------

// Cuts a token stream into windows of T+1 tokens at stride T: window w covers
// tokens [w*T, w*T+T], its first T tokens are the inputs and its last T the
// targets (each target is the token that follows its input). A batch is B
// windows. Deterministic given the seed; the whole position is two integers
// (epoch, window_index), so a checkpoint can save it and resume exactly.
struct DataLoader {
    // shuffle=true (training): each epoch visits every window once, in a
    // permutation that depends only on (seed, epoch). shuffle=false
    // (validation): windows in order from the start. `tokens` is not copied
    // and must outlive the loader. Fails if tokens->size() < T+1. A batch
    // that runs past the last window continues in the next epoch, so B may
    // exceed num_windows().
    void init(const std::vector<uint16_t>* tokens, int B, int T, uint64_t seed, bool shuffle);

    // inputs and targets are (B,T) int32, row-major: row b is one window.
    void next_batch(int* inputs, int* targets);

    void reset();  // back to epoch 0, window 0

    // Resumable state. window_index is the position within the epoch (how
    // many windows of this epoch have been used), not a window id.
    uint64_t epoch() const { return epoch_; }
    uint64_t window_index() const { return window_index_; }
    void set_position(uint64_t epoch, uint64_t window_index);  // recomputes the permutation

    size_t num_windows() const { return num_windows_; }
    int batch_size() const { return B_; }
    int seq_len() const { return T_; }

private:
    void make_permutation();  // order_ for (seed_, epoch_)

    const std::vector<uint16_t>* tokens_ = nullptr;
    int B_ = 0, T_ = 0;
    uint64_t seed_ = 0;
    bool shuffle_ = false;
    size_t num_windows_ = 0;
    uint64_t epoch_ = 0, window_index_ = 0;
    std::vector<uint32_t> order_;  // window ids in visiting order (shuffle only)
};

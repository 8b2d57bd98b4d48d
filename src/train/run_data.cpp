#include "train/run_data.h"

#include <algorithm>
#include <cstdio>

#include "data/synth.h"
#include "data/tokens.h"
#include "util/util.h"

// The built-in corpus, with the note that says what loss it allows.
static void generate_corpus(RunData& data, const TrainConfig& cfg, int vocab_size) {
    if (vocab_size < BYTE_VOCAB_SIZE)
        fail("the built-in corpus is byte-level and needs --vocab-size >= 256, got " + std::to_string(vocab_size));
    SynthStats val_stats;  // of the chosen lexicon's text: each lexicon has its own floor
    const uint64_t lexicon = (uint64_t)cfg.synth_lexicon;
    data.train_tokens =
        synth_generate(synth_train_seed(cfg.data_seed), (size_t)cfg.synth_train_tokens, nullptr, lexicon);
    data.val_tokens = synth_generate(synth_val_seed(cfg.data_seed), (size_t)cfg.synth_val_tokens, &val_stats, lexicon);
    // (the default language's note reads as it always has)
    const std::string which = lexicon ? strprintf(" (lexicon %llu)", (unsigned long long)lexicon) : "";
    data.note = strprintf("built-in synthetic corpus%s: %zu train / %zu val tokens; validation entropy rate %.4f "
                          "nats/token (the lowest loss any model can reach), unigram entropy %.4f",
                          which.c_str(), data.train_tokens.size(), data.val_tokens.size(),
                          val_stats.nats / std::max<size_t>(1, val_stats.tokens),
                          unigram_entropy(data.val_tokens.data(), data.val_tokens.size(), BYTE_VOCAB_SIZE));
}

static void read_token_files(RunData& data, const TrainConfig& cfg, int vocab_size) {
    data.train_tokens = read_token_file(cfg.train_data);
    data.val_tokens = read_token_file(cfg.val_data);
    check_token_range(data.train_tokens, vocab_size, cfg.train_data);
    check_token_range(data.val_tokens, vocab_size, cfg.val_data);
    data.note = cfg.train_data + " (" + std::to_string(data.train_tokens.size()) + " tokens), " + cfg.val_data + " (" +
                std::to_string(data.val_tokens.size()) + " tokens)";
}

// A loader error (e.g. a file too short for one sequence) names the source.
static void init_loader(DataLoader& loader, const std::vector<uint16_t>& tokens, const std::string& source,
                        const TrainConfig& cfg, uint64_t seed, bool shuffle) {
    try {
        loader.init(&tokens, cfg.batch_size, cfg.seq_len, seed, shuffle);
    } catch (const std::exception& e) {
        fail(source + ": " + e.what());
    }
}

void load_run_data(RunData& data, const TrainConfig& cfg, int vocab_size) {
    if (cfg.train_data.empty() != cfg.val_data.empty())
        fail("give both --train-data and --val-data, or neither (to use the built-in corpus)");
    // (token files have their own words: the flag would be silently ignored)
    if (!cfg.train_data.empty() && cfg.synth_lexicon != 0)
        fail("--synth-lexicon picks the built-in corpus's lexicon; it does not apply to --train-data files");
    if (cfg.train_data.empty()) generate_corpus(data, cfg, vocab_size);
    else read_token_files(data, cfg, vocab_size);
    init_loader(data.train_loader, data.train_tokens,
                cfg.train_data.empty() ? "built-in training corpus" : cfg.train_data, cfg, (uint64_t)cfg.data_seed,
                true);
    init_loader(data.val_loader, data.val_tokens, cfg.val_data.empty() ? "built-in validation corpus" : cfg.val_data,
                cfg, 0, false);
}

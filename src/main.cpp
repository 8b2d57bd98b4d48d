// lrt: the lrtransfer command-line program. One binary, one subcommand per
// verb; every subcommand has --help.
#include <cstdio>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "study/compare_command.h"
#include "study/coordcheck.h"
#include "data/data.h"
#include "study/figures.h"
#include "study/hessian_command.h"
#include "util/flags.h"
#include "study/reference.h"
#include "study/sweep.h"
#include "data/synth.h"
#include "data/tokens.h"
#include "train/finetune.h"
#include "train/train.h"
#include "util/util.h"

static const char* USAGE =
    "lrt — GPT training for studying learning-rate transfer across widths\n"
    "\n"
    "usage: lrt <command> [flags]     (lrt <command> --help for its flags)\n"
    "\n"
    "commands:\n"
    "  demo       a few-minute LR sweep across widths (SP vs µP): optimal LR per width and the plot\n"
    "  train      train a GPT (built-in synthetic corpus by default), log CSV, checkpoint\n"
    "  finetune   continue a trained checkpoint on other data: fully, or LoRA/LoRA+ adapters; --merge folds them in\n"
    "  coordcheck µP coordinate check: activation scale against width, CSV and SVG plot\n"
    "  sweep      learning-rate sweeps across widths: plan, run (parallel, resumable), optimum per width, plot\n"
    "  figures    measurement figures of a finished sweep: RRC, alignment, weight norm, implicit warmup\n"
    "  hessian    Adam as approximate Newton: Hutchinson diag(H) at a checkpoint against AdamW's sqrt(v_hat)\n"
    "  reference  write a reference state (tokens, params, logits, grads, k AdamW steps) as safetensors\n"
    "  compare    compare two safetensors files tensor by tensor (a reference state against your own)\n"
    "  synth      write the built-in corpus to token files, or print a sample of it\n"
    "  tokenize   turn text files into byte-level train/val token files (llm.c format)\n";

// Whether two output paths name the same directory entry: the same file name
// in the same directory, the directory compared by device and inode (so "X",
// "./X" and "sub/../X" match, as do paths through a symlinked directory).
// The entry, not the file's inode, is what counts: the writer renames a
// temporary over the entry, so two hard links to one file end up as two
// separate files, while one entry written twice keeps only the second write.
static bool same_output_entry(const std::string& a, const std::string& b) {
    auto name_of = [](const std::string& p) { return p.substr(p.find_last_of('/') + 1); };  // npos + 1 == 0
    if (name_of(a) != name_of(b)) return false;
    const std::string dir_a = parent_dir(a), dir_b = parent_dir(b);
    return dir_a == dir_b || same_directory(dir_a, dir_b);
}

// lrt tokenize: each input file is one document.
static int tokenize_command(int argc, char** argv) {
    std::string train_out, val_out;
    double val_fraction = 0.1;
    FlagSet flags("tokenize",
                  "lrt tokenize --train-out FILE --val-out FILE [--val-fraction X] TEXTFILE...\n\n"
                  "Byte-level tokenizer (vocab 256): each input file becomes one document, preceded by the\n"
                  "end-of-document token 0; NUL bytes in the text are dropped. With 10 or more documents,\n"
                  "every round(1/X)-th document goes to validation; with fewer, the last X of the tokens.");
    flags.add("train-out", &train_out, "training token file to write");
    flags.add("val-out", &val_out, "validation token file to write");
    flags.add("val-fraction", &val_fraction, "share of the data for validation", between(1e-6, 0.5));
    std::vector<std::string> inputs;
    if (!flags.parse(argc, argv, 2, &inputs)) return 0;
    if (train_out.empty() || val_out.empty()) fail("--train-out and --val-out are required (see `lrt tokenize --help`)");
    if (inputs.empty()) fail("no input text files given (see `lrt tokenize --help`)");
    if (same_output_entry(train_out, val_out))
        fail("--train-out " + train_out + " and --val-out " + val_out +
             " name the same file; the validation tokens would overwrite the training tokens");
    std::vector<std::string> docs;
    for (const auto& path : inputs) {
        std::vector<uint8_t> bytes = read_file(path);
        docs.emplace_back(bytes.begin(), bytes.end());
    }
    std::vector<uint16_t> train, val;
    split_documents(docs, val_fraction, &train, &val);
    if (train.size() < 2 || val.size() < 2)
        fail("the input is too small to split: " + std::to_string(train.size()) + " training and " +
             std::to_string(val.size()) + " validation tokens");
    write_token_file(train_out, train);
    write_token_file(val_out, val);
    std::printf("tokenized %zu documents: %s (%zu tokens), %s (%zu tokens)\n", docs.size(), train_out.c_str(),
                train.size(), val_out.c_str(), val.size());
    return 0;
}

// lrt synth: the built-in corpus as files, or a look at it.
static int synth_command(int argc, char** argv) {
    std::string train_out, val_out;
    int64_t train_tokens = 8000000, val_tokens = 262144, seed = 1, lexicon = 0, show = 0;
    FlagSet flags("synth",
                  "lrt synth [--train-out FILE --val-out FILE] [--show N]\n\n"
                  "The built-in synthetic language (see src/data/synth.h). Writes llm.c token files, and/or prints\n"
                  "the first N bytes of text and the corpus's entropy rate (the loss floor). `lrt train`\n"
                  "generates the same data itself when no --train-data is given (same --data-seed and\n"
                  "--synth-lexicon).");
    flags.add("train-out", &train_out, "training token file to write");
    flags.add("val-out", &val_out, "validation token file to write");
    flags.add("train-tokens", &train_tokens, "training tokens", at_least(1024));
    flags.add("val-tokens", &val_tokens, "validation tokens", at_least(1024));
    flags.add("seed", &seed, "data seed (lrt train's --data-seed)", at_least(0));
    flags.add("synth-lexicon", &lexicon, "the language's lexicon (lrt train's --synth-lexicon); 0 = the default",
              at_least(0));
    flags.add("show", &show, "print this many bytes of validation text", at_least(0));
    if (!flags.parse(argc, argv, 2)) return 0;
    if (train_out.empty() != val_out.empty()) fail("give both --train-out and --val-out, or neither");
    if (!train_out.empty() && same_output_entry(train_out, val_out))
        fail("--train-out " + train_out + " and --val-out " + val_out +
             " name the same file; the validation tokens would overwrite the training tokens");
    if (train_out.empty() && show == 0) show = 600;
    SynthStats val_stats;
    std::vector<uint16_t> val = synth_generate(synth_val_seed(seed), (size_t)val_tokens, &val_stats, lexicon);
    if (!train_out.empty()) {
        std::vector<uint16_t> train = synth_generate(synth_train_seed(seed), (size_t)train_tokens, nullptr, lexicon);
        write_token_file(train_out, train);
        write_token_file(val_out, val);
        std::printf("wrote %s (%zu tokens) and %s (%zu tokens)\n", train_out.c_str(), train.size(), val_out.c_str(),
                    val.size());
    }
    if (show > 0) std::printf("%s\n", byte_decode(val.data(), std::min<size_t>(val.size(), (size_t)show)).c_str());
    double rate = val_stats.nats / std::max<size_t>(1, val_stats.tokens);
    double unigram = unigram_entropy(val.data(), val.size(), BYTE_VOCAB_SIZE);
    std::printf("validation text: entropy rate %.4f nats/token (%.3f bits/byte), unigram entropy %.4f nats/token\n",
                rate, rate / std::log(2.0), unigram);
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
        std::fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    std::string cmd = argv[1];
    try {
        if (cmd == "train") return train_command(argc, argv);
        if (cmd == "finetune") return finetune_command(argc, argv);
        if (cmd == "coordcheck") return coordcheck_command(argc, argv);
        if (cmd == "reference") return reference_command(argc, argv);
        if (cmd == "compare") return compare_command(argc, argv);
        if (cmd == "sweep") return sweep_command(argc, argv);
        if (cmd == "demo") return demo_command(argc, argv);
        if (cmd == "figures") return figures_command(argc, argv);
        if (cmd == "hessian") return hessian_command(argc, argv);
        if (cmd == "tokenize") return tokenize_command(argc, argv);
        if (cmd == "synth") return synth_command(argc, argv);
        std::fprintf(stderr, "error: unknown command '%s'\n\n%s", cmd.c_str(), USAGE);
        return 2;
    } catch (const std::bad_alloc&) {
        std::fflush(stdout);
        std::fprintf(stderr, "error: out of memory (the model or batch is too large for this machine)\n");
        return 1;
    } catch (const std::exception& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}

#include "train/finetune.h"

#include <algorithm>

#include "io/json.h"
#include "model/lora.h"
#include "train/checkpoint.h"
#include "util/util.h"

void take_model_flags_from_checkpoint(FlagSet& flags, const TrainConfig& cfg) {
    if (!cfg.resume.empty()) return;  // a resumed run has all its settings already
    if (cfg.finetune.from.empty()) fail("lrt finetune needs --from CHECKPOINT (the trained model), or --resume");
    const std::string path = checkpoint_file(cfg.finetune.from);
    const Checkpoint base = load_checkpoint(path);
    TrainConfig saved_cfg;
    FlagSet saved("train", "");
    declare_run_flags(saved, saved_cfg, written_by_finetune(base));
    set_checkpoint_flags(saved, base, path);
    // which flags describe the model: those of these two declarations
    TrainConfig scratch;
    FlagSet shape("", "");
    declare_model_flags(shape, scratch.model);
    declare_param_flags(shape, scratch.param);
    // the context length is the model's (the position table's rows), not the
    // saved flag: a saved 0 means "that run's --seq-len", and this run's
    // --seq-len may be shorter
    const bool own_context = flags.was_set("context-length");
    for (const std::string& name : shape.names())
        if (name != "context-length" && !flags.was_set(name)) flags.set(name, saved.value_string(name));
    if (!own_context) flags.set("context-length", std::to_string(base.config.context_length));
}

TrainResult run_finetune(TrainConfig& cfg, FlagSet& flags) {
    // without adapters these would be silently ignored
    if (cfg.resume.empty() && cfg.finetune.lora_rank == 0)
        for (const char* name : {"lora-alpha", "lora-targets", "lora-plus-ratio", "lora-lr-anchor", "lora-init"})
            if (flags.was_set(name))
                fail(std::string("--") + name + " needs --lora-rank r > 0 (with rank 0 every tensor trains: full fine-tuning)");
    // the initialization happened when the run began; its adjusted W0 is in the checkpoint
    if (!cfg.resume.empty() && flags.was_set("lora-init"))
        fail("--lora-init applies at the start of a run; a resumed run keeps the adapters and matrices of its "
             "checkpoint (leave --lora-init out)");
    check_model_flags(flags, cfg.model);  // the user's own, before the checkpoint's are added
    take_model_flags_from_checkpoint(flags, cfg);
    return run_training(cfg, flags);
}

// The settings of a fine-tuning run without its fine-tuning flags: those of
// a plain `lrt train` run of the same model (and data).
static std::string plain_train_flags(const Checkpoint& c) {
    TrainConfig cfg;
    FlagSet plain("train", "");
    declare_train_flags(plain, cfg);
    const JsonValue j = parse_json(c.train_flags_json);
    for (const auto& kv : j.obj)
        if (plain.has(kv.first)) plain.set(kv.first, kv.second.as_string());
    return plain.to_json();
}

void merge_adapters(const std::string& from, const std::string& out) {
    const std::string path = checkpoint_file(from);
    Checkpoint c = load_checkpoint(path);
    const ModelConfig& mc = c.config;
    if (!mc.has_adapters()) fail(path + " has no LoRA adapters to merge");
    GPT<float> adapted;
    gpt_build(adapted, mc);
    std::vector<float> m, v;
    restore_checkpoint(c, adapted, m, v);
    GPT<float> plain;
    gpt_build(plain, mc.without_adapters());
    // the plain model's tensors are the first part of the adapted buffer (tensor_table.h)
    std::copy(adapted.params.begin(), adapted.params.begin() + plain.table.total, plain.params.begin());
    for (int l = 0; l < mc.depth; l++)
        for (int k = 0; k < LORA_TARGET_COUNT; k++) {
            if (!mc.adapts((LoraTarget)k)) continue;
            const std::string w = "transformer.h." + std::to_string(l) + "." + lora_target_name((LoraTarget)k);
            const TensorInfo& W = plain.table.get(w + ".weight");
            lora_merge(plain.param(W.offset), adapted.param(adapted.table.get(w + ".lora_A").offset),
                       adapted.param(adapted.table.get(w + ".lora_B").offset), (float)mc.lora_scale(), W.fan_in,
                       W.fan_out, mc.lora_rank);
        }
    TrainState state = c.state;
    state.noise = NoiseEma();
    state.tensor_noise.clear();  // they measured the adapters
    state.merged_from = path;      // marks the file as a model: --resume refuses it (zero moments, a foreign step)
    const std::vector<float> zeros(plain.table.total, 0.0f);
    save_checkpoint(out, plain, zeros, zeros, state, plain_train_flags(c));
}

int finetune_command(int argc, char** argv) {
    TrainConfig cfg;
    bool merge = false;
    std::string merge_out;
    FlagSet flags(
        "finetune",
        "lrt finetune --from CHECKPOINT [lrt train flags] [--lora-rank r --lora-alpha a --lora-targets LIST "
        "--lora-plus-ratio l --lora-init standard|ga]\n"
        "lrt finetune --resume DIR [flags]\n"
        "lrt finetune --merge --from CHECKPOINT --out FILE\n\n"
        "Continues training a trained model (its checkpoint or run directory) on the data the flags give, e.g. the "
        "built-in corpus with another --data-seed. With --lora-rank 0 every tensor trains (full fine-tuning); with "
        "r > 0 only LoRA adapters do, y = x W0^T + (alpha/r) (x A^T) B^T beside each target matrix, A (r, fan_in) "
        "from N(0, 1/fan_in), B (fan_out, r) from 0, everything else frozen. --lora-init ga (LoRA-GA) instead takes "
        "A and B from the top singular vectors of each matrix's gradient on the first batch and shifts W0 by "
        "-(alpha/r) B A, so the output at step 0 is unchanged. The model and parameterization flags default to the "
        "checkpoint's; data, optimizer and schedule are this run's, from step 0 with a fresh optimizer. Writes what "
        "`lrt train` writes; adapters are saved as <matrix>.lora_A / .lora_B. --merge writes a plain checkpoint with "
        "(alpha/r) B A folded into each W0. See docs/lora.md.");
    declare_run_flags(flags, cfg, true);
    flags.section("Merging");
    flags.add("merge", &merge, "fold the adapters of --from into their matrices and write --out; no training");
    flags.add("out", &merge_out, "--merge: the plain checkpoint to write");
    if (!flags.parse(argc, argv, 2)) return 0;
    if (merge) {
        if (cfg.finetune.from.empty() || merge_out.empty()) fail("--merge needs --from CHECKPOINT and --out FILE");
        for (const std::string& name : flags.names())
            if (flags.was_set(name) && name != "merge" && name != "from" && name != "out")
                fail("--merge takes only --from and --out (it trains nothing); --" + name + " was given");
        merge_adapters(cfg.finetune.from, merge_out);
        std::printf("merged the adapters of %s into %s\n", checkpoint_file(cfg.finetune.from).c_str(),
                    merge_out.c_str());
        return 0;
    }
    if (flags.was_set("out")) fail("--out is for --merge; a fine-tuning run writes into --out-dir");
    apply_token_budget(cfg, flags);
    run_finetune(cfg, flags);
    return 0;
}

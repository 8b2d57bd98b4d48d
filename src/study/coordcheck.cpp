#include "study/coordcheck.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model/model.h"
#include "optim/optimizer.h"
#include "train/backend.h"
#include "train/step.h"
#include "io/svg.h"
#include "data/synth.h"
#include "util/util.h"

std::vector<std::string> coord_check_layers(int depth) {
    std::vector<std::string> names = {"embedding"};
    for (int l = 0; l < depth; l++) {
        std::string p = "h" + std::to_string(l) + ".";
        for (const char* part : {"attn.qkv", "attn.out", "attn.c_proj", "mlp.c_fc", "mlp.c_proj", "residual"})
            names.push_back(p + part);
    }
    names.push_back("logits");
    return names;
}

static double mean_abs(const std::vector<float>& x) {
    double s = 0;
    for (float v : x) s += std::fabs((double)v);
    return x.empty() ? 0 : s / (double)x.size();
}

// mean |x| of every recorded layer, in coord_check_layers order, from the
// activations of the last forward pass
static std::vector<double> layer_means(const GPT<float>& m) {
    std::vector<double> out = {mean_abs(m.encoded)};
    for (const auto& a : m.acts)
        for (const auto* x : {&a.qkv, &a.attn_out, &a.attn_proj, &a.fc, &a.fc_proj, &a.residual_out})
            out.push_back(mean_abs(*x));
    out.push_back(mean_abs(m.logits));
    return out;
}

std::vector<CoordCheckRow> run_coord_check(const CoordCheckConfig& cfg, const std::vector<std::string>& labels) {
    if (cfg.widths.empty()) fail("coordcheck: no widths given");
    if (cfg.params.empty()) fail("coordcheck: no parameterizations given");
    if (cfg.steps < 1 || cfg.seeds < 1) fail("coordcheck: --steps and --seeds must be at least 1");
    const int narrowest = *std::min_element(cfg.widths.begin(), cfg.widths.end());
    const int B = cfg.batch_size, T = cfg.seq_len, N = B * T;
    // one fixed batch from the built-in corpus: inputs and next-token targets
    std::vector<uint16_t> text = synth_generate(synth_train_seed((uint64_t)cfg.data_seed), (size_t)N + 4096);
    std::vector<int> inputs(N), targets(N);
    for (int i = 0; i < N; i++) {
        inputs[i] = text[i];
        targets[i] = text[i + 1];
    }
    const std::vector<std::string> layers = coord_check_layers(cfg.model.depth);
    // work per run ~ width^2, for the ETA
    double total_work = 0, done_work = 0;
    for (int w : cfg.widths) total_work += (double)w * w * cfg.seeds * cfg.params.size();
    const double t0 = wall_seconds();

    std::vector<CoordCheckRow> rows;
    for (size_t pi = 0; pi < cfg.params.size(); pi++) {
        ParamConfig pc = cfg.params[pi];
        if (pc.d_base == 0) pc.d_base = narrowest;
        const std::string label = pi < labels.size() ? labels[pi] : preset_name(pc.preset);
        for (int w : cfg.widths) {
            ModelFlags mf = cfg.model;
            mf.width = w;
            ModelConfig sizes = model_sizes(mf, T);
            std::vector<double> sums((size_t)(cfg.steps + 1) * layers.size(), 0.0);
            for (int seed = 0; seed < cfg.seeds; seed++) {
                // lrt train's step at a constant LR, without decay (a few
                // steps: decay plays no part in the check) or clipping
                OptimizerConfig optim;
                optim.lr = cfg.lr;
                optim.hidden = cfg.optimizer;
                optim.muon_scale = cfg.muon_scale;
                optim.weight_decay = 0;
                optim.grad_clip = 0;
                GPT<float> model;
                gpt_build_parameterized(model, sizes, with_head_dim_base(pc, mf), optim);
                gpt_init(model, (uint64_t)seed + 1);
                OptimizerState<float> state(model.table);
                CpuBackend<float> backend(model, state);
                auto record = [&](int step) {
                    std::vector<double> means = layer_means(model);
                    for (size_t li = 0; li < layers.size(); li++) sums[(size_t)step * layers.size() + li] += means[li];
                };
                int step = 0;
                StepHooks hooks;
                hooks.after_forward = [&] { record(step); };
                for (; step < cfg.steps; step++) {
                    StepPlan plan;
                    plan.step = step + 1;
                    training_step(backend, model.table, inputs.data(), targets.data(), B, T, plan, nullptr, &hooks);
                }
                backend.forward(inputs.data(), targets.data(), B, T);
                record(cfg.steps);
                done_work += (double)w * w;
                if (!cfg.quiet) {
                    double elapsed = wall_seconds() - t0;
                    std::printf("coordcheck: %-10s width %5d seed %d/%d | %3.0f%% | %s elapsed | ETA %s\n",
                                label.c_str(), w, seed + 1, cfg.seeds, 100 * done_work / total_work,
                                format_duration(elapsed).c_str(),
                                format_duration(elapsed / done_work * (total_work - done_work)).c_str());
                    std::fflush(stdout);
                }
            }
            for (int step = 0; step <= cfg.steps; step++)
                for (size_t li = 0; li < layers.size(); li++)
                    rows.push_back({label, w, step, layers[li], sums[(size_t)step * layers.size() + li] / cfg.seeds});
        }
    }
    return rows;
}

double coord_check_spread(const std::vector<CoordCheckRow>& rows, const std::string& param, int step,
                          const std::string& layer) {
    double lo = INFINITY, hi = 0;
    for (const auto& r : rows)
        if (r.param == param && r.step == step && r.layer == layer) {
            lo = std::min(lo, r.mean_abs);
            hi = std::max(hi, r.mean_abs);
        }
    if (lo == INFINITY) fail("coordcheck: no rows for " + param + " step " + std::to_string(step) + " layer " + layer);
    if (hi == 0) return 1;  // zero at every width (a zero-initialized readout at step 0): flat
    return hi / lo;         // inf if zero at some widths only; NaN if a run diverged
}

static std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> out;
    for (const std::string& item : split(text, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

// Writes the CSV: one row per (param, width, step, layer).
static std::string coord_check_csv(const std::vector<CoordCheckRow>& rows) {
    std::string s = "param,width,step,layer,mean_abs\n";
    char line[256];
    for (const auto& r : rows) {
        std::snprintf(line, sizeof line, "%s,%d,%d,%s,%.9g\n", r.param.c_str(), r.width, r.step, r.layer.c_str(),
                      r.mean_abs);
        s += line;
    }
    return s;
}

// One row of panels per parameterization, one panel per step, one line per layer.
static Figure coord_check_figure(const std::vector<CoordCheckRow>& rows, const std::vector<std::string>& params,
                                 int steps, const std::vector<std::string>& layers, double lr) {
    Figure fig;
    char title[200];
    std::snprintf(title, sizeof title, "Coordinate check: mean |activation| against width (Adam lr %g, one batch)", lr);
    fig.title = title;
    fig.columns = steps + 1;
    fig.panel_width = 300;
    fig.panel_height = 260;
    fig.shared_legend = true;
    for (const std::string& p : params) {
        for (int step = 0; step <= steps; step++) {
            Panel panel;
            panel.title = p + ", step " + std::to_string(step);
            panel.xlabel = "width";
            panel.ylabel = "mean |x|";
            panel.log_x = 2;
            panel.log_y = 10;
            for (const std::string& layer : layers) {
                Series s;
                s.label = layer;
                // the palette repeats after 10 colors: odd blocks get dashed lines
                s.dashed = layer.size() > 1 && layer[0] == 'h' && (std::atoi(layer.c_str() + 1) % 2 == 1);
                for (const auto& r : rows)
                    if (r.param == p && r.step == step && r.layer == layer) {
                        s.x.push_back(r.width);
                        s.y.push_back(r.mean_abs);
                    }
                panel.series.push_back(s);
            }
            fig.panels.push_back(panel);
        }
    }
    return fig;
}

int coordcheck_command(int argc, char** argv) {
    CoordCheckConfig cfg;
    cfg.model.depth = 2;
    ParamConfig overrides;
    // µP keeps the readout's init constant and multiplies it by 1/m, so at
    // init the logits shrink like 1/sqrt(m): correct, but it hides whether the
    // *updates* are width-independent, which is what the check is for. A zero
    // readout (common µP practice) removes that term.
    overrides.zero_init_readout = true;
    std::string widths = "64,128,256,512,1024", params = "sp,mup", out_dir = "runs/coordcheck";
    int threads = 0;
    FlagSet f("coordcheck",
              "lrt coordcheck [flags]\n\n"
              "The µP coordinate check: trains each width a few optimizer steps (AdamW, or --optimizer muon|sgd\n"
              "for the hidden matrices) on one fixed batch at a large LR and\n"
              "records the mean |activation| of every layer's output. Writes <out-dir>/coordcheck.csv and\n"
              "<out-dir>/coordcheck.svg (log-log, one panel per step, one line per layer) and prints, per step,\n"
              "the spread max/min over widths. Flat lines (spread near 1) mean the parameterization is right.");
    declare_model_flags(f, cfg.model, false);
    declare_param_flags(f, overrides, true);
    f.section("Coordinate check");
    f.add("params", &params, "comma-separated presets to compare (each gets the overrides above)");
    f.add("widths", &widths, "comma-separated widths; the narrowest is the base width unless --d-base is given");
    f.add("steps", &cfg.steps, "optimizer steps (activations recorded at steps 0..steps)", between(1, 100));
    f.add("lr", &cfg.lr, "learning rate of every tensor (large, so that one step matters)", positive());
    f.add("optimizer", &cfg.optimizer, "optimizer of the hidden matrices (the rest: AdamW)",
          {{"adamw", OptimizerKind::AdamW}, {"muon", OptimizerKind::Muon}, {"sgd", OptimizerKind::SGD}});
    f.add("muon-scale", &cfg.muon_scale, "Muon's update factor (as lrt train's --muon-scale)",
          {{"keller", MuonScale::Keller}, {"moonlight", MuonScale::Moonlight}, {"spectral", MuonScale::Spectral},
           {"none", MuonScale::None}});
    f.add("batch-size", &cfg.batch_size, "sequences in the fixed batch", at_least(1));
    f.add("seq-len", &cfg.seq_len, "tokens per sequence", at_least(1));
    f.add("seeds", &cfg.seeds, "initializations averaged per point", between(1, 100));
    f.add("data-seed", &cfg.data_seed, "seed of the built-in corpus the batch comes from", at_least(0));
    f.add("out-dir", &out_dir, "where coordcheck.csv and coordcheck.svg go");
    f.add("threads", &threads, "OpenMP threads; 0 = all cores", between(0, 256));
    f.add("quiet", &cfg.quiet, "print only the summary");
    if (!f.parse(argc, argv, 2)) return 0;
    check_model_flags(f, cfg.model);
    if (out_dir.empty()) fail("--out-dir must not be empty");
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
#endif
    for (int64_t w : parse_int_list(widths, "--widths", 1, 1 << 16)) cfg.widths.push_back((int)w);
    std::vector<std::string> names = split_list(params);
    if (names.empty()) fail("--params is empty");
    for (const std::string& n : names) {
        ParamConfig p = overrides;
        try {
            p.preset = parse_preset(n);
        } catch (const std::exception& e) {
            fail(std::string("--params: ") + e.what());
        }
        cfg.params.push_back(p);
    }
    for (int w : cfg.widths) model_sizes([&] { ModelFlags m = cfg.model; m.width = w; return m; }(), cfg.seq_len);

    std::vector<CoordCheckRow> rows = run_coord_check(cfg, names);
    make_dirs(out_dir);
    const std::string csv = out_dir + "/coordcheck.csv", svg = out_dir + "/coordcheck.svg";
    write_file_atomic(csv, coord_check_csv(rows));
    std::vector<std::string> layers = coord_check_layers(cfg.model.depth);
    write_svg(svg, coord_check_figure(rows, names, cfg.steps, layers, cfg.lr));

    // summary: the largest spread over the hidden and output layers, per step
    std::printf("\nspread = max/min over widths %s of mean |x| (1 = flat); worst layer per step:\n", widths.c_str());
    std::printf("%-12s", "param");
    for (int step = 0; step <= cfg.steps; step++) std::printf("   step %-17d", step);
    std::printf("\n");
    for (const std::string& n : names) {
        std::printf("%-12s", n.c_str());
        for (int step = 0; step <= cfg.steps; step++) {
            double worst = 0;
            std::string where, diverged;
            for (const std::string& layer : layers) {
                if (layer == "embedding") continue;
                double s = coord_check_spread(rows, n, step, layer);
                if (std::isnan(s) && diverged.empty()) diverged = layer;
                if (s > worst) worst = s, where = layer;
            }
            char cell[64];
            if (!diverged.empty()) std::snprintf(cell, sizeof cell, "diverged (%s)", diverged.c_str());
            else std::snprintf(cell, sizeof cell, "%.2f (%s)", worst, where.c_str());
            std::printf("   %-22s", cell);
        }
        std::printf("\n");
    }
    std::printf("wrote %s and %s\n", csv.c_str(), svg.c_str());
    return 0;
}

#include "optim/optimizer_config.h"

#include <cstdio>

#include "util/flags.h"

const char* optimizer_name(OptimizerKind kind) {
    switch (kind) {
        case OptimizerKind::AdamW: return "adamw";
        case OptimizerKind::Muon: return "muon";
        case OptimizerKind::SGD: return "sgd";
    }
    return "?";
}

const char* decay_norm_name(DecayNorm norm) { return norm == DecayNorm::Spectral ? "spectral" : "frobenius"; }

const char* ns_coefficients_name(NSCoefficients c) { return c == NSCoefficients::Classic ? "classic" : "quintic"; }

const char* muon_scale_name(MuonScale scale) {
    switch (scale) {
        case MuonScale::Keller: return "keller";
        case MuonScale::Moonlight: return "moonlight";
        case MuonScale::Spectral: return "spectral";
        case MuonScale::None: return "none";
    }
    return "?";
}

void declare_optimizer_flags(FlagSet& f, OptimizerConfig& c, bool with_clip, const std::string& lr_help) {
    f.add("optimizer", &c.hidden,
          "optimizer of the hidden matrices; embeddings, readout, gains and biases always use AdamW",
          {{"adamw", OptimizerKind::AdamW}, {"muon", OptimizerKind::Muon}, {"sgd", OptimizerKind::SGD}});
    f.add("lr", &c.lr, lr_help + " of the hidden matrices (of every tensor when --adam-lr is 0)", positive());
    f.add("adam-lr", &c.adam_lr, "LR of the tensors that always use AdamW (embeddings, readout, gains, biases); 0 = --lr",
          at_least(0));
    f.add("beta1", &c.beta1, "Adam beta1", between(0, 0.999999));
    f.add("beta2", &c.beta2, "Adam beta2", between(0, 0.999999));
    f.add("eps", &c.eps, "Adam epsilon (added outside the square root)", at_least(0));
    f.add("weight-decay", &c.weight_decay,
          "weight decay lambda (wd); how it applies: --wd-mode and --wd-set below", at_least(0));
    if (with_clip) f.add("grad-clip", &c.grad_clip, "clip the global gradient norm to this; 0 = off", at_least(0));
    f.add("wd-norm", &c.wd_norm,
          "norm that decay shrinks on matrices: frobenius (p *= 1 - d) or spectral (p -= d sigma1 u1 v1^T)",
          {{"frobenius", DecayNorm::Frobenius}, {"spectral", DecayNorm::Spectral}});
    f.add("spectral-iters", &c.spectral_iters,
          "spectral decay: power iterations per step, warm-started (10 from all-ones at the first)", between(1, 1000));
    f.add("muon-momentum", &c.muon_momentum, "Muon: momentum beta (M = beta M + G)", between(0, 0.999999));
    f.add("muon-nesterov", &c.muon_nesterov, "Muon: Nesterov momentum (orthogonalize beta M + G)");
    f.add("muon-ns-steps", &c.muon_ns_steps, "Muon: Newton-Schulz iterations", between(1, 100));
    f.add("muon-coefficients", &c.muon_coefficients,
          "Muon: Newton-Schulz (a,b,c): quintic (3.4445,-4.7750,2.0315) or classic (15/8,-5/4,3/8)",
          {{"quintic", NSCoefficients::Quintic}, {"classic", NSCoefficients::Classic}});
    f.add("muon-scale", &c.muon_scale,
          "Muon update factor: keller sqrt(max(1,out/in)), moonlight 0.2 sqrt(max(out,in)), spectral sqrt(out/in), "
          "none 1",
          {{"keller", MuonScale::Keller}, {"moonlight", MuonScale::Moonlight}, {"spectral", MuonScale::Spectral},
           {"none", MuonScale::None}});
    f.add("sgd-momentum", &c.sgd_momentum, "SGD: momentum (buf = mu buf + g)", between(0, 0.999999));
    f.add("sgd-nesterov", &c.sgd_nesterov, "SGD: Nesterov momentum (step along g + mu buf)");
}

std::string describe_optimizer(const OptimizerConfig& c) {
    char buf[400];
    std::string hidden;
    switch (c.hidden) {
        case OptimizerKind::AdamW: hidden = "AdamW"; break;
        case OptimizerKind::Muon:
            std::snprintf(buf, sizeof buf, "Muon (momentum %g%s, %d Newton-Schulz steps, %s coefficients, %s scale)",
                          c.muon_momentum, c.muon_nesterov ? " Nesterov" : "", c.muon_ns_steps,
                          ns_coefficients_name(c.muon_coefficients), muon_scale_name(c.muon_scale));
            hidden = buf;
            break;
        case OptimizerKind::SGD:
            std::snprintf(buf, sizeof buf, "SGD (momentum %g%s)", c.sgd_momentum, c.sgd_nesterov ? " Nesterov" : "");
            hidden = buf;
            break;
    }
    std::snprintf(buf, sizeof buf, "optimizer: hidden matrices %s at lr=%g; AdamW for the rest at lr=%g beta1=%g "
                  "beta2=%g eps=%g; weight_decay=%g (%s norm on matrices%s) clip=%g\n",
                  hidden.c_str(), c.lr, c.resolved_adam_lr(), c.beta1, c.beta2, c.eps, c.weight_decay,
                  decay_norm_name(c.wd_norm),
                  c.wd_norm == DecayNorm::Spectral ? (", " + std::to_string(c.spectral_iters) + " power iteration(s)/step").c_str() : "",
                  c.grad_clip);
    return buf;
}

// The GPU options that the program parses whether or not this build has the
// CUDA path (compiled by g++ in every build).
#include "gpu.h"
#include "util/util.h"

namespace gpu {

Precision parse_precision(const std::string& name) {
    if (name == "fp32") return Precision::FP32;
    if (name == "tf32") return Precision::TF32;
    if (name == "bf16") return Precision::BF16;
    fail("unknown precision '" + name + "' (expected fp32, tf32 or bf16)");
}

const char* precision_name(Precision p) {
    switch (p) {
        case Precision::FP32: return "fp32";
        case Precision::TF32: return "tf32";
        case Precision::BF16: return "bf16";
    }
    return "?";
}

}  // namespace gpu

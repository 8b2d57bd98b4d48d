// Where a training step's time goes, by kind of layer: wall seconds summed
// over every call while profiling is on (make bench turns it on; training
// leaves it off, and then a layer pays one branch). Not thread-safe on
// purpose: the layers are called from the main thread, and their own
// threads run inside the call being timed.
#pragma once

enum class LayerKind { Matmul, Attention, LayerNorm, Gelu, Loss, Elementwise, Count };
const char* layer_kind_name(LayerKind kind);

struct LayerProfile {
    bool enabled = false;
    double seconds[(int)LayerKind::Count] = {};
    void reset() {
        for (double& s : seconds) s = 0;
    }
};
extern LayerProfile g_layer_profile;

// Adds the time from construction to destruction to `kind`, when enabled.
class LayerTimer {
public:
    explicit LayerTimer(LayerKind kind);
    ~LayerTimer();
    LayerTimer(const LayerTimer&) = delete;
    LayerTimer& operator=(const LayerTimer&) = delete;

private:
    LayerKind kind_;
    double start_ = -1;
};

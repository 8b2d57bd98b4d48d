// The emulation build finds this instead of the CUDA Toolkit's cuda_runtime.h (see ../cuda_emulation.h).
#pragma once
#include "../cuda_emulation.h"

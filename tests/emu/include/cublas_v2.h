// The emulation build finds this instead of the CUDA Toolkit's cublas_v2.h (see ../cuda_emulation.h).
#pragma once
#include "../cuda_emulation.h"

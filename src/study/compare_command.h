// `lrt compare REFERENCE THEIRS`: two safetensors files held against each
// other tensor by tensor (study/compare.h), one line per tensor and a
// summary; exit status 0 only when every tensor passed and none is missing.
#pragma once

int compare_command(int argc, char** argv);

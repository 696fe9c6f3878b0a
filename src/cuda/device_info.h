// What the CUDA backend sees: device count and names. Usable from builds without CUDA, where
// it reports that the backend was not built.
#pragma once

#include <string>
#include <vector>

namespace a48::cuda {

bool backend_built();
// One line per visible device ("NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 79.1 GiB"); empty when none.
std::vector<std::string> describe_devices();

}  // namespace a48::cuda

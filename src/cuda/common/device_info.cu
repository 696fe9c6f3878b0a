#include <cuda_runtime.h>
#include <fmt/format.h>

#include "cuda/device_info.h"

namespace a48::cuda {

bool backend_built() { return true; }

std::vector<std::string> describe_devices() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // no driver or no device: clear the sticky error, report none
    return {};
  }
  std::vector<std::string> lines;
  for (int device = 0; device < count; ++device) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) continue;
    lines.push_back(fmt::format("{}, sm_{}{}, {} SMs, {:.1f} GiB", prop.name, prop.major, prop.minor,
                                prop.multiProcessorCount,
                                static_cast<double>(prop.totalGlobalMem) / (1 << 30)));
  }
  return lines;
}

}  // namespace a48::cuda

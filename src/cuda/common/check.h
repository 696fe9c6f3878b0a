// Error checks for the CUDA runtime and cuBLASLt: a failed call throws a48::Error naming the call,
// the file:line and the library's error string. Host code only (includable from plain C++ too).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "core/error.h"

namespace a48::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t error, const char* call, const char* file,
                                          int line) {
  fail("{}:{}: {} failed: {} ({})", file, line, call, cudaGetErrorName(error),
       cudaGetErrorString(error));
}

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* call,
                                            const char* file, int line) {
  fail("{}:{}: {} failed: {} ({})", file, line, call, cublasLtGetStatusName(status),
       cublasLtGetStatusString(status));
}

}  // namespace a48::cuda

#define CUDA_CHECK(call)                                                       \
  do {                                                                         \
    const cudaError_t a48_cuda_error_ = (call);                                \
    if (a48_cuda_error_ != cudaSuccess)                                        \
      ::a48::cuda::throw_cuda_error(a48_cuda_error_, #call, __FILE__, __LINE__); \
  } while (0)

#define CUBLAS_CHECK(call)                                                         \
  do {                                                                             \
    const cublasStatus_t a48_cublas_status_ = (call);                              \
    if (a48_cublas_status_ != CUBLAS_STATUS_SUCCESS)                               \
      ::a48::cuda::throw_cublas_error(a48_cublas_status_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, at the launch site.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

// Data parallelism over NCCL (one process per GPU): gradient reduce-scatter, ZeRO-1 sharded
// optimizer state, parameter all-gather. NCCL moves every byte; a48 only bootstraps the
// communicator: rank 0 writes ncclGetUniqueId's bytes to a file that the other ranks read.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdint>
#include <filesystem>

namespace a48::cuda {

// The slice of a flat buffer of `total` floats that `rank` of `world` owns under ZeRO-1:
// shards of ceil(total / world) floats; the last may be shorter (or empty).
struct Shard {
  int64_t offset = 0, count = 0, padded_size = 0;  // padded_size = world * ceil(total / world)
};
Shard shard_of(int64_t total, int rank, int world);

class NcclGroup {
 public:
  // Blocks until every rank has joined (up to timeout_s). `id_file` must be the same path for all
  // ranks of a run and must not exist before rank 0 starts.
  NcclGroup(int rank, int world, const std::filesystem::path& id_file, double timeout_s = 120);
  ~NcclGroup();
  NcclGroup(const NcclGroup&) = delete;
  NcclGroup& operator=(const NcclGroup&) = delete;

  int rank() const { return rank_; }
  int world() const { return world_; }

  // In place: data[i] = sum over ranks (count floats).
  void all_reduce_sum(float* data, int64_t count, cudaStream_t stream);
  void all_reduce_sum(double* data, int64_t count, cudaStream_t stream);
  // Sum of one host value over ranks (e.g. the loss for the log); synchronises `stream`.
  double all_reduce_sum_host(double value, cudaStream_t stream);
  // buffer: [world * shard] floats; afterwards this rank's shard (at rank * shard) holds the sum
  // over ranks of that shard.
  void reduce_scatter_sum(float* buffer, int64_t shard, cudaStream_t stream);
  // buffer: [world * shard]; each rank's shard is gathered into every rank's buffer.
  void all_gather(float* buffer, int64_t shard, cudaStream_t stream);
  // buffer: [total]; every rank's shard_of(total, r, world) slice is broadcast from rank r, so a
  // buffer of any length (no padding) ends up whole on every rank.
  void all_gather_shards(float* buffer, int64_t total, cudaStream_t stream);

 private:
  int rank_, world_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace a48::cuda

#include "cuda/train/nccl_group.h"

#include <chrono>
#include <fstream>
#include <thread>

#include "core/error.h"

namespace a48::cuda {
namespace {

void nccl_check(ncclResult_t result, const char* what) {
  if (result != ncclSuccess) fail("NCCL {} failed: {}", what, ncclGetErrorString(result));
}

}  // namespace

Shard shard_of(int64_t total, int rank, int world) {
  check(world >= 1 && rank >= 0 && rank < world, "bad rank {} of world {}", rank, world);
  const int64_t per_rank = (total + world - 1) / world;
  Shard shard;
  shard.padded_size = per_rank * world;
  shard.offset = per_rank * rank;
  shard.count = std::max<int64_t>(0, std::min(total, shard.offset + per_rank) - shard.offset);
  return shard;
}

NcclGroup::NcclGroup(int rank, int world, const std::filesystem::path& id_file, double timeout_s)
    : rank_(rank), world_(world) {
  check(world >= 1 && rank >= 0 && rank < world, "bad rank {} of world {}", rank, world);
  ncclUniqueId id{};
  if (rank == 0) {
    nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    // Write then rename, so a reader never sees a partial id.
    const std::filesystem::path temp = id_file.string() + ".tmp";
    {
      std::ofstream out(temp, std::ios::binary);
      out.write(id.internal, sizeof(id.internal));
      check(out.good(), "cannot write {}", temp.string());
    }
    std::filesystem::rename(temp, id_file);
  } else {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (!std::filesystem::exists(id_file)) {
      check(std::chrono::steady_clock::now() < deadline,
            "rank {}: timed out waiting for rank 0's NCCL id at {}", rank, id_file.string());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::ifstream in(id_file, std::ios::binary);
    in.read(id.internal, sizeof(id.internal));
    check(in.gcount() == sizeof(id.internal), "{} is truncated", id_file.string());
  }
  nccl_check(ncclCommInitRank(&comm_, world, id, rank), "ncclCommInitRank");
}

NcclGroup::~NcclGroup() {
  if (comm_) ncclCommDestroy(comm_);
}

void NcclGroup::all_reduce_sum(float* data, int64_t count, cudaStream_t stream) {
  nccl_check(ncclAllReduce(data, data, static_cast<size_t>(count), ncclFloat32, ncclSum, comm_,
                           stream),
             "ncclAllReduce");
}

void NcclGroup::all_reduce_sum(double* data, int64_t count, cudaStream_t stream) {
  nccl_check(ncclAllReduce(data, data, static_cast<size_t>(count), ncclFloat64, ncclSum, comm_,
                           stream),
             "ncclAllReduce");
}

double NcclGroup::all_reduce_sum_host(double value, cudaStream_t stream) {
  double* device = nullptr;
  check(cudaMallocAsync(&device, sizeof(double), stream) == cudaSuccess, "cudaMallocAsync failed");
  check(cudaMemcpyAsync(device, &value, sizeof(double), cudaMemcpyHostToDevice, stream) == cudaSuccess,
        "cudaMemcpyAsync failed");
  all_reduce_sum(device, 1, stream);
  check(cudaMemcpyAsync(&value, device, sizeof(double), cudaMemcpyDeviceToHost, stream) == cudaSuccess,
        "cudaMemcpyAsync failed");
  check(cudaFreeAsync(device, stream) == cudaSuccess && cudaStreamSynchronize(stream) == cudaSuccess,
        "stream failed");
  return value;
}

void NcclGroup::reduce_scatter_sum(float* buffer, int64_t shard, cudaStream_t stream) {
  // In-place reduce-scatter: NCCL's receive buffer is the rank's own slice of the send buffer.
  nccl_check(ncclReduceScatter(buffer, buffer + rank_ * shard, static_cast<size_t>(shard),
                               ncclFloat32, ncclSum, comm_, stream),
             "ncclReduceScatter");
}

void NcclGroup::all_gather(float* buffer, int64_t shard, cudaStream_t stream) {
  nccl_check(ncclAllGather(buffer + rank_ * shard, buffer, static_cast<size_t>(shard), ncclFloat32,
                           comm_, stream),
             "ncclAllGather");
}

void NcclGroup::all_gather_shards(float* buffer, int64_t total, cudaStream_t stream) {
  nccl_check(ncclGroupStart(), "ncclGroupStart");
  for (int root = 0; root < world_; ++root) {
    const Shard shard = shard_of(total, root, world_);
    if (shard.count == 0) continue;
    nccl_check(ncclBroadcast(buffer + shard.offset, buffer + shard.offset,
                             static_cast<size_t>(shard.count), ncclFloat32, root, comm_, stream),
               "ncclBroadcast");
  }
  nccl_check(ncclGroupEnd(), "ncclGroupEnd");
}

}  // namespace a48::cuda

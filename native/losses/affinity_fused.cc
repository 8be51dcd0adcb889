#include "losses/affinity_fused.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <utility>
#include <vector>

#include "losses/affinity.h"

namespace kds {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using Range = PixelRange;

// What a sweep works on: one image (2-D, the CPU sweep) or the whole batch (3-D, the device sweep).
// z = [s ; t] stacks the normalised student and teacher pixels along channels, and zSigned = [s ; -t]
// is the same with the teacher negated, so one GEMM gives a tile of the affinity difference:
// D[I, J] = zSigned_I^T z_J = s_I^T s_J - t_I^T t_J. The transposed operand is a strided view that BLAS
// reads as it is (measured as fast as a transposed copy per row block, and the copy cost 4% of a sweep).
struct Operands {
  torch::Tensor z;        // [B x] (Cs + Ct) x N
  torch::Tensor zSigned;  // [B x] (Cs + Ct) x N
  torch::Tensor grad;     // [B x] Cs x N: accumulates sum_q sign(D[p, q]) s_q; undefined: no gradient wanted
  int64_t cs;
  torch::Tensor student() const { return z.narrow(-2, 0, cs); }
};

torch::Tensor cols(const torch::Tensor& m, Range r) { return m.narrow(-1, r.begin, r.size); }

// out = a b, or out += a b, for matrices (2-D) or batches of them (3-D).
void gemm(torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b, bool accumulate) {
  const bool matrices = a.dim() == 2;
  if (!accumulate)
    matrices ? at::mm_out(out, a, b) : at::bmm_out(out, a, b);
  else
    matrices ? out.addmm_(a, b) : out.baddbmm_(a, b);
}

// sum |x| over a contiguous tile and, with Sign, x = sign(x) in place, in one pass over memory (three
// ATen calls would sweep a tile that does not fit in L2 three times). Lanes of T per row, vectorised by
// the compiler, then added to a double per row: a float tile of 2048-wide rows sums at most 128 values
// per lane before they reach double precision.
template <typename T, bool Sign>
double absSumAndSign(T* data, int64_t rows, int64_t width) {
  constexpr int64_t kLanes = 16;
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    T* row = data + r * width;
    T lanes[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= width; i += kLanes)
      for (int64_t k = 0; k < kLanes; ++k) {
        const T x = row[i + k];
        lanes[k] += std::abs(x);
        if constexpr (Sign) row[i + k] = static_cast<T>((x > T(0)) - (x < T(0)));
      }
    T rest = 0;
    for (; i < width; ++i) {
      const T x = row[i];
      rest += std::abs(x);
      if constexpr (Sign) row[i] = static_cast<T>((x > T(0)) - (x < T(0)));
    }
    double sum = rest;
    for (int64_t k = 0; k < kLanes; ++k) sum += lanes[k];
    total += sum;
  }
  return total;
}

// sum |d| of a contiguous CPU tile, float or double, and with `sign` d = sign(d), in one pass.
double absSumAndSignCpu(torch::Tensor& d, bool sign) {
  const int64_t rows = d.size(0), width = d.size(1);
  if (d.scalar_type() == at::kDouble)
    return sign ? absSumAndSign<double, true>(d.data_ptr<double>(), rows, width) : absSumAndSign<double, false>(d.data_ptr<double>(), rows, width);
  TORCH_CHECK(d.scalar_type() == at::kFloat, "the fused SA loss computes in float or double, got ", d.scalar_type());
  return sign ? absSumAndSign<float, true>(d.data_ptr<float>(), rows, width) : absSumAndSign<float, false>(d.data_ptr<float>(), rows, width);
}

// With a gradient wanted (d holds sign(D_IJ)): adds s_J sign(D_IJ)^T to grad_I and, off the diagonal,
// s_I sign(D_IJ) to grad_J.
void addSignGradients(const Operands& op, const TileJob& job, const torch::Tensor& d) {
  const auto s = op.student();
  auto gI = cols(op.grad, job.I);
  gemm(gI, cols(s, job.J), d.transpose(-2, -1), true);
  if (job.weight == 2) {
    auto gJ = cols(op.grad, job.J);
    gemm(gJ, cols(s, job.I), d, true);
  }
}

// D_IJ = zSigned_I^T z_J into `d`.
void differenceTile(const Operands& op, const TileJob& job, torch::Tensor& d) {
  gemm(d, cols(op.zSigned, job.I).transpose(-2, -1), cols(op.z, job.J), false);
}

// One job on the CPU: D_IJ into the contiguous tile `d`; returns sum |D_IJ|. The sign overwrites d in place
// in the same pass: no second tile-sized buffer.
double tileJobCpu(const Operands& op, const TileJob& job, torch::Tensor& d) {
  differenceTile(op, job, d);
  const double l1 = absSumAndSignCpu(d, op.grad.defined());
  if (op.grad.defined()) addSignGradients(op, job, d);
  return l1;
}

// The same for a batch of tiles on another device (CUDA): sum |D_IJ| as a 0-dim tensor, nothing read back.
torch::Tensor tileJobBatched(const Operands& op, const TileJob& job, torch::Tensor& d) {
  differenceTile(op, job, d);
  auto l1 = d.abs().sum();
  if (op.grad.defined()) {
    d.sign_();
    addSignGradients(op, job, d);
  }
  return l1;
}

struct Sweep {
  torch::Tensor l1;    // 0-dim double: sum over all B * N * N entries of |D|
  torch::Tensor grad;  // B x Cs x N: sum_q sign(D[p, q]) s_q; undefined when no gradient is wanted
};

// A rows x cols matrix view of a flat workspace: contiguous whatever the shape, so GEMMs write it with a
// tight leading dimension.
torch::Tensor matrixView(const torch::Tensor& workspace, int64_t rows, int64_t cols) {
  return workspace.narrow(0, 0, rows * cols).view({rows, cols});
}

// The divisor |t| + eps, [B x] 1 x N, of the raw teacher t ([B x] Ct x N). sqrt(sum of squares):
// ATen's norm over a non-innermost dim is a scalar loop, 4x slower here.
torch::Tensor teacherDivisor(const torch::Tensor& t, double eps) { return t.square().sum(-2, /*keepdim=*/true).sqrt_().add_(eps); }

// z = [s ; t / (|t| + eps)] and zSigned = [s ; -t / (|t| + eps)] for one image (2-D) or a batch (3-D):
// the teacher is normalised straight into its slices.
void stackInto(torch::Tensor& z, torch::Tensor& zSigned, const torch::Tensor& s, const torch::Tensor& t, const torch::Tensor& divisor) {
  const int64_t cs = s.size(-2), ct = t.size(-2);
  z.narrow(-2, 0, cs).copy_(s);
  zSigned.narrow(-2, 0, cs).copy_(s);
  auto teacherPart = z.narrow(-2, cs, ct);
  at::div_out(teacherPart, t, divisor);
  auto signedTeacherPart = zSigned.narrow(-2, cs, ct);
  at::neg_out(signedTeacherPart, teacherPart);
}

// One thread's buffers for the CPU sweep, allocated once per call by the calling thread (so glibc returns
// them to that thread's arena, not to one arena per OpenMP worker).
struct Workspace {
  torch::Tensor tile, z, zSigned;
};

// CPU: the (image, job) items are split among the intra-op threads in contiguous chunks; each thread runs
// one GEMM per item on a tile that stays in its core's cache, with single-threaded ATen calls (we are
// inside parallel_for). A thread stacks z for one image at a time, so memory grows with the threads, not
// the batch. A chunk writes the gradient of the images it covers whole in place, and of the (at most two)
// images it shares with its neighbours into private buffers, added afterwards. Deterministic for a given
// thread count: per-item sums are added in item order, private buffers in chunk order.
Sweep sweepImages(const torch::Tensor& s, const torch::Tensor& t, double eps, TileShape tiles, bool wantGrad) {
  const int64_t batch = s.size(0), cs = s.size(1), channels = cs + t.size(1), n = s.size(2);
  const auto jobs = upperTriangleJobs(n, tiles);
  const int64_t perImage = static_cast<int64_t>(jobs.size());
  std::vector<double> sums(static_cast<size_t>(batch * perImage));
  Sweep out{torch::Tensor(), wantGrad ? torch::zeros({batch, cs, n}, s.options()) : torch::Tensor()};
  struct SharedImage {
    int64_t chunkBegin, image;
    torch::Tensor grad;
  };
  std::mutex sharedMutex;
  std::vector<SharedImage> shared;
  auto divisor = torch::empty({batch, 1, n}, s.options());
  for (int64_t b = 0; b < batch; ++b) divisor[b].copy_(teacherDivisor(t[b], eps));  // one image's temporary at a time
  std::vector<Workspace> workspaces(static_cast<size_t>(std::max(1, at::get_num_threads())));
  const int64_t tileSize = tiles.rows * std::max(tiles.rows, tiles.cols);
  for (auto& w : workspaces)
    w = {torch::empty({tileSize}, s.options()), torch::empty({channels, n}, s.options()), torch::empty({channels, n}, s.options())};

  at::parallel_for(0, batch * perImage, 1, [&](int64_t begin, int64_t end) {
    torch::NoGradGuard noGrad;  // grad mode is per thread; OpenMP's workers start with it on
    Workspace& ws = workspaces.at(static_cast<size_t>(at::get_thread_num()));
    std::vector<SharedImage> mine;
    auto gradOf = [&](int64_t b) -> torch::Tensor {
      if (!wantGrad) return {};
      if (b * perImage >= begin && (b + 1) * perImage <= end) return out.grad[b];
      if (mine.empty() || mine.back().image != b) mine.push_back({begin, b, torch::zeros({cs, n}, s.options())});
      return mine.back().grad;
    };
    int64_t image = -1;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / perImage;
      const TileJob& job = jobs[static_cast<size_t>(item % perImage)];
      if (b != image) {
        stackInto(ws.z, ws.zSigned, s[b], t[b], divisor[b]);
        image = b;
      }
      const Operands op{ws.z, ws.zSigned, gradOf(b), cs};
      auto d = matrixView(ws.tile, job.I.size, job.J.size);
      sums[static_cast<size_t>(item)] = job.weight * tileJobCpu(op, job, d);
    }
    std::lock_guard<std::mutex> lock(sharedMutex);
    for (auto& part : mine) shared.push_back(std::move(part));
  });

  double total = 0;
  for (double sum : sums) total += sum;
  out.l1 = torch::scalar_tensor(total, s.options().dtype(torch::kDouble));
  std::sort(shared.begin(), shared.end(), [](const auto& a, const auto& b) { return a.chunkBegin < b.chunkBegin; });
  for (auto& part : shared) out.grad[part.image].add_(part.grad);
  return out;
}

// Other devices (CUDA): z for the whole batch, one batched GEMM per job; nothing leaves the device.
Sweep sweepBatched(const torch::Tensor& s, const torch::Tensor& t, double eps, TileShape tiles, bool wantGrad) {
  const int64_t batch = s.size(0), cs = s.size(1), channels = cs + t.size(1), n = s.size(2);
  auto z = torch::empty({batch, channels, n}, s.options());
  auto zSigned = torch::empty_like(z);
  stackInto(z, zSigned, s, t, teacherDivisor(t, eps));
  Sweep out{torch::zeros({}, z.options().dtype(torch::kDouble)),
            wantGrad ? torch::zeros({batch, cs, n}, z.options()) : torch::Tensor()};
  const Operands op{z, zSigned, out.grad, cs};
  for (const TileJob& job : upperTriangleJobs(n, tiles)) {
    auto d = torch::empty({batch, job.I.size, job.J.size}, z.options());
    out.l1.add_(tileJobBatched(op, job, d), job.weight);
  }
  return out;
}

// L = sum |D| / (B N^2) over all pixel pairs; dL/ds_p = 2 / (B N^2) sum_q sign(D[p, q]) s_q (D symmetric).
// The gradient is accumulated during the forward sweep, while each sign tile is still in cache, so
// nothing of size N x N is kept or recomputed; backward only scales it. The teacher gets no gradient.
struct AffinityL1 : public torch::autograd::Function<AffinityL1> {
  // s: normalised student pixels, B x Cs x N; teacher: raw teacher features, B x Ct x H x W.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& s, const torch::Tensor& teacher, double eps,
                               int64_t tileRows, int64_t tileCols, bool wantGrad) {
    const int64_t batch = s.size(0), n = s.size(2);
    const auto t = teacher.flatten(2).to(s.scalar_type());
    const auto student = s.detach();  // the sweep is plain arithmetic; its gradient is our own
    const TileShape tiles{tileRows, tileCols};
    Sweep sweep = s.is_cpu() ? sweepImages(student, t, eps, tiles, wantGrad) : sweepBatched(student, t, eps, tiles, wantGrad);
    const double scale = 1.0 / (static_cast<double>(batch) * static_cast<double>(n) * static_cast<double>(n));
    if (wantGrad) ctx->saved_data["grad"] = sweep.grad.mul_(2.0 * scale);
    return sweep.l1.mul(scale).to(s.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
    auto grad = ctx->saved_data["grad"].toTensor();
    return {grad * gradOutputs[0], torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

int64_t roundUp(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

// Splits `pixels` into ceil(pixels / maxSize) nearly equal blocks; returns the block size.
int64_t balancedBlock(int64_t pixels, int64_t maxSize, int64_t multiple) {
  const int64_t count = (pixels + maxSize - 1) / maxSize;
  return std::min(pixels, roundUp((pixels + count - 1) / count, multiple));
}

}  // namespace

// For each block of `rows` rows: the square diagonal block (counted once) and the columns to its right in
// chunks of `cols` (counted twice, for their mirror image). Only the diagonal blocks' lower halves are
// computed in vain: a fraction rows / N of the work.
std::vector<TileJob> upperTriangleJobs(int64_t n, TileShape tiles) {
  std::vector<TileJob> jobs;
  for (int64_t i0 = 0; i0 < n; i0 += tiles.rows) {
    const Range I{i0, std::min(tiles.rows, n - i0)};
    jobs.push_back({I, I, 1});
    for (int64_t j0 = i0 + I.size; j0 < n; j0 += tiles.cols) jobs.push_back({I, Range{j0, std::min(tiles.cols, n - j0)}, 2});
  }
  return jobs;
}

TileShape chooseAffinityTiles(int64_t batch, int64_t pixels, int64_t elementSize, const torch::Device& device) {
  if (device.is_cpu()) {
    // Rows 256, columns up to 2048 (float; 1024 for double): on the 2-core Xeon with AVX-512 that we tuned
    // on, tiles from 128 x 1024 to 384 x 2304 ran within measurement noise of each other, and fewer rows
    // (64) were 20-30% slower (narrow GEMMs). The wasted lower half of the diagonal blocks is rows / N.
    const int64_t rows = balancedBlock(pixels, 256, 16);
    const int64_t maxCols = std::max<int64_t>(rows, elementSize <= 4 ? 2048 : 1024);
    return {rows, balancedBlock(pixels, maxCols, 16)};
  }
  // GPU: a batched tile of at most ~512 MB, as wide as that allows. 512 rows: measured on an H200, 256
  // rows were 10-40% slower; 1024 rows were up to 20% faster for up to 1.6x the memory.
  constexpr double kDeviceBytes = 512.0 * 1024 * 1024;
  const int64_t rows = balancedBlock(pixels, 512, 16);
  const auto maxCols = static_cast<int64_t>(kDeviceBytes / static_cast<double>(elementSize * std::max<int64_t>(batch, 1) * rows));
  return {rows, balancedBlock(pixels, std::max<int64_t>(maxCols, rows), 16)};
}

torch::Tensor affinityLossFused(const torch::Tensor& student, const torch::Tensor& teacher, double eps, int64_t tile) {
  auto s = normalizedPixels(student, eps);
  const int64_t n = s.size(2);
  TileShape tiles{tile, tile};
  if (tile <= 0) tiles = chooseAffinityTiles(s.size(0), n, s.element_size(), s.device());
  tiles.rows = std::clamp<int64_t>(tiles.rows, 1, n);
  tiles.cols = std::clamp<int64_t>(tiles.cols, 1, n);
  const bool wantGrad = torch::GradMode::is_enabled() && s.requires_grad();
  return AffinityL1::apply(s, teacher.detach(), eps, tiles.rows, tiles.cols, wantGrad);
}

}  // namespace kds

// EKS convolution kernel bodies, written once against the execution context (exec.h) and
// instantiated for the GPU (csrc/cuda) and for the CPU emulation harness (csrc/emu).
//
// Forward and dgrad are implicit GEMMs over one sample per block, so every tile reads a single
// task id and forms the merged weight tile W0 + s * B_t A_t on the fly while staging it in shared
// memory (r extra multiply-adds per weight element, amortised over the BN pixels of the tile). No
// merged weight, rank-r intermediate or im2col buffer reaches global memory.
//
// wgrad writes one fp32 weight gradient per task, G_t = sum over task-t samples of dY X^T (a
// segment reduction: each block owns one (task, tile) and scans the batch, skipping chunks with no
// sample of its task; no atomics, so results are deterministic). Small kernels then form
// dW0 = sum_t G_t, dA_t = s B_t^T G_t and dB_t = s G_t A_t^T. Absent tasks have G_t = 0, so their
// dA and dB are exactly zero.
//
// Tensors are addressed through element strides (sample, channel, row, col), so the same wgrad
// and bias-gradient bodies serve the linear layer, viewed as a 1x1 conv over its positions.
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "exec.h"

namespace lorkd::kernels {

template <class T> struct AccOf { using type = float; };
template <> struct AccOf<double> { using type = double; };
template <class T> using acc_t = typename AccOf<T>::type;

// Tiles: a block of 256 threads computes a 32 x 32 output tile (each thread 2 x 2, strided by 16
// so neighbouring threads touch neighbouring addresses), stepping through K in chunks of 16.
struct Tile {
  static constexpr int kThreads = 256;
  static constexpr int BM = 32;   // output rows (channels) per tile
  static constexpr int BN = 32;   // output columns (pixels) per tile
  static constexpr int BK = 16;   // reduction chunk
  static constexpr int kSide = 16;
};

template <class T>
struct ConvArgs {
  using Acc = acc_t<T>;
  const T* x = nullptr;
  const T* weight = nullptr;        // (C_out, K) with K = C_in/groups * k_h * k_w, contiguous
  const T* bias = nullptr;          // (C_out,) or null
  const T* lora_A = nullptr;        // (T, r, K), contiguous
  const T* lora_B = nullptr;        // (T, C_out, r), contiguous
  const int64_t* task_ids = nullptr;
  const T* grad_out = nullptr;
  T* out = nullptr;                 // y (forward) or grad_x (dgrad)
  Acc* task_grads = nullptr;        // (T, C_out, K): G_t, written by wgrad
  T* grad_weight = nullptr;
  T* grad_bias = nullptr;
  T* grad_A = nullptr;
  T* grad_B = nullptr;
  int64_t batch = 0, c_in = 0, in_h = 0, in_w = 0, c_out = 0, out_h = 0, out_w = 0;
  int64_t k_h = 1, k_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t dil_h = 1, dil_w = 1, groups = 1, rank = 0, num_tasks = 0;
  int64_t xs[4] = {0, 0, 0, 0};     // element strides of x and grad_x: sample, channel, row, col
  int64_t ys[4] = {0, 0, 0, 0};     // element strides of y and grad_out
  Acc scaling = 0;

  LORKD_HOST_DEVICE int64_t cin_g() const { return c_in / groups; }
  LORKD_HOST_DEVICE int64_t cout_g() const { return c_out / groups; }
  LORKD_HOST_DEVICE int64_t k_dim() const { return cin_g() * k_h * k_w; }
  LORKD_HOST_DEVICE int64_t out_pixels() const { return out_h * out_w; }
  LORKD_HOST_DEVICE int64_t in_pixels() const { return in_h * in_w; }
};

// W0[co, k] + s * sum_q B[t, co, q] A[t, q, k], in the accumulation type.
template <class T>
LORKD_DEVICE acc_t<T> merged_weight(const ConvArgs<T>& p, int64_t task, int64_t co, int64_t k) {
  using Acc = acc_t<T>;
  const int64_t K = p.k_dim();
  const T* b = p.lora_B + (task * p.c_out + co) * p.rank;
  const T* a = p.lora_A + task * p.rank * K + k;
  Acc delta = 0;
  for (int64_t q = 0; q < p.rank; ++q) delta += static_cast<Acc>(b[q]) * static_cast<Acc>(a[q * K]);
  return static_cast<Acc>(p.weight[co * K + k]) + p.scaling * delta;
}

// im2col of x: element (k, pixel) of sample n, group g; zero outside the image (padding).
template <class T>
LORKD_DEVICE acc_t<T> input_column(const ConvArgs<T>& p, int64_t n, int64_t g, int64_t k,
                                   int64_t pixel) {
  const int64_t kernel_area = p.k_h * p.k_w;
  const int64_t ci = k / kernel_area, i = (k / p.k_w) % p.k_h, j = k % p.k_w;
  const int64_t ih = (pixel / p.out_w) * p.stride_h - p.pad_h + i * p.dil_h;
  const int64_t iw = (pixel % p.out_w) * p.stride_w - p.pad_w + j * p.dil_w;
  if (ih < 0 || ih >= p.in_h || iw < 0 || iw >= p.in_w) return 0;
  return static_cast<acc_t<T>>(p.x[n * p.xs[0] + (g * p.cin_g() + ci) * p.xs[1] + ih * p.xs[2] +
                                   iw * p.xs[3]]);
}

// The dgrad GEMM's column: grad_out at the output pixel that input pixel `pixel` feeds through
// kernel tap (i, j) of output channel m (of group g); zero where no output pixel does.
template <class T>
LORKD_DEVICE acc_t<T> grad_out_column(const ConvArgs<T>& p, int64_t n, int64_t g, int64_t kd,
                                      int64_t pixel) {
  const int64_t kernel_area = p.k_h * p.k_w;
  const int64_t m = kd / kernel_area, i = (kd / p.k_w) % p.k_h, j = kd % p.k_w;
  const int64_t th = pixel / p.in_w + p.pad_h - i * p.dil_h;
  const int64_t tw = pixel % p.in_w + p.pad_w - j * p.dil_w;
  if (th < 0 || tw < 0 || th % p.stride_h != 0 || tw % p.stride_w != 0) return 0;
  const int64_t oh = th / p.stride_h, ow = tw / p.stride_w;
  if (oh >= p.out_h || ow >= p.out_w) return 0;
  return static_cast<acc_t<T>>(p.grad_out[n * p.ys[0] + (g * p.cout_g() + m) * p.ys[1] +
                                          oh * p.ys[2] + ow * p.ys[3]]);
}

// Forward (kDgrad = false): y[n, g*C_out/g + r, pixel] = sum_k W_t[r, k] * im2col(x)[k, pixel].
// Dgrad (kDgrad = true): grad_x[n, g*C_in/g + c, pixel] = sum_{m,i,j} W_t[m, (c,i,j)] *
// grad_out[n, m, pixel's output under tap (i,j)].
// Grid: (row tiles * column tiles, groups, batch). A sample whose task id is out of range gets
// NaN outputs (the host rejects such ids before launching, except under CUDA-graph capture).
template <class T, bool kDgrad>
struct ConvGemm : Tile {
  using Acc = acc_t<T>;
  static size_t shared_bytes(const ConvArgs<T>&) { return (BK * BM + BK * BN) * sizeof(Acc); }

  LORKD_DEVICE static int64_t rows(const ConvArgs<T>& p) { return kDgrad ? p.cin_g() : p.cout_g(); }
  LORKD_DEVICE static int64_t cols(const ConvArgs<T>& p) {
    return kDgrad ? p.in_pixels() : p.out_pixels();
  }
  LORKD_DEVICE static int64_t depth(const ConvArgs<T>& p) {
    return kDgrad ? p.cout_g() * p.k_h * p.k_w : p.k_dim();
  }

  template <class Ctx>
  LORKD_DEVICE static void run(Ctx& ctx, const ConvArgs<T>& p) {
    Acc* w_tile = reinterpret_cast<Acc*>(ctx.shared());   // [BK][BM]
    Acc* c_tile = w_tile + BK * BM;                        // [BK][BN]
    const int64_t n = ctx.block(2), g = ctx.block(1);
    const int64_t n_rows = rows(p), n_cols = cols(p), K = depth(p);
    const int64_t row_tiles = (n_rows + BM - 1) / BM;
    const int64_t row0 = (ctx.block(0) % row_tiles) * BM, col0 = (ctx.block(0) / row_tiles) * BN;
    const int64_t task = p.task_ids[n];
    const bool bad_task = task < 0 || task >= p.num_tasks;
    const int tid = ctx.thread(), tr = tid % kSide, tc = tid / kSide;

    Acc acc[2][2] = {{0, 0}, {0, 0}};
    for (int64_t k0 = 0; k0 < K && !bad_task; k0 += BK) {
      for (int e = tid; e < BK * BM; e += kThreads) {
        const int64_t k = k0 + e / BM, r = row0 + e % BM;
        Acc w = 0;
        if (k < K && r < n_rows) {
          if (kDgrad) {   // row r is input channel c; k runs over (m, i, j)
            const int64_t area = p.k_h * p.k_w, m = k / area;
            w = merged_weight(p, task, g * p.cout_g() + m, r * area + k % area);
          } else {
            w = merged_weight(p, task, g * p.cout_g() + r, k);
          }
        }
        w_tile[e] = w;
      }
      for (int e = tid; e < BK * BN; e += kThreads) {
        const int64_t k = k0 + e / BN, col = col0 + e % BN;
        Acc v = 0;
        if (k < K && col < n_cols) {
          v = kDgrad ? grad_out_column(p, n, g, k, col) : input_column(p, n, g, k, col);
        }
        c_tile[e] = v;
      }
      ctx.sync();
      for (int kk = 0; kk < BK; ++kk) {
        const Acc w0 = w_tile[kk * BM + tr], w1 = w_tile[kk * BM + tr + kSide];
        const Acc c0 = c_tile[kk * BN + tc], c1 = c_tile[kk * BN + tc + kSide];
        acc[0][0] += w0 * c0;
        acc[0][1] += w0 * c1;
        acc[1][0] += w1 * c0;
        acc[1][1] += w1 * c1;
      }
      ctx.sync();
    }

    const int64_t width = kDgrad ? p.in_w : p.out_w;
    const int64_t* s = kDgrad ? p.xs : p.ys;
    for (int i = 0; i < 2; ++i) {
      const int64_t r = row0 + tr + i * kSide;
      if (r >= n_rows) continue;
      const int64_t channel = g * n_rows + r;
      const Acc bias = (!kDgrad && p.bias != nullptr) ? static_cast<Acc>(p.bias[channel]) : Acc(0);
      for (int j = 0; j < 2; ++j) {
        const int64_t col = col0 + tc + j * kSide;
        if (col >= n_cols) continue;
        const Acc value = bad_task ? static_cast<Acc>(NAN) : acc[i][j] + bias;
        p.out[n * s[0] + channel * s[1] + (col / width) * s[2] + (col % width) * s[3]] =
            static_cast<T>(value);
      }
    }
  }
};

// Whether any sample's task id lies outside [0, num_tasks), in every thread of the block (a
// barrier). Only possible when the host could not check the ids (CUDA-graph capture): the weight
// gradients, sums over every sample, are then NaN rather than sums that silently leave the
// sample out.
template <class Ctx, class T>
LORKD_DEVICE bool any_bad_task(Ctx& ctx, const ConvArgs<T>& p) {
  bool bad = false;
  for (int64_t n = ctx.thread(); n < p.batch; n += ctx.threads()) {
    bad = bad || p.task_ids[n] < 0 || p.task_ids[n] >= p.num_tasks;
  }
  return ctx.sync_or(bad);
}

// G_t[co, k] = sum over samples n of task t and output pixels of grad_out[n, co, pixel] *
// im2col(x)[k, pixel]. Grid: (row tiles * column tiles over (C_out/g, K), groups, num_tasks).
// A batch with an out-of-range task id gets G = NaN (so dW0, dA and dB are NaN).
template <class T>
struct ConvWgrad : Tile {
  using Acc = acc_t<T>;
  static size_t shared_bytes(const ConvArgs<T>&) { return (BK * BM + BK * BN) * sizeof(Acc); }

  template <class Ctx>
  LORKD_DEVICE static void run(Ctx& ctx, const ConvArgs<T>& p) {
    Acc* dy_tile = reinterpret_cast<Acc*>(ctx.shared());   // [BK][BM]
    Acc* x_tile = dy_tile + BK * BM;                        // [BK][BN]
    const int64_t task = ctx.block(2), g = ctx.block(1);
    const int64_t n_rows = p.cout_g(), n_cols = p.k_dim();
    const int64_t row_tiles = (n_rows + BM - 1) / BM;
    const int64_t row0 = (ctx.block(0) % row_tiles) * BM, col0 = (ctx.block(0) / row_tiles) * BN;
    const int64_t pixels = p.out_pixels(), total = p.batch * pixels;
    const int tid = ctx.thread(), tr = tid % kSide, tc = tid / kSide;
    const bool poisoned = any_bad_task(ctx, p);

    Acc acc[2][2] = {{0, 0}, {0, 0}};
    for (int64_t e0 = 0; e0 < total && !poisoned; e0 += BK) {
      bool mine = false;   // does this chunk hold a pixel of this block's task?
      for (int e = tid; e < BK * BM; e += kThreads) {
        const int64_t flat = e0 + e / BM, r = row0 + e % BM;
        Acc v = 0;
        if (flat < total && p.task_ids[flat / pixels] == task) {
          mine = true;
          if (r < n_rows) {
            const int64_t n = flat / pixels, pixel = flat % pixels;
            v = static_cast<Acc>(p.grad_out[n * p.ys[0] + (g * n_rows + r) * p.ys[1] +
                                            (pixel / p.out_w) * p.ys[2] +
                                            (pixel % p.out_w) * p.ys[3]]);
          }
        }
        dy_tile[e] = v;
      }
      for (int e = tid; e < BK * BN; e += kThreads) {
        const int64_t flat = e0 + e / BN, k = col0 + e % BN;
        Acc v = 0;
        if (flat < total && k < n_cols && p.task_ids[flat / pixels] == task) {
          v = input_column(p, flat / pixels, g, k, flat % pixels);
        }
        x_tile[e] = v;
      }
      if (!ctx.sync_or(mine)) continue;   // no sample of this task here: skip the chunk
      for (int kk = 0; kk < BK; ++kk) {
        const Acc d0 = dy_tile[kk * BM + tr], d1 = dy_tile[kk * BM + tr + kSide];
        const Acc x0 = x_tile[kk * BN + tc], x1 = x_tile[kk * BN + tc + kSide];
        acc[0][0] += d0 * x0;
        acc[0][1] += d0 * x1;
        acc[1][0] += d1 * x0;
        acc[1][1] += d1 * x1;
      }
      ctx.sync();
    }

    for (int i = 0; i < 2; ++i) {
      const int64_t r = row0 + tr + i * kSide;
      if (r >= n_rows) continue;
      for (int j = 0; j < 2; ++j) {
        const int64_t k = col0 + tc + j * kSide;
        if (k >= n_cols) continue;
        p.task_grads[(task * p.c_out + g * n_rows + r) * n_cols + k] =
            poisoned ? static_cast<Acc>(NAN) : acc[i][j];
      }
    }
  }
};

// The weight gradients after ConvWgrad, in one launch (so the fused backward is three launches:
// dgrad, wgrad, this). Its 1-D grid is cut into consecutive block ranges, one job each, so every
// block runs one job and the barriers of the dbias tree are uniform within a block:
//   dW0 = sum_t G_t, cast to the parameter dtype        ceil(C_out K / 256) blocks
//   dA_t = s B_t^T G_t (r x K), dB_t = s G_t A_t^T      ceil(max(r K, C_out r) / 256) per task
//   dbias[c] = sum of grad_out over samples and pixels  one block per channel (fixed-order tree)
// A null grad pointer skips its job (zero blocks). No atomics: deterministic. dbias is NaN, like
// the other weight gradients, when a task id is out of range.
template <class T>
struct ReduceGrads {
  using Acc = acc_t<T>;
  static constexpr int kThreads = 256;
  static size_t shared_bytes(const ConvArgs<T>&) { return kThreads * sizeof(Acc); }

  struct Blocks {
    int64_t weight, lora_per_task, lora, bias;
    LORKD_HOST_DEVICE int64_t total() const { return weight + lora + bias; }
  };
  // The block ranges, the same on the host (grid size) and in the kernel (job of a block).
  LORKD_HOST_DEVICE static Blocks blocks(const ConvArgs<T>& p) {
    const int64_t K = p.k_dim(), elems = p.rank * K > p.c_out * p.rank ? p.rank * K
                                                                        : p.c_out * p.rank;
    Blocks b;
    b.weight = p.grad_weight != nullptr ? (p.c_out * K + kThreads - 1) / kThreads : 0;
    b.lora_per_task = (elems + kThreads - 1) / kThreads;
    b.lora = p.grad_A != nullptr || p.grad_B != nullptr ? b.lora_per_task * p.num_tasks : 0;
    b.bias = p.grad_bias != nullptr ? p.c_out : 0;
    return b;
  }

  template <class Ctx>
  LORKD_DEVICE static void run(Ctx& ctx, const ConvArgs<T>& p) {
    const Blocks b = blocks(p);
    int64_t block = ctx.block(0);
    if (block < b.weight) return weight_sum(ctx, p, block);
    block -= b.weight;
    if (block < b.lora) return lora(ctx, p, block / b.lora_per_task, block % b.lora_per_task);
    return bias(ctx, p, block - b.lora);
  }

  template <class Ctx>
  LORKD_DEVICE static void weight_sum(Ctx& ctx, const ConvArgs<T>& p, int64_t block) {
    const int64_t size = p.c_out * p.k_dim();
    const int64_t e = block * kThreads + ctx.thread();
    if (e >= size) return;
    Acc sum = 0;
    for (int64_t t = 0; t < p.num_tasks; ++t) sum += p.task_grads[t * size + e];
    p.grad_weight[e] = static_cast<T>(sum);
  }

  template <class Ctx>
  LORKD_DEVICE static void lora(Ctx& ctx, const ConvArgs<T>& p, int64_t task, int64_t block) {
    const int64_t K = p.k_dim(), r = p.rank;
    const int64_t e = block * kThreads + ctx.thread();
    const Acc* G = p.task_grads + task * p.c_out * K;
    if (p.grad_A != nullptr && e < r * K) {
      const int64_t q = e / K, k = e % K;
      const T* b = p.lora_B + task * p.c_out * r + q;
      Acc sum = 0;
      for (int64_t co = 0; co < p.c_out; ++co) sum += static_cast<Acc>(b[co * r]) * G[co * K + k];
      p.grad_A[task * r * K + e] = static_cast<T>(p.scaling * sum);
    }
    if (p.grad_B != nullptr && e < p.c_out * r) {
      const int64_t co = e / r, q = e % r;
      const T* a = p.lora_A + (task * r + q) * K;
      Acc sum = 0;
      for (int64_t k = 0; k < K; ++k) sum += G[co * K + k] * static_cast<Acc>(a[k]);
      p.grad_B[task * p.c_out * r + e] = static_cast<T>(p.scaling * sum);
    }
  }

  template <class Ctx>
  LORKD_DEVICE static void bias(Ctx& ctx, const ConvArgs<T>& p, int64_t c) {
    Acc* partial = reinterpret_cast<Acc*>(ctx.shared());
    const int64_t pixels = p.out_pixels(), total = p.batch * pixels;
    const int tid = ctx.thread();
    const bool poisoned = any_bad_task(ctx, p);
    Acc sum = 0;
    for (int64_t e = tid; e < total; e += kThreads) {
      const int64_t n = e / pixels, pixel = e % pixels;
      sum += static_cast<Acc>(p.grad_out[n * p.ys[0] + c * p.ys[1] + (pixel / p.out_w) * p.ys[2] +
                                         (pixel % p.out_w) * p.ys[3]]);
    }
    partial[tid] = sum;
    ctx.sync();
    for (int half = kThreads / 2; half > 0; half /= 2) {
      if (tid < half) partial[tid] += partial[tid + half];
      ctx.sync();
    }
    if (tid == 0) {
      p.grad_bias[c] = static_cast<T>(poisoned ? static_cast<Acc>(NAN) : partial[0]);
    }
  }
};

}  // namespace lorkd::kernels

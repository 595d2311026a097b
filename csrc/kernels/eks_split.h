// The split form's expert branch, as kernel bodies against the execution context (exec.h): the
// base conv and its gradients run as the plain layer's (cuDNN, common/base_conv.h), and these
// kernels add s * B_t A_t's part around them (the host sequence is in eks_ops.h):
//
//   forward   u = A_t im2col(x)                     SplitShrink<T, false>   (N, g*r, OH, OW), fp32
//             y += s B_t u                          SplitExpandY<T>
//   backward  v = s B_t^T dy                        SplitShrink<T, true>
//             dx += col2im(A_t^T v)                 SplitExpandDx<T>        (a transposed conv)
//             u again; dA_t, dB_t                   SplitLoraGrads<T>       (no atomics)
//
// One sample per block, so each block reads one task id; a thread owns one pixel (shrink,
// expand) and reads x or dy once for up to kRankChunk rank outputs. dA/dB: a thread owns one
// element of one task's gradient and scans the batch for that task's samples, so the sums run in
// a fixed order (deterministic) and an absent task's gradient is exactly zero. Out-of-range ids
// (unchecked by the host, e.g. under CUDA-graph capture) give NaN in their samples' u, v, y and dx
// rows and in every dA/dB element (each thread checks the whole batch's ids).
#pragma once

#include <cmath>
#include <cstdint>

#include "eks_conv2d.h"
#include "exec.h"

namespace lorkd::kernels {

template <class T>
struct SplitArgs : ConvArgs<T> {
  using Acc = acc_t<T>;
  Acc* u = nullptr;   // A_t im2col(x): (N, groups * r, OH, OW), contiguous
  Acc* v = nullptr;   // s B_t^T dy: the same shape
};

inline constexpr int kSplitThreads = 256;
inline constexpr int64_t kRankChunk = 16;   // rank outputs a thread accumulates per pass

template <class T>
LORKD_DEVICE int64_t branch_index(const SplitArgs<T>& p, int64_t n, int64_t g, int64_t j,
                                  int64_t pixel) {
  return ((n * p.groups + g) * p.rank + j) * p.out_pixels() + pixel;
}

template <class T>
LORKD_DEVICE bool bad_task(const SplitArgs<T>& p, int64_t task) {
  return task < 0 || task >= p.num_tasks;
}

// What every branch kernel shares: 1-D blocks of kSplitThreads, no shared memory.
template <class T>
struct SplitKernel {
  using Acc = acc_t<T>;
  static constexpr int kThreads = kSplitThreads;
  static size_t shared_bytes(const SplitArgs<T>&) { return 0; }

  template <class Ctx>
  LORKD_DEVICE static int64_t element(Ctx& ctx) { return ctx.block(0) * kThreads + ctx.thread(); }
};

// kDy false: u[n, g*r + j, pixel] = sum_k A_t[j, k] im2col(x)[n, g, k, pixel].
// kDy true:  v[n, g*r + j, pixel] = s sum_c B_t[g*C_out/g + c, j] dy[n, g*C_out/g + c, pixel].
// Grid: (pixel blocks, groups, batch).
template <class T, bool kDy>
struct SplitShrink : SplitKernel<T> {
  using Acc = acc_t<T>;

  template <class Ctx>
  LORKD_DEVICE static void run(Ctx& ctx, const SplitArgs<T>& p) {
    const int64_t pixel = SplitKernel<T>::element(ctx);
    const int64_t g = ctx.block(1), n = ctx.block(2);
    if (pixel >= p.out_pixels()) return;
    const int64_t task = p.task_ids[n];
    const bool bad = bad_task(p, task);
    const int64_t depth = kDy ? p.cout_g() : p.k_dim();
    const int64_t oh = pixel / p.out_w, ow = pixel % p.out_w;
    Acc* out = kDy ? p.v : p.u;
    for (int64_t j0 = 0; j0 < p.rank; j0 += kRankChunk) {
      const int64_t count = p.rank - j0 < kRankChunk ? p.rank - j0 : kRankChunk;
      Acc acc[kRankChunk] = {};
      for (int64_t k = 0; k < depth && !bad; ++k) {
        Acc column;
        if constexpr (kDy) {
          const int64_t co = g * p.cout_g() + k;
          column = static_cast<Acc>(p.grad_out[n * p.ys[0] + co * p.ys[1] + oh * p.ys[2] +
                                               ow * p.ys[3]]);
          const T* b = p.lora_B + (task * p.c_out + co) * p.rank + j0;
          for (int64_t j = 0; j < count; ++j) acc[j] += static_cast<Acc>(b[j]) * column;
        } else {
          column = input_column(p, n, g, k, pixel);
          const T* a = p.lora_A + (task * p.rank + j0) * depth + k;
          for (int64_t j = 0; j < count; ++j) acc[j] += static_cast<Acc>(a[j * depth]) * column;
        }
      }
      for (int64_t j = 0; j < count; ++j) {
        const Acc value = kDy ? p.scaling * acc[j] : acc[j];
        out[branch_index(p, n, g, j0 + j, pixel)] = bad ? static_cast<Acc>(NAN) : value;
      }
    }
  }
};

// y[n, co, pixel] += s sum_j B_t[co, j] u[n, g(co)*r + j, pixel]. Grid: (pixel blocks, C_out, N).
template <class T>
struct SplitExpandY : SplitKernel<T> {
  using Acc = acc_t<T>;

  template <class Ctx>
  LORKD_DEVICE static void run(Ctx& ctx, const SplitArgs<T>& p) {
    const int64_t pixel = SplitKernel<T>::element(ctx);
    const int64_t co = ctx.block(1), n = ctx.block(2);
    if (pixel >= p.out_pixels()) return;
    const int64_t task = p.task_ids[n];
    const bool bad = bad_task(p, task);
    const int64_t g = co / p.cout_g();
    T* y = p.out + n * p.ys[0] + co * p.ys[1] + (pixel / p.out_w) * p.ys[2] +
           (pixel % p.out_w) * p.ys[3];
    Acc acc = 0;
    for (int64_t j = 0; j < p.rank && !bad; ++j) {
      acc += static_cast<Acc>(p.lora_B[(task * p.c_out + co) * p.rank + j]) *
             p.u[branch_index(p, n, g, j, pixel)];
    }
    *y = bad ? static_cast<T>(NAN) : static_cast<T>(static_cast<Acc>(*y) + p.scaling * acc);
  }
};

// dx[n, g*C_in/g + ci, pixel] += sum_taps sum_j A_t[j, (ci, tap)] v[n, g*r + j, source(pixel,
// tap)]: the transposed conv of v with A_t (stride and dilation as divisibility, as in dgrad).
// Grid: (input pixel blocks, C_in, N).
template <class T>
struct SplitExpandDx : SplitKernel<T> {
  using Acc = acc_t<T>;

  template <class Ctx>
  LORKD_DEVICE static void run(Ctx& ctx, const SplitArgs<T>& p) {
    const int64_t pixel = SplitKernel<T>::element(ctx);
    const int64_t c = ctx.block(1), n = ctx.block(2);
    if (pixel >= p.in_pixels()) return;
    const int64_t task = p.task_ids[n];
    const bool bad = bad_task(p, task);
    const int64_t g = c / p.cin_g(), ci = c % p.cin_g(), K = p.k_dim();
    const int64_t h = pixel / p.in_w, w = pixel % p.in_w;
    Acc acc = 0;
    for (int64_t i = 0; i < p.k_h && !bad; ++i) {
      for (int64_t jw = 0; jw < p.k_w; ++jw) {
        const int64_t th = h + p.pad_h - i * p.dil_h, tw = w + p.pad_w - jw * p.dil_w;
        if (th < 0 || tw < 0 || th % p.stride_h != 0 || tw % p.stride_w != 0) continue;
        const int64_t oh = th / p.stride_h, ow = tw / p.stride_w;
        if (oh >= p.out_h || ow >= p.out_w) continue;
        const int64_t k = (ci * p.k_h + i) * p.k_w + jw;
        for (int64_t j = 0; j < p.rank; ++j) {
          acc += static_cast<Acc>(p.lora_A[(task * p.rank + j) * K + k]) *
                 p.v[branch_index(p, n, g, j, oh * p.out_w + ow)];
        }
      }
    }
    T* dx = p.out + n * p.xs[0] + c * p.xs[1] + h * p.xs[2] + w * p.xs[3];
    *dx = bad ? static_cast<T>(NAN) : static_cast<T>(static_cast<Acc>(*dx) + acc);
  }
};

// dA_t[j, k] = sum over task t's samples, groups and pixels of v[n, g*r + j, p] im2col(x)[n, g,
// k, p] (v carries s); dB_t[co, j] = s sum over task t's samples and pixels of dy[n, co, p]
// u[n, g(co)*r + j, p]. Grid: (element blocks, 1, T); grad_A / grad_B null where not needed.
template <class T>
struct SplitLoraGrads : SplitKernel<T> {
  using Acc = acc_t<T>;

  template <class Ctx>
  LORKD_DEVICE static void run(Ctx& ctx, const SplitArgs<T>& p) {
    const int64_t e = SplitKernel<T>::element(ctx);
    const int64_t task = ctx.block(2), K = p.k_dim(), P = p.out_pixels();
    bool bad = false;
    for (int64_t n = 0; n < p.batch; ++n) bad = bad || bad_task(p, p.task_ids[n]);
    if (p.grad_A != nullptr && e < p.rank * K) {
      const int64_t j = e / K, k = e % K;
      Acc acc = 0;
      for (int64_t n = 0; n < p.batch && !bad; ++n) {
        if (p.task_ids[n] != task) continue;
        for (int64_t g = 0; g < p.groups; ++g) {
          for (int64_t pixel = 0; pixel < P; ++pixel) {
            acc += p.v[branch_index(p, n, g, j, pixel)] * input_column(p, n, g, k, pixel);
          }
        }
      }
      p.grad_A[(task * p.rank + j) * K + k] = bad ? static_cast<T>(NAN) : static_cast<T>(acc);
    }
    if (p.grad_B != nullptr && e < p.c_out * p.rank) {
      const int64_t co = e / p.rank, j = e % p.rank, g = co / p.cout_g();
      Acc acc = 0;
      for (int64_t n = 0; n < p.batch && !bad; ++n) {
        if (p.task_ids[n] != task) continue;
        for (int64_t pixel = 0; pixel < P; ++pixel) {
          acc += static_cast<Acc>(p.grad_out[n * p.ys[0] + co * p.ys[1] +
                                             (pixel / p.out_w) * p.ys[2] +
                                             (pixel % p.out_w) * p.ys[3]]) *
                 p.u[branch_index(p, n, g, j, pixel)];
        }
      }
      p.grad_B[(task * p.c_out + co) * p.rank + j] =
          bad ? static_cast<T>(NAN) : static_cast<T>(p.scaling * acc);
    }
  }
};

}  // namespace lorkd::kernels

// EKS linear kernel body (forward and dgrad), written against the execution context (exec.h).
//
// A segmented GEMM in the shrink/expand form: a tile of BM rows (positions of possibly different
// samples, hence tasks) times BN output columns. Each K chunk of the input tile is staged once in
// shared memory and feeds both the base GEMM (against W0) and the rank-r shrink
// u[row] = in[row] P_t^T, kept in fp32 shared memory; the epilogue adds s * u[row] Q_t[col]
// before the single store. The shrink is recomputed per column tile (r / BN extra work) rather
// than written to global memory.
//
//   forward: in = x,        W(k, j) = W0[j, k], P_t = A_t,   Q_t(j, q) = B_t[j, q], + bias
//   dgrad:   in = grad_out, W(k, j) = W0[k, j], P_t = B_t^T, Q_t(j, q) = A_t[q, j]
// All operands are addressed through strides, so both are the same body.
// The weight gradients reuse ConvWgrad and ReduceGrads (eks_conv2d.h).
#pragma once

#include "eks_conv2d.h"

namespace lorkd::kernels {

template <class T>
struct LinearArgs {
  using Acc = acc_t<T>;
  const T* in = nullptr;            // (rows, depth), row-major
  const T* weight = nullptr;        // W(k, j) = weight[k * w_k + j * w_j]
  const T* shrink = nullptr;        // P_t(q, k) = shrink[t * p_t + q * p_q + k * p_k]
  const T* expand = nullptr;        // Q_t(j, q) = expand[t * q_t + j * q_j + q * q_q]
  const T* bias = nullptr;          // (cols,) or null
  const int64_t* task_ids = nullptr;
  T* out = nullptr;                 // (rows, cols), row-major
  int64_t rows = 0, depth = 0, cols = 0, positions = 1, rank = 0, num_tasks = 0;
  int64_t w_k = 0, w_j = 0, p_t = 0, p_q = 0, p_k = 0, q_t = 0, q_j = 0, q_q = 0;
  Acc scaling = 0;
};

// Grid: (row tiles * column tiles, 1, 1).
template <class T>
struct LinearFused : Tile {
  using Acc = acc_t<T>;
  static size_t shared_bytes(const LinearArgs<T>& p) {
    return (BK * BM + BK * BN + BM * p.rank) * sizeof(Acc) + BM * sizeof(int64_t);
  }

  template <class Ctx>
  LORKD_DEVICE static void run(Ctx& ctx, const LinearArgs<T>& p) {
    Acc* in_tile = reinterpret_cast<Acc*>(ctx.shared());   // [BK][BM]
    Acc* w_tile = in_tile + BK * BM;                        // [BK][BN]
    Acc* u = w_tile + BK * BN;                              // [BM][rank], the fp32 shrink
    int64_t* task = reinterpret_cast<int64_t*>(u + BM * p.rank);   // [BM], -1: no row / bad id
    const int64_t row_tiles = (p.rows + BM - 1) / BM;
    const int64_t row0 = (ctx.block(0) % row_tiles) * BM, col0 = (ctx.block(0) / row_tiles) * BN;
    const int tid = ctx.thread(), tr = tid % kSide, tc = tid / kSide;

    for (int e = tid; e < BM; e += kThreads) {
      const int64_t row = row0 + e;
      int64_t t = -1;
      if (row < p.rows) {
        t = p.task_ids[row / p.positions];
        if (t < 0 || t >= p.num_tasks) t = -1;
      }
      task[e] = t;
    }
    for (int64_t e = tid; e < BM * p.rank; e += kThreads) u[e] = 0;
    ctx.sync();

    Acc acc[2][2] = {{0, 0}, {0, 0}};
    for (int64_t k0 = 0; k0 < p.depth; k0 += BK) {
      for (int e = tid; e < BK * BM; e += kThreads) {
        const int64_t k = k0 + e / BM, row = row0 + e % BM;
        in_tile[e] = (k < p.depth && row < p.rows)
                         ? static_cast<Acc>(p.in[row * p.depth + k]) : Acc(0);
      }
      for (int e = tid; e < BK * BN; e += kThreads) {
        const int64_t k = k0 + e / BN, col = col0 + e % BN;
        w_tile[e] = (k < p.depth && col < p.cols)
                        ? static_cast<Acc>(p.weight[k * p.w_k + col * p.w_j]) : Acc(0);
      }
      ctx.sync();
      for (int kk = 0; kk < BK; ++kk) {
        const Acc i0 = in_tile[kk * BM + tr], i1 = in_tile[kk * BM + tr + kSide];
        const Acc w0 = w_tile[kk * BN + tc], w1 = w_tile[kk * BN + tc + kSide];
        acc[0][0] += i0 * w0;
        acc[0][1] += i0 * w1;
        acc[1][0] += i1 * w0;
        acc[1][1] += i1 * w1;
      }
      // The shrink from the same staged input chunk: each (row, q) pair has one owner thread.
      for (int64_t e = tid; e < BM * p.rank; e += kThreads) {
        const int64_t r = e / p.rank, q = e % p.rank, t = task[r];
        if (t < 0) continue;
        const T* shrink = p.shrink + t * p.p_t + q * p.p_q;
        Acc sum = 0;
        for (int kk = 0; kk < BK && k0 + kk < p.depth; ++kk) {
          sum += in_tile[kk * BM + r] * static_cast<Acc>(shrink[(k0 + kk) * p.p_k]);
        }
        u[e] += sum;
      }
      ctx.sync();
    }

    for (int i = 0; i < 2; ++i) {
      const int64_t r = tr + i * kSide, row = row0 + r;
      if (row >= p.rows) continue;
      const int64_t t = task[r];
      for (int j = 0; j < 2; ++j) {
        const int64_t col = col0 + tc + j * kSide;
        if (col >= p.cols) continue;
        Acc value = static_cast<Acc>(NAN);
        if (t >= 0) {
          const T* expand = p.expand + t * p.q_t + col * p.q_j;
          Acc lora = 0;
          for (int64_t q = 0; q < p.rank; ++q) {
            lora += u[r * p.rank + q] * static_cast<Acc>(expand[q * p.q_q]);
          }
          value = acc[i][j] + p.scaling * lora;
          if (p.bias != nullptr) value += static_cast<Acc>(p.bias[col]);
        }
        p.out[row * p.cols + col] = static_cast<T>(value);
      }
    }
  }
};

}  // namespace lorkd::kernels

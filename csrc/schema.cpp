// Schemas of the lorkd ops. The Python package defines the same strings (lorkd_kernels/ops.py)
// when this library is not loaded; tests/test_ops.py checks that both agree.
#include <torch/library.h>

#include "schemas.h"

TORCH_LIBRARY(lorkd, m) {
  m.def(lorkd::schemas::kEksConv2d);
  m.def(lorkd::schemas::kEksConv2dBackward);
  m.def(lorkd::schemas::kEksLinear);
  m.def(lorkd::schemas::kEksLinearBackward);
}

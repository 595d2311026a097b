// Schemas of the lorkd ops and of the compiled backends' private ops. The Python package defines
// the public ones (lorkd_kernels/ops.py) when this library is not loaded; tests/test_ops.py checks
// that both agree.
#include <torch/library.h>

#include "schemas.h"

TORCH_LIBRARY(lorkd, m) {
  for (const char* schema : lorkd::schemas::kAll) {
    m.def(schema);
  }
  // Defined in every build; a build without CUDA simply has no kernel for _cuda_* ops.
  for (const char* backend : lorkd::schemas::kCompiledBackends) {
    for (const char* schema : lorkd::schemas::kAll) {
      m.def(lorkd::schemas::private_schema(backend, schema).c_str());
    }
  }
}

// The lorkd op schemas, shared by their definition (schema.cpp) and the per-backend private ops.
// kAll, every schema, and kCompiledBackends, the backends whose kernels this library holds, are
// generated from lorkd_kernels/_schemas.py by the build (setup.py, CMakeLists.txt) into
// lorkd_schemas.h, so the library and the Python package define the same. Each compiled backend
// has private ops with the public schemas under the name _<backend>_<op> (e.g.
// lorkd::_cpu_eks_conv2d), so every backend can be called explicitly in one process.
#pragma once

#include <string>

#include "lorkd_schemas.h"

namespace lorkd::schemas {

// "_<backend>_<schema>"
inline std::string private_schema(const char* backend, const char* schema) {
  return std::string("_") + backend + "_" + schema;
}

}  // namespace lorkd::schemas

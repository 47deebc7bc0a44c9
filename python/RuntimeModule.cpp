//===- RuntimeModule.cpp - moe_mlir._runtime: artifacts from Python -------===//
//
// Links only the runtime (no MLIR, LLVM or ONNX protobuf, so it sits beside
// `import onnx`). Inputs are read in place; outputs come back as NumPy arrays
// over the buffers the runtime allocated, freed with them. The GIL is released
// while a model runs.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Runtime.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

namespace py = pybind11;

namespace {

/// NumPy's name of each runtime element type (bfloat16's bits as uint16:
/// the Python layer converts).
const char *numpyName(moe_dtype dtype) {
  switch (dtype) {
  case MOE_DTYPE_BF16:
    return "uint16";
  case MOE_DTYPE_F16:
    return "float16";
  case MOE_DTYPE_F32:
    return "float32";
  case MOE_DTYPE_F64:
    return "float64";
  case MOE_DTYPE_I8:
    return "int8";
  case MOE_DTYPE_I32:
    return "int32";
  case MOE_DTYPE_I64:
    return "int64";
  case MOE_DTYPE_BOOL:
    return "bool";
  case MOE_DTYPE_U8:
    return "uint8";
  }
  return "unknown";
}

/// A Python error carrying the runtime's message, the error freed.
[[noreturn]] void raise(moe_error *error, PyObject *type) {
  std::string message = moe_error_message(error);
  moe_error_free(error);
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

py::dict describe(moe_tensor_info info) {
  py::list shape;
  // A dynamic dimension is its symbolic name when the model gives one (as
  // ONNX Runtime reports it), else None.
  for (int32_t d = 0; d < info.rank; ++d) {
    if (info.dims[d] >= 0)
      shape.append(py::int_(info.dims[d]));
    else if (info.dim_names && info.dim_names[d] && *info.dim_names[d])
      shape.append(py::str(info.dim_names[d]));
    else
      shape.append(py::none());
  }
  py::dict out;
  out["name"] = info.name;
  out["shape"] = shape;
  out["dtype"] = info.dtype == MOE_DTYPE_BF16 ? "bfloat16" : numpyName(info.dtype);
  return out;
}

/// One loaded artifact.
class Artifact {
public:
  explicit Artifact(const std::string &path) {
    if (moe_error *error = moe_artifact_load(path.c_str(), &artifact))
      raise(error, PyExc_RuntimeError);
  }
  ~Artifact() { moe_artifact_free(artifact); }
  Artifact(const Artifact &) = delete;
  Artifact &operator=(const Artifact &) = delete;

  std::string device() const { return moe_artifact_device(artifact); }
  std::string arch() const { return moe_artifact_arch(artifact); }

  py::list inputs() const {
    py::list out;
    for (size_t i = 0; i < moe_artifact_num_inputs(artifact); ++i)
      out.append(describe(moe_artifact_input(artifact, i)));
    return out;
  }
  py::list outputs() const {
    py::list out;
    for (size_t i = 0; i < moe_artifact_num_outputs(artifact); ++i)
      out.append(describe(moe_artifact_output(artifact, i)));
    return out;
  }

  /// `feeds` in graph order, C-contiguous and of the artifact's dtypes (the
  /// Python layer checks and says which is wrong).
  py::list run(const std::vector<py::array> &feeds) {
    std::vector<moe_tensor> inputs(feeds.size());
    for (size_t i = 0; i < feeds.size(); ++i) {
      const py::array &array = feeds[i];
      if (array.ndim() > MOE_MAX_RANK)
        throw py::value_error("input " + std::to_string(i) + " has rank " +
                              std::to_string(array.ndim()) +
                              ", above the runtime's limit");
      moe_tensor &t = inputs[i];
      t.data = const_cast<void *>(array.data());
      t.dtype = moe_artifact_input(artifact, i).dtype;
      t.rank = static_cast<int32_t>(array.ndim());
      for (py::ssize_t d = 0; d < array.ndim(); ++d)
        t.dims[d] = array.shape(d);
    }
    size_t count = moe_artifact_num_outputs(artifact);
    std::vector<moe_tensor> outputs(count);
    moe_error *error;
    {
      py::gil_scoped_release release;
      error = moe_artifact_run(artifact, inputs.data(), inputs.size(),
                               outputs.data(), outputs.size());
    }
    if (error)
      raise(error, PyExc_ValueError);
    py::list results;
    for (moe_tensor &t : outputs) {
      std::vector<py::ssize_t> shape(t.dims, t.dims + t.rank);
      std::vector<py::ssize_t> strides(t.rank);
      py::ssize_t stride = static_cast<py::ssize_t>(moe_dtype_size(t.dtype));
      for (int32_t d = t.rank - 1; d >= 0; --d) {
        strides[d] = stride;
        stride *= shape[d];
      }
      py::capsule owner(t.data, [](void *data) { moe_free(data); });
      results.append(py::array(py::dtype(numpyName(t.dtype)), shape, strides,
                               t.data, owner));
    }
    return results;
  }

private:
  moe_artifact *artifact = nullptr;
};

} // namespace

PYBIND11_MODULE(_runtime, m) {
  m.doc() = "Loads and runs compiled moe-mlir artifacts.";
  py::class_<Artifact>(m, "Artifact")
      .def(py::init<const std::string &>(), py::arg("path"))
      .def("device", &Artifact::device)
      .def("arch", &Artifact::arch)
      .def("inputs", &Artifact::inputs)
      .def("outputs", &Artifact::outputs)
      .def("run", &Artifact::run, py::arg("feeds"));
}

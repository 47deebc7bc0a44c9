# lit configuration of the moe-mlir test suite.
import os
import shutil

import lit.formats

config.name = "moe-mlir"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".mlir", ".test", ".onnxtext"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.moe_obj_root, "test")
# Folders that hold other suites or inputs, not lit tests.
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "unit",
                   "python", "models", "Inputs", "fuzz"]

path = [config.moe_tools_dir, config.llvm_tools_dir]
config.environment["PATH"] = os.pathsep.join(path + [config.environment.get("PATH", "")])
config.substitutions.append(("%moe_src", config.moe_src_root))
config.substitutions.append(("%moe_obj", config.moe_obj_root))

# Runs a module whose ops are on linalg/tensor/arith/math/scf through MLIR's reference
# lowering and mlir-cpu-runner: numerical checks of the conversions before the
# project's own CPU code generator exists.
lower_to_llvm = (
    "--one-shot-bufferize=bufferize-function-boundaries --convert-linalg-to-loops "
    "--expand-strided-metadata --lower-affine --convert-scf-to-cf --convert-cf-to-llvm "
    "--convert-math-to-libm --finalize-memref-to-llvm --convert-arith-to-llvm "
    "--convert-math-to-llvm --convert-index-to-llvm --convert-func-to-llvm "
    "--reconcile-unrealized-casts")
config.substitutions.append(("%lower-to-llvm", lower_to_llvm))
runner_libs = ",".join(os.path.join(config.llvm_tools_dir, "..", "lib", lib) for lib in
                       ("libmlir_runner_utils.so", "libmlir_c_runner_utils.so"))
config.substitutions.append((
    "%run-main",
    f"mlir-cpu-runner -e main -entry-point-result=void -shared-libs={runner_libs}"))
# The fixture runner (test/e2e/reference_run.py) with the same lowering and runner.
config.substitutions.append((
    "%reference-run",
    f"python3 {config.moe_src_root}/test/e2e/reference_run.py "
    f"--moe-opt {config.moe_tools_dir}/moe-opt --runner mlir-cpu-runner "
    f"--libs {runner_libs} --lower '{lower_to_llvm}'"))

if not config.moe_enable_compiler:
    config.unsupported = True

for tool in ("FileCheck", "not", "count"):
    if not shutil.which(tool, path=config.environment["PATH"]):
        lit_config.fatal(f"lit needs {tool}; install llvm-19-tools")

# The processor: artifacts compiled for x86-64-v4 need AVX-512 to run.
try:
    with open("/proc/cpuinfo") as cpuinfo:
        if " avx512f" in cpuinfo.read():
            config.available_features.add("avx512")
except OSError:
    pass

# The CUDA toolkit: ptxas assembles the CUDA target's kernels (without it the
# artifacts carry PTX only), and its driver stub exercises the runtime's
# driver loading on machines without a GPU.
cuda_root = next((r for r in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"),
                              "/usr/local/cuda") if r and os.path.isdir(r)), None)
ptxas = shutil.which("ptxas", path=os.path.join(cuda_root, "bin") if cuda_root else None) \
    or shutil.which("ptxas")
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
else:
    lit_config.note("no ptxas: the CUDA target's kernels are not assembled by these tests")
cuobjdump = shutil.which("cuobjdump", path=os.path.join(cuda_root, "bin") if cuda_root else None) \
    or shutil.which("cuobjdump")
if cuobjdump:
    config.available_features.add("cuobjdump")
    config.substitutions.append(("%cuobjdump", cuobjdump))
if cuda_root and os.path.exists(os.path.join(cuda_root, "nvvm", "libdevice", "libdevice.10.bc")):
    config.available_features.add("libdevice")
    config.substitutions.append(("%cuda_root", cuda_root))
config.substitutions.append(
    ("%mock_cuda_driver", os.path.join(config.moe_obj_root, "lib", "libmoe-mock-cuda-driver.so")))
stub = os.path.join(cuda_root, "lib64", "stubs", "libcuda.so") if cuda_root else ""
if stub and os.path.exists(stub):
    config.available_features.add("cuda-stub")
    config.substitutions.append(("%cuda_stub", stub))

//===- moe-opt.cpp - the moe-mlir compiler driver -------------------------===//
//
// IR in, IR out, like mlir-opt, with the moe and onnx dialects and every pass.
// An input named *.onnx or *.onnxtext is imported first.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/OnnxImporter.h"
#include "moe/InitAll.h"
#include "moe/Target/Pipelines.h"
#include "moe/Target/Artifact.h"

#include "mlir/Target/LLVMIR/Dialect/All.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

namespace {

llvm::cl::OptionCategory importCategory("ONNX import options");

llvm::cl::list<std::string> inputShapes(
    "shape",
    llvm::cl::desc("Fix a graph input's shape: --shape=x:1x128x4096 (? keeps a "
                   "dimension dynamic); may be repeated"),
    llvm::cl::value_desc("name:DIMS"), llvm::cl::cat(importCategory));

llvm::cl::OptionCategory compileCategory("Compilation options");

llvm::cl::opt<std::string> emit(
    "emit",
    llvm::cl::desc("Compile instead of running passes, and write: lib (a shared "
                   "library), obj, llvm (LLVM IR of the host code), mlir (the "
                   "LLVM dialect) or ptx (the kernels of --target=cuda); the "
                   "weights go to <output>.weights"),
    llvm::cl::value_desc("lib|obj|llvm|mlir|ptx"),
    llvm::cl::cat(compileCategory));

llvm::cl::opt<std::string>
    target("target",
           llvm::cl::desc("Target of --emit: cpu, cuda, or cuda-emulator (the "
                          "CUDA lowering with its kernels run as loops on the "
                          "CPU, to check its numbers without a GPU)"),
           llvm::cl::init("cpu"), llvm::cl::cat(compileCategory));

llvm::cl::opt<std::string>
    arch("arch",
         llvm::cl::desc("GPU architecture of --target=cuda and "
                        "cuda-emulator: sm_80, sm_90, sm_90a (default: the MoE "
                        "GEMMs on wgmma)"),
         llvm::cl::init("sm_90a"), llvm::cl::cat(compileCategory));

llvm::cl::opt<std::string> precision(
    "precision",
    llvm::cl::desc("Compute type of --target=cuda's matmuls for f32 models: "
                   "fp32 (default, CUDA cores), bf16 or fp16 (tensor cores, "
                   "f32 accumulation); the MoE layers of fp16 and bf16 models "
                   "compute in their own type. On the CPU, bf16 stores the MoE "
                   "expert weights in bf16 (half the bytes; computed in f32)"),
    llvm::cl::init("fp32"), llvm::cl::cat(compileCategory));

llvm::cl::opt<std::string> decodeTokens(
    "decode-tokens",
    llvm::cl::desc("--target=cuda and cuda-emulator: MoE layers run their "
                   "decode kernels (weights streamed by warps) up to this "
                   "many tokens, the grouped GEMMs above (0: always the "
                   "GEMMs; auto, the default: per layer, --gpu-config's bound "
                   "for its shape, else E * 4 / k within [8, 128])"),
    llvm::cl::value_desc("auto|N"), llvm::cl::init("auto"),
    llvm::cl::cat(compileCategory));

llvm::cl::opt<std::string> wideTokens(
    "wide-tokens",
    llvm::cl::desc(
        "--target=cuda and cuda-emulator, sm_90a: above this many "
        "tokens MoE layers' grouped GEMMs take 128-row tiles on two "
        "consumer warpgroups, 64-row tiles on one up to it (auto, the "
        "default: per layer, --gpu-config's bound for its shape, "
        "else 64 E / k: the experts average more than 64 rows)"),
    llvm::cl::value_desc("auto|N"), llvm::cl::init("auto"),
    llvm::cl::cat(compileCategory));

llvm::cl::opt<std::string> gpuConfig(
    "gpu-config",
    llvm::cl::desc("--target=cuda and cuda-emulator: a tuning file (JSON; "
                   "scripts/gpu-check run writes one from timings on a GPU) "
                   "with each MoE layer shape's decode and wide-tile bounds"),
    llvm::cl::value_desc("file.json"), llvm::cl::cat(compileCategory));

llvm::cl::opt<std::string> combine(
    "combine",
    llvm::cl::desc("--target=cuda and cuda-emulator: how MoE layers combine "
                   "their expert rows: ordered (default: a kernel sums each "
                   "token's rows in a fixed order, the same bits every run) "
                   "or atomic (the down projection adds them into the output "
                   "with atomics: one kernel less, the order the hardware's)"),
    llvm::cl::value_desc("ordered|atomic"), llvm::cl::init("ordered"),
    llvm::cl::cat(compileCategory));

llvm::cl::opt<unsigned> optLevel(
    "O", llvm::cl::desc("Optimisation level of --emit: -O0 .. -O3"),
    llvm::cl::Prefix, llvm::cl::init(2), llvm::cl::cat(compileCategory));

llvm::cl::opt<std::string>
    mcpu("mcpu",
         llvm::cl::desc("Processor of --emit's host code (x86-64-v3, "
                        "x86-64-v4, znver4, ..., or native: this machine's); "
                        "the artifact records the features it needs"),
         llvm::cl::init("x86-64-v3"), llvm::cl::cat(compileCategory));

/// Where in the model a diagnostic arose: `node '<name>': ` (or `node #<index>
/// (<op>): ` when unnamed) for one located at an imported node whose message
/// does not name it already.
std::string nodePrefix(mlir::Diagnostic &diag, llvm::StringRef message) {
  auto named = llvm::dyn_cast<mlir::NameLoc>(diag.getLocation());
  llvm::StringRef name = named ? named.getName().getValue() : "";
  if (name.empty() || message.contains(name))
    return "";
  if (name.starts_with("#"))
    return ("node " + name + ": ").str();
  return ("node '" + name + "': ").str();
}

/// Prints diagnostics as `<file>: error: [node '<name>': ]...`.
struct FileDiagnostics {
  FileDiagnostics(mlir::MLIRContext &context, llvm::StringRef path)
      : handler(&context, [path](mlir::Diagnostic &diag) {
          const char *severity =
              diag.getSeverity() == mlir::DiagnosticSeverity::Error ? "error"
              : diag.getSeverity() == mlir::DiagnosticSeverity::Warning
                  ? "warning"
                  : diag.getSeverity() == mlir::DiagnosticSeverity::Remark
                      ? "remark"
                      : "note";
          std::string message = diag.str();
          llvm::errs() << path << ": " << severity << ": "
                       << nodePrefix(diag, message) << message << "\n";
          for (mlir::Diagnostic &note : diag.getNotes())
            llvm::errs() << path << ": note: " << note << "\n";
          return mlir::success();
        }) {}
  mlir::ScopedDiagnosticHandler handler;
};

/// Reads `inputPath` (MLIR, or an ONNX model it imports) into `context`.
mlir::OwningOpRef<mlir::ModuleOp> loadModule(mlir::MLIRContext &context,
                                             llvm::StringRef inputPath,
                                             const moe::ImportOptions &options) {
  if (moe::isOnnxModelPath(inputPath))
    return moe::importOnnxFile(&context, inputPath, options);
  return mlir::parseSourceFile<mlir::ModuleOp>(inputPath, &context);
}

/// `moe-opt <input> --emit=<kind> -o <output>`.
mlir::LogicalResult compile(llvm::StringRef inputPath,
                            llvm::StringRef outputPath,
                            mlir::DialectRegistry &registry,
                            const moe::ImportOptions &options) {
  static const llvm::StringMap<moe::EmitKind> kinds{
      {"lib", moe::EmitKind::Library},
      {"obj", moe::EmitKind::Object},
      {"llvm", moe::EmitKind::Llvm},
      {"mlir", moe::EmitKind::Mlir},
      {"ptx", moe::EmitKind::Ptx}};
  auto kind = kinds.find(emit);
  if (kind == kinds.end()) {
    llvm::errs() << "moe-opt: --emit=" << emit
                 << " is not one of lib, obj, llvm, mlir, ptx\n";
    return mlir::failure();
  }
  if (target != "cpu" && target != "cuda" && target != "cuda-emulator") {
    llvm::errs() << "moe-opt: --target=" << target
                 << " is not supported (targets: cpu, cuda, cuda-emulator)\n";
    return mlir::failure();
  }
  if (optLevel > 3) {
    llvm::errs() << "moe-opt: -O" << optLevel << " is not one of -O0 .. -O3\n";
    return mlir::failure();
  }
  if (outputPath == "-") {
    llvm::errs() << "moe-opt: --emit needs an output file (-o)\n";
    return mlir::failure();
  }
  if (combine != "ordered" && combine != "atomic") {
    llvm::errs() << "moe-opt: --combine=" << combine
                 << " is not one of ordered, atomic\n";
    return mlir::failure();
  }
  if (combine.getNumOccurrences() && target != "cuda" &&
      target != "cuda-emulator") {
    llvm::errs() << "moe-opt: --combine needs --target=cuda or "
                    "cuda-emulator (the CPU combines in order)\n";
    return mlir::failure();
  }
  for (llvm::cl::Option *option :
       {static_cast<llvm::cl::Option *>(&decodeTokens),
        static_cast<llvm::cl::Option *>(&wideTokens),
        static_cast<llvm::cl::Option *>(&gpuConfig)})
    if (option->getNumOccurrences() && target != "cuda" &&
        target != "cuda-emulator") {
      llvm::errs() << "moe-opt: --" << option->ArgStr
                   << " needs --target=cuda or cuda-emulator (the CPU has no "
                      "decode kernels or GEMM tiles to choose)\n";
      return mlir::failure();
    }
  // A token bound: auto (-1) or a count.
  auto tokenBound = [](llvm::cl::opt<std::string> &option, llvm::StringRef zero,
                       int64_t &bound) {
    bound = -1;
    if (option == "auto")
      return true;
    if (llvm::StringRef(option).getAsInteger(10, bound)) {
      llvm::errs() << "moe-opt: --" << option.ArgStr << "=" << option
                   << " is not auto or a token count\n";
      return false;
    }
    if (bound < 0) {
      llvm::errs() << "moe-opt: error: --" << option.ArgStr << "=" << bound
                   << " is negative; " << zero << "\n";
      return false;
    }
    return true;
  };
  int64_t decode, wide;
  if (!tokenBound(decodeTokens, "0 turns the decode kernels off", decode) ||
      !tokenBound(wideTokens, "0 takes 128-row tiles at every token count",
                  wide))
    return mlir::failure();
  mlir::MLIRContext context(registry);
  context.allowUnregisteredDialects(false);
  // Errors say what is at fault; a dump of the module they arose in is noise.
  context.printOpOnDiagnostic(false);
  FileDiagnostics diagnostics(context, inputPath);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      loadModule(context, inputPath, options);
  if (!module)
    return mlir::failure();
  moe::TargetOptions targetOptions;
  targetOptions.device = target == "cuda" ? moe::Device::Cuda
                         : target == "cuda-emulator" ? moe::Device::CudaEmulator
                                                     : moe::Device::Cpu;
  targetOptions.optLevel = optLevel;
  targetOptions.cpu = mcpu;
  targetOptions.gpu.arch = arch;
  targetOptions.gpu.precision = precision;
  targetOptions.gpu.decodeTokens = decode;
  targetOptions.gpu.wideTokens = wide;
  targetOptions.gpu.gpuConfig = gpuConfig;
  targetOptions.gpu.atomicCombine = combine == "atomic";
  return moe::compileArtifact(*module, targetOptions, kind->second, outputPath);
}

/// Imports the ONNX model at `inputPath` and runs the moe-opt pipeline on it.
mlir::LogicalResult runOnOnnxModel(llvm::StringRef inputPath,
                                   llvm::StringRef outputPath,
                                   mlir::DialectRegistry &registry,
                                   const moe::ImportOptions &options) {
  std::string bytecode;
  {
    mlir::MLIRContext context(registry);
    // Import errors name the node or initializer at fault; the file is the
    // location.
    FileDiagnostics diagnostics(context, inputPath);
    mlir::OwningOpRef<mlir::ModuleOp> module =
        moe::importOnnxFile(&context, inputPath, options);
    if (!module)
      return mlir::failure();
    llvm::raw_string_ostream stream(bytecode);
    if (mlir::failed(mlir::writeBytecodeToFile(*module, stream)))
      return mlir::failure();
  }
  std::string error;
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputPath, &error);
  if (!output) {
    llvm::errs() << "moe-opt: " << error << "\n";
    return mlir::failure();
  }
  if (mlir::failed(mlir::MlirOptMain(
          output->os(),
          llvm::MemoryBuffer::getMemBufferCopy(bytecode, inputPath), registry,
          mlir::MlirOptMainConfig::createFromCLOptions())))
    return mlir::failure();
  output->keep();
  return mlir::success();
}

} // namespace

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  moe::registerAllDialects(registry);
  // gpu-module-to-binary translates kernel modules to LLVM IR.
  mlir::registerAllToLLVMIRTranslations(registry);
  moe::registerAllPasses();
  moe::registerPipelines();
  auto [inputPath, outputPath] = mlir::registerAndParseCLIOptions(
      argc, argv,
      "moe-opt: the moe-mlir compiler driver (MLIR, .onnx or .onnxtext in)\n",
      registry);
  moe::ImportOptions options;
  for (const std::string &spec : inputShapes) {
    std::string error;
    if (!moe::parseInputShape(spec, options, error)) {
      llvm::errs() << "moe-opt: " << error << "\n";
      return 1;
    }
  }
  if (!emit.empty())
    return mlir::asMainReturnCode(
        compile(inputPath, outputPath, registry, options));
  if (moe::isOnnxModelPath(inputPath))
    return mlir::asMainReturnCode(
        runOnOnnxModel(inputPath, outputPath, registry, options));
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, inputPath, outputPath, registry));
}

//===- Artifact.cpp - modules to shared libraries for the CPU or CUDA -----===//
//
// Tensor-level pipeline, bufferization, weights moved out to a file the runtime
// maps, lowering to the LLVM dialect (the CUDA target first moves the work into
// NVPTX kernels), LLVM's optimiser and code generator for the host, and the
// system linker for the shared library.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/Artifact.h"
#include "moe/Runtime/ArtifactAbi.h"
#include "moe/Target/NVPTX.h"
#include "moe/Target/Pipelines.h"
#include "moe/Transforms/Passes.h"

#include "dialects/moe/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kEntry = "main_graph";
/// Constants at least this large go to the weights file.
constexpr int64_t kExternalizeBytes = 256;
constexpr int64_t kWeightAlignment = 64;

/// The artifact's element type names (Npy.h's, without a float16 alias).
std::optional<llvm::StringRef> dtypeName(Type type) {
  if (type.isF32())
    return llvm::StringRef("f32");
  if (type.isF64())
    return llvm::StringRef("f64");
  if (type.isF16())
    return llvm::StringRef("f16");
  if (type.isBF16())
    return llvm::StringRef("bf16");
  if (type.isInteger(64))
    return llvm::StringRef("i64");
  if (type.isInteger(32))
    return llvm::StringRef("i32");
  if (type.isUnsignedInteger(8))
    return llvm::StringRef("u8");
  if (type.isInteger(8))
    return llvm::StringRef("i8");
  if (type.isInteger(1))
    return llvm::StringRef("bool");
  return std::nullopt;
}

/// `%XX`-escapes what would break the signature's space-separated lines.
std::string escapeName(llvm::StringRef name) {
  std::string out;
  for (char c : name) {
    if (llvm::isAlnum(c) || llvm::StringRef("_.:/-").contains(c)) {
      out += c;
      continue;
    }
    out += llvm::formatv("%{0:X-2}", static_cast<unsigned char>(c)).str();
  }
  return out.empty() ? "%" : out;
}

/// The signature text the runtime reads from the library: one line per input
/// and output (`input <name> <dtype> <dims>`, `?` for a dynamic dimension).
FailureOr<std::string> describeSignature(func::FuncOp entry) {
  std::string text = "moe-artifact 1\n";
  llvm::raw_string_ostream os(text);
  auto describe = [&](llvm::StringRef role, unsigned index, Type type,
                      DictionaryAttr attrs) -> LogicalResult {
    // A ranked tensor, or the buffer of one (a bufferized entry).
    ShapedType tensor = dyn_cast<RankedTensorType>(type);
    if (auto memref = dyn_cast<MemRefType>(type);
        memref && memref.getLayout().isIdentity() && !memref.getMemorySpace())
      tensor = memref;
    std::optional<llvm::StringRef> dtype =
        tensor ? dtypeName(tensor.getElementType()) : std::nullopt;
    if (!dtype)
      return entry.emitError() << role << " " << index << " of @" << kEntry
                               << " has type " << type
                               << ", which artifacts do not support (ranked "
                                  "tensors of f16, bf16, f32, f64, i8, u8, i32, i64 or "
                                  "i1, or their identity-layout memrefs)";
    std::string name = (role + llvm::Twine(index)).str();
    if (attrs)
      if (auto onnxName = attrs.getAs<StringAttr>("onnx.name"))
        name = onnxName.str();
    os << role << " " << escapeName(name) << " " << *dtype << " ";
    if (tensor.getRank() == 0)
      os << "scalar";
    llvm::interleave(
        tensor.getShape(), os,
        [&](int64_t d) {
          if (ShapedType::isDynamic(d))
            os << "?";
          else
            os << d;
        },
        "x");
    // The symbolic names of the dimensions, when the model gives any.
    if (auto names = attrs ? attrs.getAs<ArrayAttr>("onnx.dim_params") : nullptr;
        names && static_cast<int64_t>(names.size()) == tensor.getRank()) {
      os << " ";
      llvm::interleave(
          names, os,
          [&](Attribute name) {
            os << escapeName(cast<StringAttr>(name).getValue());
          },
          ",");
    }
    os << "\n";
    return success();
  };
  FunctionType type = entry.getFunctionType();
  for (unsigned i = 0; i < type.getNumInputs(); ++i)
    if (failed(describe("input", i, type.getInput(i), entry.getArgAttrDict(i))))
      return failure();
  for (unsigned i = 0; i < type.getNumResults(); ++i)
    if (failed(describe("output", i, type.getResult(i),
                        entry.getResultAttrDict(i))))
      return failure();
  return text;
}

/// `layer <E> <k> <H> <F> <I> <separate up: 0|1> <element bytes>` per
/// moe.layer, the bytes those of the weights as the artifact stores them:
/// with `bf16Weights` (the CPU's --precision=bf16), f32 weights that are not
/// inputs are stored in bf16.
std::string describeLayers(ModuleOp module, bool bf16Weights) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.walk([&](mlir::moe::LayerOp layer) {
    auto gateUp = cast<RankedTensorType>(layer.getGateUp().getType());
    auto down = cast<RankedTensorType>(layer.getDown().getType());
    os << "layer " << gateUp.getDimSize(0) << " "
       << layer.getRouting().getK() << " " << gateUp.getDimSize(2) << " "
       << gateUp.getDimSize(1) << " " << down.getDimSize(2) << " "
       << (layer.getUp() ? 1 : 0) << " "
       << (bf16Weights && gateUp.getElementType().isF32() &&
                   !isa<BlockArgument>(layer.getGateUp())
               ? 2
               : gateUp.getElementTypeBitWidth() / 8)
       << "\n";
  });
  return text;
}

/// The folder of LLVM's OpenMP runtime (libomp), which parallel loops call;
/// empty when it is not installed, and the loops then run serially.
std::string findOpenMPRuntime() {
  for (llvm::StringRef dir : {"/usr/lib/llvm-19/lib", "/usr/lib/x86_64-linux-gnu"}) {
    llvm::SmallString<128> path(dir);
    llvm::sys::path::append(path, "libomp.so");
    if (llvm::sys::fs::exists(path))
      return dir.str();
  }
  return "";
}

/// The bytes of a constant global as they are laid out in memory (booleans
/// one byte each), when its initial value has whole-byte elements or is a
/// dense boolean array; splats are written out.
std::optional<std::string> rawBytes(memref::GlobalOp global) {
  std::optional<Attribute> init = global.getInitialValue();
  if (!init)
    return std::nullopt;
  auto type = global.getType();
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(*init)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob || type.getElementTypeBitWidth() % 8 != 0)
      return std::nullopt;
    return std::string(blob->getData().begin(), blob->getData().end());
  }
  auto dense = dyn_cast<DenseElementsAttr>(*init);
  if (!dense)
    return std::nullopt;
  int64_t count = type.getNumElements();
  if (dense.getElementType().isInteger(1)) {
    std::string bytes;
    for (bool value : dense.getValues<bool>())
      bytes += static_cast<char>(value);
    if (dense.isSplat())
      bytes.assign(count, bytes.empty() ? 0 : bytes[0]);
    return bytes;
  }
  if (type.getElementTypeBitWidth() % 8 != 0)
    return std::nullopt;
  ArrayRef<char> raw = dense.getRawData();
  if (!dense.isSplat())
    return std::string(raw.begin(), raw.end());
  std::string bytes;
  bytes.reserve(raw.size() * count);
  for (int64_t i = 0; i < count; ++i)
    bytes.append(raw.begin(), raw.end());
  return bytes;
}

/// Rewrites memref.copy as linalg.copy, which lowers to loops instead of a
/// call into MLIR's C runner utilities for strided copies.
void copiesAsLinalg(ModuleOp module) {
  module.walk([](memref::CopyOp copy) {
    OpBuilder b(copy);
    b.create<linalg::CopyOp>(copy.getLoc(), copy.getSource(), copy.getTarget());
    copy.erase();
  });
}

/// Moves the constant globals of `module` of at least `minBytes` into
/// `weights` (each at a 64-byte aligned offset) and gives the entry a trailing
/// `memref<?xi8>` argument through which it views them.
LogicalResult externalizeWeights(ModuleOp module, func::FuncOp entry,
                                 int64_t minBytes, std::string &weights) {
  llvm::StringMap<int64_t> offsets;
  SmallVector<memref::GlobalOp> moved;
  for (auto global : module.getOps<memref::GlobalOp>()) {
    if (!global.getConstant())
      continue;
    std::optional<std::string> bytes = rawBytes(global);
    if (!bytes || static_cast<int64_t>(bytes->size()) < minBytes)
      continue;
    // Index elements are 64-bit in memory on both targets (x86-64, nvptx64).
    Type element = global.getType().getElementType();
    int64_t elementBytes =
        element.isIndex()
            ? 8
            : std::max<int64_t>(1, element.getIntOrFloatBitWidth() / 8);
    int64_t expected = global.getType().getNumElements() * elementBytes;
    if (static_cast<int64_t>(bytes->size()) != expected)
      return global.emitError()
             << "constant '" << global.getSymName() << "' holds "
             << bytes->size() << " bytes, its type " << global.getType()
             << " needs " << expected;
    weights.resize(llvm::alignTo(weights.size(), kWeightAlignment), '\0');
    offsets[global.getSymName()] = weights.size();
    weights.append(bytes->begin(), bytes->end());
    moved.push_back(global);
  }
  auto weightsType = MemRefType::get({ShapedType::kDynamic},
                                     IntegerType::get(module.getContext(), 8));
  Location loc = entry.getLoc();
  entry.insertArgument(entry.getNumArguments(), weightsType,
                       DictionaryAttr::get(module.getContext()), loc);
  Value base = entry.getArguments().back();
  WalkResult walk = module.walk([&](memref::GetGlobalOp get) {
    auto it = offsets.find(get.getName());
    if (it == offsets.end())
      return WalkResult::advance();
    if (get->getParentOfType<func::FuncOp>() != entry) {
      get.emitError("a weight is used outside the entry function");
      return WalkResult::interrupt();
    }
    OpBuilder b(get);
    Value offset = b.create<arith::ConstantIndexOp>(get.getLoc(), it->second);
    Value view = b.create<memref::ViewOp>(get.getLoc(), get.getType(), base,
                                          offset, ValueRange{});
    get.replaceAllUsesWith(view);
    get.erase();
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  for (memref::GlobalOp global : moved)
    global.erase();
  return success();
}

std::unique_ptr<llvm::TargetMachine>
createTargetMachine(ModuleOp module, const ::moe::TargetOptions &options) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  std::string triple = llvm::sys::getDefaultTargetTriple();
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target) {
    module.emitError() << "no LLVM target for " << triple << ": " << error;
    return nullptr;
  }
  // `native`: this processor, with the features it reports (a virtual
  // machine may hide some its model has).
  std::string cpu = options.cpu, features;
  if (cpu == "native") {
    cpu = llvm::sys::getHostCPUName().str();
    for (const auto &[name, enabled] : llvm::sys::getHostCPUFeatures())
      features +=
          (features.empty() ? "" : ",") + ((enabled ? "+" : "-") + name.str());
  }
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget(
      target->createMCSubtargetInfo(triple, cpu, features));
  if (!subtarget->isCPUStringValid(cpu)) {
    module.emitError() << "--mcpu=" << options.cpu
                       << " is not a processor LLVM knows for " << triple
                       << " (or `native`)";
    return nullptr;
  }
  static const llvm::CodeGenOptLevel levels[] = {
      llvm::CodeGenOptLevel::None, llvm::CodeGenOptLevel::Less,
      llvm::CodeGenOptLevel::Default, llvm::CodeGenOptLevel::Aggressive};
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, cpu, features, llvm::TargetOptions(), llvm::Reloc::PIC_,
      std::nullopt, levels[std::min(options.optLevel, 3u)]));
}

/// The signature's `cpu` line: the processor `machine` compiles for and the
/// features of MOE_ABI_CPU_FEATURES it has, which the code may use.
std::string cpuLine(const llvm::TargetMachine &machine) {
  static const char *const kKnown[] = {MOE_ABI_CPU_FEATURES};
  const llvm::MCSubtargetInfo *subtarget = machine.getMCSubtargetInfo();
  std::string line = ("cpu " + machine.getTargetCPU()).str();
  for (const char *feature : kKnown)
    if (subtarget->checkFeatures((llvm::Twine("+") + feature).str()))
      line += (llvm::Twine(" ") + feature).str();
  return line + "\n";
}

/// How a CPU artifact allocates its buffers (memref's generic allocation
/// functions): through the runtime's table (moe_host_api: huge pages for
/// large buffers, kept from call to call), or the C library's aligned_alloc
/// and free where the table is empty. A returned buffer goes to the caller,
/// who frees it with the runtime's moe_free.
static_assert(MOE_HOST_SLOT_ALLOC == 0 && MOE_HOST_SLOT_FREE == 1 &&
                  MOE_HOST_SLOTS == 2,
              "kHostAllocator indexes moe_host_api with these slots");
constexpr llvm::StringLiteral kHostAllocator = R"(
@moe_host_api = global [2 x ptr] zeroinitializer

declare ptr @aligned_alloc(i64, i64)
declare void @free(ptr)

define ptr @_mlir_memref_to_llvm_aligned_alloc(i64 %alignment, i64 %bytes) {
  %f = load ptr, ptr @moe_host_api
  %none = icmp eq ptr %f, null
  br i1 %none, label %library, label %runtime
runtime:
  %p = call ptr %f(i64 %alignment, i64 %bytes)
  ret ptr %p
library:
  %mask = sub i64 %alignment, 1
  %up = add i64 %bytes, %mask
  %not = xor i64 %mask, -1
  %size = and i64 %up, %not
  %q = call ptr @aligned_alloc(i64 %alignment, i64 %size)
  ret ptr %q
}

define ptr @_mlir_memref_to_llvm_alloc(i64 %bytes) {
  %p = call ptr @_mlir_memref_to_llvm_aligned_alloc(i64 16, i64 %bytes)
  ret ptr %p
}

define void @_mlir_memref_to_llvm_free(ptr %p) {
  %slot = getelementptr [2 x ptr], ptr @moe_host_api, i64 0, i64 1
  %f = load ptr, ptr %slot
  %none = icmp eq ptr %f, null
  br i1 %none, label %library, label %runtime
runtime:
  call void %f(ptr %p)
  ret void
library:
  call void @free(ptr %p)
  ret void
}
)";

/// Adds `void moe_entry(void **args)`, which calls the C interface of the
/// entry with `args[i]` as its i-th pointer argument, and the signature text
/// `moe_signature`.
void addArtifactSymbols(llvm::Module &module, llvm::StringRef signature,
                        uint64_t weightBytes) {
  llvm::LLVMContext &ctx = module.getContext();
  llvm::Function *callee =
      module.getFunction(("_mlir_ciface_" + kEntry).str());
  auto *ptr = llvm::PointerType::getUnqual(ctx);
  auto *type =
      llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr}, false);
  auto *entry = llvm::Function::Create(type, llvm::Function::ExternalLinkage,
                                       MOE_ABI_ENTRY, module);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", entry));
  SmallVector<llvm::Value *> args;
  for (unsigned i = 0; i < callee->arg_size(); ++i) {
    llvm::Value *slot = b.CreateConstGEP1_64(ptr, entry->getArg(0), i);
    args.push_back(b.CreateLoad(ptr, slot));
  }
  b.CreateCall(callee, args);
  b.CreateRetVoid();

  std::string text = signature.str();
  text += llvm::formatv("weights {0}\n", weightBytes).str();
  auto *data = llvm::ConstantDataArray::getString(ctx, text, true);
  new llvm::GlobalVariable(module, data->getType(), true,
                           llvm::GlobalValue::ExternalLinkage, data,
                           MOE_ABI_SIGNATURE);
}

void optimize(llvm::Module &module, llvm::TargetMachine &machine,
              unsigned optLevel) {
  if (optLevel == 0)
    return;
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder builder(&machine);
  builder.registerModuleAnalyses(mam);
  builder.registerCGSCCAnalyses(cgam);
  builder.registerFunctionAnalyses(fam);
  builder.registerLoopAnalyses(lam);
  builder.crossRegisterProxies(lam, fam, cgam, mam);
  static const llvm::OptimizationLevel levels[] = {
      llvm::OptimizationLevel::O0, llvm::OptimizationLevel::O1,
      llvm::OptimizationLevel::O2, llvm::OptimizationLevel::O3};
  builder.buildPerModuleDefaultPipeline(levels[std::min(optLevel, 3u)])
      .run(module, mam);
}

/// A temporary file beside `path`, removed unless kept.
struct TempFile {
  llvm::SmallString<128> path;
  bool keep = false;
  ~TempFile() {
    if (!keep && !path.empty())
      llvm::sys::fs::remove(path);
  }
};

LogicalResult makeTemp(ModuleOp module, llvm::StringRef beside,
                       llvm::StringRef suffix, TempFile &file) {
  llvm::SmallString<128> model(beside);
  model += ".%%%%%%";
  model += suffix;
  int fd;
  if (std::error_code ec =
          llvm::sys::fs::createUniqueFile(model, fd, file.path)) {
    file.path.clear();
    return module.emitError() << "cannot create a file beside " << beside
                              << ": " << ec.message();
  }
  llvm::sys::Process::SafelyCloseFileDescriptor(fd);
  return success();
}

/// Moves the finished temporary `file` to `path`, where it stays.
LogicalResult keepAs(ModuleOp module, TempFile &file, llvm::StringRef path) {
  if (std::error_code ec = llvm::sys::fs::rename(file.path, path))
    return module.emitError() << "cannot write " << path << ": "
                              << ec.message();
  file.keep = true;
  return success();
}

LogicalResult writeFile(ModuleOp module, llvm::StringRef path,
                        llvm::function_ref<void(llvm::raw_ostream &)> write) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return module.emitError() << "cannot write " << path << ": "
                              << ec.message();
  write(os);
  os.close();
  if (os.has_error())
    return module.emitError() << "cannot write " << path << ": "
                              << os.error().message();
  return success();
}

/// Links `object` into the shared library `library` with the system's C
/// compiler driver.
LogicalResult linkLibrary(ModuleOp module, llvm::StringRef object,
                          llvm::StringRef library, llvm::StringRef openmp) {
  std::optional<std::string> driver;
  for (llvm::StringRef name : {"cc", "gcc", "clang-19", "clang"}) {
    if (llvm::ErrorOr<std::string> found = llvm::sys::findProgramByName(name)) {
      driver = *found;
      break;
    }
  }
  if (!driver)
    return module.emitError(
        "no C compiler driver (cc, gcc or clang) found to link the library");
  SmallVector<std::string> args{*driver, "-shared", "-o", library.str(),
                                object.str(), "-lm"};
  if (!openmp.empty()) {
    args.push_back(("-L" + openmp).str());
    args.push_back(("-Wl,-rpath," + openmp).str());
    args.push_back("-lomp");
  }
  SmallVector<llvm::StringRef> argRefs(args.begin(), args.end());
  std::string error;
  int rc = llvm::sys::ExecuteAndWait(*driver, argRefs, std::nullopt, {}, 0, 0,
                                     &error);
  if (rc != 0)
    return module.emitError() << "linking " << library << " with " << *driver
                              << " failed"
                              << (error.empty() ? "" : ": ") << error;
  return success();
}

} // namespace

namespace moe {

std::string weightsPathFor(llvm::StringRef libraryPath) {
  return (libraryPath + ".weights").str();
}

LogicalResult runPipeline(ModuleOp module,
                          llvm::function_ref<void(OpPassManager &)> build) {
  PassManager pm(module.getContext());
  build(pm);
  return pm.run(module);
}

LogicalResult compileArtifact(ModuleOp module, const TargetOptions &options,
                              EmitKind kind, llvm::StringRef outputPath) {
  MLIRContext *ctx = module.getContext();
  bool cuda = options.device == Device::Cuda;
  bool emulated = options.device == Device::CudaEmulator;
  if ((cuda || emulated) && !isKnownCudaArch(options.gpu.arch))
    return module.emitError() << "--arch=" << options.gpu.arch
                              << " is not a GPU architecture LLVM's NVPTX "
                                 "back end knows (sm_80, sm_90, sm_90a...)";
  if (!cuda && kind == EmitKind::Ptx)
    return module.emitError("--emit=ptx needs --target=cuda");
  if (options.gpu.precision != "fp32" && options.gpu.precision != "bf16" &&
      options.gpu.precision != "fp16")
    return module.emitError() << "--precision=" << options.gpu.precision
                              << " is not one of fp32, bf16, fp16";
  if (options.gpu.decodeTokens < -1)
    return module.emitError() << "--decode-tokens=" << options.gpu.decodeTokens
                              << " is negative; 0 turns the decode kernels off";
  if (!cuda && !emulated && options.gpu.precision == "fp16")
    return module.emitError()
           << "--precision=fp16 needs --target=cuda or cuda-emulator (the CPU "
              "computes in fp32 and stores expert weights in fp32 or bf16)";
  auto entry = module.lookupSymbol<func::FuncOp>(kEntry);
  if (!entry)
    return module.emitError() << "no @" << kEntry << " function to compile";
  // The signature is the tensor-level one, with the ONNX names, and the
  // shapes of the raised MoE layers (for the benchmarks' FLOP and byte counts).
  FailureOr<std::string> signature = describeSignature(entry);
  if (failed(signature))
    return failure();
  // An entry on memrefs is bufferized already (kernels written by hand, the
  // output of a pass pipeline): it goes straight to the lowering.
  FunctionType entryType = entry.getFunctionType();
  auto isMemref = [](Type type) { return isa<MemRefType>(type); };
  bool bufferized = llvm::any_of(entryType.getInputs(), isMemref) ||
                    llvm::any_of(entryType.getResults(), isMemref);
  if (bufferized && !(llvm::all_of(entryType.getInputs(), isMemref) &&
                      llvm::all_of(entryType.getResults(), isMemref)))
    return entry.emitError() << "@" << kEntry
                             << " mixes tensors and memrefs: an entry is on "
                                "tensors, or bufferized (memrefs only)";
  if (!bufferized && failed(runPipeline(module, [](OpPassManager &pm) {
        pm.nest<func::FuncOp>().addPass(createMoERaise());
      })))
    return failure();
  *signature += describeLayers(module, !cuda && !emulated &&
                                           options.gpu.precision == "bf16");
  if (cuda)
    *signature +=
        "target cuda " + options.gpu.arch + " " + options.gpu.precision + "\n";
  std::unique_ptr<llvm::TargetMachine> machine =
      createTargetMachine(module, options);
  if (!machine)
    return failure();
  // The CPU kernels' vectors: AVX-512's where the processor has it.
  CpuKernelOptions cpuKernels;
  cpuKernels.vectorBits =
      machine->getMCSubtargetInfo()->checkFeatures("+avx512f") ? 512 : 256;
  cpuKernels.bf16Weights = options.gpu.precision == "bf16";
  if (!bufferized && failed(runPipeline(module, [&](OpPassManager &pm) {
        if (cuda || emulated)
          buildTensorPipeline(pm, &options.gpu);
        else
          buildTensorPipeline(pm, nullptr, &cpuKernels);
      })))
    return failure();
  // Kernels read every constant from device memory: all of them go to the
  // weights file, which the runtime uploads.
  std::string weights;
  if (failed(externalizeWeights(module, entry,
                                cuda || emulated ? 0 : kExternalizeBytes,
                                weights)))
    return failure();
  if (cuda || emulated) {
    WalkResult left = module.walk([](memref::GetGlobalOp get) {
      get.emitError() << "constant @" << get.getName()
                      << " cannot be placed in device memory";
      return WalkResult::interrupt();
    });
    if (left.wasInterrupted())
      return failure();
  }
  copiesAsLinalg(module);
  entry->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
  entry.removeArgAttrsAttr();
  entry.removeResAttrsAttr();
  std::string openmp, ptx;
  if (cuda) {
    FailureOr<std::string> kernels = lowerForCuda(module, options.gpu);
    if (failed(kernels))
      return failure();
    ptx = std::move(*kernels);
  } else {
    // The emulator runs the CUDA target's device mapping, then its kernels
    // as loops, before the CPU lowering.
    if (emulated && failed(runPipeline(module, [&](OpPassManager &pm) {
          buildEmulationPipeline(pm, options.gpu);
        })))
      return failure();
    // The emulator's blocks run in parallel, as the CPU's loops do.
    openmp = findOpenMPRuntime();
    if (failed(runPipeline(module, [&](OpPassManager &pm) {
          buildCpuLoweringPipeline(pm, !openmp.empty(), cpuKernels.vectorBits,
                                   emulated);
        })))
      return failure();
  }
  if (kind == EmitKind::Ptx) {
    TempFile output;
    if (failed(makeTemp(module, outputPath, "", output)) ||
        failed(writeFile(module, output.path,
                         [&](llvm::raw_ostream &os) { os << ptx; })))
      return failure();
    return keepAs(module, output, outputPath);
  }

  TempFile output, weightsFile;
  if (failed(makeTemp(module, outputPath, "", output)) ||
      failed(makeTemp(module, outputPath, ".weights", weightsFile)) ||
      failed(writeFile(module, weightsFile.path,
                       [&](llvm::raw_ostream &os) { os << weights; })))
    return failure();
  auto finish = [&]() -> LogicalResult {
    if (failed(keepAs(module, weightsFile, weightsPathFor(outputPath))))
      return failure();
    return keepAs(module, output, outputPath);
  };
  if (kind == EmitKind::Mlir) {
    if (failed(writeFile(module, output.path,
                         [&](llvm::raw_ostream &os) { module.print(os); })))
      return failure();
    return finish();
  }

  // What the lowering left unconverted is named here: LLVM's translation
  // would fail on it, and its OpenMP part does not always fail cleanly.
  WalkResult unlowered = module.walk([](Operation *op) {
    if (!isa<UnrealizedConversionCastOp>(op))
      return WalkResult::advance();
    op->emitError() << "the lowering left a cast from "
                    << op->getOperandTypes() << " to " << op->getResultTypes()
                    << " that LLVM IR cannot express";
    return WalkResult::interrupt();
  });
  if (unlowered.wasInterrupted())
    return failure();
  registerBuiltinDialectTranslation(*ctx);
  registerLLVMDialectTranslation(*ctx);
  registerOpenMPDialectTranslation(*ctx);
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, "moe-artifact");
  if (!llvmModule)
    return module.emitError("translation to LLVM IR failed");
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(machine->getTargetTriple().str());
  addArtifactSymbols(*llvmModule, *signature + cpuLine(*machine),
                     weights.size());
  if (cuda) {
    // The cubin when ptxas is installed; the driver compiles the PTX otherwise.
    std::string cubin;
    if (std::optional<std::string> ptxas = findPtxas()) {
      FailureOr<std::string> assembled =
          assemblePtx(module, *ptxas, ptx, options.gpu.arch);
      if (failed(assembled))
        return failure();
      cubin = std::move(*assembled);
    }
    if (failed(addCudaSymbols(module, *llvmModule, ptx, cubin)))
      return failure();
  } else if (failed(linkInternalShims(module, *llvmModule, kHostAllocator))) {
    return failure();
  }
  optimize(*llvmModule, *machine, options.optLevel);
  if (kind == EmitKind::Llvm) {
    if (failed(writeFile(module, output.path, [&](llvm::raw_ostream &os) {
          llvmModule->print(os, nullptr);
        })))
      return failure();
    return finish();
  }

  TempFile object;
  if (kind == EmitKind::Library &&
      failed(makeTemp(module, outputPath, ".o", object)))
    return failure();
  llvm::StringRef objectPath =
      kind == EmitKind::Library ? object.path.str() : output.path.str();
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(objectPath, ec);
    if (ec)
      return module.emitError() << "cannot write " << objectPath << ": "
                                << ec.message();
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, os, nullptr,
                                     llvm::CodeGenFileType::ObjectFile))
      return module.emitError("the target cannot emit object files");
    codegen.run(*llvmModule);
  }
  if (kind == EmitKind::Library &&
      failed(linkLibrary(module, object.path, output.path,
                         llvmModule->getFunction("__kmpc_fork_call") ? openmp
                                                                     : "")))
    return failure();
  return finish();
}

} // namespace moe

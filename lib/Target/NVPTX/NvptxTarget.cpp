//===- NvptxTarget.cpp - kernels to PTX and cubin, launches to the runtime ===//
//
// The CUDA target's device half. Bufferized work moves into gpu.launch kernels
// (moe-offload-to-gpu), which are outlined into one gpu.module, lowered to NVVM
// and serialised by LLVM's NVPTX back end with libdevice linked in. Host code
// reaches the runtime through a table of function pointers in the artifact
// (`moe_gpu_api`), which the runtime fills when it loads the library; the
// table's users are the only functions the host code calls.
//
//===----------------------------------------------------------------------===//

#include "moe/Target/Artifact.h"
#include "moe/Runtime/ArtifactAbi.h"
#include "moe/Target/NVPTX.h"
#include "moe/Target/Pipelines.h"

#include "dialects/gpu/IR/MoEGpuDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/FunctionCallUtils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/AsmParser/Parser.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/Module.h"
#include "llvm/Linker/Linker.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"

extern "C" void LLVMInitializeNVPTXTargetInfo();
extern "C" void LLVMInitializeNVPTXTarget();
extern "C" void LLVMInitializeNVPTXTargetMC();
extern "C" void LLVMInitializeNVPTXAsmPrinter();

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kKernelModule = "moe_kernels";
constexpr llvm::StringLiteral kLaunchFunction = "moe_gpu_launch";
constexpr llvm::StringLiteral kImageSymbol = MOE_ABI_CUDA_MODULE;
constexpr llvm::StringLiteral kNvptxTriple = "nvptx64-nvidia-cuda";

/// The PTX ISA version (times ten) the kernels of `arch` are written in: the
/// first with that architecture (PTX ISA 8.5, "Release Notes"), as the kernels
/// use nothing newer, so that the oldest ptxas and driver that know the
/// architecture read them.
unsigned ptxVersionFor(llvm::StringRef arch) {
  static const std::pair<llvm::StringLiteral, unsigned> kFirst[] = {
      {"sm_90a", 80}, {"sm_90", 78}, {"sm_89", 78},
      {"sm_87", 74},  {"sm_86", 71}, {"sm_80", 70},
      {"sm_75", 63},  {"sm_72", 61}, {"sm_70", 60}};
  for (const auto &[name, version] : kFirst)
    if (arch == name)
      return version;
  return 80;
}

std::string ptxFeatures(llvm::StringRef arch) {
  return "+ptx" + std::to_string(ptxVersionFor(arch));
}

/// The newest PTX ISA version (times ten) the ptxas of CUDA `major.minor`
/// reads (PTX ISA 8.5, "Release Notes").
unsigned newestPtxOf(unsigned major, unsigned minor) {
  if (major >= 12)
    return 80 + 10 * (major - 12) + minor;
  if (major == 11)
    return 70 + minor;
  if (major == 10)
    return 63 + minor;
  return 60;
}

/// What host code calls, defined over the runtime's table: alloc, free, read,
/// launch, in the order of `moe_gpu_api` (moe/Runtime/ArtifactAbi.h).
static_assert(MOE_GPU_SLOT_ALLOC == 0 && MOE_GPU_SLOT_FREE == 1 &&
                  MOE_GPU_SLOT_READ == 2 && MOE_GPU_SLOT_LAUNCH == 3 &&
                  MOE_GPU_SLOTS == 4,
              "kRuntimeShims indexes moe_gpu_api with these slots");
constexpr llvm::StringLiteral kRuntimeShims = R"(
@moe_gpu_api = global [4 x ptr] zeroinitializer

define ptr @_mlir_memref_to_llvm_alloc(i64 %bytes) {
  %f = load ptr, ptr @moe_gpu_api
  %p = call ptr %f(i64 %bytes)
  ret ptr %p
}

define ptr @_mlir_memref_to_llvm_aligned_alloc(i64 %alignment, i64 %bytes) {
  %f = load ptr, ptr @moe_gpu_api
  %p = call ptr %f(i64 %bytes)
  ret ptr %p
}

define void @_mlir_memref_to_llvm_free(ptr %p) {
  %slot = getelementptr [4 x ptr], ptr @moe_gpu_api, i64 0, i64 1
  %f = load ptr, ptr %slot
  call void %f(ptr %p)
  ret void
}

define void @moe_gpu_read(i64 %host, i64 %device, i64 %bytes) {
  %slot = getelementptr [4 x ptr], ptr @moe_gpu_api, i64 0, i64 2
  %f = load ptr, ptr %slot
  call void %f(i64 %host, i64 %device, i64 %bytes)
  ret void
}

define void @moe_gpu_launch(ptr %image, ptr %function, ptr %name, i64 %gx,
                            i64 %gy, i64 %gz, i64 %bx, i64 %by, i64 %bz,
                            i32 %shared, ptr %params) {
  %slot = getelementptr [4 x ptr], ptr @moe_gpu_api, i64 0, i64 3
  %f = load ptr, ptr %slot
  call void %f(ptr %image, ptr %function, ptr %name, i64 %gx, i64 %gy,
               i64 %gz, i64 %bx, i64 %by, i64 %bz, i32 %shared, ptr %params)
  ret void
}
)";

/// The CUDA installation: CUDA_HOME, CUDA_PATH, then /usr/local/cuda.
std::optional<std::string> findCudaRoot() {
  for (const char *variable : {"CUDA_HOME", "CUDA_PATH"})
    if (std::optional<std::string> root = llvm::sys::Process::GetEnv(variable))
      if (llvm::sys::fs::is_directory(*root))
        return root;
  if (llvm::sys::fs::is_directory("/usr/local/cuda"))
    return std::string("/usr/local/cuda");
  return std::nullopt;
}

std::string findLibdevice() {
  if (std::optional<std::string> root = findCudaRoot()) {
    llvm::SmallString<128> path(*root);
    llvm::sys::path::append(path, "nvvm", "libdevice", "libdevice.10.bc");
    if (llvm::sys::fs::exists(path))
      return path.str().str();
  }
  return "";
}

/// Moves every outlined kernel into one gpu.module, so that an artifact has
/// one PTX module, loaded once.
LogicalResult mergeKernelModules(ModuleOp module) {
  SmallVector<gpu::GPUModuleOp> modules(module.getOps<gpu::GPUModuleOp>());
  if (modules.empty())
    return success();
  OpBuilder b(modules.front());
  auto merged = b.create<gpu::GPUModuleOp>(module.getLoc(), kKernelModule);
  SymbolTable mergedSymbols(merged);
  // Outlining names each module uniquely and each kernel after the function
  // it came from: a kernel takes its module's name.
  llvm::DenseMap<std::pair<StringAttr, StringAttr>, StringAttr> renamed;
  for (gpu::GPUModuleOp kernels : modules) {
    for (Operation &op :
         llvm::make_early_inc_range(kernels.getBody()->getOperations())) {
      if (op.hasTrait<OpTrait::IsTerminator>())
        continue;
      auto symbol = dyn_cast<SymbolOpInterface>(op);
      if (auto function = dyn_cast<gpu::GPUFuncOp>(op);
          function && function.isKernel()) {
        StringAttr name = kernels.getNameAttr();
        renamed[{kernels.getNameAttr(), function.getNameAttr()}] = name;
        function.setName(name);
      }
      if (symbol)
        if (Operation *existing = mergedSymbols.lookup(symbol.getName())) {
          if (!OperationEquivalence::isEquivalentTo(
                  existing, &op, OperationEquivalence::ignoreValueEquivalence,
                  nullptr, OperationEquivalence::IgnoreLocations))
            return op.emitError() << "two kernel modules define @"
                                  << symbol.getName() << " differently";
          op.erase();
          continue;
        }
      op.remove();
      mergedSymbols.insert(&op);
    }
  }
  MLIRContext *ctx = module.getContext();
  WalkResult walk = module.walk([&](gpu::LaunchFuncOp launch) {
    auto it =
        renamed.find({launch.getKernelModuleName(), launch.getKernelName()});
    if (it == renamed.end()) {
      launch.emitError("launches a kernel that outlining did not produce");
      return WalkResult::interrupt();
    }
    launch.setKernelAttr(SymbolRefAttr::get(
        ctx, kKernelModule, {FlatSymbolRefAttr::get(it->second)}));
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  for (gpu::GPUModuleOp kernels : modules)
    kernels.erase();
  return success();
}

/// An internal global holding a null pointer: where the runtime caches the
/// CUfunction of one launch site.
LLVM::GlobalOp createFunctionSlot(ModuleOp module, unsigned index) {
  MLIRContext *ctx = module.getContext();
  auto ptrType = LLVM::LLVMPointerType::get(ctx);
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  auto slot = b.create<LLVM::GlobalOp>(
      module.getLoc(), ptrType, /*isConstant=*/false, LLVM::Linkage::Internal,
      llvm::formatv("moe_kernel_function_{0}", index).str(), Attribute());
  Block *init = b.createBlock(&slot.getInitializerRegion());
  b.setInsertionPointToEnd(init);
  b.create<LLVM::ReturnOp>(
      module.getLoc(),
      b.create<LLVM::ZeroOp>(module.getLoc(), ptrType).getResult());
  return slot;
}

/// Each gpu.launch_func (its operands already LLVM values) becomes
/// `moe_gpu_launch(image, function slot, name, grid, block, shared, params)`,
/// params being an array of pointers to the kernel's arguments, as
/// cuLaunchKernel takes them.
void rewriteLaunches(ModuleOp module) {
  MLIRContext *ctx = module.getContext();
  Location loc = module.getLoc();
  auto ptrType = LLVM::LLVMPointerType::get(ctx);
  auto i64 = IntegerType::get(ctx, 64);
  auto i32 = IntegerType::get(ctx, 32);
  auto imageType =
      LLVM::LLVMStructType::getLiteral(ctx, {ptrType, i64, ptrType, i64});
  OpBuilder top = OpBuilder::atBlockEnd(module.getBody());
  auto launchFunction = top.create<LLVM::LLVMFuncOp>(
      loc, kLaunchFunction,
      LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx),
                                  {ptrType, ptrType, ptrType, i64, i64, i64,
                                   i64, i64, i64, i32, ptrType}));
  auto image = top.create<LLVM::GlobalOp>(loc, imageType, /*isConstant=*/false,
                                          LLVM::Linkage::External, kImageSymbol,
                                          Attribute());
  SmallVector<gpu::LaunchFuncOp> launches;
  module.walk([&](gpu::LaunchFuncOp launch) { launches.push_back(launch); });
  for (auto [index, launch] : llvm::enumerate(launches)) {
    LLVM::GlobalOp slot = createFunctionSlot(module, index);
    auto function = launch->getParentOfType<LLVM::LLVMFuncOp>();
    OpBuilder entry = OpBuilder::atBlockBegin(&function.getBody().front());
    Value one = entry.create<LLVM::ConstantOp>(loc, i64, 1);
    OpBuilder b(launch);
    ValueRange operands = launch.getKernelOperands();
    auto arrayType =
        LLVM::LLVMArrayType::get(ptrType, std::max<size_t>(1, operands.size()));
    Value params = entry.create<LLVM::AllocaOp>(loc, ptrType, arrayType, one);
    for (auto [i, operand] : llvm::enumerate(operands)) {
      Value cell =
          entry.create<LLVM::AllocaOp>(loc, ptrType, operand.getType(), one);
      b.create<LLVM::StoreOp>(loc, operand, cell);
      Value element = b.create<LLVM::GEPOp>(
          loc, ptrType, arrayType, params,
          ArrayRef<LLVM::GEPArg>{0, static_cast<int32_t>(i)});
      b.create<LLVM::StoreOp>(loc, cell, element);
    }
    Value name = LLVM::createGlobalString(
        loc, b, llvm::formatv("moe_kernel_name_{0}", index).str(),
        (launch.getKernelName().getValue() + llvm::StringRef("\0", 1)).str(),
        LLVM::Linkage::Internal);
    Value shared = launch.getDynamicSharedMemorySize();
    if (!shared)
      shared = b.create<LLVM::ConstantOp>(loc, i32, 0);
    b.create<LLVM::CallOp>(
        loc, launchFunction,
        ValueRange{b.create<LLVM::AddressOfOp>(loc, image),
                   b.create<LLVM::AddressOfOp>(loc, slot), name,
                   launch.getGridSizeX(), launch.getGridSizeY(),
                   launch.getGridSizeZ(), launch.getBlockSizeX(),
                   launch.getBlockSizeY(), launch.getBlockSizeZ(), shared,
                   params});
    launch.erase();
  }
}

/// Writes `text` to a new temporary file with `suffix`.
FailureOr<std::string> writeTemporary(ModuleOp module, llvm::StringRef suffix,
                                      llvm::StringRef text) {
  llvm::SmallString<128> path;
  int fd;
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("moe-kernels", suffix, fd, path))
    return module.emitError()
           << "cannot create a temporary file: " << ec.message();
  llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
  os << text;
  os.close();
  if (os.has_error())
    return module.emitError() << "cannot write " << path;
  return path.str().str();
}

/// The bytes of the file at `path`, "" when it cannot be read.
std::string readFile(llvm::StringRef path) {
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                  /*RequiresNullTerminator=*/false);
  return buffer ? (*buffer)->getBuffer().str() : std::string();
}

/// A tool's exit status and what it printed (or why it could not run).
struct ToolRun {
  int status;
  std::string output;
};

/// Runs `args` (the program first) with its standard output and error
/// captured.
FailureOr<ToolRun> runTool(ModuleOp module, ArrayRef<llvm::StringRef> args) {
  FailureOr<std::string> log = writeTemporary(module, "log", "");
  if (failed(log))
    return failure();
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, *log, *log};
  std::string error;
  int status = llvm::sys::ExecuteAndWait(args.front(), args, std::nullopt,
                                         redirects, 0, 0, &error);
  std::string output = readFile(*log);
  llvm::sys::fs::remove(*log);
  return ToolRun{status, output.empty() ? error : output};
}

/// The CUDA release a tool's `--version` names ("release 12.4"), or 0.0.
std::pair<unsigned, unsigned> cudaRelease(llvm::StringRef text) {
  unsigned major = 0, minor = 0;
  size_t at = text.find("release ");
  if (at == llvm::StringRef::npos)
    return {0, 0};
  llvm::StringRef rest = text.drop_front(at + 8);
  auto digits = [](char c) { return llvm::isDigit(c); };
  llvm::StringRef majorText = rest.take_while(digits);
  rest = rest.drop_front(majorText.size());
  if (majorText.getAsInteger(10, major))
    return {0, 0};
  if (rest.consume_front(".") &&
      rest.take_while(digits).getAsInteger(10, minor))
    minor = 0;
  return {major, minor};
}

} // namespace

namespace moe {

bool isKnownCudaArch(llvm::StringRef arch) {
  LLVMInitializeNVPTXTargetInfo();
  LLVMInitializeNVPTXTarget();
  LLVMInitializeNVPTXTargetMC();
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(kNvptxTriple.str(), error);
  if (!target)
    return false;
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget(
      target->createMCSubtargetInfo(kNvptxTriple, arch, ptxFeatures(arch)));
  return subtarget && subtarget->isCPUStringValid(arch);
}

FailureOr<std::string> lowerForCuda(ModuleOp module,
                                    const GpuKernelOptions &options) {
  llvm::StringRef arch = options.arch;
  LLVMInitializeNVPTXTargetInfo();
  LLVMInitializeNVPTXTarget();
  LLVMInitializeNVPTXTargetMC();
  LLVMInitializeNVPTXAsmPrinter();
  MLIRContext *ctx = module.getContext();
  registerBuiltinDialectTranslation(*ctx);
  registerLLVMDialectTranslation(*ctx);
  registerNVVMDialectTranslation(*ctx);
  registerGPUDialectTranslation(*ctx);
  if (failed(runPipeline(module,
                         [&](OpPassManager &pm) {
                           buildOffloadPipeline(pm, options);
                           // Constants and index computations go into the
                           // kernels (not in as parameters): loop bounds,
                           // divisors and strides stay known to LLVM.
                           pm.addPass(
                               createGpuLauchSinkIndexComputationsPass());
                           pm.addPass(createGpuKernelOutliningPass());
                         })) ||
      failed(mergeKernelModules(module)))
    return failure();
  // A persistent kernel's grid: its work, negated, which the runtime's launch
  // takes for "as many blocks as the device holds, at most this many"
  // (moe/Runtime/ArtifactAbi.h).
  module.walk([](moe_gpu::ResidentGridOp op) {
    OpBuilder b(op);
    Value zero = b.create<arith::ConstantIndexOp>(op.getLoc(), 0);
    op.replaceAllUsesWith(
        b.create<arith::SubIOp>(op.getLoc(), zero, op.getWork()).getResult());
    op.erase();
  });
  // Shared buffers are 16-byte aligned, as cp.async of 16 bytes, ldmatrix rows
  // and vector accesses need (the NVPTX back end aligns them to the element
  // otherwise).
  module.walk([](gpu::GPUFuncOp func) {
    for (unsigned i = 0; i < func.getNumWorkgroupAttributions(); ++i)
      func.setWorkgroupAttributionAttr(
          i, LLVM::LLVMDialect::getAlignAttrName(),
          IntegerAttr::get(IntegerType::get(func.getContext(), 64), 16));
  });
  std::string libdevice = findLibdevice();
  if (failed(runPipeline(module, [&](OpPassManager &pm) {
        buildNvptxPipeline(pm, arch, ptxFeatures(arch), libdevice);
      })))
    return failure();
  std::string ptx;
  for (auto binary : module.getOps<gpu::BinaryOp>())
    for (Attribute attr : binary.getObjects())
      ptx += cast<gpu::ObjectAttr>(attr).getObject().getValue().rtrim('\0');
  if (libdevice.empty() && llvm::StringRef(ptx).contains("__nv_"))
    return module.emitError(
        "the kernels call libdevice's math functions, and no libdevice.10.bc "
        "was found (set CUDA_HOME to the CUDA toolkit)");
  rewriteLaunches(module);
  for (auto binary : llvm::make_early_inc_range(module.getOps<gpu::BinaryOp>()))
    binary.erase();
  module->removeAttr(gpu::GPUDialect::getContainerModuleAttrName());
  return ptx;
}

std::optional<std::string> findPtxas() {
  if (std::optional<std::string> root = findCudaRoot()) {
    llvm::SmallString<128> path(*root);
    llvm::sys::path::append(path, "bin", "ptxas");
    if (llvm::sys::fs::can_execute(path))
      return path.str().str();
  }
  if (llvm::ErrorOr<std::string> found = llvm::sys::findProgramByName("ptxas"))
    return *found;
  return std::nullopt;
}

FailureOr<std::string> assemblePtx(ModuleOp module, llvm::StringRef ptxas,
                                   llvm::StringRef ptx, llvm::StringRef arch) {
  // A ptxas older than the PTX is named as such rather than left to fail.
  FailureOr<ToolRun> version = runTool(module, {ptxas, "--version"});
  if (failed(version))
    return failure();
  auto [major, minor] = cudaRelease(version->output);
  unsigned needed = ptxVersionFor(arch), newest = newestPtxOf(major, minor);
  if (major > 0 && newest < needed)
    return module.emitError()
           << ptxas << " (CUDA " << major << "." << minor
           << ") reads PTX ISA up to " << newest / 10 << "." << newest % 10
           << "; " << arch << " needs PTX ISA " << needed / 10 << "."
           << needed % 10 << " (set CUDA_HOME to a newer toolkit)";

  FailureOr<std::string> input = writeTemporary(module, "ptx", ptx);
  FailureOr<std::string> output = writeTemporary(module, "cubin", "");
  if (failed(input) || failed(output))
    return failure();
  FailureOr<ToolRun> assembled =
      runTool(module, {ptxas, "-arch", arch, "-O3", "-o", *output, *input});
  std::string cubin = readFile(*output);
  for (const std::string &path : {*input, *output})
    llvm::sys::fs::remove(path);
  if (failed(assembled))
    return failure();
  if (assembled->status != 0 || cubin.empty())
    return module.emitError()
           << "ptxas " << arch
           << " rejected the kernels' PTX: " << assembled->output;
  return cubin;
}

LogicalResult linkInternalShims(ModuleOp module, llvm::Module &host,
                                llvm::StringRef text) {
  llvm::SMDiagnostic diagnostic;
  std::unique_ptr<llvm::Module> shims =
      llvm::parseAssemblyString(text, diagnostic, host.getContext());
  if (!shims)
    return module.emitError() << "internal runtime shims do not parse: "
                              << diagnostic.getMessage();
  shims->setDataLayout(host.getDataLayout());
  shims->setTargetTriple(host.getTargetTriple());
  llvm::SmallVector<std::string> defined;
  for (llvm::Function &function : *shims)
    if (!function.isDeclaration())
      defined.push_back(function.getName().str());
  if (llvm::Linker::linkModules(host, std::move(shims)))
    return module.emitError("internal runtime shims do not link");
  for (const std::string &name : defined)
    if (llvm::Function *function = host.getFunction(name))
      function->setLinkage(llvm::GlobalValue::InternalLinkage);
  return success();
}

LogicalResult addCudaSymbols(ModuleOp module, llvm::Module &host,
                             llvm::StringRef ptx, llvm::StringRef cubin) {
  llvm::LLVMContext &ctx = host.getContext();
  if (failed(linkInternalShims(module, host, kRuntimeShims)))
    return failure();

  auto *ptrType = llvm::PointerType::getUnqual(ctx);
  auto *i64 = llvm::Type::getInt64Ty(ctx);
  auto *imageType = llvm::StructType::get(ctx, {ptrType, i64, ptrType, i64});
  auto bytes = [&](llvm::StringRef data, llvm::StringRef name, bool text) {
    auto *init = llvm::ConstantDataArray::getString(ctx, data, text);
    auto *global =
        new llvm::GlobalVariable(host, init->getType(), true,
                                 llvm::GlobalValue::PrivateLinkage, init, name);
    global->setAlignment(llvm::Align(64));
    return global;
  };
  llvm::Constant *init = llvm::ConstantStruct::get(
      imageType, {bytes(ptx, "moe_cuda_ptx", true),
                  llvm::ConstantInt::get(i64, ptx.size()),
                  bytes(cubin, "moe_cuda_cubin", false),
                  llvm::ConstantInt::get(i64, cubin.size())});
  llvm::GlobalVariable *image = host.getNamedGlobal(kImageSymbol);
  if (!image)
    image = new llvm::GlobalVariable(host, imageType, true,
                                     llvm::GlobalValue::ExternalLinkage,
                                     nullptr, kImageSymbol);
  image->setInitializer(init);
  image->setConstant(true);
  image->setLinkage(llvm::GlobalValue::ExternalLinkage);
  return success();
}

} // namespace moe

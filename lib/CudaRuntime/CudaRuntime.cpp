//===- CudaRuntime.cpp - host side of gpu.launch_func over the driver API -===//
//
// The mgpu* functions that MLIR's gpu-to-llvm lowering calls (module load,
// kernel launch, streams, events, memory), implemented over the CUDA driver
// API. Debian ships no MLIR CUDA runtime, so compiled modules link this one
// (mrope's JIT, mlir-runner -shared-libs=..., or AOT objects).
//
// The driver library is opened with dlopen on first use rather than linked:
// the runtime loads on any machine, and where no NVIDIA driver or GPU is
// present every entry point reports that plainly and exits non-zero instead
// of failing inside the dynamic loader or crashing later. Any driver error
// (a failed launch, an illegal address seen at synchronization) is reported
// with the call that failed and exits too: a wrong result is never silent.
// A process that embeds compiled modules (the Python package) asks for
// errors as values instead (mropeCudaSetErrorMode, per calling thread) and
// checks after each call.
//
//===----------------------------------------------------------------------===//

#include <cuda.h>

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_set>

#define MROPE_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

/// Ends the program with status 1 after flushing every C stream. _exit, not
/// exit: the first call may come from a module constructor running inside
/// dlopen (e.g. ctypes in Python), where exit's atexit handlers deadlock on
/// the loader lock.
[[noreturn]] void terminate() {
  std::fflush(nullptr);
  _exit(1);
}

/// How errors end and where launches go, per thread: generated code runs
/// its driver calls on the thread that called it, so an embedding process
/// (Python) opts its own calling threads in, while other threads of the
/// process (an AOT executable's, another library's) keep the defaults.
struct ThreadSettings {
  /// Errors end the program (the default, for mlir-runner and AOT
  /// executables, whose generated code cannot check results), or become a
  /// pending error the embedding process takes (mropeCudaSetErrorMode).
  bool recordErrors = false;
  bool errorPending = false;
  std::string pendingError;
  /// Set by mropeCudaUseStream: generated code launches into this stream
  /// and does not wait for it (the caller synchronizes).
  CUstream userStream = nullptr;
  bool useUserStream = false;
};
thread_local ThreadSettings thisThread;

/// Reports `message`: prints it and exits, or records it when no error is
/// pending yet (the first error is the one that explains the others).
void report(const std::string &message) {
  if (!thisThread.recordErrors) {
    std::fprintf(stderr, "mrope CUDA runtime: %s\n", message.c_str());
    terminate();
  }
  if (!thisThread.errorPending) {
    thisThread.pendingError = message;
    thisThread.errorPending = true;
  }
}

bool hasPendingError() {
  return thisThread.recordErrors && thisThread.errorPending;
}

/// The driver entry points used here, resolved from libcuda.so.1. Names go
/// through cuda.h's macros (cuMemAlloc -> cuMemAlloc_v2), so the versioned
/// symbols are the ones the headers describe.
struct Driver {
#define MROPE_CUDA_FUNCTIONS(X)                                                \
  X(cuInit)                                                                    \
  X(cuGetErrorName)                                                            \
  X(cuGetErrorString)                                                          \
  X(cuDeviceGetCount)                                                          \
  X(cuDeviceGet)                                                               \
  X(cuDeviceGetAttribute)                                                      \
  X(cuDevicePrimaryCtxRetain)                                                  \
  X(cuCtxSetCurrent)                                                           \
  X(cuCtxSynchronize)                                                          \
  X(cuModuleLoadData)                                                          \
  X(cuModuleLoadDataEx)                                                        \
  X(cuModuleUnload)                                                            \
  X(cuModuleGetFunction)                                                       \
  X(cuFuncSetAttribute)                                                        \
  X(cuLaunchKernel)                                                            \
  X(cuStreamCreate)                                                            \
  X(cuStreamDestroy)                                                           \
  X(cuStreamSynchronize)                                                       \
  X(cuStreamWaitEvent)                                                         \
  X(cuEventCreate)                                                             \
  X(cuEventDestroy)                                                            \
  X(cuEventRecord)                                                             \
  X(cuEventSynchronize)                                                        \
  X(cuEventElapsedTime)                                                        \
  X(cuMemAlloc)                                                                \
  X(cuMemAllocAsync)                                                           \
  X(cuMemAllocManaged)                                                         \
  X(cuMemFree)                                                                 \
  X(cuMemFreeAsync)                                                            \
  X(cuMemcpyAsync)                                                             \
  X(cuMemsetD32Async)                                                          \
  X(cuMemsetD16Async)                                                          \
  X(cuMemHostRegister)                                                         \
  X(cuMemHostUnregister)
#define MROPE_STRINGIFY_EXPANDED(name) MROPE_STRINGIFY(name)
#define MROPE_STRINGIFY(name) #name
#define MROPE_DECLARE(name) decltype(&name) p_##name = nullptr;
  MROPE_CUDA_FUNCTIONS(MROPE_DECLARE)
#undef MROPE_DECLARE

  CUdevice device = 0;
  CUcontext context = nullptr;
};

/// "call failed: NAME (text)" with the driver's name and text for `result`.
std::string driverError(const Driver &d, CUresult result, const char *call) {
  const char *name = nullptr, *text = nullptr;
  d.p_cuGetErrorName(result, &name);
  d.p_cuGetErrorString(result, &text);
  return std::string(call) + " failed: " + (name ? name : "unknown error") +
         " (" + (text ? text : "") + ")";
}

int defaultDevice = -1;

/// The driver library: $MROPE_CUDA_DRIVER when set (a driver outside the
/// loader's path, or a test double), else the loader's libcuda.so.1.
const char *driverLibrary() {
  const char *path = std::getenv("MROPE_CUDA_DRIVER");
  return path && *path ? path : "libcuda.so.1";
}

/// Opens the driver, initializes it and retains the primary context of the
/// chosen device (mgpuSetDefaultDevice, else $MROPE_CUDA_DEVICE, else 0).
/// Returns null after reporting why when that is not possible; the reason
/// is kept and reported again on every later use.
Driver *driver() {
  static Driver d;
  static std::string initError;
  static std::once_flag once;
  std::call_once(once, [] {
    void *lib = dlopen(driverLibrary(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char *why = dlerror();
      initError =
          std::string("cannot load the NVIDIA driver library ") +
          driverLibrary() +
          " (no NVIDIA GPU driver on this machine?): " + (why ? why : "");
      return;
    }
#define MROPE_RESOLVE(name)                                                    \
  d.p_##name = reinterpret_cast<decltype(&name)>(                              \
      dlsym(lib, MROPE_STRINGIFY_EXPANDED(name)));                             \
  if (!d.p_##name) {                                                           \
    initError = "the NVIDIA driver lacks " MROPE_STRINGIFY_EXPANDED(           \
        name) " (driver too old for CUDA 12 entry points?)";                   \
    return;                                                                    \
  }
    MROPE_CUDA_FUNCTIONS(MROPE_RESOLVE)
#undef MROPE_RESOLVE
    auto failed = [&](CUresult result, const char *call) {
      if (result != CUDA_SUCCESS)
        initError = driverError(d, result, call);
      return result != CUDA_SUCCESS;
    };
    if (failed(d.p_cuInit(0), "cuInit (no usable NVIDIA GPU?)"))
      return;
    int count = 0;
    if (failed(d.p_cuDeviceGetCount(&count), "cuDeviceGetCount"))
      return;
    if (count == 0) {
      initError = "no CUDA device found";
      return;
    }
    int ordinal = defaultDevice;
    if (ordinal < 0) {
      const char *env = std::getenv("MROPE_CUDA_DEVICE");
      ordinal = env ? std::atoi(env) : 0;
    }
    if (ordinal < 0 || ordinal >= count) {
      initError = "device ordinal " + std::to_string(ordinal) +
                  " out of range: " + std::to_string(count) +
                  " device(s) (MROPE_CUDA_DEVICE or mgpuSetDefaultDevice)";
      return;
    }
    if (failed(d.p_cuDeviceGet(&d.device, ordinal), "cuDeviceGet"))
      return;
    failed(d.p_cuDevicePrimaryCtxRetain(&d.context, d.device),
           "cuDevicePrimaryCtxRetain");
  });
  if (!initError.empty()) {
    report(initError);
    return nullptr;
  }
  // The primary context, current on whichever thread calls in.
  thread_local bool current = false;
  if (!current) {
    CUresult result = d.p_cuCtxSetCurrent(d.context);
    if (result != CUDA_SUCCESS) {
      report(driverError(d, result, "cuCtxSetCurrent"));
      return nullptr;
    }
    current = true;
  }
  return &d;
}

/// Runs one driver call unless an error is pending (recorded mode: the
/// calls after a failure are skipped, so generated code that cannot check
/// results runs to its end without touching the device again). Returns
/// whether the call succeeded; a failure's report ends with `jitLog` when
/// given (the PTX compiler's log).
template <typename Call>
bool callDriver(const char *name, Call &&call, const char *jitLog = nullptr) {
  if (hasPendingError())
    return false;
  Driver *d = driver();
  if (!d)
    return false;
  CUresult result = call(*d);
  if (result == CUDA_SUCCESS)
    return true;
  std::string message = driverError(*d, result, name);
  if (jitLog)
    message += std::string("\nPTX JIT log:\n") + jitLog;
  report(message);
  return false;
}

#define MROPE_CALL(name, ...)                                                  \
  callDriver(#name, [&](Driver &d) { return d.p_##name(__VA_ARGS__); })

/// A memref descriptor's data: rank, then {allocated, aligned, offset,
/// sizes[rank], strides[rank]}.
struct StridedData {
  void *pointer;
  size_t bytes;
};

StridedData dataOf(int64_t rank, void *descriptor, int64_t elementSize) {
  auto *fields = static_cast<int64_t *>(descriptor);
  char *aligned = reinterpret_cast<char *>(fields[1]);
  int64_t offset = fields[2];
  int64_t elements = 1;
  for (int64_t i = 0; i < rank; ++i)
    elements *= fields[3 + i];
  return {aligned + offset * elementSize, size_t(elements * elementSize)};
}

} // namespace

MROPE_EXPORT void mgpuSetDefaultDevice(int32_t device) {
  defaultDevice = device;
}

MROPE_EXPORT CUmodule mgpuModuleLoad(void *data, size_t /*size*/) {
  CUmodule module = nullptr;
  MROPE_CALL(cuModuleLoadData, &module, data);
  return module;
}

/// PTX (format=isa): the driver compiles it; its log is shown on failure.
MROPE_EXPORT CUmodule mgpuModuleLoadJIT(void *data, int optLevel) {
  char log[8192] = {0};
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER,
                            CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                            CU_JIT_OPTIMIZATION_LEVEL};
  void *values[] = {log, reinterpret_cast<void *>(sizeof(log)),
                    reinterpret_cast<void *>(intptr_t(optLevel))};
  CUmodule module = nullptr;
  callDriver(
      "cuModuleLoadDataEx (PTX JIT)",
      [&](Driver &d) {
        return d.p_cuModuleLoadDataEx(&module, data, 3, options, values);
      },
      log);
  return module;
}

MROPE_EXPORT void mgpuModuleUnload(CUmodule module) {
  // Compiled modules unload their GPU modules from global destructors, at
  // process exit, when the driver may already be deinitialized (and the
  // module gone with its context): not an error to report then.
  callDriver("cuModuleUnload", [&](Driver &d) {
    CUresult result = d.p_cuModuleUnload(module);
    return result == CUDA_ERROR_DEINITIALIZED ? CUDA_SUCCESS : result;
  });
}

MROPE_EXPORT CUfunction mgpuModuleGetFunction(CUmodule module,
                                              const char *name) {
  CUfunction function = nullptr;
  MROPE_CALL(cuModuleGetFunction, &function, module, name);
  return function;
}

MROPE_EXPORT void mgpuLaunchKernel(CUfunction function, intptr_t gridX,
                                   intptr_t gridY, intptr_t gridZ,
                                   intptr_t blockX, intptr_t blockY,
                                   intptr_t blockZ, int32_t sharedMemBytes,
                                   CUstream stream, void **params, void **extra,
                                   size_t /*paramsCount*/) {
  // Above 48 KiB of dynamic shared memory a kernel must opt in.
  if (sharedMemBytes > 48 * 1024)
    MROPE_CALL(cuFuncSetAttribute, function,
               CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, sharedMemBytes);
  MROPE_CALL(cuLaunchKernel, function, unsigned(gridX), unsigned(gridY),
             unsigned(gridZ), unsigned(blockX), unsigned(blockY),
             unsigned(blockZ), unsigned(sharedMemBytes), stream, params, extra);
}

MROPE_EXPORT CUstream mgpuStreamCreate() {
  if (thisThread.useUserStream)
    return thisThread.userStream;
  CUstream stream = nullptr;
  MROPE_CALL(cuStreamCreate, &stream, CU_STREAM_NON_BLOCKING);
  return stream;
}

MROPE_EXPORT void mgpuStreamDestroy(CUstream stream) {
  if (thisThread.useUserStream && stream == thisThread.userStream)
    return;
  MROPE_CALL(cuStreamDestroy, stream);
}

MROPE_EXPORT void mgpuStreamSynchronize(CUstream stream) {
  if (thisThread.useUserStream && stream == thisThread.userStream)
    return;
  MROPE_CALL(cuStreamSynchronize, stream);
}

MROPE_EXPORT void mgpuStreamWaitEvent(CUstream stream, CUevent event) {
  MROPE_CALL(cuStreamWaitEvent, stream, event, 0);
}

MROPE_EXPORT CUevent mgpuEventCreate() {
  CUevent event = nullptr;
  MROPE_CALL(cuEventCreate, &event, CU_EVENT_DISABLE_TIMING);
  return event;
}

MROPE_EXPORT void mgpuEventDestroy(CUevent event) {
  MROPE_CALL(cuEventDestroy, event);
}

MROPE_EXPORT void mgpuEventSynchronize(CUevent event) {
  MROPE_CALL(cuEventSynchronize, event);
}

MROPE_EXPORT void mgpuEventRecord(CUevent event, CUstream stream) {
  MROPE_CALL(cuEventRecord, event, stream);
}

/// Managed memory is not from the stream-ordered pool and is freed with
/// cuMemFree.
static std::unordered_set<CUdeviceptr> &managedAllocations() {
  static std::unordered_set<CUdeviceptr> pointers;
  return pointers;
}

MROPE_EXPORT void *mgpuMemAlloc(uint64_t bytes, CUstream stream,
                                bool isHostShared) {
  if (bytes == 0)
    return nullptr;
  CUdeviceptr pointer = 0;
  if (isHostShared) {
    MROPE_CALL(cuMemAllocManaged, &pointer, bytes, CU_MEM_ATTACH_GLOBAL);
    managedAllocations().insert(pointer);
  } else // Stream-ordered, from the driver's pool: a function's temporaries
         // (the rotated keys of a fused attention) cost no cuMemAlloc and no
         // synchronizing cuMemFree per call.
    MROPE_CALL(cuMemAllocAsync, &pointer, bytes, stream);
  return reinterpret_cast<void *>(pointer);
}

MROPE_EXPORT void mgpuMemFree(void *pointer, CUstream stream) {
  if (!pointer)
    return;
  auto device = reinterpret_cast<CUdeviceptr>(pointer);
  if (managedAllocations().erase(device))
    MROPE_CALL(cuMemFree, device);
  else
    MROPE_CALL(cuMemFreeAsync, device, stream);
}

MROPE_EXPORT void mgpuMemcpy(void *dst, void *src, size_t bytes,
                             CUstream stream) {
  MROPE_CALL(cuMemcpyAsync, reinterpret_cast<CUdeviceptr>(dst),
             reinterpret_cast<CUdeviceptr>(src), bytes, stream);
}

MROPE_EXPORT void mgpuMemset32(void *dst, unsigned int value, size_t count,
                               CUstream stream) {
  MROPE_CALL(cuMemsetD32Async, reinterpret_cast<CUdeviceptr>(dst), value, count,
             stream);
}

MROPE_EXPORT void mgpuMemset16(void *dst, unsigned short value, size_t count,
                               CUstream stream) {
  MROPE_CALL(cuMemsetD16Async, reinterpret_cast<CUdeviceptr>(dst), value, count,
             stream);
}

MROPE_EXPORT void mgpuMemHostRegister(void *pointer, uint64_t bytes) {
  MROPE_CALL(cuMemHostRegister, pointer, bytes, 0);
}

MROPE_EXPORT void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                                            int64_t elementSize) {
  StridedData data = dataOf(rank, descriptor, elementSize);
  mgpuMemHostRegister(data.pointer, data.bytes);
}

MROPE_EXPORT void mgpuMemHostUnregister(void *pointer) {
  MROPE_CALL(cuMemHostUnregister, pointer);
}

MROPE_EXPORT void mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                                              int64_t elementSize) {
  mgpuMemHostUnregister(dataOf(rank, descriptor, elementSize).pointer);
}

//===----------------------------------------------------------------------===//
// Timing for runners and benchmarks (not called by generated code).
//===----------------------------------------------------------------------===//

/// From now on, generated code called from this thread enqueues its
/// launches and copies on `stream` (e.g. PyTorch's current stream) and
/// returns without waiting; the caller synchronizes. Ordering with the
/// caller's other work on that stream is the stream's.
/// mropeCudaUseOwnStreams() restores the default (a stream per operation,
/// waited for).
MROPE_EXPORT void mropeCudaUseStream(CUstream stream) {
  if (!driver())
    return;
  thisThread.userStream = stream;
  thisThread.useUserStream = true;
}

MROPE_EXPORT void mropeCudaUseOwnStreams() { thisThread.useUserStream = false; }

/// Blocks until all work on the current device is done.
MROPE_EXPORT void mropeCudaSynchronize() { MROPE_CALL(cuCtxSynchronize); }

/// A timing event (mgpuEventCreate's disable timing).
MROPE_EXPORT CUevent mropeCudaTimerEventCreate() {
  CUevent event = nullptr;
  MROPE_CALL(cuEventCreate, &event, CU_EVENT_DEFAULT);
  return event;
}

/// Milliseconds between two recorded events (waits for `end`).
MROPE_EXPORT float mropeCudaElapsedMs(CUevent start, CUevent end) {
  MROPE_CALL(cuEventSynchronize, end);
  float ms = 0;
  MROPE_CALL(cuEventElapsedTime, &ms, start, end);
  return ms;
}

//===----------------------------------------------------------------------===//
// Embedding (the Python package): errors as values, device facts.
//===----------------------------------------------------------------------===//

/// With `record` non-zero, errors on the calling thread no longer end the
/// program: the first one is kept until mropeCudaTakeError (on the same
/// thread), and runtime calls the thread makes while it is pending do
/// nothing (the generated code that follows a failed call runs to its end
/// without touching the device). A process that embeds compiled modules
/// (Python) sets it on each thread it calls them from and checks for an
/// error after each call; its other threads keep errors fatal.
MROPE_EXPORT void mropeCudaSetErrorMode(int record) {
  thisThread.recordErrors = record != 0;
}

/// Copies the calling thread's pending error into `buffer` (NUL-terminated,
/// truncated to `size`), clears it and returns 1; returns 0 when there is
/// none.
MROPE_EXPORT int mropeCudaTakeError(char *buffer, size_t size) {
  if (!thisThread.errorPending)
    return 0;
  if (buffer && size) {
    size_t n = std::min(size - 1, thisThread.pendingError.size());
    std::memcpy(buffer, thisThread.pendingError.data(), n);
    buffer[n] = 0;
  }
  thisThread.errorPending = false;
  thisThread.pendingError.clear();
  return 1;
}

/// The compute capability of the runtime's device (e.g. 9, 0 for an H100);
/// returns 0 (and reports why) when there is no usable device.
MROPE_EXPORT int mropeCudaDeviceCapability(int *major, int *minor) {
  return MROPE_CALL(cuDeviceGetAttribute, major,
                    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d.device) &&
         MROPE_CALL(cuDeviceGetAttribute, minor,
                    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d.device);
}

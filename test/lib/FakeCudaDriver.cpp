//===- FakeCudaDriver.cpp - a CUDA driver test double without a GPU -------===//
//
// libmrope_cuda_runtime.so opens the driver named by $MROPE_CUDA_DRIVER; the
// tests point it here to run the host side of compiled GPU programs on
// machines without a GPU: the runtime's calls, the generated host code's
// launches and copies, and the runtime's error reporting.
//
// What it models, so that host-side mistakes show:
// - device memory at addresses the host cannot dereference (a reserved,
//   inaccessible range; contents live in shadow buffers), so host code
//   that reads a device pointer crashes;
// - stream order: copies, memsets, launches and frees run only when their
//   stream is synchronized (or an event recorded after them is waited for),
//   so a host that reads a copy's destination too early sees old bytes;
// - what a real launch checks: a function of a loaded module, block and
//   grid limits, dynamic shared memory above 48 KiB only after the opt-in
//   attribute, the module's target against the device (PTX .target), and
//   for PTX the kernel's parameter list; a kernel parameter that holds an
//   address outside every live device allocation makes the next
//   synchronization fail with CUDA_ERROR_ILLEGAL_ADDRESS, as a fault would.
// Kernels do not execute: results are not computed.
//
// Environment: FAKE_CUDA_TRACE=<file> (or "-" for stderr) logs every call;
// FAKE_CUDA_DEVICES (default 1); FAKE_CUDA_CAPABILITY (default 9.0);
// FAKE_CUDA_FAIL=<call>[:<n>] makes the n-th (default first) call of that
// entry point fail.
//
//===----------------------------------------------------------------------===//

#include <cuda.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

constexpr size_t kAddressSpace = size_t(1) << 36;
constexpr unsigned kDefaultSharedLimit = 48 * 1024;
constexpr unsigned kOptInSharedLimit = 227 * 1024;

struct Allocation {
  int serial;
  std::vector<char> shadow;
};

struct Kernel {
  std::string name;
  /// Parameter sizes in bytes (PTX only; empty when unknown).
  std::vector<unsigned> params;
  bool paramsKnown = false;
  unsigned staticShared = 0;
  unsigned maxDynamicShared = kDefaultSharedLimit;
};

struct Module {
  std::string target; // "sm_90a"; empty for binaries
  std::vector<char> image;
  std::map<std::string, Kernel> kernels;
  bool ptx = false;
};

struct Event {
  bool timing = true;
  bool recorded = false;
  CUstream stream = nullptr;
};

struct State {
  std::mutex mutex;
  FILE *trace = nullptr;
  int devices = 1, major = 9, minor = 0;
  std::string failCall;
  int failAt = 1;
  std::map<std::string, int> calls;
  bool initialized = false;

  char *base = nullptr;
  size_t next = 0;
  int serials = 0;
  std::map<uintptr_t, Allocation> allocations; // by start address
  std::map<CUstream, std::vector<std::function<void()>>> queues;
  std::vector<std::unique_ptr<Module>> modules;
  std::vector<std::unique_ptr<Event>> events;
  std::vector<std::unique_ptr<int>> streams;
  int streamSerials = 0;
  /// A launch read an address outside every allocation: the next
  /// synchronization reports it, as a fault would be.
  bool faulted = false;

  State() {
    const char *path = std::getenv("FAKE_CUDA_TRACE");
    if (path && std::strcmp(path, "-") == 0)
      trace = stderr;
    else if (path && *path)
      trace = std::fopen(path, "w");
    if (const char *n = std::getenv("FAKE_CUDA_DEVICES"))
      devices = std::atoi(n);
    if (const char *c = std::getenv("FAKE_CUDA_CAPABILITY"))
      std::sscanf(c, "%d.%d", &major, &minor);
    if (const char *f = std::getenv("FAKE_CUDA_FAIL")) {
      failCall = f;
      size_t colon = failCall.find(':');
      if (colon != std::string::npos) {
        failAt = std::atoi(failCall.c_str() + colon + 1);
        failCall.resize(colon);
      }
    }
    void *space = mmap(nullptr, kAddressSpace, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    base = space == MAP_FAILED ? nullptr : static_cast<char *>(space);
  }

  /// The process is exiting: the summary line; later calls (compiled
  /// modules' global destructors unloading their GPU modules) find the
  /// driver deinitialized, as the real one is by then.
  void reportExit() {
    size_t pending = 0;
    for (auto &[stream, queue] : queues)
      pending += queue.size();
    log("exit: %zu live allocations, %zu operations never synchronized",
        allocations.size(), pending);
    exited = true;
  }
  bool exited = false;

  void print(const char *prefix, const char *format, va_list args) {
    if (!trace)
      return;
    std::fprintf(trace, "fake-cuda: %s", prefix);
    std::vfprintf(trace, format, args);
    std::fprintf(trace, "\n");
    std::fflush(trace);
  }

  void log(const char *format, ...) __attribute__((format(printf, 2, 3))) {
    va_list args;
    va_start(args, format);
    print("", format, args);
    va_end(args);
  }

  CUresult error(CUresult code, const char *format, ...)
      __attribute__((format(printf, 3, 4))) {
    va_list args;
    va_start(args, format);
    print("error: ", format, args);
    va_end(args);
    return code;
  }

  /// Whether FAKE_CUDA_FAIL selects this call of `name`.
  bool injected(const char *name) {
    return failCall == name && ++calls[name] == failAt;
  }

  /// The allocation holding [address, address + bytes), or null.
  Allocation *find(uintptr_t address, size_t bytes, size_t *offset) {
    auto it = allocations.upper_bound(address);
    if (it == allocations.begin())
      return nullptr;
    --it;
    size_t off = address - it->first;
    if (off + bytes > it->second.shadow.size())
      return nullptr;
    *offset = off;
    return &it->second;
  }

  bool isDevice(uintptr_t address) const {
    auto start = reinterpret_cast<uintptr_t>(base);
    return base && address >= start && address < start + kAddressSpace;
  }

  /// Host memory for `bytes` at `address`: the shadow of a device range, or
  /// the host address itself.
  char *resolve(uintptr_t address, size_t bytes) {
    if (!isDevice(address))
      return reinterpret_cast<char *>(address);
    size_t offset;
    Allocation *a = find(address, bytes, &offset);
    return a ? a->shadow.data() + offset : nullptr;
  }

  void enqueue(CUstream stream, std::function<void()> op) {
    queues[stream].push_back(std::move(op));
  }

  void flush(CUstream stream) {
    auto it = queues.find(stream);
    if (it == queues.end())
      return;
    std::vector<std::function<void()>> ops = std::move(it->second);
    it->second.clear();
    for (auto &op : ops)
      op();
  }

  void flushAll() {
    for (auto &[stream, queue] : queues)
      flush(stream);
  }

  CUresult synchronized() {
    if (faulted)
      return error(CUDA_ERROR_ILLEGAL_ADDRESS,
                   "a kernel read an address outside every device "
                   "allocation");
    return CUDA_SUCCESS;
  }

  Kernel *kernel(CUfunction function) {
    for (auto &m : modules)
      for (auto &[name, k] : m->kernels)
        if (reinterpret_cast<CUfunction>(&k) == function)
          return &k;
    return nullptr;
  }
};

State *created = nullptr;

State &state() {
  // Never destroyed (and the trace never closed): calls made during exit,
  // after this library's static destructors, must still find it.
  static State *s = created = new State;
  return *s;
}

/// Reports the exit summary, if the driver was used, when the process exits
/// (this library's static destructors run then).
struct ExitReport {
  ~ExitReport() {
    if (!created)
      return;
    std::lock_guard<std::mutex> lock(created->mutex);
    created->reportExit();
  }
} exitReport;

#define FAKE_LOCK                                                              \
  State &s = state();                                                          \
  std::lock_guard<std::mutex> lock(s.mutex)

#define FAKE_INJECT(name, code)                                                \
  if (s.injected(#name))                                                       \
  return s.error(code, "%s: injected failure", #name)

#define FAKE_NEEDS_INIT                                                        \
  if (!s.initialized)                                                          \
  return s.error(CUDA_ERROR_NOT_INITIALIZED, "%s before cuInit", __func__)

/// Bytes of a PTX parameter declaration ".param .u64 .ptr .align 1 name",
/// ".param .align 8 .b8 name[24]", ".param .f32 name".
unsigned paramBytes(const std::string &decl) {
  size_t bracket = decl.find('[');
  unsigned element = 1;
  for (const char *type : {".u8", ".s8", ".b8"})
    if (decl.find(type) != std::string::npos)
      element = 1;
  for (const char *type : {".u16", ".s16", ".b16", ".f16"})
    if (decl.find(type) != std::string::npos)
      element = 2;
  for (const char *type : {".u32", ".s32", ".b32", ".f32"})
    if (decl.find(type) != std::string::npos)
      element = 4;
  for (const char *type : {".u64", ".s64", ".b64", ".f64"})
    if (decl.find(type) != std::string::npos)
      element = 8;
  if (bracket != std::string::npos)
    return element * unsigned(std::atoi(decl.c_str() + bracket + 1));
  return element;
}

/// The .target and every .entry (its parameters and static shared memory)
/// of a PTX module.
void parsePTX(const std::string &text, Module &module) {
  size_t target = text.find(".target ");
  if (target != std::string::npos) {
    size_t end = text.find_first_of(",\n", target + 8);
    module.target = text.substr(target + 8, end - target - 8);
  }
  size_t at = 0;
  while ((at = text.find(".entry ", at)) != std::string::npos) {
    size_t open = text.find('(', at);
    size_t close = text.find(')', open);
    Kernel kernel;
    size_t nameStart = at + 7;
    kernel.name = text.substr(nameStart, text.find_first_of("( \n", nameStart) -
                                             nameStart);
    kernel.paramsKnown = true;
    std::string params = text.substr(open + 1, close - open - 1);
    size_t p = 0;
    while ((p = params.find(".param", p)) != std::string::npos) {
      size_t end = params.find_first_of(",\n", p);
      kernel.params.push_back(paramBytes(params.substr(p, end - p)));
      p = end == std::string::npos ? params.size() : end;
    }
    // Static shared memory: ".shared .align 16 .b8 name[SIZE];" in the body.
    size_t bodyEnd = text.find(".entry ", close);
    for (size_t sh = text.find(".shared ", close);
         sh != std::string::npos && sh < bodyEnd;
         sh = text.find(".shared ", sh + 1)) {
      size_t line = text.find('\n', sh);
      std::string decl = text.substr(sh, line - sh);
      if (decl.find('[') != std::string::npos &&
          decl.find("[]") == std::string::npos)
        kernel.staticShared += paramBytes(decl);
    }
    module.kernels[kernel.name] = std::move(kernel);
    at = close;
  }
}

/// Whether code for `target` runs on a device of capability major.minor:
/// sm_XYa only on X.Y, sm_XY on X.Y and later.
bool targetRuns(const std::string &target, int major, int minor) {
  int number = 0;
  char suffix = 0;
  if (std::sscanf(target.c_str(), "sm_%d%c", &number, &suffix) < 1)
    return false;
  int device = major * 10 + minor;
  return suffix == 'a' ? number == device : number <= device;
}

CUresult loadModule(State &s, CUmodule *result, const void *data, char *log,
                    size_t logSize) {
  auto module = std::make_unique<Module>();
  const char *bytes = static_cast<const char *>(data);
  uint32_t magic;
  std::memcpy(&magic, bytes, 4);
  if (magic == 0xBA55ED50u || std::memcmp(bytes,
                                          "\x7f"
                                          "ELF",
                                          4) == 0) {
    // A fatbin or cubin: functions are found by their names in the image.
    size_t size = magic == 0xBA55ED50u
                      ? 16 + *reinterpret_cast<const uint64_t *>(bytes + 8)
                      : 1 << 20;
    module->image.assign(bytes, bytes + size);
    s.log("cuModuleLoadData binary (%zu bytes)", size);
  } else {
    std::string text(bytes);
    if (text.find(".version") == std::string::npos)
      return s.error(CUDA_ERROR_INVALID_IMAGE, "module data is neither PTX "
                                               "nor a CUDA binary");
    module->ptx = true;
    parsePTX(text, *module);
    std::string names;
    for (auto &[name, k] : module->kernels)
      names += (names.empty() ? "" : ",") + name;
    s.log("cuModuleLoadData ptx %s entries=%s", module->target.c_str(),
          names.c_str());
    if (!targetRuns(module->target, s.major, s.minor)) {
      std::string why = "ptxas fatal: PTX for " + module->target +
                        " does not run on a device of compute capability " +
                        std::to_string(s.major) + "." + std::to_string(s.minor);
      if (log && logSize)
        std::snprintf(log, logSize, "%s", why.c_str());
      return s.error(CUDA_ERROR_INVALID_PTX, "%s", why.c_str());
    }
  }
  *result = reinterpret_cast<CUmodule>(module.get());
  s.modules.push_back(std::move(module));
  return CUDA_SUCCESS;
}

Module *findModule(State &s, CUmodule handle) {
  for (auto &m : s.modules)
    if (reinterpret_cast<CUmodule>(m.get()) == handle)
      return m.get();
  return nullptr;
}

bool validStream(State &s, CUstream stream) {
  if (!stream)
    return true;
  for (auto &p : s.streams)
    if (reinterpret_cast<CUstream>(p.get()) == stream)
      return true;
  return false;
}

CUresult copy(State &s, CUdeviceptr dst, CUdeviceptr src, size_t bytes,
              CUstream stream) {
  if (!validStream(s, stream))
    return s.error(CUDA_ERROR_INVALID_HANDLE, "cuMemcpyAsync: unknown stream");
  for (CUdeviceptr end : {dst, src})
    if (s.isDevice(end) && !s.resolve(end, bytes))
      return s.error(CUDA_ERROR_INVALID_VALUE,
                     "cuMemcpyAsync: %zu bytes at 0x%llx are not inside one "
                     "live device allocation",
                     bytes, static_cast<unsigned long long>(end));
  s.log("cuMemcpyAsync %s -> %s %zu bytes", s.isDevice(src) ? "device" : "host",
        s.isDevice(dst) ? "device" : "host", bytes);
  s.enqueue(stream, [&s, dst, src, bytes] {
    char *to = s.resolve(dst, bytes), *from = s.resolve(src, bytes);
    if (to && from)
      std::memmove(to, from, bytes);
    else
      s.faulted = true; // freed before the copy ran
  });
  return CUDA_SUCCESS;
}

template <typename T>
CUresult fill(State &s, CUdeviceptr dst, T value, size_t count,
              CUstream stream) {
  if (!s.isDevice(dst) || !s.resolve(dst, count * sizeof(T)))
    return s.error(CUDA_ERROR_INVALID_VALUE,
                   "cuMemset: %zu elements at 0x%llx are not device memory",
                   count, static_cast<unsigned long long>(dst));
  s.log("cuMemsetD%zuAsync %zu elements", sizeof(T) * 8, count);
  s.enqueue(stream, [&s, dst, value, count] {
    if (char *to = s.resolve(dst, count * sizeof(T)))
      for (size_t i = 0; i < count; ++i)
        std::memcpy(to + i * sizeof(T), &value, sizeof(T));
  });
  return CUDA_SUCCESS;
}

CUresult allocate(State &s, CUdeviceptr *pointer, size_t bytes) {
  size_t aligned = (bytes + 255) & ~size_t(255);
  if (!s.base || s.next + aligned > kAddressSpace)
    return s.error(CUDA_ERROR_OUT_OF_MEMORY, "out of fake device memory");
  uintptr_t address = reinterpret_cast<uintptr_t>(s.base) + s.next;
  s.next += aligned;
  Allocation allocation{s.serials++, std::vector<char>(bytes, '\x5a')};
  s.log("alloc dev%d %zu bytes", allocation.serial, bytes);
  s.allocations.emplace(address, std::move(allocation));
  *pointer = address;
  return CUDA_SUCCESS;
}

CUresult release(State &s, CUdeviceptr pointer) {
  auto it = s.allocations.find(pointer);
  if (it == s.allocations.end())
    return s.error(CUDA_ERROR_INVALID_VALUE,
                   "free of 0x%llx, which is not a live allocation",
                   static_cast<unsigned long long>(pointer));
  s.log("free dev%d", it->second.serial);
  s.allocations.erase(it);
  return CUDA_SUCCESS;
}

/// "dev3+64" for an address inside a live allocation, the number otherwise.
/// Values from 2^40 up that are not device addresses are host pointers: a
/// kernel cannot read them.
std::string describe(State &s, uint64_t value, bool *outside) {
  if (!s.isDevice(value)) {
    if (value < (uint64_t(1) << 40))
      return std::to_string(value);
    *outside = true;
    return "host-address";
  }
  size_t offset;
  Allocation *a = s.find(value, 0, &offset);
  if (!a) {
    *outside = true;
    return "unmapped";
  }
  return "dev" + std::to_string(a->serial) + "+" + std::to_string(offset);
}

} // namespace

//===----------------------------------------------------------------------===//
// Entry points (names through cuda.h's macros: cuMemAlloc is cuMemAlloc_v2).
//===----------------------------------------------------------------------===//

FAKE_EXPORT CUresult cuInit(unsigned int) {
  FAKE_LOCK;
  FAKE_INJECT(cuInit, CUDA_ERROR_NO_DEVICE);
  s.initialized = true;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuGetErrorName(CUresult error, const char **name) {
  switch (error) {
#define FAKE_NAME(code)                                                        \
  case code:                                                                   \
    *name = #code;                                                             \
    return CUDA_SUCCESS;
    FAKE_NAME(CUDA_SUCCESS)
    FAKE_NAME(CUDA_ERROR_INVALID_VALUE)
    FAKE_NAME(CUDA_ERROR_OUT_OF_MEMORY)
    FAKE_NAME(CUDA_ERROR_NOT_INITIALIZED)
    FAKE_NAME(CUDA_ERROR_NO_DEVICE)
    FAKE_NAME(CUDA_ERROR_INVALID_DEVICE)
    FAKE_NAME(CUDA_ERROR_INVALID_IMAGE)
    FAKE_NAME(CUDA_ERROR_INVALID_PTX)
    FAKE_NAME(CUDA_ERROR_INVALID_HANDLE)
    FAKE_NAME(CUDA_ERROR_NOT_FOUND)
    FAKE_NAME(CUDA_ERROR_NOT_READY)
    FAKE_NAME(CUDA_ERROR_ILLEGAL_ADDRESS)
    FAKE_NAME(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES)
    FAKE_NAME(CUDA_ERROR_NOT_SUPPORTED)
    FAKE_NAME(CUDA_ERROR_UNKNOWN)
#undef FAKE_NAME
  default:
    *name = nullptr;
    return CUDA_ERROR_INVALID_VALUE;
  }
}

FAKE_EXPORT CUresult cuGetErrorString(CUresult error, const char **text) {
  switch (error) {
  case CUDA_ERROR_ILLEGAL_ADDRESS:
    *text = "an illegal memory access was encountered";
    return CUDA_SUCCESS;
  case CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES:
    *text = "too many resources requested for launch";
    return CUDA_SUCCESS;
  case CUDA_ERROR_NO_DEVICE:
    *text = "no CUDA-capable device is detected";
    return CUDA_SUCCESS;
  default:
    *text = "fake driver error";
    return CUDA_SUCCESS;
  }
}

FAKE_EXPORT CUresult cuDeviceGetCount(int *count) {
  FAKE_LOCK;
  FAKE_NEEDS_INIT;
  *count = s.devices;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  FAKE_LOCK;
  FAKE_NEEDS_INIT;
  if (ordinal < 0 || ordinal >= s.devices)
    return s.error(CUDA_ERROR_INVALID_DEVICE, "no device %d", ordinal);
  *device = ordinal;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDeviceGetAttribute(int *value,
                                          CUdevice_attribute attribute,
                                          CUdevice) {
  FAKE_LOCK;
  FAKE_NEEDS_INIT;
  if (attribute == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
    *value = s.major;
  else if (attribute == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
    *value = s.minor;
  else
    return s.error(CUDA_ERROR_NOT_SUPPORTED, "device attribute %d",
                   int(attribute));
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *context, CUdevice) {
  FAKE_LOCK;
  FAKE_NEEDS_INIT;
  *context = reinterpret_cast<CUcontext>(&s);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuCtxSetCurrent(CUcontext context) {
  FAKE_LOCK;
  if (context != reinterpret_cast<CUcontext>(&s))
    return s.error(CUDA_ERROR_INVALID_HANDLE, "unknown context");
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuCtxSynchronize() {
  FAKE_LOCK;
  s.flushAll();
  s.log("cuCtxSynchronize");
  return s.synchronized();
}

FAKE_EXPORT CUresult cuModuleLoadData(CUmodule *module, const void *image) {
  FAKE_LOCK;
  FAKE_NEEDS_INIT;
  FAKE_INJECT(cuModuleLoadData, CUDA_ERROR_INVALID_IMAGE);
  return loadModule(s, module, image, nullptr, 0);
}

FAKE_EXPORT CUresult cuModuleLoadDataEx(CUmodule *module, const void *image,
                                        unsigned int count,
                                        CUjit_option *options, void **values) {
  FAKE_LOCK;
  FAKE_NEEDS_INIT;
  char *log = nullptr;
  size_t logSize = 0;
  for (unsigned i = 0; i < count; ++i) {
    if (options[i] == CU_JIT_ERROR_LOG_BUFFER)
      log = static_cast<char *>(values[i]);
    if (options[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES)
      logSize = reinterpret_cast<size_t>(values[i]);
  }
  FAKE_INJECT(cuModuleLoadDataEx, CUDA_ERROR_INVALID_PTX);
  return loadModule(s, module, image, log, logSize);
}

FAKE_EXPORT CUresult cuModuleUnload(CUmodule handle) {
  FAKE_LOCK;
  if (s.exited) {
    s.log("cuModuleUnload after exit: deinitialized");
    return CUDA_ERROR_DEINITIALIZED;
  }
  FAKE_INJECT(cuModuleUnload, CUDA_ERROR_DEINITIALIZED);
  for (auto it = s.modules.begin(); it != s.modules.end(); ++it)
    if (reinterpret_cast<CUmodule>(it->get()) == handle) {
      s.modules.erase(it);
      s.log("cuModuleUnload");
      return CUDA_SUCCESS;
    }
  return s.error(CUDA_ERROR_INVALID_HANDLE, "cuModuleUnload: unknown module");
}

FAKE_EXPORT CUresult cuModuleGetFunction(CUfunction *function, CUmodule handle,
                                         const char *name) {
  FAKE_LOCK;
  Module *module = findModule(s, handle);
  if (!module)
    return s.error(CUDA_ERROR_INVALID_HANDLE,
                   "cuModuleGetFunction(%s): unknown module", name);
  auto it = module->kernels.find(name);
  if (it == module->kernels.end() && !module->ptx) {
    std::string key = std::string(name) + '\0';
    if (std::search(module->image.begin(), module->image.end(), key.begin(),
                    key.end()) != module->image.end()) {
      Kernel kernel;
      kernel.name = name;
      it = module->kernels.emplace(name, kernel).first;
    }
  }
  if (it == module->kernels.end())
    return s.error(CUDA_ERROR_NOT_FOUND, "no kernel %s in the module", name);
  *function = reinterpret_cast<CUfunction>(&it->second);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuFuncSetAttribute(CUfunction function,
                                        CUfunction_attribute attribute,
                                        int value) {
  FAKE_LOCK;
  Kernel *kernel = s.kernel(function);
  if (!kernel)
    return s.error(CUDA_ERROR_INVALID_HANDLE, "cuFuncSetAttribute: unknown "
                                              "function");
  if (attribute != CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
    return s.error(CUDA_ERROR_NOT_SUPPORTED, "function attribute %d",
                   int(attribute));
  if (value < 0 || unsigned(value) + kernel->staticShared > kOptInSharedLimit)
    return s.error(CUDA_ERROR_INVALID_VALUE,
                   "%s: %d bytes of dynamic shared memory (+%u static) exceed "
                   "%u",
                   kernel->name.c_str(), value, kernel->staticShared,
                   kOptInSharedLimit);
  kernel->maxDynamicShared = unsigned(value);
  s.log("cuFuncSetAttribute %s max dynamic shared = %d", kernel->name.c_str(),
        value);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuLaunchKernel(CUfunction function, unsigned gridX,
                                    unsigned gridY, unsigned gridZ,
                                    unsigned blockX, unsigned blockY,
                                    unsigned blockZ, unsigned sharedBytes,
                                    CUstream stream, void **params,
                                    void **extra) {
  FAKE_LOCK;
  FAKE_INJECT(cuLaunchKernel, CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
  Kernel *kernel = s.kernel(function);
  if (!kernel)
    return s.error(CUDA_ERROR_INVALID_HANDLE, "cuLaunchKernel: unknown "
                                              "function");
  if (!validStream(s, stream))
    return s.error(CUDA_ERROR_INVALID_HANDLE, "cuLaunchKernel: unknown stream");
  const char *name = kernel->name.c_str();
  uint64_t threads = uint64_t(blockX) * blockY * blockZ;
  if (!gridX || !gridY || !gridZ || !threads || threads > 1024 || blockZ > 64 ||
      gridY > 65535 || gridZ > 65535 || gridX > 0x7fffffffu)
    return s.error(CUDA_ERROR_INVALID_VALUE,
                   "%s: grid %ux%ux%u, block %ux%ux%u out of limits", name,
                   gridX, gridY, gridZ, blockX, blockY, blockZ);
  if (sharedBytes > kernel->maxDynamicShared)
    return s.error(CUDA_ERROR_INVALID_VALUE,
                   "%s: %u bytes of dynamic shared memory above the kernel's "
                   "limit of %u (cuFuncSetAttribute opts in above 48 KiB)",
                   name, sharedBytes, kernel->maxDynamicShared);
  if (extra)
    return s.error(CUDA_ERROR_NOT_SUPPORTED, "%s: `extra` parameters", name);
  std::string values;
  bool outside = false;
  if (kernel->paramsKnown) {
    for (size_t i = 0; i < kernel->params.size(); ++i) {
      uint64_t value = 0;
      std::memcpy(&value, params[i], std::min<size_t>(8, kernel->params[i]));
      if (kernel->params[i] < 8)
        value &= (uint64_t(1) << (8 * kernel->params[i])) - 1;
      values += (i ? " " : "") + describe(s, value, &outside);
    }
  } else {
    values = "?";
  }
  s.log("cuLaunchKernel %s grid=%ux%ux%u block=%ux%ux%u smem=%u params=[%s] "
        "stream=%d",
        name, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes,
        values.c_str(), stream ? *reinterpret_cast<int *>(stream) : 0);
  if (outside)
    s.enqueue(stream, [&s] { s.faulted = true; });
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuStreamCreate(CUstream *stream, unsigned int) {
  FAKE_LOCK;
  FAKE_NEEDS_INIT;
  // Streams are numbered from 1 (0: the legacy default stream) in traces.
  s.streams.push_back(std::make_unique<int>(++s.streamSerials));
  *stream = reinterpret_cast<CUstream>(s.streams.back().get());
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuStreamDestroy(CUstream stream) {
  FAKE_LOCK;
  if (!stream || !validStream(s, stream))
    return s.error(CUDA_ERROR_INVALID_HANDLE, "cuStreamDestroy: unknown "
                                              "stream");
  // The stream's work still completes.
  s.flush(stream);
  s.queues.erase(stream);
  for (auto it = s.streams.begin(); it != s.streams.end(); ++it)
    if (reinterpret_cast<CUstream>(it->get()) == stream) {
      s.streams.erase(it);
      break;
    }
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuStreamSynchronize(CUstream stream) {
  FAKE_LOCK;
  if (!validStream(s, stream))
    return s.error(CUDA_ERROR_INVALID_HANDLE, "cuStreamSynchronize: unknown "
                                              "stream");
  s.flush(stream);
  s.log("cuStreamSynchronize");
  return s.synchronized();
}

Event *findEvent(State &s, CUevent handle) {
  for (auto &e : s.events)
    if (reinterpret_cast<CUevent>(e.get()) == handle)
      return e.get();
  return nullptr;
}

FAKE_EXPORT CUresult cuStreamWaitEvent(CUstream stream, CUevent handle,
                                       unsigned int) {
  FAKE_LOCK;
  Event *event = findEvent(s, handle);
  if (!event || !validStream(s, stream))
    return s.error(CUDA_ERROR_INVALID_HANDLE, "cuStreamWaitEvent: unknown "
                                              "stream or event");
  // Work after the wait runs after the event's stream has caught up.
  CUstream other = event->stream;
  if (event->recorded && other != stream)
    s.enqueue(stream, [&s, other] { s.flush(other); });
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuEventCreate(CUevent *event, unsigned int flags) {
  FAKE_LOCK;
  FAKE_NEEDS_INIT;
  auto e = std::make_unique<Event>();
  e->timing = !(flags & CU_EVENT_DISABLE_TIMING);
  *event = reinterpret_cast<CUevent>(e.get());
  s.events.push_back(std::move(e));
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuEventDestroy(CUevent handle) {
  FAKE_LOCK;
  for (auto it = s.events.begin(); it != s.events.end(); ++it)
    if (reinterpret_cast<CUevent>(it->get()) == handle) {
      s.events.erase(it);
      return CUDA_SUCCESS;
    }
  return s.error(CUDA_ERROR_INVALID_HANDLE, "cuEventDestroy: unknown event");
}

FAKE_EXPORT CUresult cuEventRecord(CUevent handle, CUstream stream) {
  FAKE_LOCK;
  Event *event = findEvent(s, handle);
  if (!event || !validStream(s, stream))
    return s.error(CUDA_ERROR_INVALID_HANDLE, "cuEventRecord: unknown "
                                              "stream or event");
  event->recorded = true;
  event->stream = stream;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuEventSynchronize(CUevent handle) {
  FAKE_LOCK;
  Event *event = findEvent(s, handle);
  if (!event)
    return s.error(CUDA_ERROR_INVALID_HANDLE, "cuEventSynchronize: unknown "
                                              "event");
  if (event->recorded)
    s.flush(event->stream);
  return s.synchronized();
}

FAKE_EXPORT CUresult cuEventElapsedTime(float *ms, CUevent start, CUevent end) {
  FAKE_LOCK;
  Event *a = findEvent(s, start), *b = findEvent(s, end);
  if (!a || !b || !a->timing || !b->timing)
    return s.error(CUDA_ERROR_INVALID_HANDLE,
                   "cuEventElapsedTime: events must exist and time");
  if (!a->recorded || !b->recorded)
    return s.error(CUDA_ERROR_INVALID_HANDLE,
                   "cuEventElapsedTime: events never recorded");
  *ms = 1.0f;
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuMemAlloc(CUdeviceptr *pointer, size_t bytes) {
  FAKE_LOCK;
  FAKE_NEEDS_INIT;
  FAKE_INJECT(cuMemAlloc, CUDA_ERROR_OUT_OF_MEMORY);
  return allocate(s, pointer, bytes);
}

FAKE_EXPORT CUresult cuMemAllocAsync(CUdeviceptr *pointer, size_t bytes,
                                     CUstream stream) {
  FAKE_LOCK;
  FAKE_NEEDS_INIT;
  FAKE_INJECT(cuMemAllocAsync, CUDA_ERROR_OUT_OF_MEMORY);
  if (!validStream(s, stream))
    return s.error(CUDA_ERROR_INVALID_HANDLE, "cuMemAllocAsync: unknown "
                                              "stream");
  return allocate(s, pointer, bytes);
}

FAKE_EXPORT CUresult cuMemAllocManaged(CUdeviceptr *, size_t, unsigned int) {
  FAKE_LOCK;
  return s.error(CUDA_ERROR_NOT_SUPPORTED, "managed memory");
}

FAKE_EXPORT CUresult cuMemFree(CUdeviceptr pointer) {
  FAKE_LOCK;
  s.flushAll();
  return release(s, pointer);
}

FAKE_EXPORT CUresult cuMemFreeAsync(CUdeviceptr pointer, CUstream stream) {
  FAKE_LOCK;
  if (!validStream(s, stream))
    return s.error(CUDA_ERROR_INVALID_HANDLE, "cuMemFreeAsync: unknown "
                                              "stream");
  if (!s.allocations.count(pointer))
    return s.error(CUDA_ERROR_INVALID_VALUE,
                   "cuMemFreeAsync of 0x%llx, which is not a live allocation",
                   static_cast<unsigned long long>(pointer));
  s.enqueue(stream, [&s, pointer] { release(s, pointer); });
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src,
                                   size_t bytes, CUstream stream) {
  FAKE_LOCK;
  return copy(s, dst, src, bytes, stream);
}

FAKE_EXPORT CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned int value,
                                      size_t count, CUstream stream) {
  FAKE_LOCK;
  return fill<uint32_t>(s, dst, value, count, stream);
}

FAKE_EXPORT CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short value,
                                      size_t count, CUstream stream) {
  FAKE_LOCK;
  return fill<uint16_t>(s, dst, value, count, stream);
}

FAKE_EXPORT CUresult cuMemHostRegister(void *, size_t bytes, unsigned int) {
  FAKE_LOCK;
  s.log("cuMemHostRegister %zu bytes", bytes);
  return CUDA_SUCCESS;
}

FAKE_EXPORT CUresult cuMemHostUnregister(void *) { return CUDA_SUCCESS; }

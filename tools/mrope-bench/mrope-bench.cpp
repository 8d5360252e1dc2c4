//===- mrope-bench.cpp - rotary speed against peers and the bandwidth -----===//
//
// Times, in one run and on the same buffers, for each shape and allocation:
//   ours   : mrope.apply compiled by --mrope-cpu-pipeline and JIT-compiled;
//   naive  : the obvious C++ loop (cos/sin per token, then every head);
//   probe  : an in-place read-modify-write over the same bytes (the floor);
// checks ours against the naive loop in the same run, and prints medians and
// min-max over repetitions and the ratios (or JSON with --json).
//
//===----------------------------------------------------------------------===//

#include "mrope/Dialect/MRope/IR/MRopeAttrs.h"
#include "mrope/Dialect/MRope/Utils/AxisRuns.h"
#include "mrope/Dialect/MRope/Utils/FrequencyMath.h"
#include "mrope/Dialect/MRope/Utils/PositionRules.h"
#include "mrope/InitAllMRope.h"
#include "mrope/Runtime/JitModule.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/ExecutionEngine/CRunnerUtils.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace mlir;

static llvm::cl::OptionCategory benchCategory("mrope-bench options");
static llvm::cl::opt<bool> emitJson("json",
                                    llvm::cl::desc("Print JSON results"),
                                    llvm::cl::cat(benchCategory));
static llvm::cl::opt<int>
    repetitions("reps", llvm::cl::init(7),
                llvm::cl::desc("Timed repetitions (>= 1)"),
                llvm::cl::cat(benchCategory));
static llvm::cl::opt<int>
    tokensOpt("tokens", llvm::cl::init(16384),
              llvm::cl::desc("Tokens of the large shape (S0: 16384; >= 1)"),
              llvm::cl::cat(benchCategory));
static llvm::cl::opt<std::string>
    runtimeLib("runtime-lib",
               llvm::cl::init("/usr/lib/llvm-22/lib/libmlir_c_runner_utils.so"),
               llvm::cl::desc("MLIR C runner utils (memrefCopy)"),
               llvm::cl::cat(benchCategory));
static llvm::cl::opt<bool> useThreads(
    "all-cores",
    llvm::cl::desc("Compile with --mrope-cpu-pipeline=threads=true (all "
                   "cores, MLIR async runtime) and run the bandwidth probe on "
                   "as many threads; the naive loop stays single-threaded"),
    llvm::cl::cat(benchCategory));
static llvm::cl::opt<mrope::AnglePrecision> angleMode(
    "angles", llvm::cl::init(mrope::AnglePrecision::Reference),
    llvm::cl::desc("The rotary's angle precision"),
    llvm::cl::values(clEnumValN(mrope::AnglePrecision::Reference, "reference",
                                "the f32 product, as Hugging Face (default)"),
                     clEnumValN(mrope::AnglePrecision::Exact, "exact",
                                "the exact product reduced modulo 2pi")),
    llvm::cl::cat(benchCategory));
static llvm::cl::opt<int64_t> vectorBits(
    "vector-bits", llvm::cl::init(0),
    llvm::cl::desc("Vector width of the row rotation (256: AVX2, 512: "
                   "AVX-512; 0: the host's widest, -1: a whole row at once)"),
    llvm::cl::cat(benchCategory));
static llvm::cl::opt<bool> fastSinCos(
    "fast-sin-cos", llvm::cl::init(false),
    llvm::cl::desc("cos/sin by a short polynomial (within 2 f32 ulps) "
                   "instead of PyTorch's bits (--mrope-cpu-pipeline="
                   "fast-sin-cos=true)"),
    llvm::cl::cat(benchCategory));
static llvm::cl::opt<int64_t>
    tokenTile("token-tile",
              llvm::cl::init(mrope::CPUPipelineOptions().tokenTile),
              llvm::cl::desc("Tokens per iteration of the parallel loop "
                             "(--mrope-cpu-pipeline=token-tile=N; >= 1)"),
              llvm::cl::cat(benchCategory));
static llvm::cl::opt<int64_t> avx512BF16(
    "avx512-bf16", llvm::cl::init(mrope::CPUPipelineOptions().avx512BF16),
    llvm::cl::desc("Round bf16 rotations with AVX512-BF16's vcvtne2ps2bf16 "
                   "(same bits), and with --attention take q . k as "
                   "vdpbf16ps: 1 on, 0 off (integer rounding, f32 FMAs), -1 "
                   "(default) when the host has avx512bf16"),
    llvm::cl::cat(benchCategory));
static llvm::cl::opt<std::string> torchPython(
    "torch-python", llvm::cl::init(""),
    llvm::cl::desc("Python with torch for the PyTorch eager peer (default: "
                   "$MROPE_TORCH_PYTHON, else python3; 'none' skips it)"),
    llvm::cl::cat(benchCategory));
static llvm::cl::opt<std::string> torchAttentionPeerScript(
    "torch-attention-peer-script",
    llvm::cl::init(MROPE_TORCH_ATTENTION_PEER_SCRIPT),
    llvm::cl::desc("The PyTorch attention peer "
                   "(tools/mrope-bench/torch_attention_peer.py)"),
    llvm::cl::cat(benchCategory));
static llvm::cl::opt<int64_t> torchAttentionMaxSeq(
    "torch-attention-max-seq", llvm::cl::init(8192),
    llvm::cl::desc("With --attention: run the PyTorch peer up to this "
                   "sequence length (its eager form holds S x S scores)"),
    llvm::cl::cat(benchCategory));
static llvm::cl::opt<std::string> torchPeerScript(
    "torch-peer-script", llvm::cl::init(MROPE_TORCH_PEER_SCRIPT),
    llvm::cl::desc("The PyTorch eager peer (tools/mrope-bench/torch_peer.py)"),
    llvm::cl::cat(benchCategory));
static llvm::cl::opt<std::string> asyncRuntimeLib(
    "async-runtime-lib",
    llvm::cl::init("/usr/lib/llvm-22/lib/libmlir_async_runtime.so"),
    llvm::cl::desc("MLIR async runtime (with --all-cores)"),
    llvm::cl::cat(benchCategory));

static llvm::cl::opt<bool> attentionMode(
    "attention",
    llvm::cl::desc("Benchmark mrope.attention instead of the rotary: fused "
                   "rotary prologue vs the same attention without rotary vs "
                   "separate mrope.apply + attention (bf16, B=1, --q-heads "
                   "query and --kv-heads KV heads, head_dim 128), causal and "
                   "not, TFLOP/s"),
    llvm::cl::cat(benchCategory));
static llvm::cl::list<int64_t>
    attentionSeqLens("seq", llvm::cl::CommaSeparated,
                     llvm::cl::desc("With --attention: sequence lengths "
                                    "(default 512,2048)"),
                     llvm::cl::cat(benchCategory));
static llvm::cl::opt<int64_t>
    attentionQHeads("q-heads", llvm::cl::init(8),
                    llvm::cl::desc("With --attention: query heads (default 8)"),
                    llvm::cl::cat(benchCategory));
static llvm::cl::opt<int64_t> attentionKVHeads(
    "kv-heads", llvm::cl::init(2),
    llvm::cl::desc(
        "With --attention: KV heads, dividing --q-heads (default 2)"),
    llvm::cl::cat(benchCategory));
static llvm::cl::opt<int64_t> attentionDecode(
    "decode", llvm::cl::init(0),
    llvm::cl::desc("With --attention: decode instead of prefill -- this many "
                   "new query tokens (causal, bottom-right) against a KV "
                   "cache of each --seq keys, rotated when they were written "
                   "(so the fused prologue rotates q only); reports GB/s of "
                   "the cache read"),
    llvm::cl::cat(benchCategory));
static llvm::cl::opt<bool> attentionTiles(
    "attention-tiles", llvm::cl::init(true),
    llvm::cl::desc("With --attention: prefill as register tiles of query "
                   "rows (default); =false: the row-by-row form"),
    llvm::cl::cat(benchCategory));

namespace {

constexpr int64_t kQHeads = 32, kKVHeads = 8, kDim = 128, kPairs = kDim / 2;
constexpr double kTheta = 1.0e6;

float bf16ToFloat(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits += 0x7FFF + ((bits >> 16) & 1); // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

struct Allocation {
  std::string name, attr;
};

double now() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Timing {
  double median, min, max;
};

template <typename Fn> Timing measure(Fn &&fn, int reps) {
  fn(); // warm up
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    double start = now();
    fn();
    t.push_back(now() - start);
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t.front(), t.back()};
}

/// `objects` (JSON object texts) as one JSON array, an object per line.
void printJsonArray(const std::vector<std::string> &objects) {
  llvm::outs() << "[\n";
  for (size_t i = 0; i < objects.size(); ++i)
    llvm::outs() << "  " << objects[i]
                 << (i + 1 < objects.size() ? ",\n" : "\n");
  llvm::outs() << "]\n";
}

/// Positions of a synthetic multimodal prompt of `tokens` tokens: text runs
/// and 24x32 video frames, by the project's reference rules.
std::vector<int64_t> makePositions(int64_t tokens) {
  std::vector<mrope::rules::Segment> row;
  int64_t left = tokens;
  while (left > 0) {
    mrope::rules::Segment text;
    text.length = std::min<int64_t>(left, 16);
    left -= text.length;
    row.push_back(text);
    if (left >= 768) {
      mrope::rules::Segment frame;
      frame.kind = mrope::SegmentKind::Video;
      frame.h = 24;
      frame.w = 32;
      row.push_back(frame);
      left -= 768;
    }
  }
  mrope::rules::DesignParams params;
  params.kind = mrope::PositionDesign::Qwen3VL;
  mrope::rules::Positions out;
  (void)mrope::rules::computePositions(params, {row}, out);
  return std::vector<int64_t>(out.positions.begin(), out.positions.end());
}

/// The obvious loop: cos/sin of the allocated angle per (token, pair), then
/// every head of q and k, in float, rounded to bf16 once.
void naiveRotate(std::vector<uint16_t> &q, std::vector<uint16_t> &k,
                 const std::vector<int64_t> &pos, int64_t tokens,
                 const std::vector<float> &invFreq,
                 const std::vector<mrope::Axis> &pairAxes,
                 const std::vector<mrope::Axis> &headAxes) {
  std::vector<float> cosT(kPairs * 4), sinT(kPairs * 4);
  for (int64_t t = 0; t < tokens; ++t) {
    // Tables for the t, h, w axes (MHRoPE picks one per head; NoPE: 0).
    for (int a = 0; a < 4; ++a)
      for (int64_t j = 0; j < kPairs; ++j) {
        mrope::Axis axis =
            headAxes.empty() ? pairAxes[j] : static_cast<mrope::Axis>(a);
        float angle =
            axis == mrope::Axis::NoPE
                ? 0.0f
                : invFreq[j] * static_cast<float>(
                                   pos[static_cast<int>(axis) * tokens + t]);
        cosT[a * kPairs + j] = std::cos(angle);
        sinT[a * kPairs + j] = std::sin(angle);
      }
    auto rotate = [&](uint16_t *x, int table) {
      const float *c = &cosT[table * kPairs], *s = &sinT[table * kPairs];
      for (int64_t j = 0; j < kPairs; ++j) {
        float x1 = bf16ToFloat(x[j]), x2 = bf16ToFloat(x[j + kPairs]);
        x[j] = floatToBf16(x1 * c[j] - x2 * s[j]);
        x[j + kPairs] = floatToBf16(x2 * c[j] + x1 * s[j]);
      }
    };
    for (int64_t h = 0; h < kQHeads; ++h) {
      int table = headAxes.empty()
                      ? 0
                      : static_cast<int>(headAxes[h / (kQHeads / kKVHeads)]);
      rotate(&q[(t * kQHeads + h) * kDim], table);
    }
    for (int64_t h = 0; h < kKVHeads; ++h)
      rotate(&k[(t * kKVHeads + h) * kDim],
             headAxes.empty() ? 0 : static_cast<int>(headAxes[h]));
  }
}

/// In-place read-modify-write of every 16-bit word: the bandwidth floor,
/// over `threads` equal chunks of q and of k in parallel.
void probe(std::vector<uint16_t> &q, std::vector<uint16_t> &k,
           unsigned threads) {
  auto flip = [](uint16_t *begin, uint16_t *end) {
    for (uint16_t *w = begin; w != end; ++w)
      *w ^= 1;
  };
  auto run = [&](unsigned t) {
    for (std::vector<uint16_t> *v : {&q, &k}) {
      size_t chunk = (v->size() + threads - 1) / threads;
      size_t begin = std::min(v->size(), t * chunk);
      size_t end = std::min(v->size(), begin + chunk);
      flip(v->data() + begin, v->data() + end);
    }
  };
  if (threads == 1)
    return run(0);
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back(run, t);
  for (std::thread &t : pool)
    t.join();
}

/// The Python that runs the torch peer, or "" when torch cannot be imported.
std::string findTorchPython() {
  std::string python = torchPython;
  if (python.empty())
    if (const char *env = std::getenv("MROPE_TORCH_PYTHON"))
      python = env;
  if (python.empty())
    python = "python3";
  if (python == "none")
    return "";
  auto path = llvm::sys::findProgramByName(python);
  if (!path)
    return "";
  llvm::StringRef args[] = {*path, "-c", "import torch, numpy"};
  std::optional<llvm::StringRef> quiet[] = {std::nullopt, llvm::StringRef(""),
                                            llvm::StringRef("")};
  if (llvm::sys::ExecuteAndWait(*path, args, std::nullopt, quiet) != 0)
    return "";
  return *path;
}

struct TorchResult {
  double ms = 0, minMs = 0, maxMs = 0;
  double maxErr = 0;
  /// Fraction of q and k elements with the same bits as PyTorch's, and the
  /// number that differ.
  double bitwiseEqual = 0;
  size_t differing = 0;
};

template <typename T>
bool writeRaw(const std::string &path, const std::vector<T> &v) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return false;
  os.write(reinterpret_cast<const char *>(v.data()), v.size() * sizeof(T));
  return !os.has_error();
}

/// A temporary directory for a Python peer's inputs and outputs, removed
/// with everything in it.
class PeerDirectory {
public:
  bool create(std::string &error) {
    if (llvm::sys::fs::createUniqueDirectory("mrope-bench-torch", dir)) {
      error = "cannot create a temporary directory";
      return false;
    }
    return true;
  }
  ~PeerDirectory() {
    if (!dir.empty())
      llvm::sys::fs::remove_directories(dir);
  }
  std::string file(llvm::StringRef name) const {
    llvm::SmallString<128> p(dir);
    llvm::sys::path::append(p, name);
    return std::string(p);
  }
  std::string path() const { return std::string(dir); }

private:
  llvm::SmallString<128> dir;
};

/// Runs `script` with `args` under `python`, its stdout into out.json of
/// `dir`, and returns the JSON object it printed (with a number
/// "torch_ms").
std::optional<llvm::json::Object>
runPeerScript(const std::string &python, llvm::StringRef script,
              llvm::ArrayRef<std::string> args, const PeerDirectory &dir,
              std::string &error) {
  std::vector<llvm::StringRef> argv = {python, script};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out = dir.file("out.json");
  std::optional<llvm::StringRef> redirects[] = {
      std::nullopt, llvm::StringRef(out), std::nullopt};
  std::string name = llvm::sys::path::filename(script).str();
  if (llvm::sys::ExecuteAndWait(python, argv, std::nullopt, redirects) != 0) {
    error = name + " failed";
    return std::nullopt;
  }
  auto text = llvm::MemoryBuffer::getFile(out);
  if (!text) {
    error = name + " wrote no output";
    return std::nullopt;
  }
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*text)->getBuffer());
  if (!json) {
    llvm::consumeError(json.takeError());
    error = name + " printed no timing";
    return std::nullopt;
  }
  const llvm::json::Object *object = json->getAsObject();
  if (!object || !object->getNumber("torch_ms")) {
    error = name + " printed no timing";
    return std::nullopt;
  }
  return *object;
}

/// Runs the Hugging Face formulas in PyTorch eager on q0/k0 and compares the
/// rotated result with ours (`q`, `k`: one rotation of q0/k0).
std::optional<TorchResult>
runTorchPeer(const std::string &python, llvm::StringRef allocation,
             int64_t tokens, const std::vector<uint16_t> &q0,
             const std::vector<uint16_t> &k0, const std::vector<int64_t> &pos,
             const std::vector<uint16_t> &q, const std::vector<uint16_t> &k,
             std::string &error) {
  PeerDirectory dir;
  if (!dir.create(error))
    return std::nullopt;
  if (!writeRaw(dir.file("q.bin"), q0) || !writeRaw(dir.file("k.bin"), k0) ||
      !writeRaw(dir.file("pos.bin"), pos)) {
    error = "cannot write the peer's inputs";
    return std::nullopt;
  }
  std::optional<llvm::json::Object> object =
      runPeerScript(python, torchPeerScript,
                    {dir.path(), std::to_string(tokens), allocation.str(),
                     std::to_string(repetitions.getValue())},
                    dir, error);
  if (!object)
    return std::nullopt;
  auto qOut = llvm::MemoryBuffer::getFile(dir.file("q_out.bin"));
  auto kOut = llvm::MemoryBuffer::getFile(dir.file("k_out.bin"));
  if (!qOut || !kOut || (*qOut)->getBufferSize() != q.size() * 2 ||
      (*kOut)->getBufferSize() != k.size() * 2) {
    error = "torch_peer.py wrote no or malformed outputs";
    return std::nullopt;
  }
  TorchResult result;
  result.ms = *object->getNumber("torch_ms");
  result.minMs = object->getNumber("min_ms").value_or(result.ms);
  result.maxMs = object->getNumber("max_ms").value_or(result.ms);
  size_t equal = 0;
  auto compare = [&](const llvm::MemoryBuffer &buffer,
                     const std::vector<uint16_t> &ours) {
    const auto *theirs =
        reinterpret_cast<const uint16_t *>(buffer.getBufferStart());
    for (size_t i = 0; i < ours.size(); ++i) {
      uint16_t bits;
      std::memcpy(&bits, theirs + i, sizeof(bits));
      equal += bits == ours[i];
      result.maxErr = std::max(result.maxErr,
                               static_cast<double>(std::fabs(
                                   bf16ToFloat(ours[i]) - bf16ToFloat(bits))));
    }
  };
  compare(**qOut, q);
  compare(**kOut, k);
  result.differing = q.size() + k.size() - equal;
  result.bitwiseEqual =
      static_cast<double>(equal) / static_cast<double>(q.size() + k.size());
  return result;
}

/// PyTorch's attention (SDPA, or Hugging Face's eager form in bf16 on
/// torch < 2) on q ([8, qSeq, 128] bf16) and k/v ([2, seq, 128]), timed
/// with `threads` threads; its output in `out`.
struct AttentionPeerResult {
  Timing time;
  std::string impl;
  std::vector<uint16_t> out;
};
std::optional<AttentionPeerResult>
runTorchAttentionPeer(const std::string &python, int64_t qSeq, int64_t seq,
                      bool causal, unsigned threads,
                      const std::vector<uint16_t> &q,
                      const std::vector<uint16_t> &k,
                      const std::vector<uint16_t> &v, std::string &error) {
  PeerDirectory dir;
  if (!dir.create(error))
    return std::nullopt;
  if (!writeRaw(dir.file("q.bin"), q) || !writeRaw(dir.file("k.bin"), k) ||
      !writeRaw(dir.file("v.bin"), v)) {
    error = "cannot write the peer's inputs";
    return std::nullopt;
  }
  std::optional<llvm::json::Object> object = runPeerScript(
      python, torchAttentionPeerScript,
      {dir.path(), std::to_string(seq), causal ? "causal" : "full",
       std::to_string(threads), std::to_string(repetitions.getValue()),
       std::to_string(qSeq)},
      dir, error);
  if (!object)
    return std::nullopt;
  auto out = llvm::MemoryBuffer::getFile(dir.file("out.bin"));
  if (!out || (*out)->getBufferSize() != q.size() * 2) {
    error = "torch_attention_peer.py wrote no or a malformed output";
    return std::nullopt;
  }
  AttentionPeerResult result;
  double ms = *object->getNumber("torch_ms");
  result.time = Timing{ms, object->getNumber("min_ms").value_or(ms),
                       object->getNumber("max_ms").value_or(ms)};
  result.impl = object->getString("impl").value_or("?").str();
  result.out.resize(q.size());
  std::memcpy(result.out.data(), (*out)->getBufferStart(), q.size() * 2);
  return result;
}

std::string moduleText(int64_t tokens, const std::string &alloc) {
  std::string T = std::to_string(tokens);
  std::string qType = "tensor<" + T + "x32x128xbf16>";
  std::string kType = "tensor<" + T + "x8x128xbf16>";
  std::string qm = "memref<" + T + "x32x128xbf16>";
  std::string km = "memref<" + T + "x8x128xbf16>";
  std::string pm = "memref<3x" + T + "xi64>";
  std::string pt = "tensor<3x" + T + "xi64>";
  return "func.func @rotate(%qm: " + qm + ", %km: " + km + ", %pm: " + pm +
         ") attributes {llvm.emit_c_interface} {\n"
         "  %q = bufferization.to_tensor %qm restrict writable : " +
         qm + " to " + qType +
         "\n"
         "  %k = bufferization.to_tensor %km restrict writable : " +
         km + " to " + kType +
         "\n"
         "  %p = bufferization.to_tensor %pm restrict : " +
         pm + " to " + pt +
         "\n"
         "  %f = mrope.inv_freq theta = 1.000000e+06 : tensor<64xf32>\n"
         "  %qr, %kr = mrope.apply %q, %k positions(%p : " +
         pt +
         ") freqs(%f : tensor<64xf32>) layout thd rotary <alloc = " + alloc +
         ", rotary_dim = 128, angles = " +
         mrope::stringifyAnglePrecision(angleMode).str() + "> : " + qType +
         ", " + kType +
         "\n"
         "  bufferization.materialize_in_destination %qr in writable %qm : (" +
         qType + ", " + qm +
         ") -> ()\n"
         "  bufferization.materialize_in_destination %kr in writable %km : (" +
         kType + ", " + km +
         ") -> ()\n"
         "  return\n}\n";
}

//===----------------------------------------------------------------------===//
// --attention
//===----------------------------------------------------------------------===//

/// The benchmark's module: @fused (attention with the rotary prologue),
/// @plain (attention alone) and @rotate (mrope.apply), destination-passing.
/// Prefill (qSeq == kvSeq) rotates q and k with the same positions; decode
/// (qSeq < kvSeq: new queries against a cache whose keys were rotated when
/// written) rotates q only -- @rotate rotates q with a throwaway partner of
/// q's tokens, the fused prologue takes q_positions alone.
std::string attentionModuleText(int64_t qSeq, int64_t kvSeq, bool causal) {
  auto t = [&](int64_t heads, int64_t seq, const char *kind) {
    return std::string(kind) + "<1x" + std::to_string(heads) + "x" +
           std::to_string(seq) + "x128xbf16>";
  };
  const bool decode = qSeq != kvSeq;
  std::string qt = t(attentionQHeads, qSeq, "tensor"),
              kt = t(attentionKVHeads, kvSeq, "tensor");
  std::string qm = t(attentionQHeads, qSeq, "memref"),
              km = t(attentionKVHeads, kvSeq, "memref");
  // What @rotate rotates with q: k (prefill) or a partner of q's tokens.
  std::string rt = t(attentionKVHeads, qSeq, "tensor"),
              rm = t(attentionKVHeads, qSeq, "memref");
  std::string S = std::to_string(qSeq);
  std::string pt = "tensor<3x1x" + S + "xi64>",
              pm = "memref<3x1x" + S + "xi64>";
  std::string rotary = "rotary <alloc = <interleaved, section = [24, 20, 20]>, "
                       "rotary_dim = 128>";
  std::string mode = causal ? " causal" : "";
  auto in = [](const std::string &name, const std::string &m,
               const std::string &tt) {
    return "  %" + name + " = bufferization.to_tensor %" + name +
           "m restrict : " + m + " to " + tt + "\n";
  };
  auto store = [](const std::string &value, const std::string &dest,
                  const std::string &tt, const std::string &mt) {
    return "  bufferization.materialize_in_destination " + value +
           " in writable " + dest + " : (" + tt + ", " + mt + ") -> ()\n";
  };
  std::string freqs =
      "  %f = mrope.inv_freq theta = 1.000000e+06 : tensor<64xf32>\n";
  std::string attention =
      " : " + qt + ", " + kt + ", " + kt + " -> " + qt + "\n";
  std::string text;
  text += "func.func @fused(%qm: " + qm + ", %km: " + km + ", %vm: " + km +
          ", %pm: " + pm + ", %om: " + qm +
          ") attributes {llvm.emit_c_interface} {\n" + in("q", qm, qt) +
          in("k", km, kt) + in("v", km, kt) + in("p", pm, pt) + freqs +
          "  %o = mrope.attention %q, %k, %v q_positions(%p : " + pt + ") " +
          (decode ? "" : "k_positions(%p : " + pt + ") ") +
          "freqs(%f : tensor<64xf32>) layout bhsd " + rotary + mode +
          attention + store("%o", "%om", qt, qm) + "  return\n}\n";
  text += "func.func @plain(%qm: " + qm + ", %km: " + km + ", %vm: " + km +
          ", %om: " + qm + ") attributes {llvm.emit_c_interface} {\n" +
          in("q", qm, qt) + in("k", km, kt) + in("v", km, kt) +
          "  %o = mrope.attention %q, %k, %v layout bhsd" + mode + attention +
          store("%o", "%om", qt, qm) + "  return\n}\n";
  text += "func.func @rotate(%qm: " + qm + ", %km: " + rm + ", %pm: " + pm +
          ", %qrm: " + qm + ", %krm: " + rm +
          ") attributes {llvm.emit_c_interface} {\n" + in("q", qm, qt) +
          in("k", rm, rt) + in("p", pm, pt) + freqs +
          "  %qr, %kr = mrope.apply %q, %k positions(%p : " + pt +
          ") freqs(%f : tensor<64xf32>) layout bhsd " + rotary + " : " + qt +
          ", " + rt + "\n" + store("%qr", "%qrm", qt, qm) +
          store("%kr", "%krm", rt, rm) + "  return\n}\n";
  return text;
}

/// softmax(q k^T / sqrt(D) (+ causal, bottom-right)) v in double for query
/// rows `rows` of every head; bf16 inputs, qSeq queries against kvSeq keys.
/// Returns the largest error of `ours` measured in units of (one bf16 ulp of
/// the reference + 2^-9), so <= 1 passes.
double attentionError(const std::vector<uint16_t> &q,
                      const std::vector<uint16_t> &k,
                      const std::vector<uint16_t> &v,
                      const std::vector<uint16_t> &ours, int64_t qSeq,
                      int64_t kvSeq, bool causal,
                      const std::vector<int64_t> &rows) {
  double worst = 0;
  const double scale = 1.0 / std::sqrt(static_cast<double>(kDim));
  std::vector<double> scores(kvSeq), acc(kDim);
  for (int64_t h = 0; h < attentionQHeads; ++h) {
    int64_t g = h / (attentionQHeads / attentionKVHeads);
    for (int64_t i : rows) {
      const uint16_t *qi = &q[(h * qSeq + i) * kDim];
      int64_t keys = causal ? i + 1 + kvSeq - qSeq : kvSeq;
      double top = -1e300;
      for (int64_t j = 0; j < keys; ++j) {
        const uint16_t *kj = &k[(g * kvSeq + j) * kDim];
        double dot = 0;
        for (int64_t c = 0; c < kDim; ++c)
          dot += static_cast<double>(bf16ToFloat(qi[c])) * bf16ToFloat(kj[c]);
        scores[j] = dot * scale;
        top = std::max(top, scores[j]);
      }
      double total = 0;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t j = 0; j < keys; ++j) {
        double p = std::exp(scores[j] - top);
        total += p;
        const uint16_t *vj = &v[(g * kvSeq + j) * kDim];
        for (int64_t c = 0; c < kDim; ++c)
          acc[c] += p * bf16ToFloat(vj[c]);
      }
      for (int64_t c = 0; c < kDim; ++c) {
        double want = acc[c] / total;
        // One bf16 ulp at the value: 8 significant bits.
        int exponent = 0;
        std::frexp(want, &exponent);
        double ulp = want == 0 ? 0 : std::ldexp(1.0, exponent - 8);
        double got = bf16ToFloat(ours[(h * qSeq + i) * kDim + c]);
        worst = std::max(worst,
                         std::fabs(got - want) / (ulp + std::ldexp(1.0, -9)));
      }
    }
  }
  return worst;
}

int runAttentionBench() {
  std::vector<int64_t> seqLens(attentionSeqLens.begin(),
                               attentionSeqLens.end());
  if (seqLens.empty())
    seqLens = {512, 2048};
  for (int64_t s : seqLens)
    if (s < 1) {
      llvm::errs() << "mrope-bench: --seq lengths must be at least 1\n";
      return 1;
    }
  if (attentionQHeads < 1 || attentionKVHeads < 1 ||
      attentionQHeads % attentionKVHeads) {
    llvm::errs() << "mrope-bench: --q-heads (" << attentionQHeads
                 << ") must be a positive multiple of --kv-heads ("
                 << attentionKVHeads << ")\n";
    return 1;
  }
  const int64_t decode = attentionDecode;
  for (int64_t s : seqLens)
    if (decode < 0 || decode > s) {
      llvm::errs() << "mrope-bench: --decode (" << decode
                   << ") must be between 0 and each --seq length (" << s
                   << ")\n";
      return 1;
    }
  const std::string torchPy = findTorchPython();
  if (torchPy.empty() && !emitJson)
    llvm::outs() << "torch: not available (no Python with torch; "
                    "--torch-python or $MROPE_TORCH_PYTHON)\n";
  // Prefill tiles of bf16 take q . k as vdpbf16ps with AVX512-BF16 (this
  // benchmark's tiles have 16 rows).
  const bool bf16Dot =
      attentionTiles &&
      (avx512BF16 == 1 || (avx512BF16 < 0 && mrope::hostHasAVX512BF16()));
  const char *qkForm = bf16Dot ? "bf16-dot" : "f32-fma";
  // The lowering's form: prefill tiles of query rows, decode tasks of one
  // GQA group's heads sharing each key, or (attention-tiles=false) row by
  // row for both.
  const char *form = !attentionTiles ? "row-by-row"
                     : decode        ? "decode-group"
                                     : "row-tiles";
  mrope::JitOptions options;
  options.threads = useThreads;
  options.attentionTiles = attentionTiles;
  options.avx512BF16 = static_cast<int>(avx512BF16.getValue());
  options.runtimeLibDir =
      llvm::sys::path::parent_path(runtimeLib.getValue()).str();
  const unsigned threads =
      useThreads ? std::max(1u, std::thread::hardware_concurrency()) : 1u;
  if (!emitJson)
    llvm::outs() << llvm::format(
        "%-8s %6s %20s %20s %20s %9s %9s %8s %8s %s\n", "mode", "S",
        "fused ms (min-max)", "no-rotary ms", "separate ms", "fused/no",
        "fused/sep", decode ? "GB/s" : "TFLOP/s", "err", "check");
  std::vector<std::string> json;
  bool allOk = true;
  // JIT modules stay alive to the end (see the rotary benchmark).
  std::vector<std::unique_ptr<mrope::JitModule>> modules;
  for (int64_t seq : seqLens) {
    // Decode: the queries are the last `decode` tokens of the sequence.
    const int64_t qSeq = decode ? decode : seq;
    std::vector<int64_t> allPos = makePositions(seq), pos;
    for (int axis = 0; axis < 3; ++axis)
      pos.insert(pos.end(), allPos.begin() + axis * seq + (seq - qSeq),
                 allPos.begin() + (axis + 1) * seq);
    std::vector<uint16_t> q(attentionQHeads * qSeq * kDim),
        k(attentionKVHeads * seq * kDim), v(k.size());
    for (size_t i = 0; i < q.size(); ++i)
      q[i] = floatToBf16(std::sin(0.37f * static_cast<float>(i % 100003)));
    for (size_t i = 0; i < k.size(); ++i) {
      k[i] = floatToBf16(std::cos(0.23f * static_cast<float>(i % 100019)));
      v[i] = floatToBf16(std::sin(0.11f * static_cast<float>(i % 99991)));
    }
    // Decode is causal (the cache holds the past).
    for (bool causal :
         decode ? std::vector<bool>{true} : std::vector<bool>{false, true}) {
      std::string error;
      auto module = mrope::JitModule::compile(
          attentionModuleText(qSeq, seq, causal), options, error);
      if (!module) {
        llvm::errs() << "mrope-bench: " << error << "\n";
        return 1;
      }
      mrope::JitModule &m = *module;
      modules.push_back(std::move(module));
      // @rotate's second input and output: k and rotated k (prefill), or
      // decode's throwaway partner of q's tokens and its rotation.
      std::vector<uint16_t> fused(q.size()), plain(q.size()),
          separate(q.size()), qr(q.size()),
          partner(decode ? attentionKVHeads * qSeq * kDim : 0),
          kr(decode ? partner.size() : k.size());
      // What the attention reads as keys after the rotation.
      const std::vector<uint16_t> &rotatedK = decode ? k : kr;
      auto call = [&](const char *name, std::vector<void *> buffers) {
        std::string err;
        if (!m.invoke(name, buffers, err)) {
          llvm::errs() << "mrope-bench: " << err << "\n";
          std::exit(1);
        }
      };
      auto runFused = [&] {
        call("fused", {q.data(), k.data(), v.data(), pos.data(), fused.data()});
      };
      auto runPlain = [&] {
        call("plain", {q.data(), k.data(), v.data(), plain.data()});
      };
      auto runSeparate = [&] {
        call("rotate", {q.data(), decode ? partner.data() : k.data(),
                        pos.data(), qr.data(), kr.data()});
        call("plain", {qr.data(), const_cast<uint16_t *>(rotatedK.data()),
                       v.data(), separate.data()});
      };
      // Correctness, same run: fused and separate agree bit for bit (the
      // same rotation, the same loops), and both match a double-precision
      // softmax(q k^T) v of the rotated inputs on sample rows.
      runFused();
      runSeparate();
      bool same = fused == separate;
      std::vector<int64_t> rows = {0,        1,        qSeq / 3,
                                   qSeq / 2, qSeq - 2, qSeq - 1};
      rows.erase(std::remove_if(rows.begin(), rows.end(),
                                [&](int64_t r) { return r < 0 || r >= qSeq; }),
                 rows.end());
      std::sort(rows.begin(), rows.end());
      rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
      double err =
          attentionError(qr, rotatedK, v, fused, qSeq, seq, causal, rows);
      runPlain();
      err = std::max(err,
                     attentionError(q, k, v, plain, qSeq, seq, causal, rows));
      bool ok = same && err <= 1.0;
      allOk = allOk && ok;

      // Round-robin repetitions: the three variants see the same machine
      // state (this VM's speed drifts by tens of percent within a minute).
      // (The correctness runs above were the warm-up.)
      std::vector<double> fusedMs, plainMs, separateMs;
      auto timeOnce = [](auto &fn) {
        double start = now();
        fn();
        return now() - start;
      };
      for (int r = 0; r < repetitions; ++r) {
        fusedMs.push_back(timeOnce(runFused));
        plainMs.push_back(timeOnce(runPlain));
        separateMs.push_back(timeOnce(runSeparate));
      }
      auto summary = [](std::vector<double> t) {
        std::sort(t.begin(), t.end());
        return Timing{t[t.size() / 2], t.front(), t.back()};
      };
      Timing tf = summary(fusedMs), tp = summary(plainMs),
             ts = summary(separateMs);

      // The PyTorch peer on the same (unrotated) inputs: the peer of the
      // no-rotary variant; its output checked like ours, within a looser
      // bound (its eager form rounds the weights to bf16): a check that it
      // computes the same attention, not a contest of accuracy.
      constexpr double kTorchErrBound = 4;
      std::optional<AttentionPeerResult> torch;
      double torchErr = 0;
      if (!torchPy.empty() && seq <= torchAttentionMaxSeq) {
        std::string peerError;
        torch = runTorchAttentionPeer(torchPy, qSeq, seq, causal, threads, q, k,
                                      v, peerError);
        if (!torch) {
          llvm::errs() << "torch attention peer: " << peerError << "\n";
        } else {
          torchErr =
              attentionError(q, k, v, torch->out, qSeq, seq, causal, rows);
        }
      }
      std::string torchJson = "\"torch_ms\": null";
      if (torch)
        torchJson = llvm::formatv("\"torch_ms\": {0:f3}, \"torch_impl\": "
                                  "\"{1}\", \"torch_err_ulps\": {2:f3}, "
                                  "\"no_rotary_speedup_vs_torch\": {3:f3}, "
                                  "\"torch_check\": \"{4}\"",
                                  torch->time.median, torch->impl, torchErr,
                                  torch->time.median / tp.median,
                                  torchErr <= kTorchErrBound ? "pass" : "FAIL")
                        .str();
      allOk = allOk && (!torch || torchErr <= kTorchErrBound);
      // Query-key pairs: row i of qSeq sees i + 1 + seq - qSeq keys.
      const double qs = static_cast<double>(qSeq),
                   ks = static_cast<double>(seq);
      double pairs = causal ? qs * (ks - qs) + 0.5 * qs * (qs + 1) : qs * ks;
      double flops = 4.0 * attentionQHeads * kDim * pairs;
      double tflops = flops / (tf.median * 1e-3) / 1e12;
      // Decode reads the cache (K and V) once and q, o: its bound is memory.
      double bytes =
          2.0 * static_cast<double>(k.size() + v.size() + 2 * q.size());
      double gbps = bytes / (tf.median * 1e-3) / 1e9;
      const char *modeName = decode ? "decode" : causal ? "causal" : "full";
      if (emitJson) {
        json.push_back(llvm::formatv(
            "{{\"benchmark\": \"attention\", \"mode\": \"{0}\", \"seq\": {1}, "
            "\"q_heads\": {2}, \"kv_heads\": {3}, \"head_dim\": {4}, "
            "\"fused_ms\": {5:f3}, \"no_rotary_ms\": {6:f3}, "
            "\"separate_ms\": {7:f3}, "
            "\"fused_over_no_rotary\": {8:f4}, \"fused_over_separate\": "
            "{9:f4}, "
            "\"fused_tflops\": {10:f5}, \"max_err_ulps\": {11:f3}, "
            "\"fused_equals_separate\": {12}, \"check\": \"{13}\", "
            "\"threads\": {14}, \"form\": \"{15}\", \"qk\": \"{16}\", "
            "\"q_seq\": {18}, \"fused_gbps\": {19:f2}, {17}}",
            modeName, seq, int64_t(attentionQHeads), int64_t(attentionKVHeads),
            kDim, tf.median, tp.median, ts.median, tf.median / tp.median,
            tf.median / ts.median, tflops, err, same ? "true" : "false",
            ok ? "pass" : "FAIL", threads, form, qkForm, torchJson, qSeq,
            gbps));
      } else {
        auto range = [](Timing t) {
          return llvm::formatv("{0:f2} ({1:f2}-{2:f2})", t.median, t.min, t.max)
              .str();
        };
        llvm::outs() << llvm::format(
            "%-8s %6lld %20s %20s %20s %9.3f %9.3f %8.4f %8.2f %s\n", modeName,
            static_cast<long long>(seq), range(tf).c_str(), range(tp).c_str(),
            range(ts).c_str(), tf.median / tp.median, tf.median / ts.median,
            decode ? gbps : tflops, err, ok ? "ok" : "MISMATCH");
        if (torch)
          llvm::outs() << llvm::formatv(
              "  torch {0} ({1} threads): {2} ms, no-rotary {3:f1}x faster, "
              "torch err {4:f2} {5}\n",
              torch->impl, threads, range(torch->time),
              torch->time.median / tp.median, torchErr,
              torchErr <= kTorchErrBound ? "ok" : "MISMATCH");
      }
    }
  }
  if (emitJson) {
    printJsonArray(json);
  } else {
    llvm::outs() << "fused: attention with the rotary prologue; no-rotary: "
                    "the same attention without it; separate: mrope.apply, "
                    "then the attention. err: worst error on sample rows vs "
                    "double precision, in (1 bf16 ulp + 2^-9) units (<= 1 "
                    "passes). Threads: "
                 << threads << ". Form: " << form << ", q.k: " << qkForm
                 << "\n";
  }
  return allOk ? 0 : 2;
}

} // namespace

int main(int argc, char **argv) {
  llvm::cl::HideUnrelatedOptions(benchCategory);
  llvm::cl::ParseCommandLineOptions(
      argc, argv, "mrope-bench: compiled rotary vs naive loop vs bandwidth\n");
  if (repetitions < 1 || tokensOpt < 1) {
    llvm::errs() << "mrope-bench: --reps (" << repetitions << ") and --tokens ("
                 << tokensOpt << ") must be at least 1\n";
    return 1;
  }
  if (tokenTile < 1) {
    llvm::errs() << "mrope-bench: --token-tile (" << tokenTile
                 << ") must be at least 1\n";
    return 1;
  }
  if (avx512BF16 < -1 || avx512BF16 > 1) {
    llvm::errs() << "mrope-bench: --avx512-bf16 (" << avx512BF16
                 << ") must be -1 (host), 0 or 1\n";
    return 1;
  }
  if (avx512BF16 == 1 && !mrope::hostHasAVX512BF16()) {
    llvm::errs() << "mrope-bench: --avx512-bf16=1 needs a CPU with "
                    "avx512bf16; this host has none\n";
    return 1;
  }
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  if (attentionMode)
    return runAttentionBench();

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  mrope::registerAllMRopeDialects(registry);
  registerAllPasses();
  mrope::registerAllMRopePasses();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  std::vector<Allocation> allocations = {
      {"contiguous [16,24,24]", "<contiguous, section = [16, 24, 24]>"},
      {"interleaved [24,20,20]", "<interleaved, section = [24, 20, 20]>"},
      {"mhrope [2,3,3]", "<head_partitioned, section = [2, 3, 3]>"}};
  std::vector<int64_t> shapes = {tokensOpt, 256, 16, 1};
  std::vector<float> invFreq = mrope::freq::defaultInvFreq(kDim, kTheta);
  const unsigned threads =
      useThreads ? std::max(1u, std::thread::hardware_concurrency()) : 1u;

  const std::string torchPy = findTorchPython();
  if (!emitJson) {
    if (torchPy.empty())
      llvm::outs() << "torch: not available (no Python with torch; "
                      "--torch-python or $MROPE_TORCH_PYTHON)\n";
    llvm::outs() << llvm::format(
        "%-24s %6s %22s %22s %22s %22s %9s %9s %9s %9s %10s\n", "allocation",
        "T", "ours ms (min-max)", "naive ms (min-max)", "probe ms (min-max)",
        "torch ms (min-max)", "probe/us", "naive/us", "torch/us", "=torch",
        "max err");
  }
  std::vector<std::string> json;
  // Engines stay alive to the end: destroying one runs the async runtime's
  // __mlir_execution_engine_destroy, which tears down the process-wide
  // runtime that the next engine's code would use.
  std::vector<std::unique_ptr<ExecutionEngine>> engines;
  bool allOk = true;
  for (int64_t tokens : shapes) {
    std::vector<int64_t> pos = makePositions(tokens);
    std::vector<uint16_t> q0(tokens * kQHeads * kDim),
        k0(tokens * kKVHeads * kDim);
    for (size_t i = 0; i < q0.size(); ++i)
      q0[i] = floatToBf16(std::sin(0.001f * static_cast<float>(i % 100003)));
    for (size_t i = 0; i < k0.size(); ++i)
      k0[i] = floatToBf16(std::cos(0.002f * static_cast<float>(i % 100019)));
    for (const Allocation &alloc : allocations) {
      OwningOpRef<ModuleOp> module =
          parseSourceString<ModuleOp>(moduleText(tokens, alloc.attr), &context);
      if (!module)
        return 1;
      PassManager pm(&context);
      mrope::CPUPipelineOptions cpu;
      cpu.threads = useThreads;
      cpu.vectorBits = vectorBits;
      cpu.fastSinCos = fastSinCos;
      cpu.tokenTile = tokenTile;
      cpu.avx512BF16 = avx512BF16;
      mrope::buildMRopeCPUPipeline(pm, cpu);
      if (failed(pm.run(*module)))
        return 1;
      auto transformer = makeOptimizingTransformer(3, 0, nullptr);
      ExecutionEngineOptions options;
      options.transformer = transformer;
      options.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
      std::vector<std::string> libPaths = {runtimeLib};
      if (useThreads)
        libPaths.push_back(asyncRuntimeLib);
      std::vector<llvm::StringRef> libs(libPaths.begin(), libPaths.end());
      options.sharedLibPaths = libs;
      auto engine = ExecutionEngine::create(*module, options);
      if (!engine) {
        llvm::errs() << "JIT failed: " << llvm::toString(engine.takeError())
                     << "\n";
        return 1;
      }
      engines.push_back(std::move(*engine));
      auto symbol = engines.back()->lookup("_mlir_ciface_rotate");
      if (!symbol) {
        llvm::errs() << llvm::toString(symbol.takeError()) << "\n";
        return 1;
      }
      using Fn = void (*)(StridedMemRefType<uint16_t, 3> *,
                          StridedMemRefType<uint16_t, 3> *,
                          StridedMemRefType<int64_t, 2> *);
      auto rotateFn = reinterpret_cast<Fn>(*symbol);

      std::vector<uint16_t> q = q0, k = k0, qn = q0, kn = k0;
      auto desc3 = [](std::vector<uint16_t> &v, int64_t t, int64_t h) {
        StridedMemRefType<uint16_t, 3> d;
        d.basePtr = d.data = v.data();
        d.offset = 0;
        d.sizes[0] = t;
        d.sizes[1] = h;
        d.sizes[2] = kDim;
        d.strides[0] = h * kDim;
        d.strides[1] = kDim;
        d.strides[2] = 1;
        return d;
      };
      StridedMemRefType<uint16_t, 3> qd = desc3(q, tokens, kQHeads),
                                     kd = desc3(k, tokens, kKVHeads);
      StridedMemRefType<int64_t, 2> pd;
      pd.basePtr = pd.data = pos.data();
      pd.offset = 0;
      pd.sizes[0] = 3;
      pd.sizes[1] = tokens;
      pd.strides[0] = tokens;
      pd.strides[1] = 1;

      // Correctness, same run: one rotation each from the same inputs.
      rotateFn(&qd, &kd, &pd);
      bool perHead = alloc.name.rfind("mhrope", 0) == 0;
      std::vector<mrope::Axis> pairAxes(kPairs), headAxes;
      {
        auto allocAttr = llvm::cast<mrope::AllocationAttr>(
            parseAttribute("#mrope.alloc" + alloc.attr, &context));
        auto p = allocAttr.getPairAxes(kPairs);
        pairAxes.assign(p.begin(), p.end());
        if (perHead) {
          auto h = allocAttr.getHeadAxes(kKVHeads);
          headAxes.assign(h.begin(), h.end());
        }
      }
      naiveRotate(qn, kn, pos, tokens, invFreq, pairAxes, headAxes);
      // Ours rounds cos/sin and every op to bf16 (Hugging Face); the naive
      // loop rounds once: a few bf16 ulps of |x| <= 1 apart at most.
      double err = 0;
      for (size_t i = 0; i < q.size(); ++i)
        err = std::max(err, static_cast<double>(std::fabs(bf16ToFloat(q[i]) -
                                                          bf16ToFloat(qn[i]))));
      for (size_t i = 0; i < k.size(); ++i)
        err = std::max(err, static_cast<double>(std::fabs(bf16ToFloat(k[i]) -
                                                          bf16ToFloat(kn[i]))));
      bool ok = err <= 6.0 / 256.0;
      // The PyTorch eager peer on the same inputs: the reference formulas,
      // so ours must agree to within a bf16 ulp or two (cos/sin differ by an
      // f32 ulp here and there: Sleef vs our polynomial).
      std::optional<TorchResult> torch;
      if (!torchPy.empty()) {
        std::string error;
        torch =
            runTorchPeer(torchPy, llvm::StringRef(alloc.name).split(' ').first,
                         tokens, q0, k0, pos, q, k, error);
        if (!torch)
          llvm::errs() << "torch peer: " << error << "\n";
        else
          ok = ok && torch->maxErr <= 1.0 / 64.0;
      }
      allOk = allOk && ok;

      Timing ours = measure([&] { rotateFn(&qd, &kd, &pd); }, repetitions);
      Timing naive = measure(
          [&] {
            naiveRotate(qn, kn, pos, tokens, invFreq, pairAxes, headAxes);
          },
          repetitions);
      // Like ours (task size 1024 tokens), the probe only splits large
      // inputs: spawning threads for a few tokens would time the spawn.
      unsigned probeThreads = tokens >= 1024 ? threads : 1u;
      Timing floor = measure([&] { probe(q, k, probeThreads); }, repetitions);
      double ratio = floor.median / ours.median;
      double naiveRatio = naive.median / ours.median;
      double bytes = 2.0 * 2.0 * static_cast<double>(q.size() + k.size());
      if (emitJson) {
        json.push_back(llvm::formatv(
            "{{\"allocation\": \"{0}\", \"tokens\": {1}, \"ours_ms\": {2}, "
            "\"ours_min_ms\": {3}, \"ours_max_ms\": {4}, "
            "\"bandwidth_probe_ms\": {5}, \"naive_ms\": {6}, \"torch_ms\": "
            "{13}, "
            "\"ratio_vs_probe\": {7}, \"speedup_vs_naive\": {8}, "
            "\"speedup_vs_torch\": {14}, "
            "\"ours_gb_per_s\": {9}, \"max_abs_err_vs_naive\": {10}, "
            "\"max_abs_err_vs_torch\": {15}, "
            "\"bitwise_equal_vs_torch\": {16}, "
            "\"check\": \"{11}\", \"threads\": {12}}",
            alloc.name, tokens, ours.median, ours.min, ours.max, floor.median,
            naive.median, ratio, naiveRatio, bytes / ours.median / 1e6, err,
            ok ? "pass" : "FAIL", threads,
            torch ? std::to_string(torch->ms) : "null",
            torch ? std::to_string(torch->ms / ours.median) : "null",
            torch ? std::to_string(torch->maxErr) : "null",
            torch ? std::to_string(torch->bitwiseEqual) : "null"));
      } else {
        auto range = [](Timing t) {
          return llvm::formatv("{0:f3} ({1:f3}-{2:f3})", t.median, t.min, t.max)
              .str();
        };
        std::string torchRange = "-", torchRatio = "-", torchEqual = "-";
        if (torch) {
          torchEqual = torch->differing == 0
                           ? std::string("all")
                           : llvm::formatv("-{0}", torch->differing).str();
          torchRange = llvm::formatv("{0:f3} ({1:f3}-{2:f3})", torch->ms,
                                     torch->minMs, torch->maxMs)
                           .str();
          torchRatio = llvm::formatv("{0:f1}", torch->ms / ours.median).str();
        }
        llvm::outs() << llvm::format(
            "%-24s %6lld %22s %22s %22s %22s %9.2f %9.2f %9s %9s %10.2e %s\n",
            alloc.name.c_str(), static_cast<long long>(tokens),
            range(ours).c_str(), range(naive).c_str(), range(floor).c_str(),
            torchRange.c_str(), ratio, naiveRatio, torchRatio.c_str(),
            torchEqual.c_str(), std::max(err, torch ? torch->maxErr : 0.0),
            ok ? "ok" : "MISMATCH");
      }
    }
  }
  if (emitJson) {
    printJsonArray(json);
  } else {
    llvm::outs() << "probe/us = bandwidth-probe time / ours (1.0 = at the "
                    "in-place read-modify-write floor); naive/us = naive "
                    "loop time / ours (naive: single thread); torch/us = "
                    "PyTorch eager (Hugging Face formulas, its own threads) / "
                    "ours; =torch: q/k bitwise equal to PyTorch's ('all', or "
                    "-N: N elements differ); max err: vs naive and torch. "
                    "Threads for ours "
                    "and the probe (T >= 1024): "
                 << threads << "\n";
  }
  return allOk ? 0 : 2;
}

//===- FuzzerMain.cpp - run a fuzz target on given inputs -----------------===//
//
// The main() of a fuzz target built without libFuzzer: runs every file named
// on the command line (or every file in a named directory) through
// LLVMFuzzerTestOneInput once, so the crash regressions run in every build.
// libFuzzer flags (-runs=0, ...) are ignored.
//
//===----------------------------------------------------------------------===//

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool runFile(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer) {
    llvm::errs() << "cannot read " << path << ": "
                 << buffer.getError().message() << "\n";
    return false;
  }
  llvm::outs() << "Running: " << path << "\n";
  llvm::outs().flush();
  LLVMFuzzerTestOneInput(
      reinterpret_cast<const uint8_t *>((*buffer)->getBufferStart()),
      (*buffer)->getBufferSize());
  return true;
}

int main(int argc, char **argv) {
  int count = 0;
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!arg.empty() && arg[0] == '-')
      continue;
    if (llvm::sys::fs::is_directory(arg)) {
      std::error_code ec;
      for (llvm::sys::fs::directory_iterator it(arg, ec), end; it != end && !ec;
           it.increment(ec)) {
        if (llvm::sys::fs::is_regular_file(it->path())) {
          ok &= runFile(it->path());
          ++count;
        }
      }
      continue;
    }
    ok &= runFile(arg);
    ++count;
  }
  // The same last line as libFuzzer prints.
  llvm::outs() << "Done " << count << " runs\n";
  return ok ? 0 : 1;
}

//===- check-manifest.cpp - the runtime alone, no MLIR --------------------===//
//
// Links only AttnMLIR::Runtime: reads the manifest host-compiler wrote and
// checks a set of arguments against it, as a serving process would before
// loading the kernel on a GPU. Usage: check-manifest <manifest.json>.
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/Runtime.h"

#include <fstream>
#include <iostream>
#include <sstream>

using namespace attn::runtime;

int main(int argc, char **argv) {
  if (argc != 2) {
    std::cerr << "usage: check-manifest <manifest.json>\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  std::stringstream text;
  text << in.rdbuf();
  Manifest manifest;
  if (Status s = parseManifest(text.str(), manifest); !s) {
    std::cerr << "check-manifest: " << s.message << "\n";
    return 1;
  }
  // The caller's arguments as the manifest asks for them (aligned fake
  // device pointers: nothing is launched).
  std::vector<TensorArg> args;
  for (const ManifestArgument &arg : manifest.arguments)
    if (!arg.isWorkspace())
      args.push_back({0x1000, arg.dtype, arg.shape});
  Status ok = checkArguments(manifest, args);
  args.front().shape.back() += 1; // a wrong head dim must be refused
  Status refused = checkArguments(manifest, args);
  std::cout << "runtime: kernel " << manifest.symbol << " (" << manifest.family << "), "
            << manifest.arguments.size() << " arguments, grid ["
            << manifest.grid[0] << ", " << manifest.grid[1] << ", "
            << manifest.grid[2] << "]; matching arguments "
            << (ok ? "accepted" : "refused: " + ok.message)
            << "; a wrong shape " << (refused ? "accepted" : "refused") << "\n";
  return ok && !refused ? 0 : 1;
}

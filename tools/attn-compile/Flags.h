//===- Flags.h - attn-compile's command-line flags --------------*- C++ -*-===//
//
// Part of attn-mlir. The flags of attn-compile, defined in Flags.cpp and read
// by the tool's spec, compile and cost-report code (attn-compile.cpp); the
// GPU passes' own options come from their ODS declarations
// (--convert-attn-to-nvvm=...), not from here.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_ATTN_COMPILE_FLAGS_H
#define ATTN_TOOLS_ATTN_COMPILE_FLAGS_H

#include "llvm/Support/CommandLine.h"

#include <cstdint>
#include <string>

namespace attn_compile {
namespace cl = llvm::cl;

extern cl::OptionCategory toolCategory;
extern cl::OptionCategory specCategory;
extern cl::opt<std::string> inputFile;
extern cl::opt<std::string> outputFile;
extern cl::opt<int64_t> batch;
extern cl::opt<int64_t> headsQ;
extern cl::opt<int64_t> headsKV;
extern cl::opt<int64_t> seqQ;
extern cl::opt<int64_t> seqK;
extern cl::opt<int64_t> headDim;
extern cl::opt<int64_t> valueHeadDim;
extern cl::opt<std::string> dtype;
extern cl::opt<std::string> mask;
extern cl::opt<int64_t> windowLeft;
extern cl::opt<int64_t> windowRight;
extern cl::opt<double> softcap;
extern cl::opt<std::string> scoreMod;
extern cl::opt<bool> bias;
extern cl::list<std::string> biasBroadcast;
extern cl::opt<bool> boolMask;
extern cl::opt<std::string> maskMod;
extern cl::opt<bool> alibi;
extern cl::opt<std::string> sinks;
extern cl::opt<int64_t> headOffset;
extern cl::opt<int64_t> headsTotal;
extern cl::opt<bool> bshd;
extern cl::opt<bool> withLse;
extern cl::opt<bool> backward;
extern cl::opt<bool> biasGrad;
extern cl::opt<bool> lseGrad;
extern cl::opt<bool> deterministic;
extern cl::opt<std::string> dqReduction;
extern cl::opt<bool> rotateQBlocks;
extern cl::opt<bool> bwdSquareWarpTiles;
extern cl::opt<int64_t> bwdDQWarpRows;
extern cl::opt<int64_t> bwdBlockM;
extern cl::opt<int64_t> bwdBlockN;
extern cl::opt<std::string> bwdKernel;
extern cl::opt<int64_t> dqBlockM;
extern cl::opt<bool> runCpu;
extern cl::opt<std::string> target;
extern cl::OptionCategory gpuCategory;
extern cl::opt<std::string> chip;
extern cl::list<std::string> cubinArchs;
extern cl::list<std::string> nvvmOptions;
extern cl::opt<bool> printPtx;
extern cl::OptionCategory flashCategory;
extern cl::opt<bool> flash;
extern cl::opt<bool> splitVarlen;
extern cl::list<std::string> tileOptions;
extern cl::opt<int64_t> pageSize;
extern cl::opt<int64_t> appendTokens;
extern cl::opt<int64_t> numPages;
extern cl::opt<bool> sharedKV;
extern cl::opt<bool> keyLengths;
extern cl::list<std::string> varlen;
extern cl::list<std::string> dynamicDims;
extern cl::opt<bool> printStageIR;
extern cl::opt<std::string> ptxFeatures;
extern cl::OptionCategory costCategory;
extern cl::opt<std::string> costGpu;
extern cl::opt<std::string> costReport;
extern cl::opt<std::string> costReportFile;
extern cl::opt<std::string> modelName;
extern cl::opt<int64_t> modelHidden;
extern cl::opt<int64_t> modelLayers;
extern cl::opt<int64_t> modelFfn;
extern cl::opt<int64_t> modelHeads;
extern cl::opt<int64_t> modelKVHeads;
extern cl::opt<int64_t> modelVocab;
extern cl::opt<bool> modelSwiglu;
extern cl::opt<int64_t> modelContext;

} // namespace attn_compile

#endif // ATTN_TOOLS_ATTN_COMPILE_FLAGS_H

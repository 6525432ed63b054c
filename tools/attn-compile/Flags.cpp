//===- Flags.cpp - attn-compile's command-line flags ----------------------===//
//
// Part of attn-mlir. Every flag of attn-compile, by category (--help lists
// them in this order within each); Flags.h declares them.
//
//===----------------------------------------------------------------------===//

#include "Flags.h"

namespace attn_compile {

cl::OptionCategory toolCategory("attn-compile");
cl::OptionCategory specCategory("Attention spec (used without an input "
                                "file)");
cl::opt<std::string> inputFile(cl::Positional, cl::desc("[input .mlir file]"),
                               cl::init(""), cl::cat(toolCategory));
cl::opt<std::string> outputFile("o", cl::desc("Write the final IR here"),
                                cl::value_desc("file"), cl::init(""),
                                cl::cat(toolCategory));
cl::opt<int64_t> batch("batch", cl::desc("Batch size B"), cl::init(1),
                       cl::cat(specCategory));
cl::opt<int64_t> headsQ("heads-q", cl::desc("Query heads Hq"), cl::init(32),
                        cl::cat(specCategory));
cl::opt<int64_t> headsKV("heads-kv", cl::desc("Key/value heads Hkv"),
                         cl::init(8), cl::cat(specCategory));
cl::opt<int64_t> seqQ("seq-q", cl::desc("Query length Lq"), cl::init(1024),
                      cl::cat(specCategory));
cl::opt<int64_t> seqK("seq-k", cl::desc("Key length Lk"), cl::init(1024),
                      cl::cat(specCategory));
cl::opt<int64_t> headDim("head-dim", cl::desc("Head dimension D"),
                         cl::init(128), cl::cat(specCategory));
cl::opt<int64_t> valueHeadDim(
    "value-head-dim",
    cl::desc("Value head dimension Dv, the columns of V and O (0: D; e.g. "
             "--head-dim=192 --value-head-dim=128 for MLA prefill)"),
    cl::init(0), cl::cat(specCategory));
cl::opt<std::string> dtype("dtype", cl::desc("f32, f16 or bf16"),
                           cl::init("bf16"), cl::cat(specCategory));
cl::opt<std::string>
    mask("mask",
         cl::desc("none, causal (= causal-bottom-right), causal-top-left, "
                  "causal-bottom-right, sliding-window (default causal, the "
                  "decoder-model case; AttentionSpec's C++ default is none)"),
         cl::init("causal"), cl::cat(specCategory));
cl::opt<int64_t> windowLeft("window-left", cl::init(256),
                            cl::desc("Sliding window: keys before"),
                            cl::cat(specCategory));
cl::opt<int64_t> windowRight("window-right", cl::init(0),
                             cl::desc("Sliding window: keys after"),
                             cl::cat(specCategory));
cl::opt<double> softcap("softcap", cl::desc("Logit soft-cap (0: off)"),
                        cl::init(0.0), cl::cat(specCategory));
cl::opt<std::string>
    scoreMod("score-mod",
             cl::desc("none, relative-bias (score + 0.01 * (kv_idx - q_idx)), "
                      "tanh-cap (20 * tanh(score / 20)), head-relative-bias "
                      "(score + 0.01 * (h + 1) * (kv_idx - q_idx))"),
             cl::init("none"), cl::cat(specCategory));
cl::opt<bool> bias("bias",
                   cl::desc("Add a [B, Hq, Lq, Lk] additive bias "
                            "operand of the inputs' element type"),
                   cl::init(false), cl::cat(specCategory));
cl::list<std::string> biasBroadcast(
    "bias-broadcast",
    cl::desc("With --bias: the bias' extents of size 1, broadcast "
             "(comma-separated: batch, heads, query, key), e.g. "
             "--bias-broadcast=batch for a [1, Hq, Lq, Lk] bias"),
    cl::CommaSeparated, cl::cat(specCategory));
cl::opt<bool> boolMask("bool-mask",
                       cl::desc("Add a [B, Hq, Lq, Lk] boolean mask "
                                "operand (true keeps the key)"),
                       cl::init(false), cl::cat(specCategory));
cl::opt<std::string>
    maskMod("mask-mod",
            cl::desc("none, prefix-lm (mask_mod: kv_idx <= q_idx || kv_idx "
                     "< 4)"),
            cl::init("none"), cl::cat(specCategory));
cl::opt<bool> alibi("alibi",
                    cl::desc("ALiBi with slope 2^(-8 (h + 1) / Hq) for "
                             "query head h"),
                    cl::init(false), cl::cat(specCategory));
cl::opt<std::string> sinks(
    "sinks",
    cl::desc("Attention sinks (gpt-oss): 'random' (normal(0, 1) draws from a "
             "fixed seed), one value for every head, or a comma-separated "
             "list of one f32 logit per query head of the whole attention"),
    cl::init(""), cl::cat(specCategory));
cl::opt<int64_t>
    headOffset("head-offset",
               cl::desc("Tensor-parallel shard: global head of local query "
                        "head 0 (ALiBi and score_mod see global heads)"),
               cl::init(0), cl::cat(specCategory));
cl::opt<int64_t>
    headsTotal("heads-total",
               cl::desc("Tensor-parallel shard: query heads of the whole "
                        "attention (0: --heads-q, no sharding)"),
               cl::init(0), cl::cat(specCategory));
cl::opt<bool> bshd("bshd", cl::desc("Use the [B, L, H, D] layout"),
                   cl::init(false), cl::cat(specCategory));
cl::opt<bool> withLse("lse",
                      cl::desc("Also return log-sum-exp (default on, "
                               "as training needs it; AttentionSpec's "
                               "C++ default is off)"),
                      cl::init(true), cl::cat(specCategory));
cl::opt<bool> backward(
    "backward",
    cl::desc("Compile the spec's backward (attn.attention_backward: dQ, dK, "
             "dV from Q, K, V, O, dO, LSE); --target=ptx only. The program's "
             "kernels get one manifest each, in launch order: <o>.json, "
             "<o>.1.json, <o>.2.json"),
    cl::init(false), cl::cat(specCategory));
cl::opt<bool> biasGrad(
    "bias-grad",
    cl::desc("With --backward and --bias: return d_bias (default on); off "
             "treats the bias as a constant"),
    cl::init(true), cl::cat(specCategory));
cl::opt<bool> lseGrad(
    "lse-grad",
    cl::desc("With --backward: the loss reads the forward's LSE too; the "
             "entry takes its gradient grad_lse after every other input"),
    cl::init(false), cl::cat(specCategory));
cl::opt<bool> deterministic(
    "deterministic",
    cl::desc("With --backward: dQ bit-identical run to run (a dQ kernel "
             "over Q blocks instead of f32 atomics)"),
    cl::init(false), cl::cat(specCategory));
cl::opt<std::string> dqReduction(
    "dq-reduction",
    cl::desc("With --backward: how the main kernel adds dQ to dq_accum "
             "(auto, atom, red-v2, red-v4; red-* need --chip=sm_90 or newer "
             "and --ptx-features=+ptx81 or newer; auto picks red-v4 there)"),
    cl::init("auto"), cl::cat(specCategory));
cl::opt<bool> rotateQBlocks(
    "rotate-q-blocks",
    cl::desc("With --backward (atomic dQ): KV block n starts its Q loop at "
             "Q block n mod the count, so that concurrent dQ reductions hit "
             "different rows (default on)"),
    cl::init(true), cl::cat(specCategory));
cl::opt<bool> bwdSquareWarpTiles(
    "bwd-square-warp-tiles",
    cl::desc("With --backward: 128-key main CTAs use 32-key warp tiles with "
             "P^T and dS^T staged in shared memory (default on; off: 16 keys "
             "per warp)"),
    cl::init(true), cl::cat(specCategory));
cl::opt<int64_t> bwdDQWarpRows(
    "bwd-dq-warp-rows",
    cl::desc("With --backward (atomic dQ): query rows of a warp's dQ tile "
             "in the main kernel, 16 or 32 (0: 32 with square warp tiles at "
             "block-m 128, else 16)"),
    cl::init(0), cl::cat(specCategory));
cl::opt<int64_t> bwdBlockM(
    "bwd-block-m",
    cl::desc("With --backward: the main kernel's Q rows per step (32, 64 "
             "or 128; 0: the tile model's, which --gpu-options=tile-model= "
             "turns off for the backward too)"),
    cl::init(0), cl::cat(specCategory));
cl::opt<int64_t> bwdBlockN(
    "bwd-block-n",
    cl::desc("With --backward: keys per main-kernel CTA, 16 per warp (64 or "
             "128; 0: the tile model's)"),
    cl::init(0), cl::cat(specCategory));
cl::opt<std::string> bwdKernel(
    "bwd-kernel",
    cl::desc("With --backward: the main kernel, mma-sync, hopper (sm_90a "
             "wgmma; needs --chip=sm_90a) or auto (hopper where it applies "
             "and was measured faster, else mma-sync)"),
    cl::init("auto"), cl::cat(specCategory));
cl::opt<int64_t> dqBlockM(
    "dq-block-m",
    cl::desc("With --backward --deterministic: query rows per dQ-kernel CTA "
             "(64 or 128; 0: the tile model's)"),
    cl::init(0), cl::cat(specCategory));
cl::opt<bool> runCpu("run-cpu",
                     cl::desc("Execute on the CPU and compare with the "
                              "float64 reference (spec input only)"),
                     cl::init(false), cl::cat(toolCategory));
cl::opt<std::string>
    target("target",
           cl::desc("cpu: lower for the LLVM JIT (default); ptx: generate the "
                    "GPU kernel and write <o>.ptx, <o>.<arch>.cubin and "
                    "<o>.json (the manifest)"),
           cl::init("cpu"), cl::cat(toolCategory));
cl::OptionCategory gpuCategory("GPU target (--target=ptx)");
cl::opt<std::string> chip("chip", cl::desc("PTX target chip"),
                          cl::init("sm_80"), cl::cat(gpuCategory));
cl::list<std::string>
    cubinArchs("cubin-arch",
               cl::desc("Assemble a cubin for this arch with "
                        "ptxas (repeatable; 'none' for none; default: "
                        "the --chip itself, and sm_80 / sm_90 where "
                        "portable PTX of the chip assembles for them)"),
               cl::cat(gpuCategory));
// The passes' own options (declared once, in Passes.td), in their own syntax:
// the text attn-opt takes after --convert-attn-to-nvvm= and --attn-tile=.
// Commas separate options too, so a flag needs no quoting in scripts.
cl::list<std::string> nvvmOptions(
    "convert-attn-to-nvvm",
    cl::desc("--target=ptx: convert-attn-to-nvvm's options, e.g. "
             "'block-m=64 num-warps=4' or block-m=64,kernel=decode (see "
             "attn-opt --help or docs/Passes)"),
    cl::CommaSeparated, cl::cat(gpuCategory));
cl::opt<bool> printPtx("print-ptx",
                       cl::desc("Print the PTX and manifest to stdout"),
                       cl::init(false), cl::cat(gpuCategory));
cl::OptionCategory flashCategory("FlashAttention passes (--target=cpu)");
cl::opt<bool>
    flash("flash",
          cl::desc("Run attn-tile, attn-fuse-online-softmax and "
                   "attn-lower-precision before attn-to-cpu (default on)"),
          cl::init(true), cl::cat(flashCategory));
cl::opt<bool> splitVarlen(
    "split-varlen",
    cl::desc("--target=cpu with --varlen: run attn-split-varlen before "
             "attn-tile (default on); off, attn-tile tiles the varlen op "
             "itself, the program the GPU kernel runs"),
    cl::init(true), cl::cat(flashCategory));
cl::list<std::string>
    tileOptions("attn-tile",
                cl::desc("--target=cpu: attn-tile's options, e.g. 'block-m=32 "
                         "num-splits=3' or block-m=32,block-n=16"),
                cl::CommaSeparated, cl::cat(flashCategory));
cl::opt<int64_t> pageSize("page-size",
                          cl::desc("K and V in a paged cache with "
                                   "pages of this many tokens (0: "
                                   "contiguous)"),
                          cl::init(0), cl::cat(specCategory));
cl::opt<int64_t> numPages("num-pages",
                          cl::desc("With --page-size: the pages of the K "
                                   "and V pools the block table indexes "
                                   "(0: one set per cache, batch x seq-k "
                                   "/ page-size)"),
                          cl::init(0), cl::cat(specCategory));
cl::opt<int64_t> appendTokens(
    "append-tokens",
    cl::desc("The last T keys of each sequence (ending at its key length) "
             "are new tokens, appended by attn.kv_append to a contiguous "
             "cache in the same function (needs --key-lengths)"),
    cl::init(0), cl::cat(specCategory));
cl::opt<bool> sharedKV(
    "shared-kv",
    cl::desc("One shared K/V cache (MLA latent decode): V is the first "
             "--value-head-dim columns of K's rows (attn.kv_prefix), the "
             "entry takes no V operand"),
    cl::init(false), cl::cat(specCategory));
cl::opt<bool> keyLengths(
    "key-lengths",
    cl::desc("Add a key_lengths [B] operand (cache fill levels); --run-cpu "
             "uses lengths Lk, Lk - 1, ... (at least 1)"),
    cl::init(false), cl::cat(specCategory));
cl::list<std::string> varlen(
    "varlen",
    cl::desc("A varlen batch (packed sequences, cu_seqlens_q/k operands): "
             "each sequence's query and key lengths as q:k (q alone: k = q), "
             "e.g. --varlen=5:7,0:3,1; sets B = 1, the bshd layout, Lq and "
             "Lk to the packed totals. With --key-lengths: queries over "
             "per-sequence caches (decode), k the sequence's cached keys, "
             "the caches [N, Lk, Hkv, D] of --seq-k rows (default: the "
             "longest k; paged with --page-size)"),
    cl::CommaSeparated, cl::cat(specCategory));
cl::list<std::string> dynamicDims(
    "dynamic",
    cl::desc("Dims the entry takes as dynamic (?): batch, seq-q, seq-k; one "
             "kernel then serves every such length (--batch, --seq-q and "
             "--seq-k only size --run-cpu's tensors)"),
    cl::CommaSeparated, cl::cat(specCategory));
cl::opt<bool> printStageIR("print-stage-ir",
                           cl::desc("Print the IR after every stage"),
                           cl::init(false), cl::cat(toolCategory));
cl::opt<std::string>
    ptxFeatures("ptx-features",
                cl::desc("PTX ISA features of the target, e.g. +ptx80 (sm_100 "
                         "and newer need a newer PTX ISA, e.g. +ptx86)"),
                cl::init("+ptx80"), cl::cat(gpuCategory));
// The cost model (docs/CostModel.md): figures for every attention, the
// roofline on --gpu, the chosen tile configuration, and with --model (or
// explicit --hidden ...) a whole transformer's parameters, FLOPs and KV
// cache for --batch sequences of --context tokens.
cl::OptionCategory costCategory("Cost model");
cl::opt<std::string> costGpu(
    "gpu",
    cl::desc("GPU for the roofline and the tile choice: a100-sxm, h100-sxm, "
             "h200, b200 (default: the --chip's GPU on --target=ptx, as "
             "tile-model=auto takes it; h100-sxm on the CPU target). Named, "
             "it is also the GPU tile-model=auto tiles the kernels for"),
    cl::init(""), cl::cat(costCategory));
cl::opt<std::string>
    costReport("report",
               cl::desc("text: cost lines in the summary (default); json: "
                        "the JSON report, alone on stdout (then nothing is "
                        "compiled) or to --report-file; none"),
               cl::init("text"), cl::cat(costCategory));
cl::opt<std::string>
    costReportFile("report-file",
                   cl::desc("Write the JSON report here (--report=json)"),
                   cl::init(""), cl::cat(costCategory));
cl::opt<std::string>
    modelName("model",
              cl::desc("Model preset: gpt2, llama-3-8b, llama-3-70b, "
                       "mistral-7b, qwen2.5-7b"),
              cl::init(""), cl::cat(costCategory));
cl::opt<int64_t> modelHidden("hidden", cl::desc("Model hidden size H"),
                             cl::init(0), cl::cat(costCategory));
cl::opt<int64_t> modelLayers("layers", cl::desc("Model layers"), cl::init(0),
                             cl::cat(costCategory));
cl::opt<int64_t> modelFfn("ffn", cl::desc("MLP inner size (0: 4H)"),
                          cl::init(0), cl::cat(costCategory));
cl::opt<int64_t> modelHeads("heads", cl::desc("Model query heads"), cl::init(0),
                            cl::cat(costCategory));
cl::opt<int64_t> modelKVHeads("kv-heads",
                              cl::desc("Model KV heads (0: --heads)"),
                              cl::init(0), cl::cat(costCategory));
cl::opt<int64_t> modelVocab("vocab", cl::desc("Model vocabulary"), cl::init(0),
                            cl::cat(costCategory));
cl::opt<bool> modelSwiglu(
    "swiglu",
    cl::desc("Explicit model: Llama-style block (SwiGLU, RMSNorm, no "
             "biases, untied LM head) instead of GPT-2-style"),
    cl::init(false), cl::cat(costCategory));
cl::opt<int64_t>
    modelContext("context",
                 cl::desc("Model figures: tokens per sequence (0: --seq-k)"),
                 cl::init(0), cl::cat(costCategory));

} // namespace attn_compile

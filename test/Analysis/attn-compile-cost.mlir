// The cost model in attn-compile: model presets, explicit model flags, the
// JSON report (parsed by Python's json module) and the text summary. Every
// number is worked out in the comment above its check.

// RUN: attn-compile --model=gpt2 --context=1024 --heads-q=12 --heads-kv=12 --head-dim=64 --mask=causal --gpu=h200 --report=json | python3 -c "import json,sys; d=json.load(sys.stdin); a=d['attention'][0]; print('gpt2', d['params_per_layer'], d['params_total'], int(d['forward_flops']), int(d['training_flops']), int(d['forward_flops_per_token']), d['kv_cache_bytes']); print('attention', a['kv_tiles']['visited'], int(a['gemm_flops']['dense']), a['bytes']['total'], a['roofline']['limiter'], a['tile_config']['kernel'])" | FileCheck %s --check-prefix=GPT2
// GPT-2 small, H = 768: 12 H^2 + 13 H = 7087872 per layer; 12 layers +
// wte 50257 x 768 + wpe 1024 x 768 + ln_f 1536 = 124439808 (tied head).
// Forward B = 1, L = 1024: 12 x (24 L H^2 + 4 L^2 H) + 2 L H V
// = 12 x 17716740096 + 79047426048 = 291648307200; training 3x =
// 874944921600. Per token at L = 1024: 12 x (24 H^2 + 4 L H) + 2 H V =
// 12 x 17301504 + 77194752 = 284812800. KV cache: 2 x 1024 x 12 layers x
// 12 heads x 64 x 2 bytes = 37748736.
// GPT2: gpt2 7087872 124439808 291648307200 874944921600 284812800 37748736
// Its attention (MHA 12/12, L = 1024, D = 64, causal, 64x64 tiles): 16
// query blocks, block r visits r + 1: 136 x 12 heads = 1632 tiles; dense
// 4 x 12 x 1024^2 x 64 = 3221225472 FLOP; Q, K, V, O = 12 x 1024 x 64 x 2
// = 1572864 each, LSE 12 x 1024 x 4 = 49152: 6340608 bytes. On the H200
// the exponentials bound it: (1632 x 4096 + 1632 x 64 + 12288) / 3.9e12 =
// 1.744 us > 1711276032 / 989.4e12 = 1.730 us.
// GPT2: attention 1632 3221225472 6340608 exp prefill

// RUN: attn-compile --hidden=768 --layers=12 --heads=12 --vocab=50257 --report=json | python3 -c "import json,sys; d=json.load(sys.stdin); print('custom', d['model'], d['params_per_layer'], d['params_total'])" | FileCheck %s --check-prefix=CUSTOM
// A GPT-2-style block from flags, without learned positions:
// 12 x 7087872 + 38597376 + 1536 = 123653376.
// CUSTOM: custom custom 7087872 123653376

// RUN: attn-compile --model=gpt2 --layers=24 --report=json | python3 -c "import json,sys; print('override', json.load(sys.stdin)['params_total'])" | FileCheck %s --check-prefix=OVERRIDE
// Flags override a preset: 24 x 7087872 + 38597376 + 786432 + 1536
// = 209494272.
// OVERRIDE: override 209494272

// RUN: attn-compile --model=llama-3-70b --batch=8 --context=4096 --seq-q=1 --seq-k=4096 --heads-q=64 --heads-kv=8 --target=ptx --cubin-arch=none --gpu=h100 | FileCheck %s --check-prefix=L70
// Its decode attention (Hq / Hkv x Lq = 8 <= 16): the decode kernel; 64
// groups on 132 slots: 2 splits give 128 CTAs in one wave. K + V =
// 8 x 8 x 4096 x 128 x 2 x 2 = 134217728 bytes: memory-bound.
// L70: cost: B=8 Hq=64 Hkv=8 Lq=1 Lk=4096 D=128/128 bf16 (tiles 2x16, 2 split(s))
// L70: roofline: h100-sxm: bound {{.*}} (memory-bound;
// L70: tiles: decode on h100-sxm: 64 group(s) (B x Hkv) of 4096 visible keys; {{.*}} 2 split(s) -> 128 CTAs
// Llama 3 70B: 2 x 8192^2 + 2 x 8192 x 1024 = 150994944 attention,
// 3 x 8192 x 28672 = 704643072 MLP, 2 x 8192 norms: 855654400 per layer;
// x 80 + 2 x 128256 x 8192 (untied) + 8192 = 70553706496.
// L70: model: params per layer 855654400 (attention 150994944, mlp 704643072, norms 16384); total 70553706496
// KV cache, B = 8, L = 4096: 2 x 8 x 4096 x 80 x 8 x 128 x 2 = 10737418240
// (10 GiB); MHA (64 KV heads) 8x: 85899345920; 8-bit: half, 5368709120.
// L70: model: KV cache 10737418240 bytes (10.000 GiB) at 2 B/elt; MHA would need 85899345920 (8.0x), an 8-bit cache 5368709120 (2.0x less)
// L70: stage  5 convert-attn-to-nvvm

// RUN: not attn-compile --model=gpt3 --report=json 2>&1 | FileCheck %s --check-prefix=BADMODEL
// BADMODEL: error: unknown --model 'gpt3'

// RUN: attn-compile --gpu=v100 --seq-q=64 --seq-k=64 --heads-q=2 --heads-kv=2 | FileCheck %s --check-prefix=BADGPU
// A bad --gpu does not stop the compile in text mode.
// BADGPU: cost: not available: expected a GPU name (a100-sxm, h100-sxm, h200, b200), got 'v100'
// BADGPU: target: cpu (LLVM JIT)

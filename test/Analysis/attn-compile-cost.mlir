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
// Its decode attention (Hq / Hkv x Lq = 8 <= 16): the decode kernel as
// attn-plan-gpu-kernels plans it (--gpu names the GPU tile-model=auto tiles
// for). 64 groups, K + V = 8 x 8 x 4096 x 128 x 2 x 2 = 134217728 bytes:
// memory-bound. 1 split: 64 CTAs of 2 MiB, the wave takes max(64 x 2097152
// / 3.35e12 = 40.06 us, 2097152 B / 87.4 GB/s (one CTA's 131072 B in flight
// per 1.5 us) = 24.0 us) + 1 us = 41.06 us; 2 splits keep the 40.06 us
// wave and add a merge of 1 us + 2 x 128 x 8 rows x 129 x 4 B / 3.35e12:
// 42.38 us. So 1 split (the old heuristic's 2 filled the SMs, but one CTA
// per group already has HBM's bandwidth in flight).
// L70: cost: B=8 Hq=64 Hkv=8 Lq=1 Lk=4096 D=128/128 bf16 (tiles 2x16, 1 split(s))
// L70: roofline: h100-sxm: bound {{.*}} (memory-bound;
// L70: tiles: decode 1 split(s), 8 warps from the cost model (tile-model=h100: h100-sxm): decode on h100-sxm: 64 group(s) (B x Hkv) of 4096 visible keys; {{.*}} 1 split(s) -> 64 CTAs (1 wave(s)), modelled 41.06 us; one CTA streams 87 GB/s (next: 2 split(s), 42.38 us)
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

// RUN: attn-compile --target=ptx --chip=sm_90 --seq-q=1 --seq-k=8192 --heads-q=32 --heads-kv=8 --head-dim=128 --mask=none --lse=false --gpu=h200 --report=json | python3 -c "import json,sys; t=json.load(sys.stdin)['attention'][0]['tile_config']; print('plan', t['kernel'], t['num_splits'], t['num_warps'], t['keys_per_warp'], t['stages'], t['shared_memory_bytes'], t['from_model'], t['model_gpu'], t['ctas'], t['waves'], round(t['modelled_us'], 2), t['runner_up']['num_splits'], round(t['runner_up']['modelled_us'], 2)); print('source', t['source'])" | FileCheck %s --check-prefix=PLAN
// The JSON's tile_config is the planned kernel's (attn-plan-gpu-kernels'
// decision, one source for the kernel, its manifest and this report):
// decode GQA 32/8, B = 1, Lk = 8192 on the H200 (4.8 TB/s): 8 splits, 64
// CTAs in one wave: max(64 x 524288 B / 4.8e12 = 6.99 us, 524288 B /
// 87.4 GB/s = 6.00 us) + 1 us + a merge of 1 us + 2 x 64 x 4 x 129 x 4 B /
// 4.8e12 = 0.06 us: 9.05 us; 16 splits: 6.99 + 1 + 1 + 0.11 = 9.10 us
// (the runner-up). Shared memory: the 16-row Q tile 16 x 256 + 8 warps x 2
// stages x (K, V) x 16 x 256 = 4096 + 131072 = 135168 B.
// PLAN: plan decode 8 8 16 2 135168 True h200 64 1 9.05 16 9.1
// PLAN: source the cost model (tile-model=h200: h200)

// RUN: attn-compile --target=ptx --chip=sm_90 --batch=2 --heads-q=8 --heads-kv=2 --seq-q=512 --seq-k=512 --head-dim=64 --mask=causal --gpu=h200 --report=json --report-file=%t.report.json --cubin-arch=none -o %t.kernel > /dev/null
// RUN: python3 -c "import json; r=json.load(open('%t.report.json'))['attention'][0]; m=json.load(open('%t.kernel.json')); c=m['cost']; t=r['tile_config']; print('same', t['block_m'] == m['tuning']['block_m'], t['block_n'] == m['tuning']['block_n'], int(r['gemm_flops']['executed']) == c['gemm_flops'], r['bytes']['read'] == c['bytes_read'], r['bytes']['written'] == c['bytes_written'], c['gpu'])" | FileCheck %s --check-prefix=SAME
// The report and the manifest come from the same plan: the tiles, FLOPs and
// bytes agree.
// SAME: same True True True True True h200

// RUN: attn-compile --target=ptx --backward --cubin-arch=none --batch=1 --heads-q=2 --heads-kv=2 --seq-q=128 --seq-k=128 --head-dim=64 --mask=none --gpu=h200 --report=json | python3 -c "import json,sys; b=json.load(sys.stdin)['backward'][0]; g=b['gemm_flops']; y=b['bytes']; print('bwd', b['kv_tiles']['visited'], int(g['executed']), int(g['dense']), int(g['forward_dense']), g['dense_over_forward'], int(b['exponentials']), int(b['elementwise_flops']), int(b['dq_reductions']), y['read'], y['written'], y['dq_accum'], round(b['arithmetic_intensity'], 2), b['roofline']['limiter']); print('kernels', ' '.join(':'.join([k['kernel'], '/'.join(str(int(x)) for x in (k['gemm_flops']['executed'], k['bytes_read'], k['bytes_written']))]) for k in b['kernels']))" | FileCheck %s --check-prefix=BWD
// RUN: attn-compile --target=ptx --backward --cubin-arch=none --batch=1 --heads-q=2 --heads-kv=2 --seq-q=128 --seq-k=128 --head-dim=64 --mask=none --gpu=h200 --report=none -o %t.bwd > /dev/null
// RUN: python3 -c "import json; print('manifests', ' '.join(':'.join([m['kernel'], '/'.join(str(m['cost'][x]) for x in ('gemm_flops', 'bytes_read', 'bytes_written', 'gpu'))]) for m in [json.load(open(f)) for f in ['%t.bwd.json', '%t.bwd.1.json', '%t.bwd.2.json']]), round(json.load(open('%t.bwd.1.json'))['cost']['memory_us'], 5))" | FileCheck %s --check-prefix=BWDM
// The backward, MHA 2 heads, L = 128, D = 64, bf16, no mask, on the tiles
// its kernels get (the model's for the atomic program at D = 64: 128 x 128,
// as the manifest's tuning): 1 x 1 blocks x 2 heads = 2 tiles, 32768 (row,
// key) pairs. GEMMs 2 (3 x 64 + 2 x 64) = 640 per pair: 20971520 executed
// = dense, 2.5x the forward's 4 x 2 x 128^2 x 64 = 8388608. One exp per
// pair: 32768; one dq_accum reduction per (row, KV block, column): 256 rows
// x 1 block x 64 = 16384; elementwise 4 x 32768 + 256 rows x
// (2 x 64 + 1) = 164096. Bytes (Q = O = dO = dQ = 32768, K = V = dK = dV =
// 32768, LSE = Delta = lse_log2 = 1024, dq_accum 256 x 64 x 4 = 65536):
// preprocess reads O, dO, LSE (66560), writes Delta, lse_log2, dq_accum
// (67584); main reads Q, K, V, dO, lse_log2, Delta (133120), writes dK, dV,
// dq_accum (131072); convert reads dq_accum (65536), writes dQ (32768):
// 265216 read, 231424 written, intensity 20971520 / 496640 = 42.23;
// memory-bound on the H200 (496640 / 4.8e12 = 0.103 us > 20971520 /
// 989.4e12 = 0.021 us).
// BWD: bwd 2 20971520 20971520 8388608 2.5 32768 164096 16384 265216 231424 65536 42.23 memory
// BWD: kernels preprocess:0/66560/67584 main:20971520/133120/131072 convert:0/65536/32768
// Each backward kernel's manifest carries its own figures; the main
// kernel's memory time 264192 / 4.8e12 = 0.05504 us.
// BWDM: manifests attention_bwd_preprocess:0/66560/67584/h200 attention_bwd:20971520/133120/131072/h200 attention_bwd_convert:0/65536/32768/h200 0.05504

// RUN: attn-compile --target=ptx --chip=sm_90a --batch=2 --heads-q=8 --heads-kv=2 --seq-q=1000 --seq-k=1000 --head-dim=128 --mask=causal --cubin-arch=none --print-ptx | FileCheck %s
// RUN: attn-compile --target=ptx --chip=sm_90a --convert-attn-to-nvvm=hopper-block-n=64 --convert-attn-to-nvvm=hopper-epilogue=registers --batch=2 --heads-q=8 --heads-kv=2 --seq-q=1000 --seq-k=1000 --head-dim=128 --mask=causal --cubin-arch=none --print-ptx | FileCheck %s --check-prefix=BN64
// RUN: attn-compile --target=ptx --chip=sm_80 --batch=2 --heads-q=8 --heads-kv=2 --seq-q=1000 --seq-k=1000 --head-dim=128 --mask=causal --cubin-arch=none | FileCheck %s --check-prefix=SM80
// RUN: attn-compile --target=ptx --chip=sm_90a --convert-attn-to-nvvm=hopper-loads=cp-async --batch=2 --heads-q=8 --heads-kv=2 --seq-q=1000 --seq-k=1000 --head-dim=128 --mask=causal --cubin-arch=none --print-ptx | FileCheck %s --check-prefix=CPASYNC
// RUN: attn-compile --target=ptx --chip=sm_90a --convert-attn-to-nvvm=hopper-persistent=132 --convert-attn-to-nvvm=hopper-scheduler=static --convert-attn-to-nvvm=hopper-epilogue=registers --batch=2 --heads-q=8 --heads-kv=2 --seq-q=1000 --seq-k=1000 --head-dim=128 --mask=causal --cubin-arch=none --print-ptx | FileCheck %s --check-prefix=PERS
// RUN: attn-compile --target=ptx --chip=sm_90a --convert-attn-to-nvvm=hopper-epilogue=tma --batch=2 --heads-q=4 --heads-kv=4 --seq-q=1000 --seq-k=1000 --head-dim=64 --mask=none --cubin-arch=none --print-ptx | FileCheck %s --check-prefix=EPI64
// RUN: attn-compile --target=ptx --chip=sm_90a --convert-attn-to-nvvm=hopper-scheduler=dynamic --convert-attn-to-nvvm=hopper-epilogue=registers --batch=2 --heads-q=8 --heads-kv=4 --seq-q=2000 --seq-k=2000 --head-dim=128 --mask=causal --cubin-arch=none --print-ptx | FileCheck %s --check-prefix=DYN

// --chip=sm_90a selects the hopper (wgmma) family: 384 threads, block-n
// 128, two stages; at D = 128 the producer also stages Q (128 rows) for a
// shared-memory A operand. By default (hopper-scheduler=auto: tiles of at
// most 8 KV blocks) a persistent grid of min(132, 8 * 16) CTAs with the
// dynamic tile scheduler: 1024 + 2 * 2 * 32768 + 32768 + (4 mbarriers * 2
// stages + Q's two) * 8 + 40 (the tile slots) bytes, + 128 * 128 * 2 = 32768
// for the O tile of the TMA epilogue (hopper-epilogue=auto at D = 128).
// CHECK: kernel attention_kernel: grid [128, 1, 1] block [384, 1, 1] smem 197752 bytes
// CHECK: target: ptx (sm_90a)
// CHECK: .target sm_90a
// The tensor maps of K, V, Q and O (below): 128-byte by-value parameters.
// CHECK: .param .u64 .ptr .align 1 attention_kernel_param_4,
// CHECK-NEXT: .param .align 64 .b8 attention_kernel_param_5[128],
// CHECK-NEXT: .param .align 64 .b8 attention_kernel_param_6[128],
// CHECK-NEXT: .param .align 64 .b8 attention_kernel_param_7[128],
// CHECK-NEXT: .param .align 64 .b8 attention_kernel_param_8[128]
// CHECK: .maxntid 384, 1, 1
// CHECK: .minnctapersm 1
// CHECK-DAG: mbarrier.init.shared.b64
// CHECK-DAG: setmaxnreg.dec.sync.aligned.u32 72;
// CHECK-DAG: setmaxnreg.inc.sync.aligned.u32 216;
// TMA loads (hopper-loads=tma, the default): K, V and Q each a 128-byte
// tensor map parameter after Q, K, V, O, LSE, read in place (cvta.param)
// and prefetched; per tile one expect_tx of rows * 128 * 2 bytes (128-row
// tiles: 32768) and one 4-d copy per 64-column panel at (column, row,
// head, batch).
// CHECK-DAG: cvta.param.u64
// CHECK-DAG: prefetch.tensormap
// CHECK-DAG: mbarrier.arrive.expect_tx.shared.b64 %rd{{[0-9]+}}, [%rd{{[0-9]+}}+{{[0-9]+}}], %r{{[0-9]+}};
// CHECK-DAG: cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%rd{{[0-9]+}}], [%rd{{[0-9]+}}, {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}}], [%rd{{[0-9]+}}+{{[0-9]+}}];
// CHECK-DAG: mbarrier.try_wait.parity.shared.b64
// CHECK-DAG: mbarrier.arrive.shared.b64
// CHECK-DAG: wgmma.fence.sync.aligned;
// S = Q K^T with A and B through descriptors; O += P V with A (P) from
// registers and B (V) transposed.
// CHECK-DAG: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{{.*}}}, %rd{{[0-9]+}}, %rd{{[0-9]+}}, p, 1, 1, 0, 0;
// CHECK-DAG: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {{{.*}}}, {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}}, %rd{{[0-9]+}}, p, 1, 1, 1;
// CHECK-DAG: wgmma.commit_group.sync.aligned;
// CHECK-DAG: wgmma.wait_group.sync.aligned 0;
// The overlapped schedule retires S while O += P V stays in flight.
// CHECK-DAG: wgmma.wait_group.sync.aligned 1;
// The TMA epilogue: O / l into the swizzled O tile (st.shared), the proxy
// fence, the warpgroup's named barrier (128 threads), then per 64-column
// panel one bulk tensor store from shared::cta at (column, row, head,
// batch), committed as a group; a persistent consumer's next epilogue
// first waits for the last group to have read the tile, and the CTA exits
// once its stores are complete.
// CHECK-DAG: st.shared.b32 [%rd{{[0-9]+}}+{{[0-9]+}}], %r{{[0-9]+}};
// CHECK-DAG: fence.proxy.async.shared::cta;
// CHECK-DAG: bar.sync %r{{[0-9]+}}, 128;
// CHECK-DAG: cp.async.bulk.tensor.4d.global.shared::cta.tile.bulk_group [%rd{{[0-9]+}}, {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}}], [%rd{{[0-9]+}}];
// CHECK-DAG: cp.async.bulk.commit_group;
// CHECK-DAG: cp.async.bulk.wait_group.read 0;
// CHECK-DAG: cp.async.bulk.wait_group 0;
// CHECK: "chip": "sm_90a"
// CHECK: {"name": "k_tensor_map", "role": "tensor_map", "dtype": "bf16", "shape": [2, 2, 1000, 128], "alignment": 64, "output": false, "tensor_map": {"source": "k", "box": [1, 1, 128, 64], "swizzle": 128}}
// CHECK: {"name": "v_tensor_map", "role": "tensor_map", "dtype": "bf16", "shape": [2, 2, 1000, 128], "alignment": 64, "output": false, "tensor_map": {"source": "v", "box": [1, 1, 128, 64], "swizzle": 128}}
// CHECK: {"name": "q_tensor_map", "role": "tensor_map", "dtype": "bf16", "shape": [2, 8, 1000, 128], "alignment": 64, "output": false, "tensor_map": {"source": "q", "box": [1, 1, 128, 64], "swizzle": 128}}
// CHECK: {"name": "o_tensor_map", "role": "tensor_map", "dtype": "bf16", "shape": [2, 8, 1000, 128], "alignment": 64, "output": false, "tensor_map": {"source": "o", "box": [1, 1, 64, 64], "swizzle": 128}}

// hopper-epilogue=tma at D = 64 (auto keeps registers there): one panel,
// so one store per consumer warpgroup, after the K and V maps (Q stays in
// registers); the O tile (128 x 64 x 2 = 16384 bytes) after the ring. The
// LSE (a register store) follows the bulk store.
// EPI64: kernel attention_kernel: grid [64, 1, 1] block [384, 1, 1] smem 83064 bytes
// EPI64: .param .align 64 .b8 attention_kernel_param_7[128]
// EPI64-COUNT-1: cp.async.bulk.tensor.4d.global.shared::cta.tile.bulk_group
// EPI64-NOT: cp.async.bulk.tensor.4d.global.shared::cta
// EPI64: {"name": "o_tensor_map", "role": "tensor_map", "dtype": "bf16", "shape": [2, 4, 1000, 64], "alignment": 64, "output": false, "tensor_map": {"source": "o", "box": [1, 1, 64, 64], "swizzle": 128}}

// hopper-loads=cp-async: every producer thread copies 16-byte chunks and
// arrives on the full barrier; the consumers fence the generic proxy's
// writes before wgmma reads them; no tensor maps.
// CPASYNC: kernel attention_kernel: grid [8, 16, 1] block [384, 1, 1] smem 164936 bytes
// CPASYNC-NOT: .b8 attention_kernel_param_5[128]
// CPASYNC-DAG: cp.async.cg.shared.global [{{.*}}], [{{.*}}], 16, {{.*}};
// CPASYNC-DAG: cp.async.mbarrier.arrive.noinc.shared.b64
// CPASYNC-DAG: fence.proxy.async.shared::cta;
// CPASYNC-NOT: cp.async.bulk.tensor
// CPASYNC-NOT: tensor_map

// Block-n 64 keeps Q in registers: S is m64n64k16 with A from registers
// (and the dynamic scheduler's Q barrier slot and tile slots: 66632 + 48).
// Either role may come first in the PTX (with hopper-q-prefetch, auto
// under this causal mask, the consumers' branch does).
// BN64: smem 66680 bytes
// BN64-DAG: setmaxnreg.dec.sync.aligned.u32 40;
// BN64-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{{.*}}}, {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}}, %rd{{[0-9]+}}, p, 1, 1, 0;

// SM80: block [128, 1, 1]

// hopper-persistent=132 with the static scheduler: 8 * 16 = 128 tiles, so the grid is min(132, 128)
// CTAs; each loops over its tiles by the runtime grid size (%nctaid.x), and
// Q's tile gets an empty barrier (8 bytes more shared memory).
// PERS: kernel attention_kernel: grid [128, 1, 1] block [384, 1, 1] smem 164944 bytes
// PERS-DAG: mov.u32 %r{{[0-9]+}}, %nctaid.x;
// PERS-DAG: mov.u32 %r{{[0-9]+}}, %ctaid.x;
// PERS-DAG: setmaxnreg.dec.sync.aligned.u32 72;
// PERS-DAG: wgmma.wait_group.sync.aligned 1;
// PERS: "grid_formula": "[min(hopper_persistent, ceil(Lq / block_m) * B * Hq), 1, 1]"

// hopper-scheduler=dynamic: 16 * 16 = 256 tiles on num-sms = 132 CTAs that
// take tiles 132.. from an atomic counter (a zero-initialised i32 workspace
// after the tensor maps); the launch's last ticket (255) re-arms it. The
// two tile slots add 40 bytes of shared memory.
// DYN: kernel attention_kernel: grid [132, 1, 1] block [384, 1, 1] smem 164984 bytes
// DYN: .param .align 64 .b8 attention_kernel_param_7[128],
// DYN-NEXT: .param .u64 .ptr .align 1 attention_kernel_param_8
// DYN-DAG: mov.u32 %r{{[0-9]+}}, %ctaid.x;
// DYN-DAG: mov.u32 %r{{[0-9]+}}, %nctaid.x;
// DYN-DAG: atom.relaxed.gpu.global.add.u32 %r{{[0-9]+}}, [%rd{{[0-9]+}}], 1;
// DYN-DAG: setp.ne.b32 %p{{[0-9]+}}, %r{{[0-9]+}}, 255;
// DYN-DAG: st.relaxed.gpu.global.u32 [%rd{{[0-9]+}}], 0;
// DYN-DAG: st.shared.b32 [%rd{{[0-9]+}}+{{[0-9]+}}], %r{{[0-9]+}};
// DYN-DAG: ld.shared.b32 %r{{[0-9]+}}, [%rd{{[0-9]+}}+{{[0-9]+}}];
// DYN-DAG: wgmma.wait_group.sync.aligned 1;
// DYN: {"name": "tile_counter", "role": "workspace", "dtype": "i32", "shape": [1], "alignment": 16, "output": false, "zero_init": true}

// RUN: attn-compile --target=ptx --chip=sm_90a --batch=2 --heads-q=8 --heads-kv=2 --seq-q=1000 --seq-k=1000 --head-dim=128 --mask=causal --cubin-arch=none --print-ptx | FileCheck %s
// RUN: attn-compile --target=ptx --chip=sm_80 --batch=2 --heads-q=8 --heads-kv=2 --seq-q=1000 --seq-k=1000 --head-dim=128 --mask=causal --cubin-arch=none | FileCheck %s --check-prefix=SM80

// --chip=sm_90a selects the hopper (wgmma) family: 384 threads, grid
// (ceil(1000 / 128), B * Hq), block-n 64 at D = 128, two stages.
// CHECK: kernel attention_kernel: grid [8, 16, 1] block [384, 1, 1] smem 66608 bytes
// CHECK: target: ptx (sm_90a)
// CHECK: .target sm_90a
// CHECK: .maxntid 384, 1, 1
// CHECK: .minnctapersm 1
// CHECK-DAG: mbarrier.init.shared.b64
// CHECK-DAG: setmaxnreg.dec.sync.aligned.u32 40;
// CHECK-DAG: setmaxnreg.inc.sync.aligned.u32 232;
// CHECK-DAG: cp.async.cg.shared.global [{{.*}}], [{{.*}}], 16, {{.*}};
// CHECK-DAG: cp.async.mbarrier.arrive.noinc.shared.b64
// CHECK-DAG: mbarrier.try_wait.parity.shared.b64
// CHECK-DAG: mbarrier.arrive.shared.b64
// CHECK-DAG: fence.proxy.async.shared::cta;
// CHECK-DAG: wgmma.fence.sync.aligned;
// CHECK-DAG: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16
// CHECK-DAG: wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
// CHECK-DAG: wgmma.commit_group.sync.aligned;
// CHECK-DAG: wgmma.wait_group.sync.aligned 0;
// CHECK: "chip": "sm_90a"

// SM80: block [128, 1, 1]

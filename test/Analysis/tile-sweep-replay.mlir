// The tile model against the measured H200 sweeps (bench/results, 44 shapes:
// mma.sync prefill, hopper and decode, every configuration the model weighs
// timed as a candidate): bench/tile_sweep_replay.py asks attn-compile
// --report=json which configuration it plans for each shape (tile-model=auto
// for --gpu=h200, the sweeps' device) and looks its time up among the
// sweep's candidates. Each shape's planned configuration must be within 3%
// of that shape's fastest candidate; the replay exits 1 otherwise.
//
// The sweep of the shipped kernels (sweep17: hopper with TMA loads through
// the runtime's launch plans, decode split counts of today's model; 3
// round-robin repeats, median of >= 102 reps, identical cubins timed once).
// RUN: python3 %S/../../bench/tile_sweep_replay.py --compile attn-compile --gpu=h200 %S/../../bench/results/2026-12-01-h200-sweep17-tile-sweep.json | FileCheck %s --check-prefix=NOW
// Session 5's sweep (hopper on cp.async; the decode latencies of the model
// are calibrated on its 1-split rows).
// RUN: python3 %S/../../bench/tile_sweep_replay.py --compile attn-compile --gpu=h200 %S/../../bench/results/2026-12-01-h200-session5-tile-sweep.json | FileCheck %s --check-prefix=S5

// Decode GQA B = 1, Lk = 8192 (8 groups): 8 splits, the measured best
// (sweep17 17.18 us, 16 splits 17.34, 12 splits 18.18; session 5 17.76,
// 17.82, 18.68). 64 CTAs of 1024 keys: each streams 131072 B in flight /
// 1.5 us = 87 GB/s, so a CTA's 1024 x 512 B take 6.0 us, under the wave's
// 64 x 524288 B / 4.8 TB/s = 7.0 us: as fast as 16 splits in the model, and
// fewer splits win ties.
// NOW: sweep_decode_gqa_b1_l8192_contig s8 {{.*}} s8 {{.*}} 1.000
// S5: sweep_decode_gqa_b1_l8192_contig s8 {{.*}} s8 {{.*}} 1.000
// Paged, each page waits on its block-table entry (2.0 us per ring: 65 GB/s
// per CTA), so 8 splits' 8.0 us per CTA exceed the wave's 7.0 us and 16
// splits (4.0 us) win: the measured best (sweep17 17.66 us, 8 splits 18.53;
// session 5 18.07, 18.94).
// NOW: sweep_decode_gqa_b1_l8192_paged s16 {{.*}} s16 {{.*}} 1.000
// S5: sweep_decode_gqa_b1_l8192_paged s16 {{.*}} s16 {{.*}} 1.000
// The widest margin of the shipped kernels: hopper D = 128 L = 1k causal,
// 2 stages (the model: the ring's depth never changes the modelled time,
// the shallow default stays) 189.2 us vs 3 stages 185.9 (1.8%, in all
// three repeats).
// NOW: sweep_hopper_d128_l1024_causal n128s2 {{.*}} n128s3 {{.*}} 1.018
// NOW: 44 of 44 shapes within 3% of the best
// S5: 44 of 44 shapes within 3% of the best

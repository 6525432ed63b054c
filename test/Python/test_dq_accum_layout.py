"""A model of the GPU backward's fragment-tiled dq_accum (BackwardKernel.h)
and of the convert kernel that reads it back (ConvertEmitter in
BackwardKernel.cpp), checked over head dims, head counts and query lengths
17..1000 (every 16-row group tiled, or the group that crosses Lq natural).

The layout is transcribed from the header's definition (what the main
kernel's reductions write); the convert's index arithmetic from the
emitter, operation for operation. The checks: the convert sends every
stored float to the dQ element the layout put there, writes every dQ
element exactly once, with 8-byte aligned 4-element stores; and a warp's
loads touch each 32-byte sector of dq_accum once (the old convert, one
thread per dQ chunk reading 4 column pairs, touched each twice: the model
of it is kept to show that the sector check can fail)."""

import unittest

import numpy as np

GROUP = 16  # kDQAccumGroupRows


def stored_index(rows, cols, lq, d):
    """Element index in dq_accum of dQ (bh * Lq + row, col) per the layout
    of BackwardKernel.h; `rows` are bh * Lq + row."""
    row = rows % lq
    q = row % GROUP
    base = rows - q
    tiled = row - q + GROUP <= lq
    h, g = q // 8, q % 8
    u, w = cols // 32, cols % 32
    n, t, e = w // 8, (w % 8) // 2, w % 2
    mem_row = base + 4 * n + g // 2
    mem_col = 32 * u + 16 * (g % 2) + 4 * t + 2 * h + e
    # D not a multiple of 32 (backwardDQAccumTiled): every group natural.
    tiled &= d % 32 == 0
    return np.where(tiled, mem_row * d + mem_col, rows * d + cols)


def convert_targets(chunk, lq, d, strides=None, hq=1):
    """The emitter's dqTargets: (first, second, full) for stored chunks; dQ
    dense [B, Hq, Lq, D], or with Q's element `strides` (batch, head, seq)."""
    per_row = d // 8
    if per_row & (per_row - 1) == 0:
        bh_row = chunk >> int(np.log2(per_row))
        jm = chunk & (per_row - 1)
    else:  # D = 48, 80, 96, ...: the emitter divides
        bh_row = chunk // per_row
        jm = chunk % per_row
    row = bh_row % lq
    r = row & (GROUP - 1)
    full = (row - r + GROUP <= lq) & (d % 32 == 0)
    g = (r & 3) * 2 + ((jm >> 1) & 1)
    row0 = bh_row - r + g
    col = (jm & ~3) * 8 + (r >> 2) * 8 + (jm & 1) * 4
    if strides is None:
        first = row0 * d + col
        second = first + 8 * d
        natural = chunk * 8
    else:
        sb, sh, ss = strides
        bh = bh_row // lq
        head_base = (bh // hq) * sb + (bh % hq) * sh
        first = head_base + (row0 - bh * lq) * ss + col
        second = first + 8 * ss
        natural = head_base + (bh_row - bh * lq) * ss + jm * 8
    return np.where(full, first, natural), np.where(full, second, natural + 4), full


def convert_writes(bh, lq, d, strides=None, hq=1):
    """(dQ element, stored element) of every float the convert moves."""
    chunk = np.arange(bh * lq * d // 8, dtype=np.int64)
    first, second, full = convert_targets(chunk, lq, d, strides, hq)
    # Stored float 4i + 2h + e of a tiled chunk is row h, column 2i + e of
    # its 4 columns: the stores take floats {0, 1, 4, 5} and {2, 3, 6, 7};
    # a natural chunk's halves are {0..3} and {4..7}.
    tiled_first, tiled_second = np.array([0, 1, 4, 5]), np.array([2, 3, 6, 7])
    natural_first, natural_second = np.arange(4), np.arange(4, 8)
    src = chunk[:, None] * 8
    dst, stored = [], []
    for target, tiled_floats, natural_floats in (
            (first, tiled_first, natural_first), (second, tiled_second, natural_second)):
        floats = np.where(full[:, None], tiled_floats[None, :], natural_floats[None, :])
        dst.append(target[:, None] + np.arange(4)[None, :])
        stored.append(src + floats)
    return (np.concatenate(dst).ravel(), np.concatenate(stored).ravel(),
            np.concatenate([first, second]))


def sectors_per_warp_load(addresses_bytes, widths):
    """Mean distinct 32-byte sectors over the minimum per warp instruction;
    `addresses_bytes` [threads, loads] of `widths` bytes each."""
    threads = addresses_bytes.shape[0] // 32 * 32
    a = addresses_bytes[:threads].reshape(-1, 32, addresses_bytes.shape[1])
    ratio = []
    for w in range(a.shape[0]):
        touched = set()
        for load in range(a.shape[2]):
            for lane in range(32):
                start = a[w, lane, load]
                touched.update(range(start // 32, (start + widths - 1) // 32 + 1))
        ratio.append(len(touched) * 32 / (32 * a.shape[2] * widths))
    return max(ratio)


def old_convert_loads(bh, lq, d):
    """Byte addresses of the old convert's 4 pair loads per dQ chunk."""
    chunk = np.arange(bh * lq * d // 8, dtype=np.int64)
    rows = chunk // (d // 8)
    cols = (chunk % (d // 8)) * 8
    return np.stack([stored_index(rows, cols + 2 * i, lq, d) * 4 for i in range(4)], 1)


CONFIGS = [(d, bh, lq) for d in (64, 128) for bh in (1, 3)
           for lq in sorted(set(range(17, 1001, 37)) | {32, 48, 200, 256, 300, 333, 336, 500,
                                                       777, 1000})]
# The other head dims of the GPU backward: tiled with a chunk count that is
# no power of two (96, 160, 192) or a power of two (32, 256), natural
# throughout (48, 80, 112).
CONFIGS += [(d, bh, lq) for d in (32, 48, 80, 96, 112, 160, 192, 256) for bh in (1, 3)
            for lq in (17, 32, 200, 333, 336)]


class DQAccumLayoutTest(unittest.TestCase):
    def test_convert_inverts_the_layout(self):
        for d, bh, lq in CONFIGS:
            with self.subTest(d=d, bh=bh, lq=lq):
                dst, stored, targets = convert_writes(bh, lq, d)
                n = bh * lq * d
                # Every dQ element written once ...
                self.assertTrue(np.array_equal(np.sort(dst), np.arange(n)))
                # ... from the float the layout stored it at.
                rows, cols = dst // d, dst % d
                self.assertTrue(np.array_equal(stored_index(rows, cols, lq, d), stored))
                # 4 bf16 per store, 8-byte aligned.
                self.assertTrue(np.all(targets % 4 == 0))

    def test_convert_writes_bshd(self):
        # dQ [B, Lq, Hq, D] (BSHD, or torch's x.transpose(1, 2) of it):
        # element (b, h, row, col) at b Lq Hq D + row Hq D + h D + col.
        for d, b, hq, lq in ((64, 2, 3, 200), (128, 1, 4, 336), (64, 3, 2, 17),
                             (96, 2, 3, 200), (80, 1, 2, 333), (192, 1, 2, 336)):
            with self.subTest(d=d, b=b, hq=hq, lq=lq):
                strides = (lq * hq * d, d, hq * d)
                dst, stored, targets = convert_writes(b * hq, lq, d, strides, hq)
                self.assertTrue(np.array_equal(np.sort(dst), np.arange(b * hq * lq * d)))
                bi, rest = dst // (lq * hq * d), dst % (lq * hq * d)
                row, hi, col = rest // (hq * d), (rest % (hq * d)) // d, rest % d
                self.assertTrue(np.array_equal(
                    stored_index((bi * hq + hi) * lq + row, col, lq, d), stored))
                self.assertTrue(np.all(targets % 4 == 0))

    def test_the_layout_is_a_permutation(self):
        for d, bh, lq in CONFIGS[::5]:
            with self.subTest(d=d, bh=bh, lq=lq):
                n = bh * lq * d
                e = np.arange(n)
                self.assertTrue(np.array_equal(
                    np.sort(stored_index(e // d, e % d, lq, d)), e))

    def test_warp_loads_touch_each_sector_once(self):
        for d, lq in ((64, 200), (128, 4096 // 16), (128, 333)):
            with self.subTest(d=d, lq=lq):
                chunk = np.arange(lq * d // 8, dtype=np.int64)
                new = np.stack([chunk * 32, chunk * 32 + 16], 1)
                self.assertEqual(sectors_per_warp_load(new, 16), 1.0)
                # The old emitter's reads: every sector twice in the tiled groups.
                self.assertEqual(sectors_per_warp_load(old_convert_loads(1, lq, d), 8), 2.0)


if __name__ == "__main__":
    unittest.main()

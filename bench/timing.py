"""The bench scripts' timing: the median of CUDA-event timed calls after a
warm-up (staged beside every torch run by scripts/stage_torch_run.sh)."""

import torch


def time_ms(fn, reps):
    """Median milliseconds of `reps` calls of fn, each between two CUDA
    events on the current stream (host gaps between its launches count)."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]

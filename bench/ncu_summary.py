"""Prints, per profiled kernel of an `ncu --csv --page raw` file, its
duration and the metrics whose names match a pattern (default: warp stall
reasons per issued instruction, shared-memory wavefronts and bank conflicts,
tensor-pipe and throughput percentages), one line each, so that a device
call's short output carries a profile's reasons.
Usage: python3 ncu_summary.py RAW.csv [REGEX]
"""
import csv
import re
import sys

DEFAULT = (r"gpu__time_duration\.sum|issue_stalled_.*_per_issue_active\.ratio|"
           r"mem_shared.*\.sum$|pipe_tensor.*pct|throughput\.avg\.pct_of_peak_sustained_elapsed|"
           r"launch__registers_per_thread|sm__warps_active\.avg\.pct|smsp__issue_active\.avg")


def main():
    path = sys.argv[1]
    pattern = re.compile(sys.argv[2] if len(sys.argv) > 2 else DEFAULT)
    rows = list(csv.reader(open(path)))
    start = next(i for i, r in enumerate(rows) if r and r[0] == "ID")
    header, data = rows[start], rows[start + 2:]
    name_col = header.index("Kernel Name")
    keep = [i for i, h in enumerate(header) if pattern.search(h)]
    for r in data:
        if len(r) != len(header):
            continue
        print("==", r[name_col][:80])
        for i in keep:
            try:
                if float(r[i].replace(",", "")) == 0:
                    continue
            except ValueError:
                pass
            print(f"  {header[i]} = {r[i]}")


if __name__ == "__main__":
    main()

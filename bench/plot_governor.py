#!/usr/bin/env python3
"""Plots bench_governor's temperature trace: one panel per policy, every device's die temperature
over simulated time, with the devices' throttle point.

Usage: plot_governor.py TRACE.csv OUT.png   (TRACE.csv: policy,time_s,device,temp_c)
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

THROTTLE_C = 83.0  # sim::cluster's throttle point

trace, out = sys.argv[1], sys.argv[2]
series = defaultdict(lambda: defaultdict(lambda: ([], [])))
order = []
with open(trace) as f:
    for row in csv.DictReader(f):
        p = row["policy"]
        if p not in order:
            order.append(p)
        t, temps = series[p][int(row["device"])]
        t.append(float(row["time_s"]))
        temps.append(float(row["temp_c"]))

fig, axes = plt.subplots(len(order), 1, figsize=(10, 2.3 * len(order)), sharex=True, sharey=True)
for ax, policy in zip(axes, order):
    for dev, (t, temps) in sorted(series[policy].items()):
        ax.plot(t, temps, linewidth=0.6, label=f"dev{dev}")
    ax.axhline(THROTTLE_C, color="red", linestyle="--", linewidth=0.8)
    ax.set_title(policy, fontsize=9, loc="left")
    ax.set_ylabel("°C")
axes[0].legend(ncol=8, fontsize=6, loc="lower right")
axes[-1].set_xlabel("simulated time (s)")
fig.suptitle("PowerGovernor simulation: die temperature per device (dashed: throttle point)", fontsize=10)
fig.tight_layout()
fig.savefig(out, dpi=110)
print(f"wrote {out}")

"""Memory and time of Group-DIR's ordinal group-contrastive loss (forward + backward, one model), the sorted
suffix form against the direct (B, B, B) mask, each in a fresh process (peak resident memory).

    python bench/contrastive_memory.py            # B = 128 … 4096 (the direct form up to 512), ~1 min on 2 cores
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import torch
from ildl.methods.groupdir import group_contrastive, group_contrastive_direct as direct

form, B = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
z = torch.randn(1, B, 128, requires_grad=True)
g = torch.randint(0, 10, (1, B))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
loss = (group_contrastive if form == "sorted" else direct)(z, g, torch.tensor([2.5]), torch.ones(1, B, dtype=torch.bool))
loss.sum().backward()
secs = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(mb=(peak - base) / 1024, s=secs, loss=float(loss))))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="128,256,512,1024,2048,4096")
    ap.add_argument("--direct-max", type=int, default=512, help="largest B for the direct (B, B, B) form")
    a = ap.parse_args()
    print(f"{'B':>6} {'form':>7} {'extra MB':>9} {'seconds':>8}  loss")
    gap = 0.0
    for B in (int(x) for x in a.sizes.split(",")):
        res = {}
        for form in ("sorted", "direct"):
            if form == "direct" and B > a.direct_max:
                continue
            out = subprocess.run([sys.executable, "-c", CHILD, form, str(B)], capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{B:>6} {form:>7}  failed: {out.stderr.strip().splitlines()[-1]}")
                continue
            r = res[form] = json.loads(out.stdout)
            print(f"{B:>6} {form:>7} {r['mb']:>9.0f} {r['s']:>8.3f}  {r['loss']:.6f}")
        if len(res) == 2:
            gap = max(gap, abs(res["sorted"]["loss"] - res["direct"]["loss"]))
    print(f"command: python bench/contrastive_memory.py --sizes {a.sizes}; max |Δ loss| {gap:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

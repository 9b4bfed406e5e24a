#!/usr/bin/env python3
"""Samples of a `perf record -F 1000 -g` of clip_epoch per worker thread, grouped by what the code does (GEMM kernel
and packing, the CSR kernels, Adam, loss, ReLU and bias, gathering, the thread team, the kernel and rayon).

Usage: perf record -F 1000 -g -o perf.data target/release/examples/clip_epoch --fpe-only --threads 2
       python3 benches/profile_groups.py perf.data
The thread with the lowest id (the main thread: data generation) is left out.
"""
import subprocess, sys, re, collections
def groups(sym):
    s = sym
    if 'kernel_target_avx512' in s or 'masked_kernel' in s: return 'gemm kernel'
    if 'pack_avx512' in s: return 'gemm packing'
    if re.search(r'gemm::(forward_cols|weight_grad_cols|input_grad_cols|cols_into|forward_rows|weight_grad_rows|zero_dead)', s): return 'gemm epilogue/copy'
    if 'csr_dots' in s: return 'csr_dots (W1 dW)'
    if 'csr_rows' in s: return 'csr_rows (W1 fwd)'
    if 'adam' in s or 'Adam' in s: return 'adam'
    if 'softmax' in s or 'expf' in s or 'logf' in s: return 'loss'
    if 'row_sums' in s or 'Mlp::backward' in s or 'relu' in s: return 'relu/bias'
    if 'csr::gather_into' in s or 'scatter_from' in s or 'transpose_values' in s: return 'csr gather/scatter'
    if 'gather_t' in s: return 'batch gather'
    # The gather of the next batch is inlined into the epoch loop's closure; a team worker's spin loop into its
    # thread's entry point.
    if 'run_epoch::{{closure}}' in s: return 'batch gather'
    if '__rust_begin_short_backtrace' in s: return 'team (spin, hand-off)'
    if "parallel::team" in s or "Team::work" in s or "Slot::" in s or "spin_loop" in s: return "team (spin, hand-off)"
    if "rayon" in s or 'Wrapped' in s or 'crossbeam' in s or 'sched_yield' in s or '[k]' in s: return 'rayon/kernel/other'
    return 'other'
f = sys.argv[1]
out = subprocess.run(['perf','report','-i',f,'--no-children','-g','none','--sort','pid,sym','--stdio','-n'],capture_output=True,text=True).stdout
per = collections.defaultdict(lambda: collections.Counter())
for line in out.splitlines():
    m = re.match(r'\s*([\d.]+)%\s+(\d+)\s+(\d+):(\S+)\s+(.*)$', line)
    if not m: continue
    pct, n, tid, comm, sym = m.groups()
    per[int(tid)][groups(sym)] += int(n)
tids = sorted(per, key=lambda t: -sum(per[t].values()))
# drop the main thread (data generation: cos/log/from_iter)
main = min(per)
work = [t for t in sorted(per) if t != main]
names = sorted({g for t in work for g in per[t]})
print(f"# {f}: samples (1 ms each) per worker thread and group; main thread {main} (data generation) left out")
print("| group | " + " | ".join(str(t) for t in work) + " | total |")
print("|---|" + "---:|"*(len(work)+1))
for g in sorted(names, key=lambda g: -sum(per[t][g] for t in work)):
    print(f"| {g} | " + " | ".join(str(per[t][g]) for t in work) + f" | {sum(per[t][g] for t in work)} |")
print("| all | " + " | ".join(str(sum(per[t].values())) for t in work) + f" | {sum(sum(per[t].values()) for t in work)} |")

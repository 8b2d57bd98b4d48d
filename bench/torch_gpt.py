#!/usr/bin/env python3
"""The lrtransfer GPT in PyTorch, timed the way build/bench_gpu times the CUDA path.

A peer to compare with, not part of building or training: nothing in the
project imports this file. bench/gpu_vs_torch.sh runs it (--all) and then
build/bench_gpu --torch-csv, which prints lrt / PyTorch per row.

The model is src/model/model.cpp's GPT-2 under the default sp-gpt2 preset (all
forward multipliers 1): token + position embedding; pre-LN blocks
(LayerNorm eps 1e-5 with bias; fused q|k|v Linear with bias; causal attention
with scale 1/sqrt(head_dim) through scaled_dot_product_attention; output
projection; MLP 4d with tanh-GELU); final LayerNorm; untied readout without
bias; mean cross-entropy. Init as sp-gpt2: N(0, 0.02), the two residual
projections N(0, 0.02/sqrt(2L)), biases 0, LayerNorm gains 1. AdamW (betas
0.9, 0.95, eps 1e-8, weight decay 0.1 on the matrices only, as the default
--wd-set matrices; fused when this torch has it), clip_grad_norm_ 1.0. One
step is forward, zero_grad, backward, clip, AdamW step, as bench_gpu's.

Precision: fp32 (no TF32 anywhere), tf32 (TF32 matmuls and convolutions),
bf16 (torch.autocast to bfloat16 with float32 master weights and optimizer
state; the logits go to float32 before the loss, as lrt's are float).

FLOPs per token and MFU use bench_gpu's formula:
  6 * (parameters outside wte and wpe, lm_head included) + 12 * L * T * d,
counting causal attention as the full T x T square as PaLM's MFU does (the
flash / memory-efficient kernels behind SDPA skip the masked half, so they do
about half the attention FLOPs that are credited here, as for every PaLM-style
MFU figure).

One configuration per process:
  torch_gpt.py --d 1024 --precision bf16 --mode compile --csv-append torch.csv
The grid of bench_gpu's defaults, each configuration in a fresh subprocess
(so memory is returned and torch.compile's caches do not carry over):
  torch_gpt.py --all --csv-append torch.csv
--all skips configurations already in the CSV (--force re-runs them), so a run
that was stopped can be continued by running the same command again.

torch is imported only when a configuration runs, so --help and --all's
planning work without it.
"""
import argparse
import csv
import math
import os
import resource
import subprocess
import sys
import time

# The columns of bench_gpu's CSV (CSV_COLUMNS in bench/bench_gpu.cpp), same order.
COLUMNS = [
    "d", "depth", "seq_len", "batch", "vocab", "head_dim", "precision", "mode",
    "tokens_per_s", "step_ms", "flops_per_token", "achieved_tflops", "peak_tflops",
    "mfu", "loss", "steps", "warmup", "warmup_s", "peak_mem_gib", "device", "software",
]
# The columns that name a configuration (--all's "already done" test).
KEY = ["d", "depth", "seq_len", "batch", "vocab", "head_dim", "precision", "mode"]

# Dense peak TFLOP/s (fp32, tf32, bf16) by device-name substring, first match
# wins; the same table as PEAKS in bench/bench_gpu.cpp. None: not checked,
# so no MFU unless --peak-tflops.
PEAKS = [
    ("H100 PCIe", (51, 378, 756)),
    ("GH200", (67, 494.7, 989.4)),
    ("H200 NVL", (60, 417.5, 835.5)),
    ("H200", (67, 494.7, 989.4)),
    ("H100 NVL", None),
    ("H100", (67, 494.7, 989.4)),
    ("A100", (19.5, 156, 312)),
]
PRECISIONS = ["fp32", "tf32", "bf16"]


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Train-step throughput of the lrtransfer GPT in PyTorch (the peer of build/bench_gpu).",
        epilog="Defaults are bench_gpu's: L=6, T=1024, B=16, head_dim 64, vocab 50304, 10 timed steps after 3.")
    p.add_argument("--d", type=int, default=1024, help="model width (one configuration)")
    p.add_argument("--depth", type=int, default=6, help="transformer blocks L")
    p.add_argument("--seq-len", type=int, default=1024, help="tokens per sequence T (also the context length)")
    p.add_argument("--batch", type=int, default=16, help="sequences per step B")
    p.add_argument("--vocab", type=int, default=50304, help="vocabulary size V")
    p.add_argument("--head-dim", type=int, default=64, help="attention head dimension; heads = d / head-dim")
    p.add_argument("--steps", type=int, default=10, help="timed training steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps before them (torch.compile compiles here)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32")
    p.add_argument("--mode", choices=["eager", "compile"], default="eager")
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                   help="cpu: the peer of bench/bench_step.cpp (fp32 only, --threads threads)")
    p.add_argument("--threads", type=int, default=0, help="cpu: torch.set_num_threads; 0 = torch's default")
    p.add_argument("--lr", type=float, default=6e-4, help="AdamW learning rate (constant)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--peak-tflops", default="",
                   help="dense peak TFLOP/s: one number, or three for fp32,tf32,bf16; empty = from the device name")
    p.add_argument("--csv-append", default="", metavar="FILE",
                   help="append the result row to FILE (header written when FILE is new or empty)")
    g = p.add_argument_group("grid (--all)")
    g.add_argument("--all", action="store_true",
                   help="run every (width, precision, mode) of the lists below, each in a fresh subprocess")
    g.add_argument("--widths", default="256,512,1024,2048")
    g.add_argument("--precisions", default="fp32,tf32,bf16")
    g.add_argument("--modes", default="eager,compile")
    g.add_argument("--force", action="store_true", help="re-run configurations already in --csv-append's file")
    g.add_argument("--config-timeout", type=float, default=0,
                   help="seconds before one configuration is stopped (0 = no limit)")
    a = p.parse_args(argv)
    for name in ("d", "depth", "seq_len", "batch", "vocab", "head_dim", "steps"):
        if getattr(a, name) < 1:
            p.error("--%s must be positive" % name.replace("_", "-"))
    if a.warmup < 0:
        p.error("--warmup must be >= 0")
    if a.peak_tflops and parse_peaks(a.peak_tflops) is None:
        p.error("--peak-tflops takes one positive number or three (fp32,tf32,bf16), got '%s'" % a.peak_tflops)
    if not a.all and a.d % a.head_dim:
        p.error("--d %d is not a multiple of --head-dim %d" % (a.d, a.head_dim))
    return a, p


# ---------------------------------------------------------------- the model

def define_model(torch):
    """The GPT class, defined here so that the module imports without torch."""
    nn = torch.nn
    F = torch.nn.functional

    class Attention(nn.Module):
        def __init__(self, d, n_head):
            super().__init__()
            self.n_head = n_head
            self.c_attn = nn.Linear(d, 3 * d)  # q | k | v, as lrt's attn.c_attn
            self.c_proj = nn.Linear(d, d)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(x).split(C, dim=2)
            # head h is columns h*hd:(h+1)*hd of each of q, k, v, as in lrt
            q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
            if hasattr(F, "scaled_dot_product_attention"):  # torch >= 2.0
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # scale 1/sqrt(head_dim)
            else:  # the same product written out (Debian's torch 1.13)
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
                mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
                y = att.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v
            return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

    class MLP(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.c_fc = nn.Linear(d, 4 * d)
            self.c_proj = nn.Linear(4 * d, d)

        def forward(self, x):
            return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))

    class Block(nn.Module):
        def __init__(self, d, n_head):
            super().__init__()
            self.ln_1 = nn.LayerNorm(d, eps=1e-5)
            self.attn = Attention(d, n_head)
            self.ln_2 = nn.LayerNorm(d, eps=1e-5)
            self.mlp = MLP(d)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        # Parameter names are lrt's tensor-table names (nanoGPT's).
        def __init__(self, vocab, context, d, depth, head_dim):
            super().__init__()
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(vocab, d),
                wpe=nn.Embedding(context, d),
                h=nn.ModuleList([Block(d, d // head_dim) for _ in range(depth)]),
                ln_f=nn.LayerNorm(d, eps=1e-5),
            ))
            self.lm_head = nn.Linear(d, vocab, bias=False)  # untied
            for name, p in self.named_parameters():  # sp-gpt2's init
                if name.endswith("c_proj.weight"):
                    nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * depth))
                elif p.dim() == 2:
                    nn.init.normal_(p, 0.0, 0.02)
                elif name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
                    nn.init.ones_(p)
                else:
                    nn.init.zeros_(p)

        def forward(self, idx, targets):
            # the loss is inside forward so that torch.compile covers it too
            T = idx.shape[1]
            pos = torch.arange(T, device=idx.device)
            x = self.transformer.wte(idx) + self.transformer.wpe(pos)
            for block in self.transformer.h:
                x = block(x)
            logits = self.lm_head(self.transformer.ln_f(x))
            # float logits into the loss under autocast too (lrt's are float)
            return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))

    return GPT


def openblas_core():
    """The kernel OpenBLAS chose (it falls back to a generic one, e.g. Prescott,
    on a CPU it does not recognize; OPENBLAS_CORETYPE overrides)."""
    import ctypes
    for name in ("libopenblas.so.0", "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0"):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return "OpenBLAS " + lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            continue
    return "BLAS unknown"


def make_optimizer(torch, model, lr, weight_decay=0.1, fused=True):
    """AdamW as lrt's default: decay on the matrices (hidden and readout) only,
    not on embeddings, biases or LayerNorms (--wd-set matrices)."""
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (decay if p.dim() == 2 and ".wte." not in n and ".wpe." not in n else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if fused:
        try:
            return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8, fused=True), "fused"
        except (TypeError, RuntimeError):  # a torch without fused AdamW (or not for these tensors)
            pass
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8), "default"


def flops_per_token(model, depth, seq_len, d):
    """6 * (params outside wte and wpe, lm_head included) + 12 L T d (bench_gpu's formula)."""
    p = sum(t.numel() for n, t in model.named_parameters()
            if n not in ("transformer.wte.weight", "transformer.wpe.weight"))
    return 6 * p + 12 * depth * seq_len * d


def parse_peaks(text):
    """--peak-tflops: one positive number, or three (fp32,tf32,bf16); None if malformed."""
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        return None
    if len(values) not in (1, 3) or not all(v > 0 and math.isfinite(v) for v in values):
        return None
    return values


def peak_tflops(device_name, precision, override):
    i = PRECISIONS.index(precision)
    if override:
        values = parse_peaks(override)
        return values[0] if len(values) == 1 else values[i]
    for match, peaks in PEAKS:
        if match.lower() in device_name.lower():
            return peaks[i] if peaks else None
    return None


def run_one(a):
    """Times one configuration; returns its CSV row (a dict)."""
    try:
        import torch
    except ImportError as e:
        sys.exit("torch_gpt.py: PyTorch is not installed (%s); pip install torch" % e)
    on_cpu = a.device == "cpu"
    if on_cpu:
        if a.precision != "fp32" or a.mode != "eager":
            sys.exit("torch_gpt.py: --device cpu runs fp32, eager only")
        if a.threads > 0:
            torch.set_num_threads(a.threads)
        dev = torch.device("cpu")
        device = "cpu (%d threads, %s)" % (torch.get_num_threads(), openblas_core())
        sync = lambda: None
    else:
        if not torch.cuda.is_available():
            sys.exit("torch_gpt.py: torch %s sees no CUDA GPU" % torch.__version__)
        dev = torch.device("cuda")
        props = torch.cuda.get_device_properties(dev)
        device = "%s (sm_%d%d, %d SMs, %.1f GiB)" % (props.name, props.major, props.minor,
                                                     props.multi_processor_count, props.total_memory / 2**30)
        sync = torch.cuda.synchronize

    # fp32 means no TF32 anywhere (PyTorch's cuDNN default would allow it).
    # Only the legacy flags are set: recent torch raises if the legacy and the
    # new (fp32_precision) TF32 APIs are mixed, and inductor reads the legacy ones.
    tf32 = a.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32

    torch.manual_seed(a.seed)
    GPT = define_model(torch)
    model = GPT(a.vocab, a.seq_len, a.d, a.depth, a.head_dim).to(dev)
    fpt = flops_per_token(model, a.depth, a.seq_len, a.d)

    opt, adam_kind = make_optimizer(torch, model, a.lr)
    params = list(model.parameters())

    step_model = torch.compile(model) if a.mode == "compile" else model
    if a.precision == "bf16":
        def autocast():
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    else:
        import contextlib

        def autocast():
            return contextlib.nullcontext()

    # Four batches of random tokens in pinned host memory, copied up every
    # step as bench_gpu's host token arrays are.
    g = torch.Generator().manual_seed(a.seed + 1000)
    seqs = [torch.randint(0, a.vocab, (a.batch, a.seq_len + 1), generator=g) for _ in range(4)]
    if not on_cpu:
        seqs = [s.pin_memory() for s in seqs]

    def train_step(i):
        seq = seqs[i % len(seqs)].to(dev, non_blocking=True)
        x, y = seq[:, :-1].contiguous(), seq[:, 1:].contiguous()
        with autocast():
            loss = step_model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss

    if not on_cpu:
        torch.cuda.reset_peak_memory_stats(dev)
    sync()
    w0 = time.perf_counter()
    for i in range(a.warmup):
        train_step(i)
    sync()
    t0 = time.perf_counter()
    for i in range(a.warmup, a.warmup + a.steps):
        loss = train_step(i)
    sync()  # the clock stops when the GPU has finished
    t1 = time.perf_counter()

    tokens_per_s = a.batch * a.seq_len * a.steps / (t1 - t0)
    achieved = tokens_per_s * fpt * 1e-12
    peak = None if on_cpu else peak_tflops(props.name, a.precision, a.peak_tflops)
    return {
        "d": a.d, "depth": a.depth, "seq_len": a.seq_len, "batch": a.batch, "vocab": a.vocab,
        "head_dim": a.head_dim, "precision": a.precision, "mode": a.mode,
        "tokens_per_s": "%.1f" % tokens_per_s,
        "step_ms": "%.3f" % ((t1 - t0) / a.steps * 1e3),
        "flops_per_token": "%d" % fpt,
        "achieved_tflops": "%.6g" % achieved,
        "peak_tflops": "%g" % peak if peak else "",
        "mfu": "%.6g" % (achieved / peak) if peak else "",
        "loss": "%.5f" % loss.item(),
        "steps": a.steps, "warmup": a.warmup,
        "warmup_s": "%.2f" % (t0 - w0),
        # cpu: the process's peak resident memory (ru_maxrss is in KiB on Linux)
        "peak_mem_gib": "%.3f" % ((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20) if on_cpu
                                  else torch.cuda.max_memory_allocated(dev) / 2**30),
        "device": device,
        "software": "torch %s, %s, AdamW %s, %s" % (
            torch.__version__, "CPU" if on_cpu else "CUDA %s" % torch.version.cuda, adam_kind,
            "SDPA" if hasattr(torch.nn.functional, "scaled_dot_product_attention") else "masked softmax"),
    }


# ---------------------------------------------------------------- CSV

def read_rows(path):
    if not path or not os.path.exists(path) or os.path.getsize(path) == 0:
        return []
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        if r.fieldnames != COLUMNS:
            sys.exit("torch_gpt.py: %s has columns %s, not this script's %s; give a new file"
                     % (path, r.fieldnames, COLUMNS))
        return list(r)


def append_row(path, row):
    read_rows(path)  # checks the header of an existing file
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            w.writeheader()
        w.writerow(row)
        f.flush()
        os.fsync(f.fileno())


# ---------------------------------------------------------------- --all

def run_all(a):
    def items(text, name, valid=None):
        out = [x.strip() for x in text.split(",") if x.strip()]
        if not out or (valid and any(x not in valid for x in out)):
            sys.exit("torch_gpt.py: bad --%s '%s'" % (name, text))
        return out
    try:
        widths = [int(x) for x in items(a.widths, "widths")]
    except ValueError:
        sys.exit("torch_gpt.py: --widths must be comma-separated integers, got '%s'" % a.widths)
    for d in widths:
        if d < 1 or d % a.head_dim:
            sys.exit("torch_gpt.py: width %d is not a positive multiple of --head-dim %d" % (d, a.head_dim))
    precisions = items(a.precisions, "precisions", PRECISIONS)
    modes = items(a.modes, "modes", ["eager", "compile"])
    if not a.csv_append:
        print("torch_gpt.py: note: no --csv-append, so the rows are only printed", file=sys.stderr)

    done = set()
    if not a.force:
        for r in read_rows(a.csv_append):
            done.add(tuple(str(r[k]) for k in KEY))
    configs = [(d, p, m) for d in widths for p in precisions for m in modes]
    failures = []
    start = time.time()
    for i, (d, prec, mode) in enumerate(configs, 1):
        key = tuple(str(x) for x in (d, a.depth, a.seq_len, a.batch, a.vocab, a.head_dim, prec, mode))
        label = "[%d/%d] d=%d %s %s" % (i, len(configs), d, prec, mode)
        if key in done:
            print("%s: already in %s (--force re-runs it)" % (label, a.csv_append), flush=True)
            continue
        print("%s ..." % label, flush=True)
        cmd = [sys.executable, os.path.abspath(__file__), "--d", str(d), "--precision", prec, "--mode", mode,
               "--depth", str(a.depth), "--seq-len", str(a.seq_len), "--batch", str(a.batch),
               "--vocab", str(a.vocab), "--head-dim", str(a.head_dim), "--steps", str(a.steps),
               "--warmup", str(a.warmup), "--lr", repr(a.lr), "--seed", str(a.seed)]
        if a.peak_tflops:
            cmd += ["--peak-tflops", a.peak_tflops]
        if a.csv_append:
            cmd += ["--csv-append", a.csv_append]
        try:
            rc = subprocess.run(cmd, timeout=a.config_timeout or None).returncode
        except subprocess.TimeoutExpired:
            rc = "timed out after %gs" % a.config_timeout
        if rc != 0:
            failures.append("%s: %s" % (label, rc if isinstance(rc, str) else "exit status %d" % rc))
    print("torch_gpt.py --all: %d configurations in %.0f s" % (len(configs), time.time() - start), flush=True)
    if failures:
        print("failed:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


def main(argv):
    a, _ = parse_args(argv)
    if a.all:
        return run_all(a)
    try:
        row = run_one(a)
    except Exception as e:  # out of memory above all: say which configuration
        if type(e).__name__ == "OutOfMemoryError" or "out of memory" in str(e):
            print("torch_gpt.py: d=%d %s %s: out of GPU memory" % (a.d, a.precision, a.mode), file=sys.stderr)
            return 3
        raise
    peak_note = "MFU %.1f%%" % (100 * float(row["mfu"])) if row["mfu"] else "MFU n/a (unknown peak)"
    print("d=%d L=%d T=%d B=%d %s %s: %s tok/s, %s ms/step, %s TFLOP/s, %s, loss %s, peak mem %s GiB, "
          "warm-up %s s" % (a.d, a.depth, a.seq_len, a.batch, a.precision, a.mode, row["tokens_per_s"],
                             row["step_ms"], row["achieved_tflops"], peak_note, row["loss"], row["peak_mem_gib"],
                             row["warmup_s"]), flush=True)
    if a.csv_append:
        append_row(a.csv_append, row)
    else:
        w = csv.DictWriter(sys.stdout, fieldnames=COLUMNS)
        w.writeheader()
        w.writerow(row)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

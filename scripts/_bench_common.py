"""Shared pieces of the benchmark scripts: whole-process measurement (wall time, peak memory of the
process tree), ge4rec model building and step timing, FLOP counting, and writing a section of
docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / ".bench"  # the benchmarks' data, caches and tool environments (git-ignored)
DOCS = REPO / "docs" / "benchmarks.md"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------------ whole-process measurement


@dataclass
class ProcessRun:
    """One command run to completion: wall time, peak memory, exit status and captured output."""

    wall_s: float
    peak_tree_rss: int  # bytes: max over time of the summed RSS of the process and its descendants
    max_single_rss: int  # bytes: largest peak RSS of any one process of the tree (wait4's ru_maxrss)
    returncode: int
    output: str
    # bytes: max over time of the summed anonymous memory (resident minus file-backed and shared
    # pages) of the tree: what the process owns, without the file cache of memory-mapped files
    peak_tree_anon: int = 0


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: fields resume after the last ')'
        fields = stat[stat.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def tree_memory(root: int) -> tuple[int, int]:
    """(resident, anonymous) bytes summed over `root` and all its descendants. Resident counts
    shared pages once per process that maps them and includes the pages of mapped files;
    anonymous is resident minus the shared and file-backed pages (statm's resident - shared)."""
    children = _children_map()
    resident, anonymous, stack = 0, 0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                fields = fh.read().split()
            resident += int(fields[1]) * PAGE_SIZE
            anonymous += (int(fields[1]) - int(fields[2])) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            pass
        stack.extend(children.get(pid, []))
    return resident, anonymous


def run_measured(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, interval: float = 0.05
) -> ProcessRun:
    """Run `cmd` as a whole process; sample the tree's RSS every `interval` seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    peak, peak_anon = 0, 0
    done = threading.Event()
    chunks: list[bytes] = []

    def drain() -> None:
        assert proc.stdout is not None
        for line in iter(proc.stdout.readline, b""):
            chunks.append(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()

    def sample() -> None:
        nonlocal peak, peak_anon
        while not done.is_set():
            resident, anonymous = tree_memory(proc.pid)
            peak, peak_anon = max(peak, resident), max(peak_anon, anonymous)
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    reader.join(timeout=5)
    proc.returncode = os.waitstatus_to_exitcode(status)
    # Linux reports ru_maxrss in KiB; it covers the child and the descendants it waited for
    return ProcessRun(
        wall,
        peak,
        usage.ru_maxrss * 1024,
        proc.returncode,
        b"".join(chunks).decode(errors="replace"),
        peak_anon,
    )


def thread_env(threads: int | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process limited to `threads` threads (torch, BLAS, polars)."""
    env = dict(os.environ if base is None else base)
    if threads:
        for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "POLARS_MAX_THREADS"):
            env[key] = str(threads)
    return env


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


# -------------------------------------------------------------------------------------- reporting


def machine_line(threads: int | None = None) -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    used = threads if threads else torch.get_num_threads()
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, {used} threads, torch {torch.__version__}, "
        f"Python {platform.python_version()}"
    )


def command_line() -> str:
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(REPO)
    except ValueError:
        pass
    args = [a for a in sys.argv[1:] if a != "--write-docs"]
    return " ".join(["python", str(script), *map(shlex.quote, args)])


def markdown_table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_docs_section(title: str, body: str, path: Path = DOCS) -> None:
    """Replace the section `## title` of docs/benchmarks.md (up to the next `## ` heading), or
    append it when the page has none."""
    text = path.read_text() if path.is_file() else ""
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)
    print(f"wrote section '{title}' of {path}")


# ------------------------------------------------------------------------- ge4rec models and steps


def compose(model: str, paradigm: str, overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from ge4rec.cli import config_dir

    with initialize_config_dir(version_base="1.3", config_dir=config_dir()):
        return hydra_compose("train", overrides=[f"model={model}", f"paradigm={paradigm}", *overrides])


def build(cfg, data):
    """The model and trainer `ge4rec train` would build from a composed config (seeded the same
    way), on the CPU, over `data`: the config's data set already loaded."""
    from ge4rec.run import build_run

    run = build_run(cfg, device="cpu", data=data)
    return run.model, run.trainer


@dataclass
class _Training:
    """What the step timers share: a freshly built model, its optimizer and trainable parameters,
    the training split, the batch size and a shuffling generator seeded with the config's seed."""

    model: Any
    trainer: Any
    optimizer: Any
    params: list
    train: Any
    batch_size: int
    generator: Any

    def step(self, batch):
        return self.trainer.train_step(self.model, batch, self.optimizer, self.params)

    def batches(self):
        options = self.trainer.shuffle_options()  # trainer.shuffle, as fit reads it
        return self.train.batches(self.batch_size, shuffle=True, generator=self.generator, **options)


def _training(cfg, data) -> _Training:
    import torch

    model, trainer = build(cfg, data)
    return _Training(
        model=model,
        trainer=trainer,
        optimizer=trainer.optimizer(model),
        params=[p for p in model.parameters() if p.requires_grad],
        train=data.splits["train"],
        batch_size=int(cfg.trainer.batch_size),
        generator=torch.Generator().manual_seed(int(cfg.seed)),
    )


def warm_up_torch() -> None:
    """Pay torch's one-off costs before anything is timed: the first optimizer built in a process
    imports torch's compiler stack (seconds), which would otherwise land in the first measurement."""
    import torch

    weight = torch.zeros(4, requires_grad=True)
    optimizer = torch.optim.Adam([weight], lr=1e-3)
    (weight * 2.0).sum().backward()
    optimizer.step()


def time_epoch_loop(cfg, data, epochs: int = 1, warmup: int = 1) -> float:
    """Training samples/s of ge4rec's own loop over whole epochs: the split reshuffled and sliced
    into batches (batch preparation included) and Trainer.train_step; no evaluation."""
    t = _training(cfg, data)
    t.model.train()
    for _, batch in zip(range(warmup), t.batches()):
        t.step(batch)
    rows, start = 0, time.perf_counter()
    for _ in range(epochs):
        for batch in t.batches():
            loss = t.step(batch)
            rows += len(batch)
        loss.item()
    return rows / (time.perf_counter() - start)


def time_steps_only(cfg, data, epochs: int = 1, warmup: int = 1, max_steps: int | None = None) -> float:
    """Training samples/s of Trainer.train_step alone, over batches prepared before the clock starts
    (the first `max_steps` batches of an epoch when given, else whole epochs)."""
    t = _training(cfg, data)
    batches = []
    for batch in t.batches():
        batches.append(batch)
        if max_steps and len(batches) >= max_steps + warmup:
            break
    t.model.train()
    for batch in batches[:warmup]:
        t.step(batch)
    if max_steps:
        batches = batches[warmup:]
    rows, start = 0, time.perf_counter()
    for _ in range(epochs):
        for batch in batches:
            loss = t.step(batch)
            rows += len(batch)
        loss.item()
    return rows / (time.perf_counter() - start)


def time_fit(cfg, data) -> float:
    """Training samples/s of Trainer.fit for one epoch, timed as a whole: the training pass, the
    validation pass and the best-state copy of the epoch, then the test pass (the best epoch's valid
    metrics are kept, not computed again)."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.merge(cfg, {"trainer": {"max_epochs": 1, "progress": False}})
    model, trainer = build(cfg, data)
    start = time.perf_counter()
    trainer.fit(model, data.splits)
    return len(data.splits["train"]) / (time.perf_counter() - start)


def step_flops(cfg, data, batch_rows: int | None = None) -> int:
    """Matrix-product FLOPs of one whole training step (step_ops' matmul count: matrix products,
    batched matrix products and convolutions, 2 per multiply-add); the element-wise work is left
    out, as the matmul peak it is compared with cannot run it."""
    return step_ops(cfg, data, batch_rows).matmul


def step_ops(cfg, data, batch_rows: int | None = None):
    """Operations of one whole training step (Trainer.train_step: forward, loss, backward, gradient
    clipping, the Adam update) on one batch, counted op by op by ge4rec.analysis.flops.OpCounter:
    matrix products, element-wise FLOPs and moved elements (a FlopCount). One step runs first,
    uncounted, so that the counted one is a steady-state step (the optimizer's state exists)."""
    from ge4rec.analysis.flops import OpCounter

    t = _training(cfg, data)
    if batch_rows:
        t.batch_size = batch_rows
    batch = next(t.batches())
    t.model.train()
    t.step(batch)
    with OpCounter() as counter:
        t.step(batch)
    return counter.total


def matmul_peak(threads: int, sizes: list[tuple[int, int, int]], seconds: float = 0.5) -> dict:
    """GFLOP/s of float32 torch.matmul [m, k] @ [k, n] for each size (best of repeated timings)."""
    import torch

    torch.set_num_threads(threads)
    out = {}
    for m, k, n in sizes:
        a, b = torch.randn(m, k), torch.randn(k, n)
        for _ in range(3):
            torch.matmul(a, b)
        best, spent = 0.0, 0.0
        while spent < seconds:
            reps = 5
            start = time.perf_counter()
            for _ in range(reps):
                torch.matmul(a, b)
            took = time.perf_counter() - start
            spent += took
            best = max(best, 2.0 * m * k * n * reps / took / 1e9)
        out[(m, k, n)] = best
    return out

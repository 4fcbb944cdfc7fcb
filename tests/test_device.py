"""Where the data lives on a GPU and how batches reach it (ge4rec.train.device), bf16 autocast
and torch.compile (trainer.precision, trainer.compile): the placement decisions are tested with
the device and its free memory as parameters, so they run on a machine without CUDA; the
transfers are replaced by recorders so no CUDA call is made."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import torch

from ge4rec.data.batches import Batch, SplitTensors
from ge4rec.train import device as placement
from ge4rec.train.device import (
    FREE_MEMORY_SHARE,
    batch_to,
    device_batches,
    place_splits,
    plan_placement,
    shuffle_generator,
)
from ge4rec.train.loop import Trainer

from conftest import (
    DISC,
    ROOT,
    SFG,
    TINY,
    compose_config,
    shipped_config,
    tiny_batch,
    tiny_model,
    tiny_schema,
    train_tiny,
)

CUDA = torch.device("cuda")
CPU = torch.device("cpu")
MIB = 2**20


def split_of(rows: int, fields: int = 3, seq: int = 2) -> SplitTensors:
    return SplitTensors(
        torch.arange(rows * fields, dtype=torch.int32).reshape(rows, fields),
        torch.zeros(rows, 1),
        torch.zeros(rows, seq, dtype=torch.int32),
        (torch.arange(rows) % 2).float(),
    )


# ------------------------------------------------------------------------------ the decision


def test_auto_moves_the_splits_that_fit_in_half_the_free_memory():
    sizes = {"train": 600 * MIB, "valid": 100 * MIB, "test": 100 * MIB}
    # 2 GiB free: the budget is 1 GiB, everything (800 MiB) fits
    assert plan_placement(sizes, "auto", 2048 * MIB) == {"train": True, "valid": True, "test": True}
    # 1 GiB free: 512 MiB budget; train (600) does not fit, the two small splits (200) do
    assert plan_placement(sizes, "auto", 1024 * MIB) == {"train": False, "valid": True, "test": True}
    # 1.3 GiB free: 665 MiB budget; train fits first, then only 65 MiB are left
    assert plan_placement(sizes, "auto", 1330 * MIB) == {"train": True, "valid": False, "test": False}
    assert plan_placement(sizes, "auto", 0) == {"train": False, "valid": False, "test": False}
    # the margin is the documented share
    exact = int(600 * MIB / FREE_MEMORY_SHARE)
    assert plan_placement({"train": 600 * MIB}, "auto", exact) == {"train": True}
    assert plan_placement({"train": 600 * MIB}, "auto", exact - 2) == {"train": False}


def test_true_and_false_ignore_the_free_memory():
    sizes = {"test": 10, "train": 10**15, "valid": 10}
    assert plan_placement(sizes, "true", 0) == {"train": True, "valid": True, "test": True}
    assert plan_placement(sizes, "false", 10**18) == {"train": False, "valid": False, "test": False}
    # a boolean override arrives as the string 'True' / 'False' (the key is a string)
    assert plan_placement(sizes, "False", 10**18)["train"] is False
    assert list(plan_placement(sizes, "true", 0)) == ["train", "valid", "test"]  # train first
    with pytest.raises(ValueError, match="data_on_device: 'maybe'"):
        plan_placement(sizes, "maybe", 0)


@pytest.mark.parametrize(
    "value,mode", [("auto", "auto"), ("true", "true"), ("false", "false"), ("FALSE", "false")]
)
def test_data_on_device_takes_auto_or_a_boolean_on_the_command_line(value, mode, hydra_configs):
    from hydra import compose

    from ge4rec.config import check_train_config

    cfg = compose(config_name="train", overrides=[f"trainer.data_on_device={value}"])
    check_train_config(cfg)
    assert str(cfg.trainer.data_on_device).lower() == mode
    sizes = {"train": 10}
    assert plan_placement(sizes, cfg.trainer.data_on_device, 100)["train"] is (mode != "false")


@pytest.mark.parametrize("mode", ["auto", "true", "false"])
def test_on_the_cpu_every_mode_leaves_the_splits_where_they_are(mode):
    splits = {"train": split_of(8), "valid": split_of(4), "test": split_of(4)}

    def no_cuda(_device):
        raise AssertionError("the CPU path asked for CUDA memory")

    placed = place_splits(splits, CPU, mode, free_memory=no_cuda)
    assert all(placed.splits[name] is splits[name] for name in splits)
    assert placed.on_device == {"train": True, "valid": True, "test": True}


def test_a_split_that_does_not_fit_stays_in_host_memory_on_a_cuda_device():
    splits = {"train": split_of(1000), "valid": split_of(10), "test": split_of(10)}
    asked: list[torch.device] = []

    def free(device):
        asked.append(device)
        return 0  # nothing fits, so nothing is moved and no CUDA call is made

    placed = place_splits(splits, CUDA, "auto", free_memory=free)
    assert asked == [CUDA]
    assert placed.on_device == {"train": False, "valid": False, "test": False}
    assert all(placed.splits[name] is splits[name] for name in splits)
    assert "host memory" in placed.describe()

    untouched = place_splits(splits, CUDA, "false", free_memory=free)
    assert asked == [CUDA]  # false does not ask for the free memory
    assert not any(untouched.on_device.values())


def test_the_split_that_fits_is_moved_with_split_to(monkeypatch):
    moved: list[tuple[int, torch.device]] = []

    def fake_to(self, device):
        moved.append((len(self), device))
        return self

    monkeypatch.setattr(SplitTensors, "to", fake_to)
    splits = {"train": split_of(1000), "valid": split_of(10), "test": split_of(10)}
    budget = splits["valid"].nbytes + splits["test"].nbytes
    placed = place_splits(splits, CUDA, "auto", free_memory=lambda _d: int(budget / FREE_MEMORY_SHARE))
    assert moved == [(10, CUDA), (10, CUDA)]
    assert placed.on_device == {"train": False, "valid": True, "test": True}
    assert placed.describe() == "valid, test on the device, the others copied from pinned host memory"


# ----------------------------------------------------------------------- shuffling generator


def test_the_shuffling_generator_lives_on_the_training_device(monkeypatch):
    made: list[object] = []
    real = torch.Generator

    class Recorder:
        def __init__(self, device="cpu"):
            made.append(torch.device(device))
            self.seed = None

        def manual_seed(self, seed):
            self.seed = seed
            return self

    monkeypatch.setattr(torch, "Generator", Recorder)
    assert shuffle_generator(CUDA, 5).seed == 5 and made == [CUDA]
    monkeypatch.setattr(torch, "Generator", real)

    generator = shuffle_generator(CPU, 5)
    assert generator.device == CPU
    # the permutation depends on the seed alone: the same batches from two generators of one seed
    split = split_of(50)
    first = [b.label.tolist() for b in split.batches(8, shuffle=True, generator=generator)]
    again = [b.label.tolist() for b in split.batches(8, shuffle=True, generator=shuffle_generator(CPU, 5))]
    other = [b.label.tolist() for b in split.batches(8, shuffle=True, generator=shuffle_generator(CPU, 6))]
    assert first == again and first != other


# ------------------------------------------------------------------------ batches to the device


def recording_transfers(monkeypatch) -> list[tuple[str, object]]:
    events: list[tuple[str, object]] = []

    def pin(tensor):
        events.append(("pin", tensor.data_ptr()))
        return tensor.clone()  # a new buffer, as pinning makes

    def transfer(tensor, device):
        events.append(("transfer", device))
        return tensor + 0

    monkeypatch.setattr(placement, "pin", pin)
    monkeypatch.setattr(placement, "transfer", transfer)
    return events


def test_a_host_batch_for_a_cuda_device_is_pinned_then_copied_without_blocking(monkeypatch):
    events = recording_transfers(monkeypatch)
    batch = tiny_batch(tiny_schema(), n=9)
    moved = batch_to(batch, CUDA)
    tensors = (batch.cat, batch.num, batch.seq, batch.label)
    # every tensor pinned, then sent to the device
    assert events == [e for t in tensors for e in (("pin", t.data_ptr()), ("transfer", CUDA))]
    for before, after in zip(tensors, (moved.cat, moved.num, moved.seq, moved.label)):
        assert torch.equal(before, after) and after.data_ptr() != before.data_ptr()


def test_the_real_transfer_asks_for_a_non_blocking_copy(monkeypatch):
    calls: list[tuple] = []

    def fake_to(self, *args, **kwargs):
        calls.append((args, kwargs))
        return self

    monkeypatch.setattr(torch.Tensor, "to", fake_to)
    placement.transfer(torch.zeros(3), CUDA)
    assert calls == [((CUDA,), {"non_blocking": True})]


def test_a_batch_already_on_the_device_is_handed_over_as_it_is(monkeypatch):
    events = recording_transfers(monkeypatch)
    batch = tiny_batch(tiny_schema())
    assert batch_to(batch, CPU) is batch
    assert events == []


def test_batches_are_moved_one_ahead_of_the_one_being_trained(monkeypatch):
    log: list[str] = []
    monkeypatch.setattr(placement, "batch_to", lambda b, d: log.append(f"move {int(b.label[0])}") or b)
    batches = [
        Batch(*(torch.full((2, 1), i) for _ in range(3)), torch.full((2,), float(i))) for i in range(3)
    ]
    for batch in device_batches(batches, CUDA):
        log.append(f"train {int(batch.label[0])}")
    assert log == ["move 0", "move 1", "train 0", "move 2", "train 1", "train 2"]
    assert list(device_batches([], CUDA)) == []


# ------------------------------------------------------------------------------ random streams


def test_the_run_state_holds_cuda_random_streams_only_where_cuda_is_used(monkeypatch):
    from ge4rec.train import state

    cuda_state = torch.arange(4, dtype=torch.uint8)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: pytest.fail("CUDA queried on the CPU"))
    saved = state.rng_state(None)
    assert saved["cuda"] == []

    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [cuda_state, cuda_state + 1])
    with_cuda = state.rng_state(None)
    assert [t.tolist() for t in with_cuda["cuda"]] == [[0, 1, 2, 3], [1, 2, 3, 4]]

    restored: list[tuple[list[int], int]] = []
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, i: restored.append((s.tolist(), i)))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    state.restore_rng(with_cuda, None)  # a CUDA state read where there is no CUDA: left alone
    assert restored == []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    state.restore_rng(with_cuda, None)  # one device here: the first device's state
    assert restored == [([0, 1, 2, 3], 0)]


# ---------------------------------------------------------------------------------------- bf16


def test_bf16_runs_the_forward_pass_in_bfloat16_and_the_loss_in_float32(one_thread):
    seen: list[torch.dtype] = []
    for precision in ("fp32", "bf16"):
        model = tiny_model(shipped_config("dcnv2"), SFG)
        linear = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
        hook = linear.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
        trainer = Trainer({"precision": precision, "progress": False}, CPU, 0)
        params = [p for p in model.parameters() if p.requires_grad]
        loss = trainer.train_step(model, tiny_batch(tiny_schema()), trainer.optimizer(model), params)
        hook.remove()
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        assert all(p.dtype == torch.float32 for p in model.parameters())  # the weights stay float32
    assert seen == [torch.float32, torch.bfloat16]


def every_model() -> list:
    from ge4rec.cli import group_options
    from ge4rec.models import get_model_class

    cases = []
    for name in group_options("model"):
        for paradigm in (SFG, DISC) if get_model_class(name).has_interaction else (DISC,):
            cases.append(pytest.param(name, paradigm, id=f"{name}-{paradigm['name']}"))
    return cases


@pytest.mark.parametrize("name,paradigm", every_model())
def test_every_model_takes_a_bf16_step(name, paradigm, one_thread):
    model = tiny_model(shipped_config(name), paradigm)
    before = [p.detach().clone() for p in model.parameters()]
    trainer = Trainer({"precision": "bf16", "progress": False}, CPU, 0)
    params = [p for p in model.parameters() if p.requires_grad]
    loss = trainer.train_step(model, tiny_batch(tiny_schema()), trainer.optimizer(model), params)
    assert torch.isfinite(loss)
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in params)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # it learned


def test_a_bf16_run_trains_end_to_end_on_the_cpu(tmp_path, capsys):
    fp32 = train_tiny(tmp_path, "fp32", "model=dcnv2", "paradigm=sfg", "analysis.enabled=false")
    bf16 = train_tiny(
        tmp_path, "bf16", "model=dcnv2", "paradigm=sfg", "analysis.enabled=false", "trainer.precision=bf16"
    )
    out = capsys.readouterr().out
    assert "trainer.precision=bf16 on cpu" in " ".join(out.split()) and "meant for GPUs" in out
    assert bf16["status"] == "completed"
    for split in ("valid", "test"):
        assert 0.55 < bf16[split]["auc"] < 1 and 0 < bf16[split]["logloss"] < 1
        # the same run in bfloat16: close to fp32, and not the same numbers
        assert bf16[split]["auc"] == pytest.approx(fp32[split]["auc"], abs=0.03)
    assert bf16["test"] != fp32["test"]
    saved = json.loads((tmp_path / "bf16" / "metrics.json").read_text())
    assert (saved["precision"], saved["compile"]) == ("bf16", False)
    assert saved["splits_on_device"] == {"train": True, "valid": True, "test": True}
    assert json.loads((tmp_path / "fp32" / "metrics.json").read_text())["precision"] == "fp32"


# ------------------------------------------------------------------------------------- compile


@pytest.mark.slow
def test_a_compiled_model_trains_to_the_numbers_of_the_plain_one(tmp_path):
    """torch.compile on the CPU builds C++ kernels: about 15 s for one shape of a tiny model."""
    # 3,000 rows in batches of 500: one batch shape, so one compilation
    common = ["model=fm", "paradigm=disc", "trainer.batch_size=500", "trainer.max_epochs=1"]
    plain = train_tiny(tmp_path, "plain", *common, "analysis.enabled=false")
    compiled = train_tiny(tmp_path, "compiled", *common, "analysis.enabled=false", "trainer.compile=true")
    assert compiled["compile"] is True and plain["compile"] is False
    for split in ("valid", "test"):
        for metric in ("auc", "logloss"):
            assert compiled[split][metric] == pytest.approx(plain[split][metric], abs=1e-4)
    # the checkpoint is the plain module's state: it loads into a freshly built model
    from ge4rec.run import build_run

    weights = torch.load(tmp_path / "compiled" / "checkpoint.pt")
    run = build_run(compose_config([*TINY, *common], tmp_path), device="cpu")
    assert set(weights) == set(run.model.state_dict())
    run.model.load_state_dict(weights)


# ------------------------------------------------------------------------- scripts/gpu_check


def run_script(args: list[str], cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", POLARS_MAX_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)


@pytest.mark.slow
def test_the_gpu_check_pipeline_runs_on_the_cpu(tmp_path, capsys, monkeypatch, one_thread):
    """The GPU check's whole pipeline (data, `ge4rec data prepare`, placement, timed steps, the
    table) on a few thousand rows on the CPU, in this process: 10-20 s on two cores."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    monkeypatch.setenv("POLARS_MAX_THREADS", "1")
    import gpu_check

    report = tmp_path / "report.md"
    args = ["--device", "cpu", "--rows", "2000", "--data", str(tmp_path / "data"), "--out", str(report)]
    small = ["--models", "deepfm", "--steps", "1", "--warmup", "1", "--batch-size", "256"]
    gpu_check.main([*args, *small, "--variants", "fp32", "bf16"])
    text = report.read_text()
    assert "torch " + torch.__version__ in text and "in host memory" in text and "39 fields" in text
    rows = [line for line in text.splitlines() if line.startswith("| deepfm")]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert [c[:4] for c in cells] == [
        ["deepfm", "disc", "fp32", "no"],
        ["deepfm", "disc", "bf16", "no"],
        ["deepfm", "sfg", "fp32", "no"],
        ["deepfm", "sfg", "bf16", "no"],
    ]
    assert all(float(c[4].replace(",", "")) > 0 and c[5] == "-" for c in cells)
    assert (tmp_path / "data" / "train.csv").is_file()
    capsys.readouterr()
    # a second check with the same rows reuses the data and the cache
    gpu_check.main([*args, *small, "--variants", "fp32", "--paradigms", "disc"])
    out = capsys.readouterr().out
    assert "(already written)" in out and "| deepfm | disc | fp32 | no |" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a CUDA device")
def test_the_gpu_check_stops_at_once_without_a_cuda_device(tmp_path):
    done = run_script(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--rows", "1000"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("gpu_check: no CUDA device is visible") and done.stderr.count("\n") == 1
    assert not (ROOT / ".bench" / "gpu_check" / "criteo_like_1000").exists()  # nothing was written


def test_full_shuffle_warns_when_its_copy_would_not_fit_in_free_memory(monkeypatch):
    from ge4rec.data.batches import SplitTensors
    from ge4rec.train import device

    n = 1000
    split = SplitTensors(
        torch.zeros(n, 4, dtype=torch.int32),
        torch.zeros(n, 2),
        torch.zeros(n, 0, dtype=torch.int32),
        torch.zeros(n),
    )
    assert split.nbytes == n * (16 + 8 + 4)
    monkeypatch.setattr(device, "free_host_memory", lambda: 10 * split.nbytes)
    assert device.full_shuffle_warning(split) is None
    monkeypatch.setattr(device, "free_host_memory", lambda: split.nbytes)
    warning = device.full_shuffle_warning(split)
    assert warning is not None and "trainer.shuffle=blocks" in warning
    monkeypatch.setattr(device, "free_host_memory", lambda: None)  # no /proc/meminfo: no guess
    assert device.full_shuffle_warning(split) is None

"""The shared fit loop: budgets, schedules, phases, early stops, checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from codec import checkpoint, fit


class Quadratic(fit.Trainer):
    """Minimise ||w - 3||² with Adam; records what the loop told each step."""

    def __init__(self, seed: int = 0) -> None:
        self.w = torch.nn.Parameter(torch.zeros(4))
        self.optim = torch.optim.Adam([self.w], lr=0.1)
        self.gen = torch.Generator().manual_seed(seed)
        self.seen: list[fit.Step] = []
        self.lrs: list[float] = []
        self.stop_at: int | None = None
        self.done: list[float] = []  # the progress after each step, as after_step saw it

    def step(self, at: fit.Step) -> dict:
        self.seen.append(at)
        self.lrs.append(self.optim.param_groups[0]["lr"])
        noise = torch.rand(4, generator=self.gen) * 0.01
        loss = ((self.w - 3 + noise) ** 2).sum()
        self.optim.zero_grad()
        loss.backward()
        self.optim.step()
        return {"loss": loss.item()}

    def after_step(self, at: fit.Step) -> bool:
        self.done.append(at.done)
        return self.stop_at is not None and at.step + 1 >= self.stop_at

    def state(self) -> dict:
        return {"w": self.w.detach().clone(), "gen": self.gen.get_state()}

    def load(self, state: dict) -> None:
        with torch.no_grad():
            self.w.copy_(state["w"])
        self.gen.set_state(state["gen"])


def test_step_budget_runs_exactly_and_reports():
    t = Quadratic()
    reports = []
    result = fit.run(t, fit.Budget(steps=10), optim=t.optim, schedule=fit.cosine(0.1),
                     report=lambda f, s: reports.append(f), report_every=4)
    assert result.steps == 10 and not result.stopped
    assert [s.step for s in t.seen] == list(range(10))
    assert [s.progress for s in t.seen] == [i / 10 for i in range(10)]
    assert t.done == [(i + 1) / 10 for i in range(10)]
    assert reports == [0.1, 0.4, 0.8]  # step 1, then every 4th
    assert [s.report for s in t.seen] == [i == 0 or (i + 1) % 4 == 0 for i in range(10)]
    assert result.stats()["steps"] == 10 and "loss" in result.stats()


def test_at_least_one_step_however_short_the_budget():
    t = Quadratic()
    result = fit.run(t, fit.Budget(seconds=1e-9), optim=t.optim)
    assert result.steps == 1
    with pytest.raises(ValueError):
        fit.Budget()
    with pytest.raises(ValueError):
        fit.Budget(steps=3, seconds=1.0)


def test_schedules_match_their_recipes():
    w = fit.warmup_cosine(0.1)
    assert w(1e-3, 0.0) == pytest.approx(1e-4)
    assert w(1e-3, 0.1) == pytest.approx(1e-3)
    assert w(1e-3, 1.0) == pytest.approx(0.0, abs=1e-12)
    c = fit.cosine(0.03)
    for p in (0.0, 0.3, 0.77, 1.0):  # the hash-grid recipe's exact expression
        assert c(3e-2, p) == 3e-2 * (0.03 + 0.97 * 0.5 * (1 + math.cos(math.pi * p)))
    d = fit.step_decay((0.5, 0.8), 0.3)
    assert d(2e-4, 0.49) == 2e-4
    assert d(2e-4, 0.5) == 2e-4 * 0.3
    assert d(2e-4, 0.9) == 2e-4 * 0.3 * 0.3


def test_schedule_and_lr_scale_are_applied_before_each_step():
    t = Quadratic()
    t.lr_scale = lambda: 0.5
    fit.run(t, fit.Budget(steps=4), optim=t.optim, schedule=fit.cosine(0.0))
    want = [0.1 * 0.5 * (1 + math.cos(math.pi * i / 4)) * 0.5 for i in range(4)]
    assert t.lrs == pytest.approx(want)


def test_phases_are_named_by_progress():
    t = Quadratic()
    fit.run(t, fit.Budget(steps=10), phases=(fit.Phase("ste", 0.8), fit.Phase("warm", 0.0)))
    assert [s.phase for s in t.seen] == ["warm"] * 8 + ["ste"] * 2


def test_after_step_ends_early():
    t = Quadratic()
    t.stop_at = 3
    result = fit.run(t, fit.Budget(steps=10), optim=t.optim)
    assert result.steps == 3 and result.stopped


def test_checkpoint_resume_gives_the_same_result(tmp_path):
    out = tmp_path / "x.nirc"
    plain = Quadratic(seed=1)
    fit.run(plain, fit.Budget(steps=20), optim=plain.optim, schedule=fit.cosine(0.1))

    class Interrupt(Exception):
        pass

    first = Quadratic(seed=1)
    first.after_step = lambda at: (_ for _ in ()).throw(Interrupt()) if at.step == 11 else False
    with pytest.raises(Interrupt), checkpoint.checkpointing(out, 0.0, False, lambda: {"k": 1}):
        fit.run(first, fit.Budget(steps=20), optim=first.optim, schedule=fit.cosine(0.1),
                tag="quad")
    assert (tmp_path / "x.nirc.ckpt").exists()
    again = Quadratic(seed=1)
    with checkpoint.checkpointing(out, 0.0, True, lambda: {"k": 1}):
        result = fit.run(again, fit.Budget(steps=20), optim=again.optim,
                         schedule=fit.cosine(0.1), tag="quad")
    assert result.steps == 20 and again.seen[0].step == 11
    assert torch.equal(again.w, plain.w)
    assert not (tmp_path / "x.nirc.ckpt").exists()


def test_ctrl_c_during_a_checkpoint_save_arrives_after_it():
    import os
    import signal

    from codec.checkpoint import _no_interrupts

    torch.ones(256, 256) @ torch.ones(256, 256)  # torch's worker threads exist: the signal
    reached = False  # may reach any of them, and must still wait for the block's end
    with pytest.raises(KeyboardInterrupt), _no_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        reached = True  # the save would finish here, whole
    assert reached


class DtypeTrainer(fit.Trainer):
    """Records the dtype of a linear layer's output and of a density's bits in each step."""

    def __init__(self) -> None:
        from codec.rate import FactorizedDensity, laplace_bits

        self.layer = torch.nn.Linear(4, 4)
        self.density = FactorizedDensity()
        self.laplace = laplace_bits
        self.seen: list[tuple[torch.dtype, torch.dtype, torch.dtype]] = []

    def step(self, at):
        y = self.layer(torch.ones(2, 4))
        bits = self.density.bits(y)
        lap = self.laplace(y, y.detach(), torch.ones(1))
        self.seen.append((y.dtype, bits.dtype, lap.dtype))
        return None


def test_bf16_precision_autocasts_the_steps_but_not_the_rate():
    trainer = DtypeTrainer()
    fit.run(trainer, fit.Budget(steps=1))
    with fit.precision("cpu", "bf16"):
        fit.run(trainer, fit.Budget(steps=1))
    assert trainer.seen == [(torch.float32,) * 3,
                            (torch.bfloat16, torch.float32, torch.float32)]
    assert trainer.layer.weight.dtype == torch.float32  # parameters stay float32
    with pytest.raises(ValueError, match="unknown precision"), fit.precision("cpu", "fp8"):
        pass

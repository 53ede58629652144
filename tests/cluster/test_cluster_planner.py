"""The planner's arithmetic: shares, packing, replica counts, advice, and the profile it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.planner import (
    BenchError,
    PlanInputs,
    gpu_share,
    load_base,
    load_bench,
    main,
    memory_utilization,
    pack,
    plan,
    render_table,
    to_profile,
    write_profile,
)
from seethink.config import check_packing, load_config

# The gpu-80g measurements from the brief: a card holds two vision replicas and one LLM.
BRIEF = dict(
    gpu_memory_gib=80,
    vision_memory_gib=24,
    llm_memory_gib=32,
    vision_rps=6,
    llm_rps=3,
    target_rps=20,
)


def test_share_rounds_up_to_the_step() -> None:
    assert gpu_share(24, 80) == 0.3  # 24/80 is 0.30000000000000004 in floats
    assert gpu_share(32, 80) == 0.4
    assert gpu_share(20.1, 80) == 0.3
    assert gpu_share(13.4, 24) == 0.6
    assert gpu_share(13.4, 24, step=0.01) == 0.56
    assert gpu_share(80, 80) == 1.0
    assert memory_utilization(8.6, 24) == 0.36
    assert memory_utilization(32, 80) == 0.4


def test_pack_is_per_card() -> None:
    shares = {"vision": 0.3, "llm": 0.4}
    assert pack(1, {"vision": 2, "llm": 1}, shares) == [{"vision": 2, "llm": 1}]
    assert pack(1, {"vision": 2, "llm": 2}, shares) == []
    # 0.6 + 0.6 adds up to 1.2 < 2 cards, but also needs them on different cards.
    assert pack(2, {"vision": 0, "llm": 2}, {"vision": 0.3, "llm": 0.6}) == [
        {"vision": 0, "llm": 1},
        {"vision": 0, "llm": 1},
    ]
    assert pack(1, {"llm": 2}, {"llm": 0.6}) == []


def test_pack_rejects_over_full_card() -> None:
    assert pack(1, {"vision": 1, "llm": 2}, {"vision": 0.3, "llm": 0.4}) == []


def test_plan_that_fits() -> None:
    p = plan(PlanInputs(**dict(BRIEF, target_rps=3)))
    assert p.fits and p.feasible
    assert (p.vision.num_gpus, p.llm.num_gpus) == (0.3, 0.4)
    assert p.llm.gpu_memory_utilization <= p.llm.num_gpus
    assert (p.vision.replicas, p.llm.replicas) == (1, 1)
    assert p.problems == []
    assert "fits: yes" in render_table(p)


def test_plan_for_the_brief_does_not_fit_and_says_what_to_change() -> None:
    p = plan(PlanInputs(**BRIEF))
    assert p.feasible and not p.fits
    # One card: 0.3 x 2 + 0.4 = 1.0, capped; the demand wants 4 vision and 7 LLM replicas.
    assert (p.vision.replicas, p.vision.replicas_needed) == (2, 4)
    assert (p.llm.replicas, p.llm.replicas_needed) == (1, 7)
    assert p.gpu_total == 1.0
    assert p.carried_rps == pytest.approx(3.0)
    # 7 x 0.4 + 4 x 0.3 = 4.0 GPUs, but a card holds at most 0.4+0.3+0.3 or 0.4+0.4: 5 cards.
    assert p.cards_for_target == 5
    text = render_table(p)
    assert "fits: NO" in text
    assert "llm: 7 replicas needed for 20 rps at 3 rps each; 1 fit" in text
    assert "add GPUs: 5 cards of 80 GiB" in text


def test_plan_with_enough_cards_meets_the_demand() -> None:
    p = plan(PlanInputs(**BRIEF, gpus_per_node=8))
    assert p.fits
    assert (p.vision.replicas, p.llm.replicas) == (4, 7)
    assert sum(p.layout[k]["llm"] for k in range(8)) == 7


def test_route_mix_and_cache_shrink_the_load() -> None:
    i = PlanInputs(**dict(BRIEF, target_rps=10), cascade_share=0.5, cache_hit_rate=0.4)
    assert i.llm_load_rps == 5
    assert i.vision_load_rps == pytest.approx(8)  # 10 x (1 - 0.5 x 0.4)
    p = plan(i)
    assert (p.vision.replicas_needed, p.llm.replicas_needed) == (2, 2)


def test_nothing_fits() -> None:
    p = plan(PlanInputs(24, 20, 18, 6, 3, 2))
    assert not p.feasible and not p.fits
    assert "neither fits beside the other" in p.problems[0]
    assert any("shrink one model" in a for a in p.advice)
    with pytest.raises(ValueError):
        to_profile(p, load_base("gpu-80g"))


def test_model_bigger_than_a_card() -> None:
    p = plan(PlanInputs(**dict(BRIEF, llm_memory_gib=100), gpus_per_node=8))
    assert not p.feasible
    assert "llm needs 100 GiB but one card has 80 GiB" in p.problems[0]
    assert any("quantize" in a for a in p.advice)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="vision_rps"):
        PlanInputs(**dict(BRIEF, vision_rps=0))
    with pytest.raises(ValueError, match="cascade_share"):
        PlanInputs(**BRIEF, cascade_share=1.5)


@pytest.mark.parametrize(
    ("profile", "card", "vision_gib", "llm_gib"),
    [("gpu-80g", 80, 24, 32), ("gpu-24g", 24, 13.4, 8.6)],
)
def test_planner_reproduces_the_hand_made_shares(
    profile: str, card: float, vision_gib: float, llm_gib: float
) -> None:
    cfg = load_config(profile)
    p = plan(PlanInputs(card, vision_gib, llm_gib, 6, 3, 1))
    assert p.vision.num_gpus == cfg.vision.num_gpus
    assert p.llm.num_gpus == cfg.llm.num_gpus
    if cfg.vision.backend == "vllm":
        assert p.vision.gpu_memory_utilization == cfg.vision.gpu_memory_utilization


@pytest.mark.parametrize("base", ["gpu-80g", "gpu-24g", "cluster", "cpu"])
def test_written_profile_loads(tmp_path: Path, base: str) -> None:
    p = plan(PlanInputs(**BRIEF, gpus_per_node=2))
    out = write_profile(p, load_base(base), tmp_path / "planned.yaml")
    cfg = load_config(str(out))
    assert cfg.cluster.gpus_per_node == 2 and cfg.cluster.num_nodes == 1
    assert cfg.vision.num_gpus == 0.3 and cfg.llm.num_gpus == 0.4
    assert cfg.vision.autoscaling_config.max_replicas == p.vision.replicas
    assert cfg.llm.autoscaling_config.max_replicas == p.llm.replicas
    assert cfg.llm.device == "gpu"
    assert cfg.llm.gpu_memory_utilization <= cfg.llm.num_gpus
    check_packing(cfg, available_gpus=2)
    assert out.read_text().startswith("# cards: 2 x 80 GiB")


def test_written_profile_keeps_a_scale_from_zero_llm(tmp_path: Path) -> None:
    p = plan(PlanInputs(**BRIEF, gpus_per_node=8))
    cfg = load_config(str(write_profile(p, load_base("cluster"), tmp_path / "c.yaml")))
    assert cfg.llm.autoscaling_config.min_replicas == 0
    assert cfg.llm.autoscaling_config.initial_replicas is None
    assert cfg.llm.accelerator_type == "H100"


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "--gpu-memory-gib", "80", "--gpus", "1", "--vision-memory-gib", "24",
        "--llm-memory-gib", "32", "--vision-rps", "6", "--llm-rps", "3", "--target-rps", "20",
    ]  # fmt: skip
    out = tmp_path / "p.yaml"
    assert main([*args, "--out", str(out)]) == 1  # written, but the demand does not fit
    printed = capsys.readouterr().out
    assert "fits: NO" in printed and f"wrote {out}" in printed
    assert load_config(str(out)).vision.autoscaling_config.max_replicas == 2
    assert main([*args, "--gpus", "8"]) == 0
    none = tmp_path / "none.yaml"
    bad = ["--gpu-memory-gib", "24", "--vision-memory-gib", "20", "--llm-memory-gib", "18",
           "--vision-rps", "1", "--llm-rps", "1", "--target-rps", "1"]  # fmt: skip
    assert main([*bad, "--out", str(none)]) == 2
    assert not none.exists()


# --- inputs from a benchmark run (scripts/bench.py --json) -----------------------------------

BENCH = Path(__file__).with_name("fixtures") / "bench-gpu-80g.json"


def test_bench_file_gives_the_measured_inputs() -> None:
    got = load_bench(BENCH)
    assert got == {
        "gpu_memory_gib": 80,
        "vision_memory_gib": 24,
        "llm_memory_gib": 32,
        "vision_rps": 6,
        "llm_rps": 3,
        "target_rps": 20,
        "cascade_share": 0.5,
        "cache_hit_rate": 0.4,
    }


def test_plan_from_bench_equals_the_typed_plan(capsys: pytest.CaptureFixture[str]) -> None:
    typed = [
        "--gpu-memory-gib", "80", "--vision-memory-gib", "24", "--llm-memory-gib", "32",
        "--vision-rps", "6", "--llm-rps", "3", "--target-rps", "20",
        "--cascade-share", "0.5", "--cache-hit-rate", "0.4",
    ]  # fmt: skip
    rc_typed = main(typed)
    out_typed = capsys.readouterr().out
    rc_bench = main(["--from-bench", str(BENCH)])
    out_bench = capsys.readouterr().out
    assert (rc_bench, out_bench) == (rc_typed, out_typed)
    assert "cascade share 0.5, cache hit rate 0.4" in out_bench


def test_flags_beat_the_bench_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--from-bench", str(BENCH), "--gpus", "8", "--target-rps", "3"]) == 0
    out = capsys.readouterr().out
    assert "target 3 rps" in out and "8 GPU" in out


def test_bench_file_with_missing_or_bad_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(BENCH.read_text())
    del doc["models"]["llm"]["rps"]
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(doc))
    assert main(["--from-bench", str(partial)]) == 2
    assert "missing --llm-rps (models.llm.rps)" in capsys.readouterr().err
    assert main(["--from-bench", str(partial), "--llm-rps", "3"]) == 1  # completed by a flag
    capsys.readouterr()
    doc["models"]["vision"]["memory_gib"] = "24 GiB"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(BenchError, match="models.vision.memory_gib must be a number"):
        load_bench(bad)
    bad.write_text(json.dumps({**doc, "schema": "other/2"}))
    with pytest.raises(BenchError, match="seethink-bench/1"):
        load_bench(bad)
    bad.write_text("{not json")
    assert main(["--from-bench", str(bad)]) == 2
    assert "cannot read benchmark JSON" in capsys.readouterr().err

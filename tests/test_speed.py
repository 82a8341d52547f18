"""``dsdn benchmark speed``: parameter matching, one real measurement per method, the report."""

import pytest
from typer.testing import CliRunner

from dsdn.cli import app
from dsdn.errors import DSDNInputError
from dsdn.evaluation.speed import SpeedConfig, measure_case, speed_section, write_speed_section

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_cases():
    common = dict(scale="tiny", grid=[(4, 64), (8, 64)], repeats=1, flops=True, clip_steps=1)
    return [measure_case(dict(method=m, **common)) | {"variant": "default"} for m in ("dsdn", "animatediff")] + [
        measure_case(dict(scale="tiny", method="dsdn", variant=v, grid=[(4, 64)], repeats=1)) | {"variant": v}
        for v in ("cfg-two-calls", "classic-attention", "bf16")
    ] + [measure_case(dict(common, method="dsdn", variant="cache", cache={"interval": 3, "depth": 1}))
         | {"variant": "cache"}]  # fmt: skip


@pytest.mark.slow
def test_a_cached_step_does_less_work_than_a_full_one(tiny_cases):
    full, cached = tiny_cases[0], tiny_cases[-1]
    assert cached["flops_per_step"] < 0.9 * full["flops_per_step"]  # counted operations, not timings
    assert cached["seconds_per_clip"] > 0


@pytest.mark.slow
def test_animatediff_is_matched_to_dsdn_parameters_and_everything_is_measured(tiny_cases):
    dsdn, anim = tiny_cases[0], tiny_cases[1]
    assert 0.5 < dsdn["added_params"] / anim["added_params"] < 2.0
    assert anim["denoiser_params"] - anim["added_params"] == dsdn["denoiser_params"] - dsdn["added_params"]  # same base
    for c in (dsdn, anim):
        assert set(c["seconds_per_step"]) == {"4x64", "8x64"} and all(t > 0 for t in c["seconds_per_step"].values())
        assert c["seconds_per_clip"] > 0 and c["flops_per_step"] > 1e6 and c["peak_rss_mib"] > 50


@pytest.mark.slow
def test_speed_report_has_ratios_and_sampling_choices(tiny_cases, tmp_path):
    results = {"config": {"scales": ("tiny",), "repeats": 1, "clip_steps": 1, "cache_interval": 3, "cache_depth": 1},
               "threads": 2, "matmul_flops_per_s": 5e10, "cases": tiny_cases}  # fmt: skip
    text = speed_section(results, "dsdn benchmark speed --scales tiny")
    assert "| tiny | DSDN |" in text and "| tiny | AnimateDiff |" in text
    assert "per step 4x64:" in text and "PyTorch SDPA" in text and "bfloat16" in text
    assert "* tiny, 4x64: a cached step" in text and "--cache-interval 3" in text
    report = tmp_path / "B.md"
    report.write_text(
        "# Benchmarks\n\n<!-- dsdn benchmark quality: begin -->\nq\n<!-- dsdn benchmark quality: end -->\n"
    )
    write_speed_section(results, report)
    write_speed_section(results, report)
    body = report.read_text()
    assert body.count("speed: begin") == 1 and "\nq\n" in body


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"scales": ("xl",)}, "scales"),
        ({"tiny_frames": (1,)}, "tiny_frames"),
        ({"tiny_sizes": (60,)}, "multiples of 8"),
        ({"repeats": 0}, "repeats"),
        ({"cache_interval": 1}, "cache_interval"),
    ],
)
def test_bad_speed_config(kw, needle):
    with pytest.raises(DSDNInputError, match=needle):
        SpeedConfig(**kw)


def test_speed_cli_rejects_bad_lists():
    res = runner.invoke(app, ["benchmark", "speed", "--tiny-frames", "8,x"])
    assert res.exit_code == 2 and "comma-separated integers" in res.output and "Traceback" not in res.output

"""``dsdn benchmark quality``: spec validation, intervals, the computed verdict, and one tiny run end to end."""

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from dsdn.cli import app
from dsdn.errors import DSDNInputError
from dsdn.evaluation.benchmark import BenchmarkSpec, clip_seed, interval
from dsdn.evaluation.report import verdict, write_report_section

runner = CliRunner()
PROMPTS = ["a red circle moving right", "a blue square moving up"]


def _spec(**kw):
    data = {"prompts": PROMPTS, "methods": [{"name": "real", "kind": "real"}, {"name": "DSDN", "kind": "dsdn"}]}
    data.update(kw)
    return BenchmarkSpec.from_dict(data)


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"methods": [{"name": "x", "kind": "sora"}]}, "kind"),
        ({"methods": [{"name": "x", "kind": "dsdn", "guidance": 3}]}, "unknown option"),
        ({"methods": [{"name": "x", "kind": "real"}, {"name": "x", "kind": "dsdn"}]}, "unique"),
        ({"methods": []}, "at least one method"),
        ({"prompts": []}, "prompts"),
        ({"prompts": {"split": "nowhere"}}, "split"),
        ({"seeds": [-1]}, "seeds"),
        ({"steps": 0}, "steps"),
        ({"colour": "red"}, "unknown key"),
        ({"toy_world": "v9"}, "toy_world='v9'"),
    ],
)
def test_bad_benchmark_specs_name_the_problem(change, needle):
    with pytest.raises(DSDNInputError, match=needle):
        _spec(**change)


def test_prompt_sets_expand_to_toy_prompts():
    spec = _spec(prompts={"split": "train", "count": 5, "seed": 3})
    assert len(spec.prompts) == 5 and len(set(spec.prompts)) == 5


def test_the_benchmarks_toy_world_is_its_first_dsdn_models_and_sets_real_clips_judge_and_scale(
    trained_model_dir, tmp_path
):
    from dsdn.evaluation.benchmark import real_clip, run_benchmark
    from dsdn.evaluation.judge import ToyJudge

    assert _spec().toy_world == "v3"  # the DSDN row names no model: the shipped one, which learned v3
    own = [{"name": "DSDN", "kind": "dsdn", "model": str(trained_model_dir)}]
    assert _spec(methods=own).toy_world == "v1"  # a model that records no world
    assert _spec(methods=own, toy_world="v3").toy_world == "v3"
    area = {w: (real_clip(PROMPTS[1], 0, 2, 64, w)[0].max(axis=-1) > 0.5).sum() for w in ("v1", "v3")}
    assert area["v3"] > 3 * area["v1"]  # v3's objects are twice as large
    ToyJudge(width=8).save(tmp_path / "judge")  # a judge of v1's objects (no world recorded)
    spec = _spec(methods=[{"name": "real", "kind": "real"}], toy_world="v3", judge=str(tmp_path / "judge"))
    with pytest.raises(DSDNInputError, match="learned toy world v1's objects, but the benchmark is of v3's"):
        run_benchmark(spec, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_intervals():
    mean, lo, hi = interval([1, 1, 1, 1], binary=True)
    assert mean == 1.0 and hi == pytest.approx(1.0) and 0.4 < lo < 1.0  # Wilson: never a zero-width interval
    mean, lo, hi = interval([0.0, 2.0, 4.0])
    assert mean == 2.0 and lo < 2.0 < hi and (hi - lo) / 2 == pytest.approx(4.303 * 2 / math.sqrt(3), rel=1e-3)


def _summary(dsdn_we, peer_we, dsdn_dd=1.0, dsdn_dir=(0.9, 0.8, 1.0), peer_dir=(0.2, 0.1, 0.3)):
    real = {"warping_error": (0.0, 0, 0), "dynamic_degree": (1.0, 0.9, 1.1), "direction_acc": (1, 1, 1)}
    return {"methods": {
        "real": real,
        "DSDN": {"warping_error": dsdn_we, "dynamic_degree": (dsdn_dd, 0, 2), "direction_acc": dsdn_dir},
        "peer": {"warping_error": peer_we, "dynamic_degree": (1.0, 0, 2), "direction_acc": peer_dir},
    }}  # fmt: skip


def test_verdict_follows_the_intervals():
    spec = _spec(methods=[{"name": "real", "kind": "real"}, {"name": "DSDN", "kind": "dsdn"},
                          {"name": "peer", "kind": "framewise"}])  # fmt: skip
    lines = verdict(_summary((0.1, 0.05, 0.15), (0.5, 0.4, 0.6)), spec)
    assert "within 20%" in lines[0] and "vs peer: lower warping error" in lines[1] and "clearly better" in lines[1]
    lines = verdict(_summary((0.5, 0.3, 0.7), (0.4, 0.2, 0.6), dsdn_dd=0.5), spec)
    assert "not within 20%" in lines[0] and "no clear warping-error difference" in lines[1]
    lines = verdict(
        _summary((0.9, 0.8, 1.0), (0.4, 0.3, 0.5), dsdn_dir=(0.5, 0.4, 0.6), peer_dir=(1.0, 0.95, 1.0)), spec
    )
    assert "higher warping error" in lines[1] and "worse direction acc." in lines[1]
    only = _spec(methods=[{"name": "DSDN", "kind": "dsdn"}])
    assert verdict({"methods": {}}, only)[0].startswith("No verdict")


def test_verdict_answers_for_every_plain_dsdn_row():
    """A second DSDN model (e.g. trained on the peers' budget) gets its own answers against the peers,
    and is not compared with the first model's ablations."""
    spec = _spec(methods=[{"name": "real", "kind": "real"}, {"name": "DSDN", "kind": "dsdn"},
                          {"name": "DSDN, γ=0", "kind": "dsdn", "motion_coherence": 0.0},
                          {"name": "DSDN short", "kind": "dsdn", "model": "runs/short"},
                          {"name": "peer", "kind": "framewise"}])  # fmt: skip
    summary = _summary((0.1, 0.05, 0.15), (0.5, 0.4, 0.6))
    m = summary["methods"]
    m["DSDN, γ=0"] = dict(m["peer"])
    m["DSDN short"] = {**m["DSDN"], "warping_error": (0.7, 0.65, 0.75), "dynamic_degree": (2.0, 1.8, 2.2)}
    lines = verdict(summary, spec)
    compared = [line.split(" vs ")[1].split(":")[0] for line in lines if line.startswith("DSDN vs ")]
    assert compared == ["DSDN, γ=0", "peer"]
    short = [line for line in lines if line.startswith("DSDN short")]
    assert "200% of the real" in short[0] and len(short) == 2
    assert short[1].startswith("DSDN short vs peer: higher warping error")


def test_paired_comparison_counts_the_clips_only_one_method_gets_right():
    from dsdn.evaluation.report import paired, paired_table

    spec = _spec(methods=[{"name": "real", "kind": "real"}, {"name": "DSDN", "kind": "dsdn"},
                          {"name": "peer", "kind": "framewise"}])  # fmt: skip
    # 12 clips: DSDN clean in the first 10, the peer in the last 4 (2 clean with both); DSDN's warping error
    # 0.01 below the peer's on every clip.
    dsdn = [{"clean_acc": float(i < 10), "warping_error": 0.02 + 0.001 * i} for i in range(12)]
    peer = [{"clean_acc": float(i >= 8), "warping_error": 0.03 + 0.001 * i} for i in range(12)]
    result = paired({"real": dsdn, "DSDN": dsdn, "peer": peer}, spec)
    assert list(result) == ["DSDN"] and list(result["DSDN"]) == ["peer"]
    row = result["DSDN"]["peer"]
    assert (row["clean_acc"]["only_dsdn"], row["clean_acc"]["only_other"]) == (8, 2)
    assert row["clean_acc"]["p"] == pytest.approx(0.109375)  # two-sided binomial, 2 of 10 at 1/2
    mean, lo, hi = row["warping_error_difference"]
    assert mean == pytest.approx(-0.01) and lo == pytest.approx(-0.01) and hi == pytest.approx(-0.01)
    assert "| DSDN vs peer | 8 / 2 (0.109) | -0.0100 [-0.0100, -0.0100] |" in paired_table(result)


def test_report_section_is_replaced_not_appended(tmp_path):
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nintro stays\n")
    summary = {"methods": {"real": {"warping_error": (0.0, 0.0, 0.0)}}, "verdict": ["v1"], "clips_per_method": 1,
               "spec": {"prompts": PROMPTS, "seeds": [0], "frames": 4, "steps": 2, "guidance": 7.5},
               "command": "dsdn benchmark quality x.yaml", "out": str(tmp_path / "bench")}  # fmt: skip
    write_report_section(summary, report)
    summary["verdict"] = ["v2"]
    write_report_section(summary, report)
    text = report.read_text()
    assert text.count("dsdn benchmark quality: begin") == 1 and "v2" in text and "v1" not in text
    assert text.startswith("# Benchmarks\n\nintro stays") and "(bench/plots/metrics.png)" in text


def test_the_report_names_each_rows_weights_and_says_loudly_when_dsdn_is_not_shipped():
    from dsdn.evaluation.provenance import model_record, shipped_fingerprint
    from dsdn.evaluation.report import models_lines
    from dsdn.generate import default_model_dir

    shipped = model_record(default_model_dir())
    assert shipped["shipped"] and shipped["fingerprint"] == shipped_fingerprint()
    assert shipped["committed_in"] is None or shipped["committed_in"].isalnum()  # None outside a git checkout
    spec = {"methods": [{"name": "DSDN", "kind": "dsdn"}, {"name": "DSDN, γ=0", "kind": "dsdn", "motion_coherence": 0}]}
    other = {"folder": "runs/x/model", "fingerprint": "0123abcd", "shipped": False, "committed_in": None}
    summary = {"spec": spec, "commit": "abc1234", "models": {"DSDN": shipped, "DSDN, γ=0": shipped}}
    text = "\n".join(models_lines(summary))
    assert "not the shipped" not in text and text.startswith("Run at commit abc1234.")
    assert "DSDN: the shipped default model (weights " + shipped["fingerprint"] in text
    summary["models"]["DSDN"] = other
    text = "\n".join(models_lines(summary))
    assert "**The DSDN row is not the shipped default model**: it ran `runs/x/model` (weights 0123abcd)" in text
    assert "DSDN: `runs/x/model` (weights 0123abcd, not committed)" in text
    summary["models"] = {"DSDN": shipped, "DSDN, γ=0": other}  # an ablation row's weights are named, not flagged
    assert "not the shipped" not in "\n".join(models_lines(summary))


@pytest.mark.slow
def test_a_killed_benchmark_resumes_with_the_methods_it_had_scored(tmp_path, monkeypatch):
    from dsdn.evaluation import benchmark

    spec = BenchmarkSpec.from_dict({"prompts": PROMPTS, "seeds": [0], "frames": 4, "toy_world": "v3",
                                    "methods": [{"name": "real", "kind": "real", "size": 32},
                                                {"name": "real again", "kind": "real", "size": 32}]})  # fmt: skip
    out = tmp_path / "bench"
    first = benchmark.run_benchmark(spec, out, progress=False)
    assert sorted(p.name for p in (out / "methods").iterdir()) == ["00.npz", "01.npz"]
    per_clip = (out / "per_clip.json").read_text()
    # Every clip draws its own noise (seed · prompts + index), the same in every row.
    assert [r["seed"] for r in json.loads(per_clip)["real"]] == list(range(len(PROMPTS)))
    assert [clip_seed(s, i, 48) for s in (0, 1) for i in (0, 47)] == [0, 47, 48, 95]

    def must_not_run(*a, **k):
        raise AssertionError("a kept method was generated again")

    monkeypatch.setattr(benchmark, "real_clip", must_not_run)
    again = benchmark.run_benchmark(spec, out, progress=False, resume=True)
    assert (out / "per_clip.json").read_text() == per_clip
    assert json.dumps(again["methods"]) == json.dumps(first["methods"])  # (NaN, the intervals of single figures)
    # Other settings are not the kept scores': that row is generated again (and, without resume, every row).
    spec.methods[1].options["size"] = 64
    with pytest.raises(AssertionError, match="generated again"):
        benchmark.run_benchmark(spec, out, progress=False, resume=True)
    spec.methods[1].options["size"] = 32
    with pytest.raises(AssertionError, match="generated again"):
        benchmark.run_benchmark(spec, out, progress=False)


@pytest.mark.slow
def test_benchmark_quality_end_to_end(trained_model_dir, tmp_path):
    from dsdn.evaluation.judge import JudgeTrainConfig, train_judge

    judge = tmp_path / "judge"
    train_judge(JudgeTrainConfig(out=str(judge), steps=5, train_clips=8, test_clips=2, size=32), progress=False)
    config = tmp_path / "bench.yaml"
    config.write_text(
        f"prompts: {json.dumps(PROMPTS[:1])}\nseeds: [0, 1]\nsteps: 2\nframes: 4\njudge: {judge}\nmethods:\n"
        "  - {name: real videos, kind: real, size: 32}\n"
        f"  - {{name: DSDN, kind: dsdn, model: {trained_model_dir}}}\n"
        f"  - {{name: 'DSDN, no interaction', kind: dsdn, model: {trained_model_dir}, use_interaction: false}}\n"
        f"  - {{name: frame-wise T2I, kind: framewise, model: {trained_model_dir}}}\n"
        f"  - {{name: Text2Video-Zero, kind: text2video-zero, model: {trained_model_dir}}}\n"
    )
    out, report = tmp_path / "bench", tmp_path / "BENCHMARKS.md"
    res = runner.invoke(app, ["benchmark", "quality", str(config), "--out", str(out), "--report", str(report), "-q"],
                        catch_exceptions=False)  # fmt: skip
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    assert list(results["methods"]) == [
        "real videos",
        "DSDN",
        "DSDN, no interaction",
        "frame-wise T2I",
        "Text2Video-Zero",
    ]
    dsdn = results["methods"]["DSDN"]
    assert {"warping_error", "dynamic_degree", "direction_acc", "object_acc", "frame_consistency", "toy_fvd"} <= set(
        dsdn
    )
    assert results["methods"]["real videos"]["toy_fvd"][0] == pytest.approx(0.0, abs=1e-6)
    assert results["clips_per_method"] == 2 and results["judge"]["test_train_split"]["clips"] == 2
    per_clip = json.loads((out / "per_clip.json").read_text())
    assert [r["seed"] for r in per_clip["DSDN"]] == [0, 1]
    for name in ("metrics.png", "frames.png", "clean_vs_warping.png"):
        assert (out / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"subject_consistency", "motion_smoothness", "temporal_flickering", "clean_acc"} <= set(dsdn)
    text = report.read_text()
    assert "| DSDN |" in text and "Verdict" in text and "Text2Video-Zero" in text
    # Every row names the weights it ran; a DSDN row that is not the shipped model is said loudly.
    models = results["models"]
    assert models["DSDN"]["folder"] == str(trained_model_dir) and not models["DSDN"]["shipped"]
    assert models["frame-wise T2I"]["folder"] == str(trained_model_dir / "base")
    assert f"**The DSDN row is not the shipped default model**: it ran `{trained_model_dir}`" in text
    assert f"(weights {models['DSDN']['fingerprint']}" in text and "How the clips move and flicker" in text
    assert "**Clip by clip**" in text and "| DSDN vs Text2Video-Zero |" in text
    assert set(results["paired"]["DSDN"]) == {"DSDN, no interaction", "frame-wise T2I", "Text2Video-Zero"}
    # Same seed, same clip: the benchmark is reproducible.
    res = runner.invoke(app, ["benchmark", "quality", str(config), "--out", str(tmp_path / "again"), "-q"])
    again = json.loads((tmp_path / "again" / "per_clip.json").read_text())
    assert again["DSDN"] == per_clip["DSDN"]
    assert np.isfinite(dsdn["warping_error"][0])


def test_benchmark_quality_bad_config_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("methods: [{name: a, kind: nope}]\nprompts: [x]\n")
    res = runner.invoke(app, ["benchmark", "quality", str(bad)])
    assert res.exit_code == 2 and "kind" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["benchmark", "quality", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2 and "does not exist" in res.output

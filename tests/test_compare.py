"""dsdn eval compare: two evaluations of the same clips, compared clip by clip."""

import json

import pytest
from typer.testing import CliRunner

from dsdn.cli import app

runner = CliRunner()


def _records(right, strict=False):
    out = []
    for i, ok in enumerate(right):
        r = {"prompt": f"p{i}", "seed": 0, "direction": "up" if ok else "down", "want_direction": "up",
             "colour": "red", "want_colour": "red", "visible_every_frame": True, "shape_kept": 1.0}  # fmt: skip
        if strict:
            r["strict"] = {"clean": ok, "same_shape": True}
        out.append(r)
    return out


def _write(path, right, strict=False):
    path.write_text(json.dumps({"sampling": {}, "train": {"records": _records(right, strict)}}))
    return str(path)


def test_compare_pairs_clips_and_tests_the_discordant_ones(tmp_path):
    a = [True] * 10 + [False] * 10
    b = [True] * 2 + [False] * 8 + [True] * 10  # 8 clips right only in A, 10 only in B
    fa, fb = _write(tmp_path / "a.json", a), _write(tmp_path / "b.json", b)
    res = runner.invoke(app, ["eval", "compare", fa, fb, "--check", "direction", "--json", str(tmp_path / "c.json")])
    assert res.exit_code == 0, res.output
    got = json.loads((tmp_path / "c.json").read_text())["checks"]["direction"]
    assert (got["clips"], got["only_a"], got["only_b"]) == (20, 8, 10)
    assert got["a"][0] == 0.5 and got["b"][0] == 0.6 and got["a"][1] < 0.5 < got["a"][2]
    # exact two-sided McNemar for 8 vs 10: 2 * P(X <= 8), X ~ Binomial(18, 1/2) = 0.8145...
    assert round(got["p"], 3) == 0.815
    assert "direction" in res.output and "McNemar" in res.output


def test_compare_reads_a_sweep_of_one_setting_as_its_selection_clips(tmp_path):
    a = [True] * 6 + [False] * 2
    sweep = {"model": "m", "scheduler": "unipc", "steps": 8, "best": {}, "results": [{"setting": {}, "clips": 8,
             "strict": {}, "records": _records([True] * 2 + [False] * 6, strict=True)}]}  # fmt: skip
    (tmp_path / "s.json").write_text(json.dumps(sweep))
    res = runner.invoke(app, ["eval", "compare", _write(tmp_path / "a.json", a, strict=True), str(tmp_path / "s.json"),
                              "--check", "clean", "--json", str(tmp_path / "c.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    got = json.loads((tmp_path / "c.json").read_text())["checks"]["clean"]
    assert (got["clips"], got["only_a"], got["only_b"]) == (8, 4, 0)
    sweep["results"].append(sweep["results"][0])  # two settings: which one is meant?
    (tmp_path / "s.json").write_text(json.dumps(sweep))
    res = runner.invoke(app, ["eval", "compare", str(tmp_path / "a.json"), str(tmp_path / "s.json")])
    assert res.exit_code != 0 and "a sweep of 2 settings" in res.output


def test_compare_refuses_other_clips_unless_common_and_strict_checks_without_strict_records(tmp_path):
    a = [True] * 10 + [False] * 10
    fa, fc = _write(tmp_path / "a.json", a), _write(tmp_path / "c.json", a[:5])
    res = runner.invoke(app, ["eval", "compare", fa, fc])
    assert res.exit_code == 2 and "different prompts" in res.output
    res = runner.invoke(app, ["eval", "compare", fa, fc, "--common", "--check", "direction", "--json",
                              str(tmp_path / "out.json")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "out.json").read_text())["checks"]["direction"]["clips"] == 5
    res = runner.invoke(app, ["eval", "compare", fa, fa, "--check", "clean"])
    assert res.exit_code == 2 and "rerun dsdn eval toy" in res.output
    res = runner.invoke(app, ["eval", "compare", fa, fa, "--split", "heldout"])
    assert res.exit_code == 2 and "no 'heldout' results" in res.output


def test_compare_defaults_to_every_check_the_files_hold(tmp_path):
    lenient = _write(tmp_path / "l.json", [True, False])
    res = runner.invoke(app, ["eval", "compare", lenient, lenient, "--json", str(tmp_path / "l-out.json")])
    assert res.exit_code == 0, res.output
    assert list(json.loads((tmp_path / "l-out.json").read_text())["checks"]) == ["direction", "colour", "visible",
                                                                                  "shape"]  # fmt: skip
    strict = _write(tmp_path / "s.json", [True, False], strict=True)
    res = runner.invoke(app, ["eval", "compare", strict, strict, "--check", "clean", "--check", "same_shape",
                              "--json", str(tmp_path / "s-out.json")])  # fmt: skip
    checks = json.loads((tmp_path / "s-out.json").read_text())["checks"]
    assert res.exit_code == 0 and checks["clean"]["a"][0] == 0.5 and checks["same_shape"]["a"][0] == 1.0


def test_a_sweep_pairs_every_setting_with_the_best_clip_by_clip():
    from dsdn.evaluation.sweep import against_best

    best, other = {"guidance_scale": 7.5, "stream_sync": 1.0}, {"guidance_scale": 5.0, "stream_sync": 1.0}
    results = [(other, {"records": _records([True, False, False, True], strict=True)}),
               (best, {"records": _records([True, True, True, False], strict=True)})]  # fmt: skip
    (line,) = against_best(results, best)
    # only what differs is named; 2 clips clean only with the best, 1 only with this one: p = 1 (exact, 3 pairs)
    assert line == "  guidance_scale=5: clean only with the best 2, only with this 1 (McNemar p=1.000)"


@pytest.mark.slow
def test_sweep_tries_every_setting_and_writes_the_best(trained_model_dir, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(trained_model_dir, model)
    args = ["eval", "sweep", "--model", str(model), "--prompts", "2", "--steps", "2", "--gammas", "0.5,1",
            "--combiners", "causal,least_squares", "--syncs", "0,1", "--shared-noises", "0.5",
            "--motion-guidances", "7.5", "--carry-froms", "0.5,1"]  # fmt: skip
    res = runner.invoke(app, [*args, "--write", "--json", str(tmp_path / "sweep.json")])
    assert res.exit_code == 0, res.output
    paired = res.output.split("against the best, clip by clip:\n")[1].splitlines()
    assert sum("McNemar p=" in line for line in paired) == 11  # every other setting of the 12
    out = json.loads((tmp_path / "sweep.json").read_text())
    assert all(len(r["records"]) == 2 for r in out["results"])  # each clip's record, for dsdn eval compare
    tried = sorted(tuple(r["setting"][k] for k in ("combiner", "motion_coherence", "stream_sync", "carry_from"))
                   for r in out["results"])  # fmt: skip
    every = [
        (c, g, s, k) for c in ("causal", "least_squares") for g in (0.5, 1.0) for s in (0.0, 1.0) for k in (0.5, 1.0)
    ]
    assert tried == sorted(x for x in every if x[2] > 0 or x[3] == 1.0)  # no carry without stream sync
    assert all(r["clips"] == 2 and r["setting"]["shared_noise"] == 0.5 for r in out["results"])
    best = out["best"]
    top = max(r["strict"]["clean"] for r in out["results"])
    assert next(r for r in out["results"] if r["setting"] == best)["strict"]["clean"] == top
    config = json.loads((model / "config.json").read_text())
    assert {k: config[k] for k in best} == best  # written as the model's defaults
    assert config["num_inference_steps"] == 2  # with the steps it was chosen at
    for bad, needle in ((["--combiners", "spline"], "combiners='spline'"), (["--syncs", "2"], "syncs='2'"),
                        (["--gammas", "x"], "comma-separated list")):  # fmt: skip
        res = runner.invoke(app, ["eval", "sweep", "--model", str(model), *bad])
        assert res.exit_code == 2 and needle in res.output, res.output


@pytest.mark.slow
def test_a_sweep_with_a_judge_counts_identity_in_clean_and_refuses_another_worlds_judge(trained_model_dir, tmp_path):
    from dsdn.evaluation.judge import ToyJudge
    from dsdn.evaluation.toy import parse_prompt, selection_prompts

    for world in ("v1", "v3"):  # a judge that names every clip's object a circle
        ToyJudge(width=8, classes=("circle",)).save(tmp_path / world, {"report": {"config": {"toy_world": world}}})
    args = ["eval", "sweep", "--model", str(trained_model_dir), "--prompts", "4", "--steps", "2", "--gammas", "0.5",
            "--syncs", "1", "--shared-noises", "0", "--json", str(tmp_path / "sweep.json")]  # fmt: skip
    res = runner.invoke(app, [*args, "--judge", str(tmp_path / "v1")])  # the model records no world: v1
    assert res.exit_code == 0, res.output
    (row,) = json.loads((tmp_path / "sweep.json").read_text())["results"]
    circles = sum(parse_prompt(p)["object"] == "circle" for p in selection_prompts(4))
    assert row["strict"]["identity_ok"] == circles / 4 and row["strict"]["clean"] <= row["strict"]["clean_pixels"]
    assert row["strict"]["clean"] <= circles / 4
    res = runner.invoke(app, [*args, "--judge", str(tmp_path / "v3")])
    assert res.exit_code == 2 and "learned toy world v3's objects, but the model is judged as v1's" in res.output

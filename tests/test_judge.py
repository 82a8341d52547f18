"""The toy-world judge: learns objects from real frames, round-trips through safetensors, refuses bad files."""

import json

import numpy as np
import pytest
from conftest import assert_same_frames

from dsdn.data.toy_world import ToyWorld
from dsdn.errors import DSDNInputError
from dsdn.evaluation.judge import CONFIG_NAME, WEIGHTS_NAME, JudgeTrainConfig, ToyJudge, train_judge
from dsdn.evaluation.metrics import frame_consistency, frechet_distance


@pytest.fixture(scope="module")
def judge_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("judge")
    cfg = JudgeTrainConfig(out=str(out), steps=300, train_clips=300, test_clips=40, width=16)
    report = train_judge(cfg, progress=False)
    return out, report


@pytest.mark.slow
def test_judge_learns_objects_from_real_frames(judge_dir):
    _, report = judge_dir
    chance = 1 / 13
    assert report["test_train_split"]["clip_acc"] > 3 * chance  # a short run; the default run is longer
    assert report["test_heldout_split"]["clip_acc"] > 2 * chance  # clips of compositions it never saw


@pytest.mark.slow
def test_judge_round_trips_and_gives_features(judge_dir):
    out, report = judge_dir
    judge = ToyJudge.load(out)
    assert json.loads((out / CONFIG_NAME).read_text())["report"]["config"]["steps"] == 300
    video = ToyWorld("train", 1, seed=5)[0]["video"]
    again = ToyJudge.load(out)
    assert_same_frames(judge.frame_features(video), again.frame_features(video))
    assert judge.frame_features(video).shape == (8, 32)
    assert judge.clip_features(video).shape == (64,)
    assert frame_consistency(judge.frame_features(video)) > 0.5


@pytest.mark.slow
def test_judge_features_separate_real_clips_from_broken_ones(judge_dir):
    judge = ToyJudge.load(judge_dir[0])
    real_a = [it["video"] for it in ToyWorld("train", 60, seed=11)]
    real_b = [it["video"] for it in ToyWorld("train", 60, seed=12)]
    rng = np.random.default_rng(0)
    noisy = [np.clip(v + rng.normal(0, 60, v.shape), 0, 255).astype(np.uint8) for v in real_b]
    feats = lambda vids: np.stack([judge.clip_features(v) for v in vids])  # noqa: E731
    fa, fb, fn = feats(real_a), feats(real_b), feats(noisy)
    assert frechet_distance(fa, fb) < frechet_distance(fa, fn)


@pytest.mark.slow
def test_judge_refuses_missing_and_mismatched_files(judge_dir, tmp_path):
    with pytest.raises(DSDNInputError, match="train-judge"):
        ToyJudge.load(tmp_path)
    out, _ = judge_dir
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / WEIGHTS_NAME).write_bytes((out / WEIGHTS_NAME).read_bytes())
    cfg = json.loads((out / CONFIG_NAME).read_text())
    (bad / CONFIG_NAME).write_text(json.dumps({**cfg, "width": 24}))
    with pytest.raises(DSDNInputError, match="first mismatch at 'body.0.weight'"):
        ToyJudge.load(bad)
    (bad / CONFIG_NAME).write_text("{not json")
    with pytest.raises(DSDNInputError, match="not a valid judge config"):
        ToyJudge.load(bad)
    with pytest.raises(DSDNInputError, match="multiple of 8"):
        JudgeTrainConfig(width=12)

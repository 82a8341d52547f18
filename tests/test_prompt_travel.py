"""Prompt travel (``prompt={frame: text}``, ``dsdn generate --prompt-at FRAME:TEXT``): a prompt per frame range."""

import json

import pytest
import torch
from conftest import assert_frames_differ, assert_same_frames, gen_kwargs, make_pipeline, perturb_trained_parts_
from typer.testing import CliRunner

from dsdn.cli import app
from dsdn.errors import DSDNInputError
from dsdn.long_video import ContextWindows
from dsdn.prompt_travel import PromptTravel


def test_each_prompt_holds_from_its_key_and_a_change_is_blended_around_it():
    w = PromptTravel([0, 8], ["a", "b"], blend=4).weights(16)
    assert torch.allclose(w.sum(1), torch.ones(16))
    assert torch.equal(w[:6], torch.tensor([[1.0, 0.0]]).expand(6, 2))  # before the blend: the first prompt
    assert torch.equal(w[10:], torch.tensor([[0.0, 1.0]]).expand(6, 2))  # after it: the second
    assert w[8].tolist() == [0.5, 0.5] and w[7, 1] < w[8, 1] < w[9, 1]  # centred on the key, rising through it
    cut = PromptTravel([0, 8], ["a", "b"], blend=0).weights(16)
    assert cut[:8, 0].eq(1).all() and cut[8:, 1].eq(1).all()
    # Keys closer than the blend shrink it, so that no frame mixes in a prompt two keys away.
    close = PromptTravel([0, 4, 6], ["a", "b", "c"], blend=8).weights(12)
    assert close.min() >= 0 and torch.allclose(close.sum(1), torch.ones(12))
    assert (close[:, 0] * close[:, 2]).eq(0).all() and close[0, 0] == 1 and close[-1, 2] == 1


@pytest.mark.parametrize(
    "prompt, needle",
    [({}, "at least one"), ({1: "a"}, "first key must be 0"), ({0: "a", 5: "b", 3: "c"}, "must rise"),
     ({0: "a", 8: "b"}, "below num_frames=8"), ({0: "a", "4": "b"}, "frame numbers"), ({0: "a", 4: " "}, "non-empty")],
)  # fmt: skip
def test_bad_travel_keys_and_texts_are_refused_in_one_line(prompt, needle):
    with pytest.raises(DSDNInputError, match=needle):
        PromptTravel.parse(prompt, 8)


@pytest.mark.slow
def test_one_prompt_at_every_key_samples_the_plain_prompts_video():
    """Per-frame text states that are all the same prompt's give that prompt's clip: the per-frame path through both
    streams (and the motion stream's pooled text) is the per-clip one."""
    pipe = make_pipeline(seed=2, motion_pooled_text=True)
    perturb_trained_parts_(pipe, seed=3)
    settings = dict(carry_from=1.0, cross_frame_attention=False)
    plain = pipe("a red ball", **settings, **gen_kwargs()).frames
    same = pipe({0: "a red ball", 2: "a red ball"}, **settings, **gen_kwargs()).frames
    assert_same_frames(plain, same)
    other = pipe({0: "a red ball", 2: "a blue box"}, **settings, **gen_kwargs()).frames
    assert_frames_differ(plain, other)
    assert_same_frames(other, pipe({0: "a red ball", 2: "a blue box"}, **settings, **gen_kwargs()).frames)
    with pytest.raises(DSDNInputError, match="travel_blend"):
        pipe("a red ball", travel_blend=2, **gen_kwargs())
    with pytest.raises(DSDNInputError, match="one negative_prompt"):
        pipe({0: "a red ball", 2: "a blue box"}, negative_prompt=["a", "b"], **gen_kwargs())


def test_travel_turns_carry_and_cross_frame_attention_off_unless_asked():
    travel = PromptTravel([0, 4], ["a", "b"])
    assert travel.sampling_defaults(None, None) == (1.0, False)
    assert travel.sampling_defaults(0.8, True) == (0.8, True)


def test_each_window_reads_its_own_frames_texts():
    windows = ContextWindows(6, 4, 2)
    seen = []

    def denoiser(z, m, text):
        seen.append(text[0, :, 0, 0].tolist())
        return z, m

    z = torch.zeros(1, 1, 6, 2, 2)
    text = torch.arange(6.0).view(1, 6, 1, 1).expand(1, 6, 3, 5)  # frame k's text is all k
    windows(denoiser, z, z.clone(), text)
    assert seen == [[0.0, 1.0, 2.0, 3.0], [2.0, 3.0, 4.0, 5.0]]


@pytest.mark.slow
def test_cli_prompt_at_travels_and_records_it_and_refuses_bad_entries_before_loading(trained_model_dir, tmp_path):
    runner = CliRunner()
    common = ["--model", str(trained_model_dir), "--frames", "6", "--height", "16", "--width", "16", "--steps", "1",
              "-q"]  # fmt: skip
    out = tmp_path / "travel.mp4"
    res = runner.invoke(app, ["generate", "a red ball", "--prompt-at", "3:a blue ball", "--travel-blend", "2",
                              "--out", str(out), *common])  # fmt: skip
    assert res.exit_code == 0, res.output
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["prompt_at"] == ["3:a blue ball"] and sidecar["travel_blend"] == 2
    assert sidecar["carry_from"] == 1.0 and sidecar["cross_frame_attention"] is False
    for args, needle in [(["--prompt-at", "three:a ball"], "must be FRAME:TEXT"),
                         (["--prompt-at", "4:a ball", "--prompt-at", "2:a box"], "give the changes in frame order"),
                         (["--prompt-at", "6:a ball"], "below --frames 6"), (["--travel-blend", "2"], "needs --prompt-at")]:  # fmt: skip
        res = runner.invoke(app, ["generate", "a red ball", *args, "--out", str(tmp_path / "bad.mp4"), *common])
        assert res.exit_code == 2 and needle in res.output and not (tmp_path / "bad.mp4").exists(), res.output

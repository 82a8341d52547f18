"""The toy-world judge: a small CNN that names the object in a frame, trained on real toy-world frames.

It gives three of the benchmark's measures (``dsdn eval train-judge`` trains it):

* **object accuracy**: the object named by a clip's most-voted frame matches the prompt's;
* **frame consistency**: :func:`~dsdn.evaluation.metrics.frame_consistency` of its per-frame
  features (the penultimate layer);
* **toy-world FVD**: :func:`~dsdn.evaluation.metrics.frechet_distance` of its clip features
  (mean frame feature, and mean absolute change of the features between frames, so that a
  clip whose frames disagree moves away from real clips). It is a Fréchet distance in this
  classifier's feature space, not the I3D-based FVD of the literature: say so when you report it.

Weights are saved as safetensors beside a JSON config; loading validates the config first.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.toy_world import OBJECTS, VERSIONS, ToyWorld
from ..errors import DSDNInputError, check_int
from ..paths import removes_new_folder_on_failure
from .configs import JudgeTrainConfig

CONFIG_NAME = "judge_config.json"
WEIGHTS_NAME = "judge.safetensors"
#: Below this clip accuracy on unseen real clips (the judge's own training report), loading warns.
TRUSTED_ACCURACY = 0.9

logger = logging.getLogger(__name__)


class ToyJudge(torch.nn.Module):
    """Frame ``(N, 3, H, W)`` in [-1, 1] → object logits; :meth:`features` gives the penultimate layer."""

    #: The toy-world version whose frames it learned (set by :meth:`load`).
    toy_world = "v1"

    def __init__(self, width: int = 32, classes: tuple[str, ...] = OBJECTS):
        super().__init__()
        self.classes = tuple(classes)
        self.width = width
        w = width
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, w, 3, padding=1), torch.nn.GroupNorm(8, w), torch.nn.SiLU(),
            torch.nn.Conv2d(w, w, 3, stride=2, padding=1), torch.nn.GroupNorm(8, w), torch.nn.SiLU(),
            torch.nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), torch.nn.GroupNorm(8, 2 * w), torch.nn.SiLU(),
            torch.nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1), torch.nn.GroupNorm(8, 2 * w), torch.nn.SiLU(),
            torch.nn.AdaptiveMaxPool2d(1), torch.nn.Flatten(),
        )  # fmt: skip
        self.head = torch.nn.Linear(2 * w, len(self.classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    # ----------------------------------------------------------------------------- videos
    @staticmethod
    def _frames(video: np.ndarray) -> torch.Tensor:
        from .metrics import as_uint8

        v = torch.from_numpy(as_uint8(video)).permute(0, 3, 1, 2).float()
        return v / 127.5 - 1.0

    @torch.no_grad()
    def frame_features(self, video: np.ndarray) -> np.ndarray:
        """Per-frame features ``(F, D)`` of a video ``(F, H, W, 3)``."""
        return self.features(self._frames(video)).numpy()

    @torch.no_grad()
    def clip_features(self, video: np.ndarray) -> np.ndarray:
        """One vector per clip: mean frame feature and mean absolute feature change between frames."""
        f = self.frame_features(video)
        change = np.abs(np.diff(f, axis=0)).mean(axis=0) if len(f) > 1 else np.zeros(f.shape[1], f.dtype)
        return np.concatenate([f.mean(axis=0), change])

    @torch.no_grad()
    def object_of(self, video: np.ndarray) -> str:
        """The object named by most frames of ``video``."""
        votes = self(self._frames(video)).argmax(dim=1).numpy()
        return self.classes[int(np.bincount(votes, minlength=len(self.classes)).argmax())]

    # ----------------------------------------------------------------------------- files
    def save(self, folder: str | Path, extra: dict | None = None) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / (WEIGHTS_NAME + ".tmp")
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(tmp))
        tmp.replace(folder / WEIGHTS_NAME)
        config = {"width": self.width, "classes": list(self.classes), **(extra or {})}
        (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | Path, toy_world: str | None = None, judged: str = "the clips are",
             instead: str = "") -> ToyJudge:  # fmt: skip
        """The judge in ``folder``; with ``toy_world``, refused when it learned another toy world's objects: "judge
        ... learned toy world v1's objects, but {judged} v3's: train one with: ... (or {instead})"."""
        from safetensors.torch import load_file

        folder = Path(folder)
        cfg_path, weights = folder / CONFIG_NAME, folder / WEIGHTS_NAME
        if not cfg_path.is_file() or not weights.is_file():
            raise DSDNInputError(
                f"{folder} is not a toy-world judge: it needs {CONFIG_NAME} and {WEIGHTS_NAME}. "
                "Train one with: dsdn eval train-judge --out FOLDER"
            )
        try:
            cfg = json.loads(cfg_path.read_text())
            width, classes = check_int("width", cfg["width"], 8), tuple(cfg["classes"])
            if width % 8 or not classes or not all(isinstance(c, str) for c in classes):
                raise ValueError("width must be a multiple of 8 and classes a list of names")
        except (ValueError, KeyError, TypeError) as e:
            raise DSDNInputError(f"{cfg_path} is not a valid judge config ({e}); retrain the judge") from None
        judge = cls(width=width, classes=classes)
        # The toy-world version whose frames it learned (judges trained before versions existed: v1).
        report = cfg.get("report")
        trained = report.get("config") if isinstance(report, dict) else None
        judge.toy_world = trained.get("toy_world", "v1") if isinstance(trained, dict) else "v1"
        if judge.toy_world not in VERSIONS:
            raise DSDNInputError(f"{cfg_path} names toy world {judge.toy_world!r}, not one of {', '.join(VERSIONS)}; "
                                 "retrain the judge")  # fmt: skip
        try:
            state = load_file(str(weights))
        except Exception as e:  # safetensors raises its own error type for a damaged header
            raise DSDNInputError(f"{weights} is not a readable safetensors file ({(str(e).splitlines() or [''])[0]}); "
                                 "retrain the judge") from None  # fmt: skip
        own = judge.state_dict()
        for key, value in own.items():
            if key not in state or state[key].shape != value.shape:
                got = tuple(state[key].shape) if key in state else "missing"
                raise DSDNInputError(
                    f"{weights} does not match {CONFIG_NAME}: first mismatch at {key!r} "
                    f"(expected {tuple(value.shape)}, got {got}); retrain the judge"
                )
        if toy_world is not None and judge.toy_world != toy_world:
            raise DSDNInputError(f"judge {str(folder)!r} learned toy world {judge.toy_world}'s objects, but {judged} "
                                 f"{toy_world}'s: train one with: dsdn eval train-judge --toy-world {toy_world} --out DIR"
                                 + (f" (or {instead})" if instead else ""))  # fmt: skip
        judge.load_state_dict(state)
        accuracy = report.get("test_train_split", {}).get("clip_acc") if isinstance(report, dict) else None
        if isinstance(accuracy, (int, float)) and accuracy < TRUSTED_ACCURACY:
            logger.warning("the judge in %s names the object of only %.0f%% of unseen real clips (its training report): "
                           "object and identity figures that rest on it mean little; train it longer", folder,
                           100 * accuracy)  # fmt: skip
        return judge.eval()


def _real_frames(world: ToyWorld, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All frames of the first ``count`` clips ``(N·F, 3, H, W)`` and their object labels."""
    frames, labels = [], []
    for i in range(count):
        item = world[i]
        frames.append(item["video"])
        labels += [OBJECTS.index(item["object"])] * len(item["video"])
    x = torch.from_numpy(np.concatenate(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return x, torch.tensor(labels)


def accuracy_on(judge: ToyJudge, world: ToyWorld, count: int) -> dict:
    """Frame accuracy and clip (majority-vote) accuracy of the judge on ``count`` real clips."""
    frame_hits, clip_hits = [], []
    for i in range(count):
        item = world[i]
        with torch.no_grad():
            pred = judge(ToyJudge._frames(item["video"])).argmax(dim=1).numpy()
        frame_hits.append(float((pred == OBJECTS.index(item["object"])).mean()))
        clip_hits.append(judge.object_of(item["video"]) == item["object"])
    return {"frame_acc": float(np.mean(frame_hits)), "clip_acc": float(np.mean(clip_hits)), "clips": count}


@removes_new_folder_on_failure(lambda cfg, *a, **k: cfg.out)
def train_judge(cfg: JudgeTrainConfig, progress: bool = True) -> dict:
    """Train on real ``train``-split frames, test on unseen real clips of both splits; save and report."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    judge = ToyJudge(width=cfg.width)
    world = dict(size=cfg.size, version=cfg.toy_world)
    x, y = _real_frames(ToyWorld("train", cfg.train_clips, seed=cfg.seed, **world), cfg.train_clips)
    opt = torch.optim.AdamW(judge.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(cfg.seed)
    judge.train()
    for _ in tqdm(range(cfg.steps), desc="judge", disable=not progress):
        idx = torch.randint(len(x), (cfg.batch,), generator=gen)
        loss = F.cross_entropy(judge(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    judge.eval()
    report = {
        "train_loss": loss.item(),
        # Unseen clips: another seed of the training combinations, and the held-out combinations.
        "test_train_split": accuracy_on(
            judge, ToyWorld("train", cfg.test_clips, seed=cfg.seed + 1, **world), cfg.test_clips
        ),  # fmt: skip
        "test_heldout_split": accuracy_on(
            judge, ToyWorld("heldout", cfg.test_clips, seed=cfg.seed + 1, **world), cfg.test_clips
        ),  # fmt: skip
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "config": asdict(cfg),
    }
    judge.save(cfg.out, extra={"report": report})
    return report


def load_judge_for(judge: str, world: str) -> ToyJudge:
    """The :class:`ToyJudge` in folder ``judge``, refused when it learned another toy world's objects than ``world``
    (the one the model is judged as)."""
    return ToyJudge.load(judge, world, "the model is judged as", "pass --toy-world")

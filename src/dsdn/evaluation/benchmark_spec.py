"""The benchmark file (``benchmarks/*.yaml``) read and checked: :class:`BenchmarkSpec` and its rows,
:class:`MethodSpec` (what each method kind accepts is told in :mod:`dsdn.evaluation.benchmark`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.toy_world import VERSIONS as TOY_WORLD_VERSIONS
from ..errors import DSDNInputError, check_choice, check_float, check_int, check_seed, invalid

METHOD_KINDS = ("real", "dsdn", "framewise", "text2video-zero", "animatediff", "unet3d")
#: Options each kind accepts besides ``name`` and ``kind``.
_KIND_OPTIONS = {
    "real": {"size"},
    "dsdn": {
        "model",
        "train_steps",
        "use_interaction",
        "motion_coherence",
        "combiner",
        "stream_sync",
        "shared_noise",
        "carry_from",
        "early_coherence",
        "early_until",
        "content_lora_scale",
        "motion_guidance_scale",
    },
    "framewise": {"model"},
    "text2video-zero": {"model", "motion_field_strength"},
    "animatediff": {"model", "base", "train_budget_s", "train_steps"},
    "unet3d": {"model", "base", "train_budget_s", "train_steps"},
}
PEER_KINDS = ("animatediff", "unet3d")


@dataclass
class MethodSpec:
    """One row of the benchmark."""

    name: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise invalid("methods[].name", self.name, "must be a non-empty string")
        if self.kind not in METHOD_KINDS:
            raise invalid(f"methods[{self.name}].kind", self.kind, f"must be one of {', '.join(METHOD_KINDS)}")
        unknown = set(self.options) - _KIND_OPTIONS[self.kind]
        if unknown:
            allowed = ", ".join(sorted(_KIND_OPTIONS[self.kind])) or "none"
            raise invalid(
                f"methods[{self.name}]", sorted(unknown), f"unknown option(s) for kind {self.kind} (allowed: {allowed})"
            )
        if self.kind == "dsdn" and "train_steps" in self.options and not self.options.get("model"):
            raise invalid(f"methods[{self.name}].model", self.options.get("model"),
                          "a dsdn method with train_steps needs model: the run folder to train it in")  # fmt: skip
        if self.kind in PEER_KINDS and not self.options.get("model"):
            raise invalid(f"methods[{self.name}].model", self.options.get("model"),
                          f"a {self.kind} method needs model: the run folder of `dsdn train peer`")  # fmt: skip


@dataclass
class BenchmarkSpec:
    """What to benchmark; see ``benchmarks/toy.yaml`` for a commented example."""

    methods: list[MethodSpec]
    prompts: list[str]
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    steps: int = 25
    frames: int = 8
    guidance: float = 7.5
    judge: str | None = None
    toy_world: str | None = None

    def __post_init__(self):
        if not self.methods:
            raise invalid("methods", self.methods, "must list at least one method")
        names = [m.name for m in self.methods]
        if len(set(names)) != len(names):
            raise invalid("methods", names, "method names must be unique")
        if not self.prompts or not all(isinstance(p, str) and p.strip() for p in self.prompts):
            raise invalid("prompts", self.prompts, "must be a non-empty list of non-empty strings")
        if not self.seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds):
            raise invalid("seeds", self.seeds, "must be a non-empty list of integers >= 0")
        for s in self.seeds:
            check_seed(s, "seeds[]")
        from ..generate import default_model_dir
        from ..loading import base_limits

        check_int("steps", self.steps, 1, base_limits(default_model_dir() / "base").get("max_steps"))
        check_int("frames", self.frames, 2)
        check_float("guidance", self.guidance, 0.0)
        if self.toy_world is None:
            self.toy_world = _first_dsdn_world(self.methods)
        check_choice("toy_world", self.toy_world, TOY_WORLD_VERSIONS)

    @classmethod
    def from_dict(cls, data: dict, base_dir: Path | None = None) -> BenchmarkSpec:
        """Validate a parsed YAML mapping (paths are relative to ``base_dir``)."""
        from .toy import toy_prompts

        if not isinstance(data, dict):
            raise invalid("benchmark file", type(data).__name__, "must be a YAML mapping")
        known = {"methods", "prompts", "seeds", "steps", "frames", "guidance", "judge", "toy_world"}
        unknown = set(data) - known
        if unknown:
            raise invalid("benchmark file", sorted(unknown), f"unknown key(s); known: {', '.join(sorted(known))}")
        for key, kinds, shape in (
            ("methods", (list,), "a list of methods"),
            ("seeds", (list,), "a list of integers"),
            ("prompts", (list, dict), "a list of prompts or a prompt set {split, count, seed}"),
        ):
            if data.get(key) is not None and not isinstance(data[key], kinds):
                raise invalid(key, data[key], f"must be {shape}")
        prompts = data.get("prompts")
        if isinstance(prompts, dict):  # a toy-world prompt set: {split, count, seed}
            extra = set(prompts) - {"split", "count", "seed"}
            if extra:
                raise invalid("prompts", sorted(extra), "unknown key(s) of a prompt set; known: split, count, seed")
            try:
                prompts = toy_prompts(
                    prompts.get("split", "train"), int(prompts.get("count", 16)), int(prompts.get("seed", 0))
                )
            except ValueError as e:
                raise DSDNInputError(f"prompts: {e}") from None
        methods = []
        for m in data.get("methods") or []:
            if not isinstance(m, dict) or "name" not in m or "kind" not in m:
                raise invalid("methods[]", m, "each method needs a name and a kind")
            options = {k: v for k, v in m.items() if k not in ("name", "kind")}
            for key in ("model", "base"):  # paths relative to base_dir
                if options.get(key) is not None and base_dir is not None and not Path(options[key]).is_absolute():
                    options[key] = str(base_dir / options[key])
            methods.append(MethodSpec(str(m["name"]), str(m["kind"]), options))
        judge = data.get("judge")
        if judge is not None and base_dir is not None and not Path(judge).is_absolute():
            judge = str(base_dir / judge)
        return cls(
            methods=methods, prompts=list(prompts or []), seeds=list(data.get("seeds", [0, 1])),
            steps=data.get("steps", 25), frames=data.get("frames", 8), guidance=data.get("guidance", 7.5), judge=judge,
            toy_world=data.get("toy_world"),
        )  # fmt: skip

    @classmethod
    def from_yaml(cls, path: str | Path) -> BenchmarkSpec:
        import yaml

        path = Path(path)
        if not path.is_file():
            raise DSDNInputError(f"benchmark file {str(path)!r} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise DSDNInputError(f"benchmark file {str(path)!r} is not valid YAML ({str(e).splitlines()[0]})") from None
        return cls.from_dict(data, base_dir=Path.cwd())


def model_in(run: Path) -> Path:
    """The model folder of a ``dsdn`` row's ``model``: its ``model/`` subfolder for a training run's folder, else
    itself."""
    return run / "model" if (run / "model" / "config.json").is_file() else run


def _first_dsdn_world(methods: list[MethodSpec]) -> str:
    """The toy world the first ``dsdn`` row's model records it learned (the shipped model's when the row names
    none; a run folder's ``model/``); v1 when none records one."""
    from ..generate import default_model_dir, model_toy_world

    for method in methods:
        if method.kind != "dsdn":
            continue
        model = method.options.get("model")
        world = model_toy_world(default_model_dir() if model is None else model_in(Path(model)))
        if world is not None:
            return world
    return "v1"

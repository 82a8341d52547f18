"""What every ``dsdn`` command shares: the root Typer app, logging set-up and the one error boundary."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Annotated, Optional

import typer

from ..errors import DSDNInputError, DSDNRunError
from ..schedulers import SCHEDULERS

app = typer.Typer(
    help="Text-to-video generation with the Dual-Stream Diffusion Net (DSDN).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
TOY_WORLD_HELP = "Toy-world version (with --data toy): v1, v2 (mended captions and bounce) or v3 (larger objects)."


def setup_logging(debug: bool, quiet: bool = False) -> None:
    """Our warnings at WARNING; the libraries' import-time chatter only with --debug; with --quiet, not even
    their progress bars (e.g. transformers' "Writing model shards")."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Read by the libraries when a command first imports them (nothing heavy is imported here)...
    if not debug:
        os.environ["TRANSFORMERS_VERBOSITY"] = os.environ["DIFFUSERS_VERBOSITY"] = "error"
    if quiet:
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    # ...and set directly when they are already imported (a second command in the same process).
    for name in ("diffusers.utils.logging", "transformers.utils.logging"):
        module = sys.modules.get(name)
        if module is not None:
            if not debug:
                module.set_verbosity_error()
            (module.disable_progress_bar if quiet else module.enable_progress_bar)()


EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130


def explain(error: BaseException) -> tuple[int, str]:
    """The exit code and the one line a user sees for an exception that ends a command."""
    torch = sys.modules.get("torch")  # not imported: the error cannot be torch's (and it is not loaded for this)
    out_of_memory = (MemoryError,) if torch is None else (MemoryError, torch.OutOfMemoryError)
    if isinstance(error, DSDNInputError):
        return EXIT_BAD_INPUT, str(error)
    if isinstance(error, DSDNRunError):
        return EXIT_FAILED, str(error)
    if isinstance(error, KeyboardInterrupt):
        return (
            EXIT_INTERRUPTED,
            "interrupted; finished files are intact and unfinished ones were not renamed into place.",
        )
    if isinstance(error, out_of_memory):
        return EXIT_FAILED, ("out of memory: ask for fewer frames, a smaller size or batch, or another device "
                             f"({type(error).__name__}: {error}).")  # fmt: skip
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        return EXIT_FAILED, f"{error.strerror or error}{where}. Fix it and rerun (--debug shows where it happened)."
    return EXIT_FAILED, (f"unexpected {type(error).__name__}: {error}. This is a bug in dsdn: rerun with --debug "
                         "for the traceback and report it.")  # fmt: skip


def boundary(command: Callable) -> Callable:
    """The one error boundary of every command: logging set up from --debug, then any exception that
    ends the command becomes one line on stderr and an exit code (2 bad input, 1 failed, 130
    interrupted); --debug re-raises it with its traceback. Click's own usage errors pass through."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        debug = bool(kwargs.get("debug", False))
        setup_logging(debug, quiet=bool(kwargs.get("quiet", False)))
        try:
            return command(*args, **kwargs)
        except BrokenPipeError:  # the reader went away (`dsdn info | head`): stop quietly, as shell tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(code=EXIT_FAILED) from None
        except BaseException as e:
            # The parser's own exits and usage errors (Click's, or the copy of Click that Typer vendors) pass.
            if debug or isinstance(e, SystemExit) or type(e).__module__.split(".")[0] in ("click", "typer"):
                raise
            code, message = explain(e)
            typer.echo("error: " + " ".join(message.split()), err=True)
            raise typer.Exit(code=code) from None

    return run


# The sampling options that `dsdn generate` and `dsdn eval toy` share, declared once (each None: the model's).
Guidance = Annotated[
    Optional[float],
    typer.Option(help="Classifier-free guidance (<= 1 disables it; default: the model's, else 7.5)."),
]
MotionGuidance = Annotated[
    Optional[float], typer.Option(help="Guidance of the motion stream alone (default: the model's, else --guidance).")
]
MotionCoherence = Annotated[Optional[float], typer.Option(help="Motion coherence γ in [0, 1] (default: the model's).")]
Combiner = Annotated[
    Optional[str],
    typer.Option(help="Motion combiner: causal (anchored on frame 1) or least_squares (default: the model's)."),
]
StreamSync = Annotated[
    Optional[float],
    typer.Option(
        help="In [0, 1]: how far both streams are pulled onto the combiner's one video at every step "
        "(0 = combined only at the end; default: the model's)."
    ),
]
SharedNoise = Annotated[
    Optional[float],
    typer.Option(help="In [0, 1]: share of the content noise common to all frames (default: the model's)."),
]
CarryFrom = Annotated[
    Optional[float],
    typer.Option(
        help="In [0, 1]: share of the steps after which later frames take frame 1's object, moved, instead of "
        "redrawing it (needs stream sync > 0; 1 = never; default: the model's)."
    ),
]
EarlyCoherence = Annotated[
    Optional[float],
    typer.Option(
        help="In [0, 1]: γ of the synced video during the first --early-until of the steps, where the layout is "
        "decided (needs stream sync > 0; default: the model's, unless --motion-coherence is given)."
    ),
]
EarlyUntil = Annotated[
    Optional[float],
    typer.Option(help="In [0, 1]: share of the steps synced with --early-coherence (0 = none; default: the model's)."),
]
CrossFrameAttention = Annotated[
    Optional[bool],
    typer.Option(
        "--cross-frame-attention/--no-cross-frame-attention",
        help="The content stream's self-attention reads each clip's first frame (Text2Video-Zero's; "
        "default: the model's).",
    ),
]
CacheInterval = Annotated[
    int,
    typer.Option(help="Step cache: both UNets run whole every N steps, their deep levels reused between (1: off)."),
]
CacheDepth = Annotated[int, typer.Option(help="With --cache-interval: levels at each end that run on cached steps.")]
Scheduler = Annotated[str, typer.Option(help="Sampler: " + ", ".join(SCHEDULERS) + ".")]

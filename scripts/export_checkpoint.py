"""Export a training checkpoint of ``dsdn train video`` as a model folder (with its base), to evaluate or sample it
like a finished run's ``model/``:

    python scripts/export_checkpoint.py --base BASE --checkpoint RUN/checkpoint-0002000 --out MODEL [--no-ema]

The checkpoint's EMA weights are exported when it has them (as a finished run's model is), unless ``--no-ema``.
"""

from __future__ import annotations

import argparse


def main() -> None:
    from dsdn.training.validation import pipeline_from_checkpoint

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="the base the run trained on")
    ap.add_argument("--checkpoint", required=True, help="a checkpoint folder of the run")
    ap.add_argument("--out", required=True, help="model folder to write")
    ap.add_argument("--no-ema", action="store_true", help="export the raw trained weights instead of the EMA")
    args = ap.parse_args()
    pipe = pipeline_from_checkpoint(args.base, args.checkpoint, use_ema=not args.no_ema)
    pipe.save_adapter(args.out, include_base=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

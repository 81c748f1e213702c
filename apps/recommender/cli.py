"""``ftsuite recommend ...``: train, eval, user, from, text, similar, new-item, batch."""

from __future__ import annotations

import json
import sys
from pathlib import Path

DATASET_CHOICES = ("ml-100k", "ml-latest-small", "sample")


def register(sub) -> None:
    p = sub.add_parser("recommend", help="text-aware movie recommender (train, eval, user, from, text, similar, batch)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = actions.add_parser("train", help="build a recommender (interest model, ranker) from a dataset or CSV files")
    _data_args(a)
    a.add_argument("--output", help="folder to write (default FTSUITE_HOME/recommender/<dataset>)")
    a.add_argument("--no-interest", action="store_true", help="skip the fine-tuned interest model (faster)")
    a.add_argument("--interest-artifact", help="use this sentence-embedding artifact as the interest model")
    a.add_argument("--pairs", type=int, help="interest-model training pairs (default 1500)")
    a.add_argument("--progress", action="store_true", help="show the training progress bar")

    a = actions.add_parser("eval", help="the DATA.md protocol: every method side by side (JSON lines)")
    _data_args(a)
    a.add_argument("--interest-artifact", help="an interest model trained without the test, validation and "
                                               "cold items (benchmarks/recommender_quality.py trains one)")

    for name, help_text in (("user", "recommendations for a known user"),
                            ("from", "recommendations from a few liked items (ids or titles)"),
                            ("text", "recommendations from a description"),
                            ("similar", "items similar to an item"),
                            ("new-item", "item cold start: users most likely to like a new item")):
        a = actions.add_parser(name, help=help_text)
        if name == "user":
            a.add_argument("user_id")
        elif name == "from":
            a.add_argument("items", nargs="+", help='e.g. "Alien" "Heat" 50')
        elif name == "text":
            a.add_argument("text")
        elif name == "similar":
            a.add_argument("item")
        else:
            a.add_argument("title")
            a.add_argument("--genres", default="", help="|-separated, e.g. 'Sci-Fi|Thriller'")
            a.add_argument("--description", default="")
            a.add_argument("--year", type=int, help="release year (or give it in the title: 'Title (1999)')")
        _model_args(a)
        a.add_argument("--json", action="store_true", help="print JSON instead of a table")

    a = actions.add_parser("batch", help="one JSON object per user ({user, items, scores}) for outside evaluation")
    a.add_argument("--users", required=True, help="file with one user id per line ('-' = stdin)")
    _model_args(a)
    p.set_defaults(func=run_command)


def _data_args(a) -> None:
    a.add_argument("--dataset", choices=DATASET_CHOICES, default="ml-100k",
                   help="ready recipe (default ml-100k; fetch it with 'ftsuite data fetch ml-100k')")
    a.add_argument("--data-root", help="folder of the recipe's files (ml-latest-small: ../shared/data/"
                                       "movielens-latest-small)")
    a.add_argument("--items", help="catalogue CSV (item_id,title,year,genres,tags,description)")
    a.add_argument("--interactions", help="interactions CSV (user_id,item_id,rating,timestamp)")
    a.add_argument("--rating-range", default="0.5,5", help="allowed ratings for CSV files (default 0.5,5)")


def _model_args(a) -> None:
    a.add_argument("-k", type=int, default=10, help="how many (default 10)")
    a.add_argument("--model", help="recommender folder (default FTSUITE_HOME/recommender/ml-100k, else sample)")


def _load_data(args):
    from core.errors import ConfigError

    from .data import load_csv_dataset, load_dataset

    if bool(args.items) != bool(args.interactions):
        raise ConfigError("give both --items and --interactions (or neither, for --dataset)")
    if args.items:
        try:
            low, high = (float(v) for v in args.rating_range.split(","))
        except ValueError:
            raise ConfigError(f"--rating-range {args.rating_range!r}; expected LOW,HIGH such as 1,5") from None
        return ("custom", *load_csv_dataset(args.items, args.interactions, (low, high)), (low, high))
    if args.dataset == "ml-100k" and not args.data_root:
        from core.config import ftsuite_home
        from core.data import fetch_dataset

        if not (ftsuite_home() / "data" / "ml-100k" / "ml-100k.inter").is_file():
            print("fetching ml-100k (ftsuite data fetch ml-100k) ...", file=sys.stderr)
            fetch_dataset("ml-100k")
    ranges = {"ml-100k": (1.0, 5.0), "sample": (1.0, 5.0), "ml-latest-small": (0.5, 5.0)}
    return (args.dataset, *load_dataset(args.dataset, args.data_root), ranges[args.dataset])


def _folder(args) -> Path:
    from .pipeline import default_folder

    if args.model:
        return Path(args.model)
    main = default_folder("ml-100k")
    return main if (main / "recommender.json").is_file() or not (default_folder("sample") /
                                                                   "recommender.json").is_file() \
        else default_folder("sample")


def _print_rows(rows, as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for n, row in enumerate(rows, 1):
        score = "" if row.get("score") is None else f"{row['score']:.3f}"
        print(f"{n:3}. {row['title']}  [{row['item_id']}]  {score}")
        print(f"     {row['explanation']}")


def run_command(args) -> int:
    from .pipeline import Recommender

    if args.action == "train":
        from .config import RecommenderConfig
        from .pipeline import default_folder
        from .train import build

        name, catalogue, inter, report, (low, high) = _load_data(args)
        if report.skipped:
            print(report.summary(), file=sys.stderr)
        values = {"name": name, "rating_min": low, "rating_max": high, "interest": not args.no_interest}
        if args.interest_artifact:
            values["interest_artifact"] = args.interest_artifact
        if args.pairs:
            values["interest_pairs"] = args.pairs
        output = Path(args.output) if args.output else default_folder(name)
        summary = build(RecommenderConfig(**values), catalogue, inter, output, name, progress=args.progress)
        print(f"recommender '{name}': {summary['items']} items, {summary['users']} users, "
              f"{summary['interactions']} interactions, interest model {summary['interest_model'] or 'off'}; "
              f"built in {summary['seconds']} s -> {output}")
        return 0
    if args.action == "eval":
        from core.embedding import Embedder

        from .evaluate import evaluate
        from .interest import InterestModel, item_vectors

        name, catalogue, inter, report, _ = _load_data(args)
        if report.skipped:
            print(report.summary(), file=sys.stderr)
        vectors = item_vectors(catalogue, Embedder.from_base("minilm"))
        interest = None
        if args.interest_artifact:
            model = InterestModel(args.interest_artifact)
            interest = (model.item_vectors(catalogue), lambda h: model.user_vectors(catalogue, h))
        for row in evaluate(catalogue, inter, vectors, interest, log=lambda m: print(m, file=sys.stderr)):
            print(json.dumps({"dataset": name, **row}))
        return 0

    recommender = Recommender(_folder(args)).warm_up()
    if args.action == "batch":
        source = sys.stdin if args.users == "-" else open(args.users, encoding="utf-8")
        failed = 0
        with source:
            for line in source:
                user = line.strip()
                if not user:
                    continue
                try:
                    rows = recommender.recommend_user(user, args.k)
                    print(json.dumps({"user": user, "items": [r["item_id"] for r in rows],
                                      "scores": [r["score"] for r in rows]}))
                except Exception as exc:  # noqa: BLE001 - one bad user must not stop the batch
                    failed += 1
                    print(json.dumps({"user": user, "items": [], "scores": [], "error": str(exc)}))
        if failed:
            print(f"{failed} user(s) could not be scored (see 'error')", file=sys.stderr)
        return 0
    if args.action == "user":
        rows = recommender.recommend_user(args.user_id, args.k)
    elif args.action == "from":
        rows = recommender.recommend_from_items(args.items, args.k)
    elif args.action == "text":
        rows = recommender.recommend_text(args.text, args.k)
    elif args.action == "similar":
        rows = recommender.similar(args.item, args.k)
    else:
        users = recommender.new_item_audience(args.title, args.genres.split("|"), args.description, args.k,
                                              year=args.year)
        if args.json:
            print(json.dumps(users, indent=2))
        for n, row in enumerate([] if args.json else users, 1):
            print(f"{n:3}. user {row['user']}  {row['score']:.3f}  recently liked: {'; '.join(row['recent'])}")
        return 0
    _print_rows(rows, args.json)
    return 0

"""Writes interactions.csv beside it: 30 fictional users, each with a hand-set taste of two or three
genres, rating 8 to 14 catalogue items (seeded, so the file is reproducible). Run once by hand:
``python data/samples/recommender/generate_interactions.py``; nothing runs it at run time."""

import csv
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
TASTES = [("Sci-Fi", "Thriller"), ("Sci-Fi", "Drama"), ("Crime", "Thriller"), ("Crime", "Mystery"),
          ("Comedy", "Romance"), ("Animation", "Family"), ("Fantasy", "Adventure"), ("Horror", "Mystery"),
          ("Drama", "History"), ("Action", "Adventure"), ("Documentary", "Music"), ("Sci-Fi", "Horror"),
          ("Romance", "Drama"), ("Comedy", "Family"), ("Action", "Thriller")]


def main():
    rng = random.Random(7)
    with open(HERE / "items.csv", newline="", encoding="utf-8") as handle:
        items = [(row["item_id"], set(row["genres"].split("|"))) for row in csv.DictReader(handle)]
    rows = []
    for n in range(30):
        taste = set(TASTES[n % len(TASTES)])
        liked = [i for i, g in items if g & taste]
        other = [i for i, g in items if not g & taste]
        picks = rng.sample(liked, min(len(liked), rng.randint(6, 9))) + rng.sample(other, rng.randint(2, 4))
        rng.shuffle(picks)
        stamp = 1_700_000_000 + n * 3_600 + rng.randint(0, 600)
        for item in picks:
            genres = dict(items)[item]
            rating = rng.choice([4, 5, 5]) if genres & taste else rng.choice([1, 2, 3])
            stamp += rng.randint(86_400, 5 * 86_400)
            rows.append((f"u{n + 1:02d}", item, rating, stamp))
    with open(HERE / "interactions.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "item_id", "rating", "timestamp"])
        writer.writerows(rows)


if __name__ == "__main__":
    main()

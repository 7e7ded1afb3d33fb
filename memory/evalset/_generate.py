"""Generate the bundled retrieval evaluation set from a seed.

    python -m memory.evalset._generate            # rewrite corpus.jsonl and queries.jsonl
    python -m memory.evalset._generate --check    # exit 1 if the files differ from the seed's

Four invented domains (drones, internal services, towns, houseplants; see
``memory.evalset._domains``) give every entity a document per facet, in one of several
phrasings, sometimes with a filler sentence, plus "related" documents that mention a
facet without answering it. Queries are written from a separate set of phrasings:

* ``mixed``: the entity by name, the fact in other words ("how heavy is the Vorlan K7
  itself?" for "Take-off mass of the Vorlan K7: 905 g."). BM25 finds the entity's documents
  but not which one; the vector model knows the fact but confuses look-alike names.
* ``mixed`` queries also come terse, in the documents' own words ("Vorlan K7 take-off
  mass"), as people type into a search box;
* ``keyword``: an error code, postcode or catalogue number, which only exact matching
  finds reliably.
* ``paraphrase``: the entity described, not named ("which pocket UAV is meant for charting
  grape farms?"); words rarely match, meaning does.

Relevance: 2 for the document that answers, 1 for a related one (a firmware note on the
same facet; an entity sharing part of a description).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memory.evalset import _vocab as v
from memory.evalset._domains import DOMAINS, FILLERS, Facet

SEED = 17
HERE = Path(__file__).resolve().parent
CORPUS_FILE = "corpus.jsonl"
QUERIES_FILE = "queries.jsonl"
#: Queries per domain and kind.
PLAN = {
    "drones": {"mixed": 55, "keyword": 25, "paraphrase": 25},
    "services": {"mixed": 55, "keyword": 25, "paraphrase": 25},
    "towns": {"mixed": 60, "keyword": 15, "paraphrase": 25},
    "plants": {"mixed": 60, "keyword": 15, "paraphrase": 25},
}
ENTITIES_PER_DOMAIN = 140


@dataclass
class _Entity:
    name: str
    profile: dict[str, Any]
    # (facet, i) -> the values the facet's i-th document was written from
    facts: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)


def _word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(v.SYLLABLES) for _ in range(parts)).capitalize()


def _names(domain: str, rng: random.Random) -> list[str]:
    """Unique, deliberately colliding entity names."""
    n = ENTITIES_PER_DOMAIN
    if domain == "drones":
        brands: list[str] = []
        while len(brands) < 20:
            b = _word(rng, 2)
            if b not in brands:
                brands.append(b)
        return [f"{b} {code}" for b in brands for code in rng.sample(v.DRONE_CODES, n // 20)]
    if domain == "services":
        pairs = list(itertools.product(v.SERVICE_WORDS_A, v.SERVICE_WORDS_B))
        return [f"{a}-{b}" for a, b in rng.sample(pairs, n)]
    if domain == "towns":
        return [p.format(stem=s) for s in v.TOWN_STEMS for p in v.TOWN_PATTERNS][:n]
    combos = list(itertools.product(v.PLANT_GENERA, v.PLANT_ADJ, v.PLANT_NOUN))
    return [f"{g} '{a} {b}'" for g, a, b in rng.sample(combos, n)]


def _profiles(domain: str, rng: random.Random) -> list[dict[str, Any]]:
    """A unique description per entity: (doc words, query words) for each part."""
    parts: dict[str, tuple[Any, ...]] = {
        "drones": (v.DRONE_FORMS, v.DRONE_ACTIVITIES, v.DRONE_TARGETS),
        "services": (v.SERVICE_DEPTS, v.SERVICE_FUNCTIONS),
        "towns": (v.TOWN_SIZES, v.TOWN_LANDMARKS),
        "plants": (v.PLANT_HABITS, v.PLANT_LEAVES),
    }
    names: dict[str, tuple[str, ...]] = {
        "drones": ("form", "activity", "target"), "services": ("dept", "function"),
        "towns": ("size", "landmark"), "plants": ("habit", "leaf"),
    }
    combos = rng.sample(list(itertools.product(*parts[domain])), ENTITIES_PER_DOMAIN)
    out = []
    for combo in combos:
        prof: dict[str, Any] = {}
        for key, (doc_words, query_words) in zip(names[domain], combo, strict=True):
            prof[key], prof[f"{key}_q"] = doc_words, query_words
        out.append(prof)
    return out


def _values(domain: str, facet: str, rng: random.Random, names: list[str],
            codes: set[str]) -> dict[str, Any]:
    """The fact a facet's document states (also fills query templates that need it)."""
    r = rng.randint
    if facet in ("error", "postcode", "sku"):
        make = {
            "drones": lambda: f"E-{r(1000, 9999)}",
            "services": lambda: f"{rng.choice('QXZRW')}{rng.choice('AKTV')}-{r(100, 999)}",
            "towns": lambda: f"{rng.choice('BKLMRT')}{rng.choice('AEO')} {r(1000, 9999)}",
            "plants": lambda: f"PL-{r(10000, 99999)}",
        }[domain]
        while True:
            code = make()
            if code not in codes:
                codes.add(code)
                break
        if domain == "plants":
            return {"code": code, "pot": rng.choice((9, 12, 14, 17, 21)), "euros": r(4, 90)}
        if domain == "towns":
            return {"code": code}
        meanings = v.DRONE_ERRORS if domain == "drones" else v.SERVICE_ERRORS
        return {"code": code, "meaning": rng.choice(meanings)}
    table: dict[tuple[str, str], Any] = {
        ("drones", "flight_time"): lambda: {"minutes": r(12, 55)},
        ("drones", "charge_time"): lambda: {"minutes": r(35, 150)},
        ("drones", "payload"): lambda: {"kg": round(rng.uniform(0.2, 25.0), 1)},
        ("drones", "range"): lambda: {"km": round(rng.uniform(0.5, 15.0), 1)},
        ("drones", "price"): lambda: {"euros": r(90, 9000)},
        ("drones", "warranty"): lambda: {"months": rng.choice((6, 12, 18, 24, 36))},
        ("drones", "rain"): lambda: {"ip": rng.choice((43, 44, 54, 55, 56, 67)),
                                     "rain": rng.choice(v.RAIN)},
        ("drones", "cold"): lambda: {"low": -r(0, 30), "high": r(35, 50)},
        ("drones", "weight"): lambda: {"grams": r(120, 9000)},
        ("services", "rate_limit"): lambda: {"count": rng.choice((60, 100, 300, 600, 1200))},
        ("services", "retention"): lambda: {"days": rng.choice((7, 14, 30, 90, 180, 365))},
        ("services", "owner"): lambda: {"team": rng.choice(v.TEAMS)},
        ("services", "oncall"): lambda: {"channel": f"{rng.choice(v.TEAMS).lower()}-oncall"},
        ("services", "deploy"): lambda: {"day": rng.choice(v.DAYS), "hour": r(6, 20)},
        ("services", "auth"): lambda: {"auth": rng.choice(v.AUTH)},
        ("services", "language"): lambda: {"lang": rng.choice(v.LANGS),
                                           "platform": rng.choice(v.PLATFORMS)},
        ("towns", "population"): lambda: {"count": f"{r(800, 250_000):,}"},
        ("towns", "founded"): lambda: {"year": r(900, 1890)},
        ("towns", "river"): lambda: {"river": rng.choice(v.RIVERS)},
        ("towns", "festival"): lambda: {"month": rng.choice(v.MONTHS),
                                        "fest": rng.choice(v.FESTIVALS)},
        ("towns", "twin"): lambda: {"other": rng.choice(names)},
        ("towns", "industry"): lambda: {"industry": rng.choice(v.INDUSTRIES)},
        ("towns", "altitude"): lambda: {"metres": r(2, 2400)},
        ("towns", "train"): lambda: {"other": rng.choice(names), "minutes": r(10, 120)},
        ("plants", "water"): lambda: {"days": r(3, 21)},
        ("plants", "light"): lambda: {"light": rng.choice(v.LIGHT)},
        ("plants", "toxic"): lambda: {"toxicity": rng.choice(v.TOXICITY)},
        ("plants", "repot"): lambda: {"years": r(1, 4)},
        ("plants", "temperature"): lambda: {"degrees": r(5, 18)},
        ("plants", "propagation"): lambda: {"method": rng.choice(v.PROPAGATION)},
        ("plants", "height"): lambda: {"cm": r(10, 300)},
    }
    return table[(domain, facet)]()


def _sentence(template: str, values: dict[str, Any]) -> str:
    text = template.format(**values)
    return text[0].upper() + text[1:]


def generate(seed: int = SEED) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Build the corpus and the labelled queries.

    Returns:
        ``(corpus, queries)``: corpus rows ``{"id", "text", "metadata": {"domain"}}`` and
        query rows ``{"id", "text", "kind", "domain", "relevant": {doc_id: grade}}``.
    """
    rng = random.Random(seed)
    docs: list[tuple[str, str]] = []  # (domain, text), in generation order
    key_docs: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    worlds: dict[str, tuple[list[_Entity], tuple[Facet, ...]]] = {}
    codes: set[str] = set()
    for domain, facets in DOMAINS:
        names = _names(domain, rng)
        category = {"drones": v.DRONE_CATEGORY, "services": v.SERVICE_CATEGORY,
                    "towns": v.TOWN_CATEGORY, "plants": ("plant",)}[domain]
        entities = [_Entity(n, p) for n, p in zip(names, _profiles(domain, rng), strict=True)]
        for ei, ent in enumerate(entities):
            for facet in facets:
                for i in range(facet.per_entity):
                    if facet.kind == "paraphrase":
                        vals = {**ent.profile, "category": rng.choice(category)}
                    else:
                        others = [n for n in names if n != ent.name]
                        vals = _values(domain, facet.name, rng, others, codes)
                    vals["name"] = ent.name
                    ent.facts[(facet.name, i)] = vals
                    text = _sentence(rng.choice(facet.docs), vals)
                    if rng.random() < 0.4:
                        text += " " + rng.choice(FILLERS)
                    key_docs[(domain, ei, facet.name, i)].append(len(docs))
                    docs.append((domain, text))
                related = v.RELATED.get((domain, facet.name))
                if related is not None:
                    vals = {"name": ent.name, "ver": f"{rng.randint(1, 5)}.{rng.randint(0, 9)}",
                            "delta": rng.randint(2, 30)}
                    key_docs[(domain, ei, facet.name, "related")].append(len(docs))
                    docs.append((domain, _sentence(related, vals)))
        worlds[domain] = (entities, facets)

    order = list(range(len(docs)))
    rng.shuffle(order)
    doc_id = {old: f"doc-{new:05d}" for new, old in enumerate(order, start=1)}
    corpus = [{"id": doc_id[old], "text": docs[old][1], "metadata": {"domain": docs[old][0]}}
              for old in order]

    queries: list[dict[str, Any]] = []
    for domain, _facets in DOMAINS:
        entities, facets = worlds[domain]
        by_kind = {k: [f for f in facets if f.kind == k] for k in ("mixed", "keyword",
                                                                     "paraphrase")}
        for kind, count in PLAN[domain].items():
            pairs = [(ei, f) for ei in range(len(entities)) for f in by_kind[kind]]
            for ei, facet in rng.sample(pairs, count):
                ent = entities[ei]
                i = rng.randrange(facet.per_entity)
                vals = dict(ent.facts[(facet.name, i)])
                if domain == "drones" and kind == "paraphrase":
                    vals["category_q"] = rng.choice(v.DRONE_CATEGORY_Q)
                relevant = {doc_id[d]: 2 for d in key_docs[(domain, ei, facet.name, i)]}
                for d in key_docs.get((domain, ei, facet.name, "related"), []):
                    relevant[doc_id[d]] = 1
                if kind == "paraphrase":
                    # An entity sharing the main descriptor (all parts but the first) is related.
                    keys = [k for k in ent.profile if not k.endswith("_q")]
                    for oj, other in enumerate(entities):
                        if oj != ei and all(other.profile[k] == ent.profile[k]
                                            for k in keys[1:]):
                            for d in key_docs[(domain, oj, facet.name, 0)]:
                                relevant[doc_id[d]] = 1
                text = _sentence(rng.choice(facet.queries), vals)
                queries.append({"text": text, "kind": kind, "domain": domain,
                                "relevant": relevant})
    rng.shuffle(queries)
    return corpus, [{"id": f"q-{n:04d}", **q} for n, q in enumerate(queries, start=1)]


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


def main(argv: list[str] | None = None) -> int:
    """Write (or ``--check``) the bundled files."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--out", type=Path, default=HERE, help="output directory")
    args = parser.parse_args(argv)
    corpus, queries = generate()
    files = {CORPUS_FILE: _jsonl(corpus), QUERIES_FILE: _jsonl(queries)}
    if args.check:
        stale = [n for n, text in files.items()
                 if not (args.out / n).exists() or (args.out / n).read_text() != text]
        print("stale: " + ", ".join(stale) if stale else "up to date")
        return 1 if stale else 0
    for name, text in files.items():
        (args.out / name).write_text(text)
    print(f"wrote {len(corpus)} documents and {len(queries)} queries to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

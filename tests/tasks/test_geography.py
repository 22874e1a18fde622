"""The offline geography tasks: sizes, one split by subject, hand-checked golds, aliases, the cache."""

import pytest

from multianswer.core.errors import UserError
from multianswer.core.matching import get_verifier
from multianswer.tasks import geography, get_task

MATCH = get_verifier("match")
FAMILIES = [*geography.GEOGRAPHY_TASKS, geography.MIX]


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    """Every geography task built once into a private cache: name -> split -> examples."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MULTIANSWER_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield {name: {split: get_task(name).examples(split) for split in ("train", "test")}
               for name in [*FAMILIES, "country-borders"]}


@pytest.fixture(scope="module")
def built(splits):
    """name -> {subject: example} for each family (the mix has several questions per subject)."""
    return {name: {e.metadata["subject"]: e for examples in splits[name].values() for e in examples}
            for name in geography.GEOGRAPHY_TASKS}


def test_sizes_are_what_the_data_allows_and_the_mix_holds_300_test_questions(splits):
    tests = {name: len(by_split["test"]) for name, by_split in splits.items()}
    # about 250 countries: no single family reaches 300 test questions; the mix does
    assert tests[geography.MIX] >= 300
    assert tests["place-cities"] >= 100 and tests["country-languages"] >= 80
    assert tests["region-countries"] >= 10 and tests["currency-countries"] >= 10 and tests["state-counties"] >= 15
    sizes = {name: sum(map(len, by_split.values())) for name, by_split in splits.items()}
    assert sizes[geography.MIX] == sum(sizes[name] for name in [*geography.GEOGRAPHY_TASKS, "country-borders"])


def test_one_split_by_subject_across_every_family(splits):
    side: dict[str, set[str]] = {}
    for split, examples in splits[geography.MIX].items():
        for example in examples:
            side.setdefault(example.metadata["subject"], set()).add(split)
    assert all(len(sides) == 1 for sides in side.values())  # a subject is on one side in every family
    assert side["KE"] == {geography.subject_split("KE", 0)}
    ids = [e.id for examples in splits[geography.MIX].values() for e in examples]
    assert len(set(ids)) == len(ids)


def test_every_question_has_several_golds_each_with_a_name(splits):
    for name in FAMILIES:
        for example in splits[name]["train"] + splits[name]["test"]:
            assert len(example.answers) >= geography.MIN_ANSWERS, example.id
            assert all(aliases and all(a.strip() for a in aliases) for aliases in example.answers), example.id
            assert example.problem.startswith("Name a") and example.problem.endswith("."), example.id


def test_hand_checked_golds(built):
    kenya = built["place-cities"]["KE"]
    assert kenya.problem == "Name a city in Kenya."
    assert MATCH(["Nairobi", "Mombasa", "Kisumu", "Kampala", "Dar es Salaam"], kenya.answers) == [True] * 3 + [False] * 2
    texas = built["place-cities"]["US-TX"]
    assert texas.problem == "Name a city in Texas." and MATCH(["Houston", "Austin", "Chicago"], texas.answers) == [True, True, False]
    assert "US" not in built["place-cities"]  # the US is asked per state
    assert MATCH(["Sao Paulo", "São Paulo", "Rio de Janeiro"], built["place-cities"]["BR"].answers) == [True] * 3
    assert built["place-cities"]["PH"].problem == "Name a city in the Philippines."

    languages = built["country-languages"]
    assert languages["KE"].problem == "Name a language spoken in Kenya."
    assert MATCH(["Swahili", "English", "French"], languages["KE"].answers) == [True, True, False]
    assert MATCH(["Greek"], languages["CY"].answers) == [True]  # pycountry: 'Modern Greek (1453-)'
    assert MATCH(["Hindi", "Bengali", "Bangla", "Tamil", "Japanese"], languages["IN"].answers) == [True] * 4 + [False]


def test_hand_checked_groups_and_counties(built):
    regions = built["region-countries"]
    west = regions["subregion-western-africa"]
    assert west.problem == "Name a country in Western Africa."
    assert MATCH(["Nigeria", "Ghana", "Ivory Coast", "Cote d'Ivoire", "Kenya", "Egypt"], west.answers) == [True] * 4 + [False] * 2
    assert regions["subregion-caribbean"].problem == "Name a country in the Caribbean."
    assert MATCH(["Brazil", "Canada"], regions["continent-south-america"].answers) == [True, False]
    peso = built["currency-countries"]["currency-peso"]
    assert peso.problem == "Name a country whose currency is the peso."
    assert MATCH(["Mexico", "Argentina", "Spain"], peso.answers) == [True, True, False]
    counties = built["state-counties"]
    assert counties["US-TX"].problem == "Name a county in Texas."
    assert MATCH(["Harris County", "Harris", "Cook County"], counties["US-TX"].answers) == [True, True, False]
    assert counties["US-LA"].problem == "Name a parish in Louisiana."


def test_the_split_is_a_pure_function_of_seed_and_subject():
    subjects = [f"subject-{i}" for i in range(2000)]
    first = [geography.subject_split(s, 0) for s in subjects]
    assert first == [geography.subject_split(s, 0) for s in subjects]
    assert first != [geography.subject_split(s, 1) for s in subjects]
    assert 0.45 < first.count("test") / len(first) < 0.55


def test_same_seed_same_rows_other_seed_other_split(private_cache):
    first = geography.family_rows("currency-countries", seed=0)
    assert first == geography.build_currency_countries(0)  # the cached rows are the built ones
    other = geography.family_rows("currency-countries", seed=1)
    assert [r["question"] for r in first] == [r["question"] for r in other]
    assert [r["split"] for r in first] != [r["split"] for r in other]
    names = sorted(f.name for f in private_cache.iterdir())
    assert names[0].startswith("currency-countries-v1-seed0-") and "country-converter" in names[0]


def test_place_names_read_with_the_article():
    assert [geography.place_name(n) for n in ("United Kingdom", "The Netherlands", "Cayman Islands", "Kenya")] == [
        "the United Kingdom", "the Netherlands", "the Cayman Islands", "Kenya"]


def test_a_missing_data_package_is_a_one_line_error(private_cache, monkeypatch):
    monkeypatch.setattr(geography.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match="country-converter"):
        get_task("region-countries").examples("test")

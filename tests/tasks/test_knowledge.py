import pytest

from multianswer.core.matching import get_verifier
from multianswer.tasks import get_task
from multianswer.tasks import knowledge

MATCH = get_verifier("match")


pytestmark = pytest.mark.usefixtures("private_cache")  # each test builds its data from scratch


def by_country(task):
    return {e.metadata["country"]: e for split in task.splits for e in task.examples(split)}


def test_borders_gold_for_france_and_mexico():
    examples = by_country(get_task("country-borders"))
    france = examples["FR"]
    assert france.problem == "Name a country that borders France."
    assert sorted(france.metadata["neighbours"]) == ["AD", "BE", "CH", "DE", "ES", "IT", "LU", "MC"]
    assert len(france.answers) == 8
    assert MATCH(["Germany", "federal republic of germany", "SPAIN", "Swiss Confederation"], france.answers) == [True] * 4
    assert MATCH(["Portugal", "United Kingdom", "France", "Austria"], france.answers) == [False] * 4
    mexico = examples["MX"]
    assert MATCH(["USA", "United States of America", "America", "Belize", "Guatemala"], mexico.answers) == [True] * 5
    assert MATCH(["Canada", "Honduras"], mexico.answers) == [False, False]


def test_borders_aliases_cover_renamed_countries():
    examples = by_country(get_task("country-borders"))
    assert MATCH(["Czech Republic", "Czechia"], examples["DE"].answers) == [True, True]
    assert MATCH(["Cote d'Ivoire", "Ivory Coast", "Côte d'Ivoire"], examples["GH"].answers) == [True] * 3


def test_borders_subjects_and_split():
    task = get_task("country-borders")
    train, test = task.examples("train"), task.examples("test")
    assert all(len(e.answers) >= 2 for e in train + test)
    subjects_train = {e.metadata["country"] for e in train}
    subjects_test = {e.metadata["country"] for e in test}
    assert not subjects_train & subjects_test
    assert 0.15 < len(test) / (len(train) + len(test)) < 0.25
    assert len({e.id for e in train + test}) == len(train) + len(test)


def test_cities_gold_for_germany_and_united_states():
    examples = by_country(get_task("country-cities"))
    germany = examples["DE"]
    assert germany.problem == "Name one of the 5 largest cities of Germany."
    assert germany.metadata["cities"] == ["Berlin", "Hamburg", "Munich", "Köln", "Frankfurt am Main"]
    assert MATCH(["Cologne", "Koln", "Köln", "München", "frankfurt am main", "Berlin"], germany.answers) == [True] * 6
    assert MATCH(["Stuttgart", "Düsseldorf", "Vienna", "BER"], germany.answers) == [False] * 4
    # New York's boroughs are listed as places in geonames; they are not cities of their own
    usa = examples["US"].metadata["cities"]
    assert usa[:3] == ["New York City", "Los Angeles", "Chicago"] and "Brooklyn" not in usa and "Queens" not in usa


def test_cities_sets_have_five_and_split_by_country():
    task = get_task("country-cities")
    train, test = task.examples("train"), task.examples("test")
    assert all(len(e.answers) == 5 for e in train + test)
    assert not {e.metadata["country"] for e in train} & {e.metadata["country"] for e in test}
    assert len(train) > 50 and len(test) > 10


def test_fixed_seed_is_reproducible_and_seeds_differ():
    first = [e.metadata["country"] for e in knowledge.country_borders(seed=0).examples("test")]
    again = [e.metadata["country"] for e in knowledge.country_borders(seed=0).examples("test")]
    other = [e.metadata["country"] for e in knowledge.country_borders(seed=1).examples("test")]
    assert first == again and first != other


def test_second_load_reads_the_cache(private_cache, monkeypatch):
    first = get_task("country-cities").examples("test")
    files = list(private_cache.iterdir())
    assert [f.suffix for f in files] == [".jsonl"] and files[0].name.startswith("country-cities-v")

    def fail(seed):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(knowledge, "build_cities", fail)
    again = knowledge.country_cities().examples("test")  # a fresh task, same seed
    assert again == first
    assert sorted(private_cache.iterdir()) == files  # nothing rebuilt, no temporary files left


def test_unwritable_cache_still_builds(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MULTIANSWER_CACHE", str(blocker / "cache"))
    assert len(knowledge.country_borders().examples("test")) > 10

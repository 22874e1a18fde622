import pytest
from hypothesis import given
from hypothesis import strategies as st

from multianswer.core.matching import (
    GoldSet,
    MatchVerifier,
    distinct_count,
    get_verifier,
    has_duplicates,
    normalize_answer,
    parse_number,
    register_verifier,
)


@pytest.mark.parametrize(
    "raw, norm",
    [
        ("The  Eiffel Tower!", "eiffel tower"),
        ("ＰＡＲＩＳ", "paris"),  # full-width letters fold under NFKC
        ("an apple, a pear", "apple pear"),
        ("  Côte d’Ivoire ", "côte d ivoire"),
        ("Theatre", "theatre"),  # 'the' inside a word stays
    ],
)
def test_normalize(raw, norm):
    assert normalize_answer(raw) == norm


@pytest.mark.parametrize("raw, value", [("3", 3.0), ("3.0", 3.0), ("1,000", 1000.0), ("-2.5", -2.5), ("50%", 50.0), ("$4", 4.0)])
def test_parse_number(raw, value):
    assert parse_number(raw) == value


def test_number_words_only_when_asked():
    assert parse_number("three") is None
    assert parse_number("three", words=True) == 3.0
    assert parse_number("nan") is None and parse_number("inf") is None


def test_gold_set_aliases_and_numbers():
    gold = GoldSet.from_raw([["United States", "USA", "U.S.A."], "Mexico", "3"])
    assert gold.index_of("usa") == 0 and gold.index_of("u s a") == 0
    assert gold.index_of("the united states") == 0
    assert gold.index_of("mexico.") == 1
    assert gold.index_of("3.0") == 2 and gold.index_of("3.01") is None
    assert gold.index_of("Canada") is None
    assert gold.index_of("") is None and gold.index_of("!!") is None  # empty after normalisation


def test_match_verifier_and_registry():
    v = get_verifier(None)
    assert v(["three", "3", "Four"], ["3"]) == [False, True, False]
    assert get_verifier("numeric-words")(["three"], ["3"]) == [True]
    assert get_verifier("exact")(["3.0"], ["3"]) == [False]
    assert MatchVerifier().matched_gold(["b", "x", "a"], ["a", "b"]) == [1, None, 0]
    register_verifier("always", lambda cands, gold: [True] * len(cands))
    assert get_verifier("always")(["x", "y"], []) == [True, True]
    with pytest.raises(KeyError, match="registered"):
        get_verifier("nope")


def test_duplicates():
    assert has_duplicates(["Paris", "paris."]) and not has_duplicates(["Paris", "Lyon"])
    assert distinct_count(["A", "a", "an apple", "Apple", "b"]) == 3
    assert normalize_answer("A") == "a" and normalize_answer("The") == "the"


@given(st.text())
def test_normalize_is_idempotent(text):
    once = normalize_answer(text)
    assert normalize_answer(once) == once

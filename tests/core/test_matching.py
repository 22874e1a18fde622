import pytest
from hypothesis import given
from hypothesis import strategies as st

from multianswer.core.matching import (
    GoldSet,
    MatchVerifier,
    answer_keys,
    distinct_answers,
    distinct_count,
    get_verifier,
    has_duplicates,
    mentioned_gold,
    normalize_answer,
    parse_number,
    register_verifier,
    same_answer,
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


@pytest.mark.parametrize(
    "a, b",
    [
        ("Hodgkin's lymphoma", "Hodgkins lymphoma"),  # punctuation deleted (the reference's form)
        ("U.S.A.", "USA"),
        ("Guillain-Barré syndrome", "Guillain Barré syndrome"),  # punctuation as a space (ours)
        ("Guillain–Barré", "guillain barré"),  # en dash
        ("The pneumonia.", "Pneumonia"),
        ("ＵＳＡ", "usa"),  # NFKC
    ],
)
def test_either_normal_form_matches(a, b):
    assert same_answer(a, b) and same_answer(b, a)
    assert GoldSet.from_raw([b]).index_of(a) == 0
    assert not has_duplicates([a, "Paris"]) and has_duplicates([a, b])


@pytest.mark.parametrize(
    "a, b",
    [
        ("The", "A"),  # both empty in the reference's normal form; they must not match
        ("...", "!!"),  # empty in both forms
        ("", ""),
        ("Hodgkin lymphoma", "Hodgkins lymphoma"),
        ("US", "USA"),
        ("Guillain Barre", "Guillain Barré"),  # accents are not folded by matching (aliases carry them)
    ],
)
def test_different_answers_do_not_match(a, b):
    assert not same_answer(a, b)
    assert GoldSet.from_raw([b]).index_of(a) is None


def test_keys_and_distinct_answers():
    assert answer_keys("U.S.A.") == {"u s", "usa"}  # the spaced form loses "a" as an article
    assert answer_keys("Hodgkin's") == {"hodgkin s", "hodgkins"}
    assert answer_keys("...") == frozenset()
    assert distinct_answers(["Hodgkin's", "Hodgkins", "USA", "U.S.A.", "Lyme"]) == ["Hodgkin's", "USA", "Lyme"]
    assert distinct_count(["...", "..."]) == 2  # empty answers match nothing, not even each other


_WORDS = st.text(alphabet="abcdé", min_size=1, max_size=6)
_PUNCT = st.sampled_from(list("'.-,!?’–"))


@given(st.lists(st.tuples(_WORDS, _PUNCT), min_size=1, max_size=4), _WORDS)
def test_deleting_or_spacing_punctuation_still_matches(pieces, tail):
    """An answer written with punctuation matches it written with the punctuation deleted, and with spaces."""
    written = "".join(w + p for w, p in pieces) + tail
    deleted = "".join(w for w, _ in pieces) + tail
    spaced = " ".join([w for w, _ in pieces] + [tail])
    assert same_answer(written, deleted) and same_answer(written, spaced)
    assert GoldSet.from_raw([[written]]).index_of(deleted) == 0
    assert GoldSet.from_raw([[written]]).index_of(spaced.upper()) == 0


@given(st.text(), st.text())
def test_same_answer_is_symmetric_and_empty_forms_never_match(a, b):
    assert same_answer(a, b) == same_answer(b, a)
    if not answer_keys(a):
        assert not same_answer(a, b) and GoldSet.from_raw([b]).index_of(a) is None
    else:
        assert same_answer(a, a)


@given(st.lists(st.text(max_size=8), max_size=6))
def test_distinct_answers_have_no_two_matching(candidates):
    kept = distinct_answers(candidates)
    assert all(not same_answer(x, y) for i, x in enumerate(kept) for y in kept[i + 1 :])
    assert distinct_count(candidates) == len(kept) <= len(candidates)


KENYA_CITIES = [["Nairobi"], ["Mombasa", "Mombaça"], ["Kisumu"]]


@pytest.mark.parametrize("reply, index", [
    ("Nairobi", 0),
    ("The largest city in Kenya is Mombasa.", 1),
    ("Mombasa, then Nairobi.", 1),  # the first one named
    ("MOMBAÇA!", 1),
    ("Nairobian food", None),  # whole words only
    ("Kampala", None),
    ("", None),
])
def test_mentioned_gold_finds_a_named_answer_in_a_sentence(reply, index):
    assert mentioned_gold(reply, KENYA_CITIES) == index


def test_mentioned_gold_matches_accent_free_aliases_and_prefers_the_longer_phrase():
    assert mentioned_gold("I would say Sao Paulo.", [["Rio de Janeiro"], ["São Paulo", "Sao Paulo"]]) == 1
    assert mentioned_gold("North Ogden, Utah", [["North Salt Lake", "North"], ["North Ogden"]]) == 1


def test_mentioned_gold_ignores_function_words_and_what_the_question_says():
    belgium = [["Huy", "I"], ["Namur"]]
    assert mentioned_gold("I think it is Namur.", belgium) == 1  # 'I' is not the town of Huy
    mexico = [["Mexico City", "Mexico"], ["Tijuana"]]
    question = "Name a city in Mexico."
    assert mentioned_gold("A city in Mexico is Tijuana.", mexico, exclude=question) == 1
    assert mentioned_gold("Mexico City", mexico, exclude=question) == 0
    assert mentioned_gold("A city in Mexico.", mexico, exclude=question) is None
    assert mentioned_gold("A city in Mexico.", mexico) == 0  # without the question, 'Mexico' counts

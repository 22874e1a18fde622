"""Plain questions: the answer taken out of a small model's sentence, and seeded plain sampling through a backend."""

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multianswer.generation.base import BackendBase, Completion, SamplingArgs
from multianswer.generation.plain import PLAIN_INSTRUCTION, ask_plainly, extract_answer, plain_messages


@pytest.mark.parametrize(
    "reply, answer",
    [
        ("The noble gas is Argon.", "Argon"),
        ("The country that borders Germany is Austria.", "Austria"),
        ("Argon", "Argon"),
        ("Argon. It is a noble gas.", "Argon"),
        ("Paris, France", "Paris"),
        ("Lagos is the largest city in Nigeria.", "Lagos"),
        ("The largest cities in France are: Paris, Lyon and Marseille.", "Paris"),
        ("**Paris**", "Paris"),
        ('"Berlin"', "Berlin"),
        ("Answer: Lyon", "Lyon"),
        ("Sure! The answer is Argon.", "Argon"),
        ("1. Marseille\n2. Lyon", "Marseille"),
        ("\n\n  Quito  \nmore text", "Quito"),
        ("St. Petersburg", "St. Petersburg"),
        ("U.S. Virgin Islands.", "U.S. Virgin Islands"),
        ("The Gambia", "The Gambia"),
        ("The answer is The Gambia.", "The Gambia"),
        ("Bosnia and Herzegovina", "Bosnia and Herzegovina"),
        ("São Paulo (Brazil)", "São Paulo"),
        ("The largest city of the UAE is Doha which is located in the", "Doha"),
        ("Azerbaijan's largest city is certainly Baku, which", "Baku"),
        ("The city is called Lima", "Lima"),
        ("No, the answer is Quito.", "Quito"),
        # nothing answer-like: no answer rather than a wrong one
        ("I'm not sure which city you mean.", ""),
        ("Sorry, I cannot answer that.", ""),
        ("<answer>Paris</answer>", ""),
        ("It depends on how you count the many different kinds of cities in that big country", ""),
        ("", ""),
        ("  \n ", ""),
        ("...", ""),
    ],
)
def test_extract_answer_takes_the_answer_out_of_the_sentence(reply, answer):
    assert extract_answer(reply) == answer


@pytest.mark.parametrize(
    "reply, answer",
    [
        ("cities of China is Shanghai", "Shanghai"),  # the side that repeats the question is not the answer
        ("Shanghai is one of the largest cities of China.", "Shanghai"),
        ("The 5 largest cities of China are:\n\n1. Beijing (capital)", "Beijing"),  # past the list header
        ("China", ""),  # the country asked about is not one of its cities
        ("The 5 largest cities of China", ""),
        ("The largest city in China is Shanghai.", "Shanghai"),
    ],
)
def test_extract_answer_leaves_out_the_words_of_the_question(reply, answer):
    assert extract_answer(reply, "Name one of the 5 largest cities of China.") == answer


@settings(max_examples=500, deadline=None)
@given(st.text(), st.text(max_size=40))
def test_extract_answer_never_raises_and_returns_a_substring(reply, question):
    answer = extract_answer(reply, question)
    assert answer in reply  # cut and stripped, never rewritten
    assert "\n" not in answer and "<" not in answer and ">" not in answer and answer == answer.strip()


_WORD = st.from_regex(r"[A-Za-zÉé]([a-zéü'-]{0,6}[a-zéü])?", fullmatch=True)
_FRAMES = ["The city is {}.", "{}", "{}.", "Answer: {}", "The answer is {}!", '"{}"', "**{}**"]
_OPENINGS = ("i", "im", "sorry", "unfortunately", "as", "there", "is", "are", "was", "were", "the", "a", "an", "it",
             "this", "that", "these", "those", "its", "they", "my", "one", "some", "yes", "no", "ok", "okay", "sure",
             "certainly", "of", "answer", "final")
_CLAUSE_WORDS = ("is", "are", "was", "were", "would", "could", "might", "which", "who", "where")
_STOP_WORDS = ("the", "a", "an", "of", "in", "on", "at", "to", "for", "from", "by", "with", "and", "or", "is", "are",
               "its", "it", "this", "that")


def _reads_as_a_name(name: str) -> bool:
    """False for names the reader rightly takes apart; its rules see word tokens ("I-a" starts with "i")."""
    tokens = re.findall(r"\w+", name.casefold())
    return not (tokens[0] in _OPENINGS  # starts like a frame, a chatty opening or a refusal
                or any(t in _CLAUSE_WORDS for t in tokens)  # holds a verb or a relative pronoun: a sentence
                or all(t in _STOP_WORDS for t in tokens))  # stop words alone, also joined ("A-a", "of-the")


@settings(max_examples=300, deadline=None)
@given(words=st.lists(_WORD, min_size=1, max_size=3), frame=st.sampled_from(_FRAMES))
def test_a_framed_name_comes_back_whole(words, frame):
    name = " ".join(words)
    if _reads_as_a_name(name):
        assert extract_answer(frame.format(name)) == name


# words that look like the reader's own markers; hypothesis rarely draws them, so every pairing is tried
_TRICKY = ["I", "A", "Is", "no", "Sure", "Answer", "x", "I'm", "a-a", "x-is", "Ok", "St", "U", "Bob's", "the", "which",
           "Yes", "of", "ok-x", "an'x", "Im", "It's", "an-x", "Xs", "co"]


@pytest.mark.parametrize("frame", _FRAMES)
def test_every_pair_of_tricky_words_comes_back_whole(frame):
    names = [" ".join(p) for p in itertools.product(_TRICKY, repeat=2)] + _TRICKY
    wrong = {n: extract_answer(frame.format(n)) for n in names if _reads_as_a_name(n)}
    assert {n: got for n, got in wrong.items() if got != n} == {}
    assert len(wrong) > 100  # the filter leaves many pairs in


def test_not_text_is_no_answer():
    assert extract_answer(None) == "" and extract_answer(b"Paris") == "" and extract_answer("Paris", None) == ""


class Echo(BackendBase):
    """A backend whose replies name the seed they were sampled with (and count one token per reply)."""

    name = "echo"

    def __init__(self):
        self.prompts = []

    def count_tokens(self, text):
        return 1

    def stream(self, prompts, args: SamplingArgs, seed=0):
        self.prompts += prompts
        for i in reversed(range(len(prompts))):  # out of order, as real backends finish
            yield i, [Completion(f"The answer is s{seed[i]}-{j}.", 1) for j in range(args.n)]


def test_ask_plainly_puts_replies_in_problem_order_with_their_seeds():
    backend = Echo()
    replies = ask_plainly(backend, ["Name a city.", "Name a gas."], SamplingArgs(2, 1.0, 1.0, 16), [7, 9])
    assert [[extract_answer(c.text) for c in r] for r in replies] == [["s7-0", "s7-1"], ["s9-0", "s9-1"]]
    assert backend.prompts[1] == [{"role": "user", "content": f"Name a gas.\n{PLAIN_INSTRUCTION}"}]
    assert plain_messages(" What is 2 + 2? ", "Answer with a number.") == [
        {"role": "user", "content": "What is 2 + 2?\nAnswer with a number."}]

"""Examples made only when asked: the two shapes of a lazy task split.

`Task.examples(split, limit)` slices before it lists, so a long split builds only what is used:

    LazyExamples      the i-th example is a pure function of i (procedural tasks): any index, any slice
    StreamedExamples  examples come from reading a file in order (the 1.3M-patient DDXPlus release):
                      a slice from the start reads only that far
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache

from multianswer.tasks.base import Example


class LazyExamples(Sequence):
    """A read-only sequence whose i-th example is built on demand by `make(i)`."""

    def __init__(self, length: int, make: Callable[[int], Example]):
        self._length, self._make = length, lru_cache(maxsize=4096)(make)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._make(i) for i in range(*index.indices(self._length))]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError(index)
        return self._make(index)


class StreamedExamples:
    """Examples read lazily from a file: slicing reads only the rows it needs (the release is 1.3M patients)."""

    def __init__(self, produce: Callable[[], Iterator[Example]]):
        self._produce = produce

    def __iter__(self) -> Iterator[Example]:
        return self._produce()

    def __getitem__(self, index):
        if isinstance(index, slice) and (index.step or 1) == 1 and (index.start or 0) >= 0 and (index.stop or 0) >= 0:
            return list(itertools.islice(self._produce(), index.start, index.stop))
        return list(self._produce())[index]

    def __len__(self) -> int:  # a full pass over the file
        return sum(1 for _ in self._produce())

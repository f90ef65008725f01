"""Two model versions side by side for one user: each list with rank, score and reasons, every item marked
by how it moved between the lists, and (optionally) where each model ranks the item the user actually chose
next, with that last interaction hidden from both."""
from __future__ import annotations

from dataclasses import dataclass

from recsys.recommend import Recommendation, Recommender


@dataclass(frozen=True)
class ComparedPick:
    """One row of a list in the comparison; `change` relative to the other list."""

    pick: Recommendation
    change: str  # left list: "dropped" | "kept"; right list: "new" | "up 3" | "down 2" | "same" (from left to right)


@dataclass(frozen=True)
class ListComparison:
    user_id: str
    left: str  # version names
    right: str
    left_rows: tuple[ComparedPick, ...]  # "dropped": in the left list, not the right
    right_rows: tuple[ComparedPick, ...]  # "new": in the right list, not the left
    next_item: str | None = None  # the hidden last interaction (None: nothing hidden)
    next_ranks: tuple[int | None, int | None] = (None, None)  # where left / right rank it among all items

    @property
    def shared(self) -> int:
        return sum(r.change != "new" for r in self.right_rows)

    def next_sentence(self, label: str) -> str:
        """'Their next choice, <label>: v0004 ranks it 4th, v0001 212th.'"""
        if self.next_item is None:
            return ""
        left, right = (_ordinal(r) for r in self.next_ranks)
        return f"Their next choice, {label}: {self.right} ranks it {right}, {self.left} {left}."


def compare_lists(left: Recommender, right: Recommender, user_id: str, k: int = 10,
                  hide_last: bool = False) -> ListComparison:
    """The two versions' top k for `user_id` (thumbs applied to both as served)."""
    picks = [rec.recommend(user_id, k, hide_last=hide_last) for rec in (left, right)]
    ranks = [{p.item_id: p.rank for p in side} for side in picks]
    left_rows = tuple(ComparedPick(p, "kept" if p.item_id in ranks[1] else "dropped") for p in picks[0])
    right_rows = tuple(ComparedPick(p, _change(p, ranks[0])) for p in picks[1])
    if not hide_last:
        return ListComparison(str(user_id), left.version, right.version, left_rows, right_rows)
    history = left.history(user_id)
    next_item = str(left.item_ids[history[-1]]) if len(history) else None
    next_ranks = tuple(rec.rank_of(user_id, next_item, hide_last=True) if next_item else None for rec in (left, right))
    return ListComparison(str(user_id), left.version, right.version, left_rows, right_rows, next_item, next_ranks)


def _change(pick: Recommendation, before: dict[str, int]) -> str:
    """How a right-list item moved from the left list: ranked 5th there and 2nd here is "up 3"."""
    if pick.item_id not in before:
        return "new"
    there = before[pick.item_id]
    if there == pick.rank:
        return "same"
    return f"up {there - pick.rank}" if there > pick.rank else f"down {pick.rank - there}"


def _ordinal(rank: int | None) -> str:
    if rank is None:
        return "not at all (unknown item)"
    suffix = "th" if 10 <= rank % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(rank % 10, "th")
    return f"{rank:,}{suffix}"

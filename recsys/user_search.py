"""Finding a user among many: exact id first, then ids that start with the query, then ids that contain it."""
from __future__ import annotations

from bisect import bisect_left

MATCHES_SHOWN = 50


def find_users(users: list[str], query: str, limit: int = MATCHES_SHOWN) -> list[str]:
    """Up to `limit` of `users` (sorted as strings) matching `query`: the id itself, then ids starting with it (in
    order), then ids containing it, ignoring case. An empty query gives the first `limit` users."""
    q = query.strip()
    if not q:
        return users[:limit]
    out = dict.fromkeys([q] if _has(users, q) else [])
    start = bisect_left(users, q)
    for user in users[start:start + limit + 1]:
        if len(out) >= limit or not user.startswith(q):
            break
        out.setdefault(user)
    if len(out) < limit:
        folded = q.casefold()
        for user in users:
            if folded in user.casefold():
                out.setdefault(user)
                if len(out) >= limit:
                    break
    return list(out)[:limit]


def _has(users: list[str], user: str) -> bool:
    i = bisect_left(users, user)
    return i < len(users) and users[i] == user

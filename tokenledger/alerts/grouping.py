"""One incident, one alert: group the episodes one incident raises at several series levels.

A runaway key shows as an episode on its API key, its project, its provider, the models it
called and its token mix, all in the same days. Paging five times for one cause is noise, so
episodes are grouped when they are of the same provider and direction, their windows overlap
(or touch), and they point at the same thing: the key of an `api_key`-level episode, the model
of a `model`-level one, or the root-cause value (dimension=value carrying ≥ half of the change)
of any episode. Grain of the result: one `EpisodeGroup` per incident; its `lead` is the member
with the largest |impact|.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

ROOT_CAUSE_MIN_SHARE = 0.5


@dataclass(frozen=True)
class EpisodeGroup:
    lead: dict[str, Any]
    members: tuple[dict[str, Any], ...]  # the lead first, then by |impact|

    @property
    def related(self) -> tuple[dict[str, Any], ...]:
        return self.members[1:]


def _day(value: Any) -> dt.date | None:
    if value is None or value != value:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "date") and callable(value.date):
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])


def _pointers(ep: dict[str, Any]) -> set[tuple[str, str]]:
    out = set()
    level = ep.get("level")
    if level == "api_key" and ep.get("api_key_id"):
        out.add(("api_key_id", str(ep["api_key_id"])))
    if level == "model" and ep.get("model"):
        out.add(("model", str(ep["model"])))
    dim, val, share = (
        ep.get("root_cause_dimension"),
        ep.get("root_cause_value"),
        ep.get("root_cause_share"),
    )
    if dim and val and val != "(none)" and share == share and share is not None:
        if float(share) >= ROOT_CAUSE_MIN_SHARE:
            out.add((str(dim), str(val)))
    return out


def _related(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.get("provider") != b.get("provider") or a.get("direction") != b.get("direction"):
        return False
    a0, a1 = _day(a.get("start_date")), _day(a.get("end_date"))
    b0, b1 = _day(b.get("start_date")), _day(b.get("end_date"))
    if None in (a0, a1, b0, b1):
        return False
    one_day = dt.timedelta(days=1)
    if a0 > b1 + one_day or b0 > a1 + one_day:
        return False
    return bool(_pointers(a) & _pointers(b))


def group_episodes_by_incident(episodes: list[dict[str, Any]]) -> list[EpisodeGroup]:
    """Groups of related episodes (see module doc), ordered by the lead's |impact|."""
    parent = list(range(len(episodes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(episodes)):
        for j in range(i + 1, len(episodes)):
            if _related(episodes[i], episodes[j]):
                parent[find(j)] = find(i)
    groups: dict[int, list[dict[str, Any]]] = {}
    for i, ep in enumerate(episodes):
        groups.setdefault(find(i), []).append(ep)

    def size(ep: dict[str, Any]) -> float:
        return abs(float(ep.get("impact") or 0.0))

    out = []
    for members in groups.values():
        members = sorted(members, key=size, reverse=True)
        out.append(EpisodeGroup(members[0], tuple(members)))
    return sorted(out, key=lambda g: size(g.lead), reverse=True)

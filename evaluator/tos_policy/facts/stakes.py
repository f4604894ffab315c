"""Stakes as shares of the whole entity: share counts read against the outstanding shares,
percentages of issued shares rescaled, and share classes weighed.

A link may state its stake as a number of shares, as percentages of the issued shares
(treasury shares included), or as percentages of one class of shares. The rules compare
shares of the whole entity's outstanding shares (economic rights) and votes, so each such
link is read here, on the entity's facts, into that form:

- outstanding shares are the issued ones less the treasury shares (the entity's own,
  which carry neither votes nor dividends): 45 of 90 outstanding is 50%;
- a percentage of a class is weighed by the class's share of all economic rights and of
  all votes (the entity's share_classes): 40% of class A + 40% of class B is 40% of the
  whole only when A and B weigh the same; a class the entity does not describe weighs
  anything from 0 to what the described classes leave, so its stakes become ranges.

Arithmetic is exact (fractions); a result with more than 12 decimal places becomes the
narrowest range of 12-place bounds, exclusive at both ends, so no bound is ever rounded
across a threshold. Nothing here knows a threshold or a measure: the profile and the
rules choose."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

from tos_policy.errors import InputError
from tos_policy.facts.load import HUNDRED, UNKNOWN_SHARE, ZERO, Entity, Link, Share, ShareClass

_PLACES = 10**12  # the facts allow 12 decimal places; so do the plans' exact columns
_WHOLE = Fraction(100)


def read_stakes(entities: Mapping[str, Entity], links: list[Link]) -> list[Link]:
    """The links with every stake a share of the whole entity's outstanding shares and votes."""
    if not any(link.basis is not None or link.share_class is not None for link in links):
        return links
    return [
        link if link.basis is None and link.share_class is None else _read(link, entities[link.asset]) for link in links
    ]


def _read(link: Link, asset: Entity) -> Link:
    capital = asset.capital
    chosen = None
    if link.share_class is not None and capital is not None:
        chosen = next((item for item in capital.classes if item.name == link.share_class), None)
    economic, voting = link.share, link.voting
    basis = link.basis
    if basis is not None:
        issued, treasury = _counts(link, asset, chosen)
        if basis.shares is not None:
            economic = _of_outstanding(link, basis.shares, issued, treasury)
        elif basis.of_issued and issued is not None and treasury:
            factor = Fraction(issued, issued - treasury)
            economic = _scaled(link, economic, factor)
            voting = None if voting is None else _scaled(link, voting, factor)
    if link.share_class is not None:
        economic_weight, voting_weight = _weights(asset, chosen)
        votes = voting if voting is not None else economic
        economic, voting = _product(economic, economic_weight), _product(votes, voting_weight)
    return link._replace(share=economic, voting=None if voting == economic else voting)


def _counts(link: Link, asset: Entity, chosen: ShareClass | None) -> tuple[int | None, int]:
    """(issued, treasury) shares the link's stake is of: the link's own counts, else its class's,
    else the entity's (for a link without a class)."""
    basis = link.basis
    if basis is not None and basis.issued is not None:
        return basis.issued, basis.treasury or 0
    if link.share_class is not None:
        if chosen is not None and chosen.issued is not None:
            return chosen.issued, chosen.treasury or 0
        return None, 0
    capital = asset.capital
    if capital is not None and capital.issued is not None:
        return capital.issued, capital.treasury or 0
    return None, 0


def _of_outstanding(link: Link, shares: int, issued: int | None, treasury: int) -> Share:
    if issued is None:
        return UNKNOWN_SHARE  # a count of shares without the count of all of them: anything
    outstanding = issued - treasury
    if shares > outstanding:
        file, _, path = link.path.rpartition(":")
        raise InputError(
            f"more shares than the {outstanding:,} outstanding (issued {issued:,} less treasury {treasury:,})",
            file=file,
            path=f"{path}.shares",
            value=shares,
        )
    return _bounded(Fraction(shares * 100, outstanding), Fraction(shares * 100, outstanding), False, False)


def _scaled(link: Link, share: Share, factor: Fraction) -> Share:
    """A percentage of the issued shares as one of the outstanding ones."""
    high = Fraction(share.max) * factor
    low = Fraction(share.min) * factor
    if low > _WHOLE:
        file, _, path = link.path.rpartition(":")
        raise InputError(
            "a percentage of the issued shares larger than the outstanding ones (issued less treasury)",
            file=file,
            path=f"{path}.percentage",
            value=format(share.min, "f"),
        )
    high_exclusive = share.max_exclusive
    if high > _WHOLE:
        high, high_exclusive = _WHOLE, False
    return _bounded(low, high, share.min_exclusive, high_exclusive)


def _weights(asset: Entity, chosen: ShareClass | None) -> tuple[Share, Share]:
    """What a class weighs among all economic rights and all votes: as the facts give it, or
    anything from 0 to what the classes the facts weigh leave."""
    classes = asset.capital.classes if asset.capital is not None else ()
    found = []
    for measure in ("economic", "voting"):
        given = None if chosen is None else getattr(chosen, measure)
        if given is not None:
            found.append(Share(given, given))
        else:
            rest = HUNDRED - sum((getattr(item, measure) or ZERO for item in classes), ZERO)
            found.append(Share(ZERO, rest))
    return found[0], found[1]


def _product(share: Share, weight: Share) -> Share:
    """`share` percent of a class weighing `weight` percent of the whole, as percent of the whole.
    A bound is reached only when both factors reach theirs, or one of them is a reachable 0."""

    def bound(a: Decimal, a_excl: bool, b: Decimal, c_excl: bool) -> tuple[Fraction, bool]:
        zero = (a == 0 and not a_excl) or (b == 0 and not c_excl)
        return Fraction(a) * Fraction(b) / 100, not zero and (a_excl or c_excl)

    low, low_excl = bound(share.min, share.min_exclusive, weight.min, weight.min_exclusive)
    high, high_excl = bound(share.max, share.max_exclusive, weight.max, weight.max_exclusive)
    return _bounded(low, high, low_excl, high_excl)


def _bounded(low: Fraction, high: Fraction, low_excl: bool, high_excl: bool) -> Share:
    """A Share of 12-decimal bounds: exact where the fraction is, else the narrowest range
    around it, exclusive at the rounded end."""
    low_units, low_rest = divmod(low * _PLACES, 1)
    high_units = -((-high * _PLACES) // 1)
    high_rounded = Fraction(high_units) != high * _PLACES
    return Share(
        Decimal(int(low_units)) / _PLACES,
        Decimal(int(high_units)) / _PLACES,
        low_excl or low_rest != 0,
        high_excl or high_rounded,
    )

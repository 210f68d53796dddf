"""Events of the reviews service (topic ``reviews.review``, key = plugin id).

Invariants: ratings are integers 1-5; a rating summary's histogram has exactly the keys 1-5 and
its counts add up to ``count``; averages are 0 when there are no ratings.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Self
from uuid import UUID

from pydantic import Field, field_validator, model_validator

from opscenter.contracts.events import EventPayload
from opscenter.contracts.fields import Slug, Text, UserRef
from opscenter.contracts.topics import REVIEWS_REVIEW, Topic

__all__ = [
    "RatingSummaryChangedV1",
    "ReviewCreatedV1",
    "ReviewDeletedV1",
    "ReviewRestoredV1",
    "ReviewUpdatedV1",
]

Rating = Annotated[int, Field(ge=1, le=5)]
Title = Annotated[Text, Field(max_length=200)]

_EX = {
    "review_id": UUID("7c6b5a49-3827-4615-a4b3-c2d1e0f9a8b7"),
    "plugin_id": UUID("0b5e7c4e-2f7d-4c55-9a51-3f1f5d0c9a11"),
    "slug": "my-awesome-plugin",
    "tenant_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    "user_id": "user-17",
}


class _ReviewEvent(EventPayload):
    topic: ClassVar[Topic] = REVIEWS_REVIEW

    review_id: UUID
    plugin_id: UUID
    slug: Slug
    tenant_id: UserRef
    user_id: UserRef

    def partition_key(self) -> str:
        return str(self.plugin_id)


class ReviewCreatedV1(_ReviewEvent):
    """A user reviewed a plugin their tenant installed (one review per user and plugin)."""

    event_type: ClassVar[str] = "reviews.review.created.v1"

    rating: Rating
    title: Title

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate({**_EX, "rating": 5, "title": "Saves us hours"})


class ReviewUpdatedV1(_ReviewEvent):
    """The author edited the review; ``previous_rating`` lets aggregates adjust."""

    event_type: ClassVar[str] = "reviews.review.updated.v1"

    rating: Rating
    previous_rating: Rating
    title: Title

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(
            {**_EX, "rating": 4, "previous_rating": 5, "title": "Good, a few rough edges"}
        )


class ReviewDeletedV1(_ReviewEvent):
    """The review no longer counts: deleted by its author or hidden by a moderator."""

    event_type: ClassVar[str] = "reviews.review.deleted.v1"

    rating: Rating
    by: Literal["author", "moderator"] = "author"

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate({**_EX, "rating": 4})


class ReviewRestoredV1(_ReviewEvent):
    """A moderator unhid a review: it counts again, with the rating it had when hidden."""

    event_type: ClassVar[str] = "reviews.review.restored.v1"

    rating: Rating
    title: Title

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate({**_EX, "rating": 2, "title": "Crashes on start"})


class RatingSummaryChangedV1(EventPayload):
    """A plugin's rating summary after a review change; the whole summary, not a delta."""

    event_type: ClassVar[str] = "reviews.rating_summary.changed.v1"
    topic: ClassVar[Topic] = REVIEWS_REVIEW

    plugin_id: UUID
    slug: Slug
    average: Annotated[float, Field(ge=0, le=5)]
    bayesian_average: Annotated[float, Field(ge=0, le=5)]
    count: Annotated[int, Field(ge=0)]
    histogram: dict[int, Annotated[int, Field(ge=0)]]

    def partition_key(self) -> str:
        return str(self.plugin_id)

    @field_validator("histogram")
    @classmethod
    def _five_stars(cls, value: dict[int, int]) -> dict[int, int]:
        if set(value) != {1, 2, 3, 4, 5}:
            raise ValueError("must have exactly the keys 1, 2, 3, 4, 5")
        return dict(sorted(value.items()))

    @model_validator(mode="after")
    def _counts_agree(self) -> Self:
        if sum(self.histogram.values()) != self.count:
            raise ValueError("histogram counts must add up to count")
        if self.count == 0 and (self.average or self.bayesian_average):
            raise ValueError("averages are 0 when there are no ratings")
        return self

    @classmethod
    def example(cls) -> Self:
        return cls(
            plugin_id=UUID("0b5e7c4e-2f7d-4c55-9a51-3f1f5d0c9a11"),
            slug="my-awesome-plugin",
            average=4.5,
            bayesian_average=4.12,
            count=12,
            histogram={1: 0, 2: 1, 3: 0, 4: 3, 5: 8},
        )

"""The review queue: calls routing flagged because they reached a team lead; QA sets each
review's status and notes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backoffice.access import Who
from backoffice.callquery import SUMMARY_COLUMNS, CallSummary, call_reviews, summary, summary_query
from backoffice.common import Deps, api_router, utc
from hotline.api_errors import ErrorBody, not_found

ReviewStatus = Literal["open", "in_review", "done"]


class ReviewOut(BaseModel):
    call_id: int
    reason: str | None
    flagged_at: datetime | None
    status: str
    reviewer: str | None
    notes: str | None
    reviewed_at: datetime | None


class ReviewItem(BaseModel):
    review: ReviewOut
    call: CallSummary


class ReviewUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: ReviewStatus | None = None
    notes: str | None = Field(None, max_length=10_000)


# --- service -----------------------------------------------------------------------------------


def review_out(r: Any) -> ReviewOut:
    """A `call_reviews` row (or anything with its columns as attributes)."""
    return ReviewOut(call_id=r.call_id, reason=r.reason, flagged_at=utc(r.flagged_at),
                     status=r.status or "open", reviewer=r.reviewer, notes=r.notes,
                     reviewed_at=utc(r.reviewed_at))


async def review_of(s: AsyncSession, call_id: int) -> ReviewOut | None:
    row = (await s.execute(select(call_reviews).where(call_reviews.c.call_id == call_id))).first()
    return review_out(row) if row else None


async def list_reviews(sm: async_sessionmaker[AsyncSession], status: ReviewStatus | Literal["all"],
                       limit: int) -> list[ReviewItem]:
    q = summary_query().add_columns(*call_reviews.c).where(call_reviews.c.id.is_not(None))
    if status != "all":
        q = q.where(call_reviews.c.status == status)
    async with sm() as s:
        rows = (await s.execute(q.order_by(call_reviews.c.flagged_at, call_reviews.c.id).limit(limit))).all()
    review_columns = call_reviews.c.keys()
    return [ReviewItem(call=summary(r), review=review_out(_Columns(dict(zip(
        review_columns, r[SUMMARY_COLUMNS:], strict=True))))) for r in rows]


async def update_review(sm: async_sessionmaker[AsyncSession], call_id: int, body: ReviewUpdate,
                        reviewer: str, now: datetime) -> ReviewOut:
    values: dict[str, Any] = {"reviewer": reviewer}
    if body.status is not None:
        values["status"] = body.status
        values["reviewed_at"] = now if body.status == "done" else None
    if body.notes is not None:
        values["notes"] = body.notes
    async with sm() as s, s.begin():
        res = await s.execute(call_reviews.update().where(call_reviews.c.call_id == call_id).values(**values))
        if res.rowcount == 0:
            raise not_found("review", call_id)
        out = await review_of(s, call_id)
    assert out is not None
    return out


class _Columns:
    def __init__(self, d: dict[str, Any]):
        self.__dict__.update(d)


# --- routes ------------------------------------------------------------------------------------


def build_router(deps: Deps) -> APIRouter:
    router = api_router()

    @router.get("/reviews", response_model=list[ReviewItem], tags=["reviews"],
                summary="Review queue: calls that reached a team lead")
    async def reviews(
        who: Who,
        status: Annotated[Literal["open", "in_review", "done", "all"], Query()] = "open",
        limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> Any:
        return await list_reviews(deps.sm, status, limit)

    @router.patch("/reviews/{call_id}", response_model=ReviewOut, tags=["reviews"],
                  responses={404: {"model": ErrorBody}}, summary="Set a review's status and notes")
    async def patch_review(call_id: int, body: ReviewUpdate, who: Who) -> Any:
        return await update_review(deps.sm, call_id, body, who.username, deps.clock())

    return router

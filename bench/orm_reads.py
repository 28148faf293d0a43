"""The generated app with its read routes written the idiomatic ORM way, for comparison only.

    BENCH_PACKAGE=task_tracker python -m uvicorn --factory orm_reads:create_app

The same app (middleware, error handlers, settings, lifespan), with `GET /projects` and
`GET /projects/{id}` answered as most SQLAlchemy 2 code would answer them: through the request's
`AsyncSession` (`DbSession`), loading `Project` entities with `selectinload(Project.tasks)` and
validating them into the response models. `nox -s bench_instructions` counts it beside the
shipped read, so docs/benchmark.md can show what the shipped form buys. Needs an app rendered
with `data_access=session`.
"""

import importlib
import os
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload


def create_app() -> FastAPI:
    package = os.environ["BENCH_PACKAGE"]
    main = importlib.import_module(f"{package}.main")
    models = importlib.import_module(f"{package}.models")
    schemas = importlib.import_module(f"{package}.schemas")
    session_module = importlib.import_module(f"{package}.db.session")
    errors = importlib.import_module(f"{package}.errors")
    project_model: Any = models.Project
    db_session: Any = session_module.DbSession

    router = APIRouter(prefix="/projects")

    @router.get("")
    async def list_projects(
        session: db_session, limit: schemas.Limit = 20, offset: schemas.Offset = 0
    ) -> schemas.ProjectPage:
        total = await session.scalar(select(func.count()).select_from(project_model))
        projects = await session.scalars(
            select(project_model)
            .options(selectinload(project_model.tasks))
            .order_by(project_model.id)
            .limit(limit)
            .offset(offset)
        )
        items = [schemas.ProjectRead.model_validate(project) for project in projects]
        return schemas.ProjectPage(items=items, total=total, limit=limit, offset=offset)

    @router.get("/{project_id}")
    async def read_project(
        project_id: schemas.ProjectId, session: db_session
    ) -> schemas.ProjectRead:
        project = await session.get(
            project_model, project_id, options=[selectinload(project_model.tasks)]
        )
        if project is None:
            raise errors.NotFoundError("project", project_id)
        return schemas.ProjectRead.model_validate(project)

    app: FastAPI = main.create_app()
    # Tried before the app's own routes (FastAPI tries routers in the order they were added).
    app.router.routes[:0] = router.routes
    return app

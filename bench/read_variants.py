"""The generated app with its read routes written other ways, for comparison only.

    BENCH_PACKAGE=task_tracker python -m uvicorn --factory read_variants:orm_entities
    BENCH_PACKAGE=task_tracker python -m uvicorn --factory read_variants:statements_per_request
    BENCH_PACKAGE=task_tracker python -m uvicorn --factory read_variants:yield_dependency

Each is the same app (middleware, error handlers, settings, lifespan) with `GET /projects` and
`GET /projects/{id}` answered another way, tried before the app's own routes:

* `orm_entities`: as most SQLAlchemy 2 code would answer them, through the request's
  `AsyncSession` (`DbSession`), loading `Project` entities with `selectinload(Project.tasks)`
  and validating them into the response models;
* `statements_per_request`: the shipped read (`connect_for_reading`, columns, rows by name),
  with its `select()` built on every request instead of once at import;
* `yield_dependency`: the shipped read, its connection from a FastAPI dependency with `yield`
  instead of `async with connect_for_reading(request)` in the route.

`nox -s bench_instructions` counts them beside the shipped read, so docs/benchmark.md can show
what the shipped form buys. Needs an app rendered with `data_access=session`.
"""

import importlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import selectinload


def with_routes(add_routes: Callable[[APIRouter, Any], None]) -> FastAPI:
    """The app of $BENCH_PACKAGE, with the routes `add_routes` adds tried first."""
    package = os.environ["BENCH_PACKAGE"]
    modules = {
        name: importlib.import_module(f"{package}.{name}")
        for name in ("main", "models", "schemas", "errors", "queries", "db.session")
    }
    router = APIRouter(prefix="/projects")
    add_routes(router, modules)
    app: FastAPI = modules["main"].create_app()
    app.router.routes[:0] = router.routes
    return app


def orm_entities() -> FastAPI:
    def add_routes(router: APIRouter, modules: Any) -> None:
        project_model = modules["models"].Project
        schemas = modules["schemas"]
        db_session = modules["db.session"].DbSession

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
                raise modules["errors"].NotFoundError("project", project_id)
            return schemas.ProjectRead.model_validate(project)

    return with_routes(add_routes)


def statements_per_request() -> FastAPI:
    def add_routes(router: APIRouter, modules: Any) -> None:
        project, task = modules["models"].Project, modules["models"].Task
        schemas, queries = modules["schemas"], modules["queries"]
        connect_for_reading = modules["db.session"].connect_for_reading
        columns = (task.id.label("task_id"), task.title, task.done)

        @router.get("")
        async def list_projects(
            request: Request, limit: schemas.Limit = 20, offset: schemas.Offset = 0
        ) -> schemas.ProjectPage:
            page = (
                select(project.id, project.name, project.description)
                .order_by(project.id)
                .limit(limit)
                .offset(offset)
                .subquery("page")
            )
            statement = (
                select(page.c.id, page.c.name, page.c.description, *columns)
                .outerjoin(task, task.project_id == page.c.id)
                .order_by(page.c.id, task.id)
            )
            async with connect_for_reading(request) as connection:
                total = await connection.scalar(select(func.count()).select_from(project))
                rows = await connection.execute(statement)
                items = queries.projects(rows.mappings().all())
            return schemas.ProjectPage.model_validate(
                {"items": items, "total": total, "limit": limit, "offset": offset}
            )

        @router.get("/{project_id}")
        async def read_project(project_id: schemas.ProjectId, request: Request) -> Any:
            statement = (
                select(project.id, project.name, project.description, *columns)
                .outerjoin(project.tasks)
                .where(project.id == project_id)
                .order_by(task.id)
            )
            async with connect_for_reading(request) as connection:
                rows = await connection.execute(statement)
                [found] = queries.projects(rows.mappings().all())
            return schemas.ProjectRead.model_validate(found)

    return with_routes(add_routes)


def yield_dependency() -> FastAPI:
    def add_routes(router: APIRouter, modules: Any) -> None:
        schemas, queries = modules["schemas"], modules["queries"]
        connect_for_reading = modules["db.session"].connect_for_reading

        async def get_connection(request: Request) -> AsyncIterator[AsyncConnection]:
            async with connect_for_reading(request) as connection:
                yield connection

        db_connection = Annotated[AsyncConnection, Depends(get_connection)]

        @router.get("")
        async def list_projects(
            connection: db_connection, limit: schemas.Limit = 20, offset: schemas.Offset = 0
        ) -> schemas.ProjectPage:
            page: schemas.ProjectPage = await queries.read_page(
                connection, limit=limit, offset=offset
            )
            return page

        @router.get("/{project_id}")
        async def read_project(
            project_id: schemas.ProjectId, connection: db_connection
        ) -> schemas.ProjectRead:
            project: schemas.ProjectRead = await queries.read_project(connection, project_id)
            return project

    return with_routes(add_routes)

"""HTML forms into the API's request models: the same validation as a JSON body."""
from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from okr_extension.api.problems import Problem, validation_problem
from okr_extension.web import sessions

Model = TypeVar("Model", bound=BaseModel)
MAX_FORM = 64 * 1024  # bytes of a dashboard form (notes included); larger ones are refused


async def read_form(request: web.Request, expected_csrf: str | None) -> dict[str, str]:
    """The posted fields, after checking the CSRF token (403 with the reason when it is wrong)."""
    if request.content_length is not None and request.content_length > MAX_FORM:
        raise Problem(413, f"the form is larger than {MAX_FORM // 1024} KiB")
    form = await request.post()
    if not sessions.same_token(expected_csrf, form.get(sessions.CSRF_FIELD)):
        raise Problem(403, "the form's security token is missing or does not match your session: "
                           "reload the page and send the form again")
    return {name: value for name, value in form.items()
            if name != sessions.CSRF_FIELD and isinstance(value, str)}


def to_model(model: type[Model], fields: dict[str, str], **fixed) -> Model:
    """Empty fields count as not given (the model's default applies); strings are converted
    the way a query string is (``"2.5"`` -> 2.5)."""
    data = {name: value.strip() for name, value in fields.items() if value.strip() != ""}
    data.update(fixed)
    try:
        return model.model_validate(data, strict=False)
    except ValidationError as error:
        raise validation_problem(error, "form") from None

"""Error replies of the emulated Databricks REST API.

Every error body is `{"error_code": ..., "message": ...}` with `Content-Type: application/json`,
because that is what databricks-sdk parses into its exception classes (fact sheet §1.2, §13).
"""

from __future__ import annotations


class ApiError(Exception):
    """Raised by a service method; the HTTP layer turns it into a JSON error reply."""

    def __init__(self, status: int, error_code: str | int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error_code": self.error_code, "message": self.message}


def invalid(message: str) -> ApiError:
    # The real service answers most bad input with 400 INVALID_PARAMETER_VALUE.
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


def already_exists(message: str) -> ApiError:
    return ApiError(400, "RESOURCE_ALREADY_EXISTS", message)


def malformed(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_REQUEST", message)


def job_missing(job_id: object) -> ApiError:
    # Real text; the SDK's GET override maps it to ResourceDoesNotExist (fact sheet §1.2, §13.7).
    return invalid(f"Job {job_id} does not exist.")


def run_missing(run_id: object) -> ApiError:
    return invalid(f"Run {run_id} does not exist.")


def require_int(body: dict, key: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            return int(value)
        if value is None:
            raise invalid(f"Missing required field: {key}")
        raise invalid(f"Invalid value for {key}: {value!r}")
    return value

"""Request and response shapes (pydantic): one definition serves validation and OpenAPI."""

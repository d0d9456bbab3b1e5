"""Request handlers, one module per resource: small functions `handler(req) -> Response`."""

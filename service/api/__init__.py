"""HTTP layer: FastAPI app, routes, error mapping, middleware. The only place that knows about HTTP."""

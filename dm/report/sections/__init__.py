"""One module per section of the report; each has `build(ctx) -> Section`."""

"""One route module per concern."""

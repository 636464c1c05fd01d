"""The static history site: its data model, pages, plots and templates."""

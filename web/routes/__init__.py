"""Route modules, one per area of the UI and API."""

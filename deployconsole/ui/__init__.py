"""PySide6 widgets, models and dialogs; no business rules."""

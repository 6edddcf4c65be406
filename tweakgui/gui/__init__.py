"""The Qt desktop application (the only place Qt is imported)."""

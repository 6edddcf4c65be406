"""The Qt-free alignment engine."""

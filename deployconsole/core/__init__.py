"""Domain values and rules: imports neither Qt nor any Google client."""

"""deployconsole: a desktop deploy console for Google App Engine."""

__version__ = "0.1.0"

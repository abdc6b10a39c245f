"""The bundle's entry point: the same ``main`` as the ``deployconsole`` script."""

from deployconsole.cli import main

raise SystemExit(main())

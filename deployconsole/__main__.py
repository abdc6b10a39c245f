from deployconsole.cli import main

raise SystemExit(main())

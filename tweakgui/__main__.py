from tweakgui.cli import main

raise SystemExit(main())

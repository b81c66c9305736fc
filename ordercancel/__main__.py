from ordercancel.cli import main

raise SystemExit(main())

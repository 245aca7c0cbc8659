from katib_gitops.cli import main

raise SystemExit(main())

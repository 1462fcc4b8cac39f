from xbtcpay.app.cli import main

raise SystemExit(main())

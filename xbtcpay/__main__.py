from xbtcpay.cli import main

raise SystemExit(main())

import sys

from cinedub.cli import main

sys.exit(main())

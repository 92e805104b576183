import sys

from chemaccel.cli import main

sys.exit(main())

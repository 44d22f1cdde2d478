"""`python -m d2mlib.timing`: run a timing suite and append its rows."""

import sys

from d2mlib.timing.suite import main

sys.exit(main())

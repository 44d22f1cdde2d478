"""`python -m d2mlib.train` (and `torchrun ... -m d2mlib.train`): train one stage."""

import sys

from d2mlib.train.cli import main

sys.exit(main())

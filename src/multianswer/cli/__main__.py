"""`python -m multianswer.cli ...` (what `accelerate launch -m` and `torchrun -m` run)."""

import sys

from multianswer.cli import main

sys.exit(main())

"""`python -m litwatch.jobs ...`: the `litwatch` command."""

import sys

from litwatch.jobs import main

sys.exit(main())

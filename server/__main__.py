import sys

from server.cli import main

# Guarded: the workers of ``serve --workers`` are spawned processes that import this module.
if __name__ == "__main__":
    sys.exit(main())

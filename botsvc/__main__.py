"""Allow ``python -m botsvc``."""

from botsvc.cli import main

if __name__ == "__main__":
    main()

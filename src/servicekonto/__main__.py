"""`python -m servicekonto` is the same as the `servicekonto` console script."""

from servicekonto.cli import main

if __name__ == "__main__":
    main()

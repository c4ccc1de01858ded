"""Label unlabelled images with a teacher: `python distill.py teacher=... images=<folder|synthetic:N> output=<dir>`."""

from depthlab.cli.distill import main

if __name__ == "__main__":
    main()

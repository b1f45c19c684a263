import sys

from trainer.cli import main

sys.exit(main(["mini-r1", *sys.argv[1:]]))

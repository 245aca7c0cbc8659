"""Trial entry point: parse the hyperparameters, train, print the objective as NAME=VALUE.

Katib's StdOut collector (and `katib-gitops run`) read lines like `loss=0.0123`.
Replace the toy objective below with your training code.
"""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--momentum", type=float, required=True)
    args = parser.parse_args(argv)
    if not 0 < args.lr < 1:
        parser.error("--lr must be between 0 and 1")
    # A toy objective with its minimum at lr=0.05, momentum=0.9.
    loss = (args.lr - 0.05) ** 2 + (args.momentum - 0.9) ** 2
    print(f"loss={loss:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

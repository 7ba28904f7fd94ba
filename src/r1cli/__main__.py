"""`python -m r1cli ...`, also under `accelerate launch -m r1cli ...` and `torchrun -m r1cli ...`."""

from r1cli.cli import main

if __name__ == "__main__":
    main()

"""Summarise a py-spy raw (collapsed stacks) profile: the functions with the most samples.

    python scripts/bench/profile_top.py PROFILE.txt [--self] [--thread MainThread] [-n 30]

Profiles from run.py --profile carry the thread as their first frame: the event loop is
"MainThread", the database threads are "_connection_worker_thread".
"""

from __future__ import annotations

import argparse
from collections import Counter


def main() -> None:
    """Print the top functions by inclusive (default) or self samples."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile")
    parser.add_argument("--self", dest="self_only", action="store_true", help="self time only")
    parser.add_argument("--thread", help="only stacks of threads whose name contains this")
    parser.add_argument("-n", type=int, default=30)
    args = parser.parse_args()
    counts: Counter[str] = Counter()
    total = 0
    with open(args.profile) as fh:
        for line in fh:
            stack, _, n = line.rstrip().rpartition(" ")
            if not stack:
                continue
            samples = int(n)
            frames = stack.split(";")
            if frames[0].startswith("thread ("):
                thread, frames = frames[0], frames[1:]
                if args.thread and args.thread not in thread:
                    continue
            if not frames:
                continue
            total += samples
            if args.self_only:
                counts[frames[-1]] += samples
            else:
                for frame in set(frames):
                    counts[frame] += samples
    print(f"{total} samples")
    for frame, samples in counts.most_common(args.n):
        print(f"{100 * samples / total:5.1f}%  {frame}")


if __name__ == "__main__":
    main()

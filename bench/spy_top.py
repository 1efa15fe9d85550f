#!/usr/bin/env python
"""Summarise py-spy raw (collapsed) stacks: the functions with the most samples, by own
time and by total time, optionally only in stacks that contain a given frame.

    .venv/bin/python bench/spy_top.py /tmp/prof/ours-*.txt --contains connect
"""

import argparse
import collections


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+")
    parser.add_argument("--contains", default="")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    own, total, samples = collections.Counter(), collections.Counter(), 0
    for name in args.files:
        with open(name) as lines:
            for line in lines:
                stack, _, count = line.rstrip().rpartition(" ")
                if args.contains and args.contains not in stack:
                    continue
                count = int(count)
                samples += count
                frames = stack.split(";")
                own[frames[-1]] += count
                for frame in set(frames):
                    total[frame] += count
    print(f"{samples} samples")
    for title, counter in (("own", own), ("total", total)):
        print(f"\n-- by {title} time")
        for frame, count in counter.most_common(args.top):
            print(f"{100 * count / samples:5.1f}%  {frame[:150]}")


if __name__ == "__main__":
    main()

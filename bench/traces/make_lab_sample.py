#!/usr/bin/env python3
"""Writes lab_sample.txt: a small trace in the text format of the Brandeis SSD
lab's LSMMemoryProfiling harness (the workload.txt that KV-WorkloadGenerator's
load_gen writes and src/run_workload.cc replays), for mtbench's smoke test:

    I <key> <value>     insert            U <key> <value>   update
    D <key>             point delete      Q <key>           point query
    S <start> <end>     range scan [start, end)
    SC <start> <count>  scan count entries from start

Keys and values are random alphanumeric strings, as load_gen makes them
(key_alphanum / value_alphanum); deletes end in a blank, as load_gen writes
them.  Deterministic: the same file every run.

usage: python3 make_lab_sample.py [OUT]   (default: lab_sample.txt beside it)
"""
import os
import random
import sys

KEY_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
VALUE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
KEY_SIZE, VALUE_SIZE = 16, 48


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "lab_sample.txt")
    rng = random.Random(11)

    def text(chars, n):
        return "".join(rng.choice(chars) for _ in range(n))

    live, dead, lines = [], [], []
    # 500 inserts first (load_gen holds queries back until keys exist), then
    # 2000 mixed operations.
    for _ in range(500):
        k = text(KEY_CHARS, KEY_SIZE)
        live.append(k)
        lines.append(f"I {k} {text(VALUE_CHARS, VALUE_SIZE)}")
    ops = ["I"] * 600 + ["U"] * 300 + ["D"] * 150 + ["Q"] * 650 + ["S"] * 200 + ["SC"] * 100
    rng.shuffle(ops)
    for op in ops:
        if op == "I":
            k = text(KEY_CHARS, KEY_SIZE)
            live.append(k)
            lines.append(f"I {k} {text(VALUE_CHARS, VALUE_SIZE)}")
        elif op == "U":
            lines.append(f"U {rng.choice(live)} {text(VALUE_CHARS, VALUE_SIZE)}")
        elif op == "D":
            k = live.pop(rng.randrange(len(live)))
            dead.append(k)
            lines.append(f"D {k} ")
        elif op == "Q":  # mostly present keys; some deleted, some never written
            r = rng.random()
            k = (rng.choice(dead) if r < 0.1 and dead else
                 text(KEY_CHARS, KEY_SIZE) if r < 0.2 else rng.choice(live))
            lines.append(f"Q {k}")
        elif op == "S":  # load_gen picks both ends among the keys present
            a, b = sorted(rng.sample(live, 2))
            lines.append(f"S {a} {b}")
        else:
            lines.append(f"SC {rng.choice(live)} {rng.randint(1, 100)}")
    with open(out, "w") as f:
        f.write("# LSMMemoryProfiling-format sample trace for mtbench (bench/traces/).\n")
        f.write("# Made by bench/traces/make_lab_sample.py (random.Random(11)): 500 inserts,\n")
        f.write("# then 2000 shuffled ops: 600 I, 300 U, 150 D, 650 Q, 200 S, 100 SC;\n")
        f.write("# 16-byte alphanumeric keys, 48-byte values, as load_gen makes them.\n")
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

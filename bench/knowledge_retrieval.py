"""Benchmark: knowledge-base retrieval accuracy on held-out questions, and end-to-end latency.

Accuracy: each question in bench/data/knowledge_heldout.yml (written apart from the entries'
phrasings) is retrieved against data/knowledge/faqs.yml, and scored at several thresholds:
answered right, answered wrong, honestly not answered. Latency (with --e2e): a real stack answers
knowledge questions over the signed SMS webhook, one after another, and p50/p95/p99 are printed.

  .venv/bin/python bench/knowledge_retrieval.py [--e2e]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.knowledge import KnowledgeBase  # noqa: E402
from bot.settings import PROJECT_ROOT  # noqa: E402

HELDOUT = PROJECT_ROOT / "bench" / "data" / "knowledge_heldout.yml"


def accuracy(thresholds: list[float], current: float) -> None:
    knowledge = KnowledgeBase(PROJECT_ROOT / "data" / "knowledge" / "faqs.yml", threshold=0.0)
    questions = yaml.safe_load(HELDOUT.read_text())["questions"]
    scored = [(q["text"], q["expect"], knowledge.index().search(q["text"], limit=1)[0]) for q in questions]
    covered = sum(1 for _, expect, _ in scored if expect)
    print(f"{len(questions)} held-out questions ({covered} covered by the knowledge base, "
          f"{len(questions) - covered} not covered), {len(knowledge.index().entries)} entries")
    print(f"{'threshold':>9}  {'right':>6}  {'wrong':>6}  {'declined (covered)':>18}  {'declined (not covered)':>22}")
    for threshold in thresholds:
        right = wrong = declined_covered = declined_uncovered = 0
        for _, expect, match in scored:
            answered = match.score >= threshold
            if expect is None:
                declined_uncovered += not answered
                wrong += answered
            elif not answered:
                declined_covered += 1
            elif match.entry.id == expect:
                right += 1
            else:
                wrong += 1
        marker = "  <- KNOWLEDGE_THRESHOLD" if abs(threshold - current) < 1e-9 else ""
        print(f"{threshold:9.2f}  {right:3d}/{covered:<2d}  {wrong:6d}  {declined_covered:18d}  "
              f"{declined_uncovered:3d}/{len(questions) - covered:<18d}{marker}")
    print("\nmisses at the current threshold:")
    for text, expect, match in scored:
        answered = match.score >= current
        if (expect is None and answered) or (expect and (not answered or match.entry.id != expect)):
            print(f"  {text!r}: expected {expect}, best {match.entry.id} ({match.score:.2f})")


def end_to_end(messages: int) -> None:
    from tests.stack_fixture import start_stack

    questions = [q["text"] for q in yaml.safe_load(HELDOUT.read_text())["questions"] if q["expect"]]
    with tempfile.TemporaryDirectory() as scratch:
        running = start_stack(Path(scratch))
        try:
            latencies = []
            for n in range(messages):
                started = time.perf_counter()
                reply = running.text("+12025550143", questions[n % len(questions)])
                latencies.append((time.perf_counter() - started) * 1000)
                assert reply.status == 200 and reply.messages, reply
            ordered = sorted(latencies)
            pick = lambda share: ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]  # noqa: E731
            print(f"\nknowledge answer over the SMS webhook, end to end, n={messages}: p50={pick(.5):.1f} ms "
                  f"p95={pick(.95):.1f} ms p99={pick(.99):.1f} ms mean={statistics.fmean(latencies):.1f} ms")
        finally:
            running.stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--e2e", action="store_true", help="also measure end-to-end latency on a real stack")
    parser.add_argument("--messages", type=int, default=60)
    args = parser.parse_args()
    from bot.settings import Settings

    accuracy([0.25, 0.30, 0.35, 0.40, 0.45, 0.50], Settings.from_env().knowledge_threshold)
    if args.e2e:
        end_to_end(args.messages)


if __name__ == "__main__":
    main()

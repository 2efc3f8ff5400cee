"""The knowledge base: loading, refusing bad edits, reloading good ones, and honest retrieval."""

from __future__ import annotations

import os
import textwrap

import pytest

from bot.knowledge import KnowledgeBase, KnowledgeError, parse_knowledge

KB = textwrap.dedent("""
    faqs:
      - id: parental-leave
        question: How much parental leave do you offer?
        also_asked: ["maternity leave?", "paternity leave policy"]
        answer: All parents get 20 weeks of fully paid leave.
        topic: benefits
      - id: health
        question: What health insurance do you offer?
        also_asked: [medical coverage, do you have dental and vision]
        answer: Medical, dental and vision from day one, 90% of premiums paid.
        topic: benefits
      - id: star
        question: How should I prepare for the behavioural interview?
        also_asked: [what is the STAR method, behavioral questions tips]
        answer: Prepare four or five stories using STAR - Situation, Task, Action, Result.
        topic: process
        stage: Onsite Loop
      - id: values
        question: What are your company values?
        also_asked: ["what's the culture like", "what do you value"]
        answer: Customers first, own the outcome, keep it simple, grow together.
        topic: culture
""")


def write(path, text) -> None:
    path.write_text(text)
    # Make each edit visible to the change check even within one filesystem tick.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.fixture()
def kb_file(tmp_path):
    path = tmp_path / "faqs.yml"
    path.write_text(KB)
    return path


def test_the_documented_shape_loads():
    entries = parse_knowledge(KB)
    assert [entry.id for entry in entries] == ["parental-leave", "health", "star", "values"]
    assert entries[0].also_asked == ("maternity leave?", "paternity leave policy")
    assert entries[2].stage == "Onsite Loop"


@pytest.mark.parametrize(("text", "message"), [
    ("faqs: [", "not valid YAML"),
    ("questions: []", "expected a mapping with a list under 'faqs'"),
    ("faqs: []", "no entries"),
    (KB.replace("topic: culture", "topic: gossip"), "faqs[3].topic: must be one of benefits, culture"),
    (KB.replace("id: health", "id: parental-leave"), "faqs[1].id: 'parental-leave' is used twice"),
    (KB.replace("    answer: All parents get 20 weeks of fully paid leave.\n", ""), "faqs[0].answer: required"),
    (KB.replace("also_asked: [medical coverage, do you have dental and vision]", "also_asked: medical"),
     "faqs[1].also_asked: expected a list"),
])
def test_mistakes_are_named(text, message):
    with pytest.raises(KnowledgeError) as caught:
        parse_knowledge(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(("question", "entry_id"), [
    ("do u offer maternity leave", "parental-leave"),
    ("how long is paternity leave??", "parental-leave"),
    ("is dental covered", "health"),
    ("what's the STAR method", "star"),
    ("tips for behavioral interview questions", "star"),
    ("what is the company culture like", "values"),
])
def test_paraphrases_find_the_right_entry(kb_file, question, entry_id):
    answer = KnowledgeBase(kb_file).answer(question)
    assert answer.found and answer.entry.id == entry_id, answer


@pytest.mark.parametrize("question", ["what's the capital of france", "asdfgh", "", "can you fix my wifi"])
def test_below_the_threshold_nothing_is_answered(kb_file, question):
    assert not KnowledgeBase(kb_file).answer(question).found


def test_the_threshold_is_honoured(kb_file):
    question = "tell me about leave"
    score = KnowledgeBase(kb_file).answer(question).score
    assert 0 < score < 1
    assert KnowledgeBase(kb_file, threshold=score - 0.01).answer(question).found
    assert not KnowledgeBase(kb_file, threshold=score + 0.01).answer(question).found


def test_an_edit_is_answered_at_once_without_restarting(kb_file):
    knowledge = KnowledgeBase(kb_file)
    assert "20 weeks" in knowledge.answer("maternity leave?").entry.answer
    write(kb_file, KB.replace("20 weeks", "26 weeks"))
    assert "26 weeks" in knowledge.answer("maternity leave?").entry.answer


def test_a_broken_edit_keeps_the_previous_version(kb_file):
    knowledge = KnowledgeBase(kb_file)
    write(kb_file, KB.replace("topic: culture", "topic: gossip"))
    answer = knowledge.answer("maternity leave?")
    assert "20 weeks" in answer.entry.answer
    assert "faqs[3].topic" in knowledge.last_error
    write(kb_file, KB.replace("20 weeks", "24 weeks"))  # fixed: the new version takes over
    assert "24 weeks" in knowledge.answer("maternity leave?").entry.answer
    assert knowledge.last_error is None


def test_a_deleted_file_keeps_the_previous_version(kb_file):
    knowledge = KnowledgeBase(kb_file)
    kb_file.unlink()
    assert knowledge.answer("maternity leave?").found
    assert "cannot be read" in knowledge.last_error


def test_a_broken_file_at_start_up_is_an_error(tmp_path):
    path = tmp_path / "faqs.yml"
    path.write_text("faqs: [")
    with pytest.raises(KnowledgeError, match="not valid YAML"):
        KnowledgeBase(path)

"""Held-out caller phrasings as text, for the intent step alone (no audio): everyday wordings,
fillers, clipped or misheard words as recognisers return them. None of them may appear in what
the intent patterns or the intent model are built from (voicebot.intents.sample_sentences,
voicebot.intent_model.training_sentences): tests/unit/test_voicebot_intent_model.py checks.
Written before the model was trained; do not tune on them."""

from __future__ import annotations

HELD_OUT_TEXT: dict[str, list[str]] = {
    "check_ticket": [
        "so is my ticket any good", "i got a ticket can you see if it won",
        "uh can you look at my ticket", "did i get lucky with my ticket",
        "my ticket did it win", "i want to know about my ticket",
        "check a ticket for me", "i think my numbers won can you check",
    ],
    "next_draw": [
        "when do you draw next", "when does the next one happen",
        "what time do they do the draw", "is the draw tonight",
        "next lottery draw when", "when is the lotto on",
        "how soon is the next draw", "what date is the next drawing",
    ],
    "winning_numbers": [
        "which numbers won", "tell me the draw numbers", "what were the march numbers",
        "what numbers did they pick", "read out the numbers from the last draw",
        "numbers from saturday please", "what came up in the lotto",
        "what were last weeks numbers",
    ],
    "claim_winnings": [
        "i want a money how do i get a", "how do i get the cash", "where do i pick up my money",
        "i won something what now", "how do i turn in a winning ticket",
        "what do i do with a winning ticket", "how can i get paid for my ticket",
        "where is my prize",
    ],
    "operator": [
        "can i talk to a person please", "i need to speak to someone",
        "get me a human being", "put me through to someone", "i want a real human",
        "speak to an operator", "just give me an operator",
        "i want to talk to an operator about the winning numbers",
    ],
    "unknown": [
        "what time is it", "i want to order a taxi", "the dog ate my homework",
        "do you sell pizza", "my phone is broken", "how is the weather tomorrow",
        "i am looking for the bank", "play me a song",
    ],
}  # fmt: skip

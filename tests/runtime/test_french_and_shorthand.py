"""French requests and chat spellings are read as the English words they stand for."""

from __future__ import annotations

import pytest

from lamas.runtime.understanding.french import gloss, is_french
from lamas.runtime.understanding.shorthand import expand


@pytest.mark.parametrize(
    ("french", "english"),
    [
        (
            "Bonjour, pouvez-vous me réserver un hôtel à Nice près de la gare pour 2 nuits",
            "could you me book a hotel in Nice near the station for 2 nights",
        ),
        ("Mets-moi une chanson d'Édith Piaf s'il te plaît", "play a song by Édith Piaf please"),
        ("mets du jazz calme stp", "play some jazz calm please"),
        (
            "Un billet de Paris à Lyon mardi prochain le matin",
            "a train ticket from Paris to Lyon next Tuesday morning",
        ),
        ("une chambre à Lyon du 3 au 5 mars", "a room in Lyon from 3 to 5 March"),
        (
            "je voudrais écouter de la chanson française des années 60, plutôt mélancolique",
            "I need to listen to French song from the 60s, rather melancholic",
        ),
    ],
)
def test_a_french_request_reads_as_the_english_it_means(french: str, english: str) -> None:
    assert gloss(french) == english


@pytest.mark.parametrize(
    "english",
    [
        "a train to Le Havre on Friday",
        "Play La Vie en Rose please",
        "a hotel near Gare de Lyon for two nights",
        "book a table at Le Comptoir du Relais",
    ],
)
def test_english_with_french_names_is_left_alone(english: str) -> None:
    assert not is_french(english)
    assert gloss(english) == english


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("hotel in Nice 3 nites tonite", "hotel in Nice 3 nights tonight"),
        ("pls play smth by Coldplay", "please play something by Coldplay"),
        ("train to Lyon tmrw b4 9", "train to Lyon tomorrow before 9"),
        ("Christmas Eve in Strasbourg", "Christmas Eve in Strasbourg"),
    ],
)
def test_chat_spellings_are_read_as_the_words_they_stand_for(typed: str, meant: str) -> None:
    assert expand(typed) == meant

"""French requests are glossed into the English they mean; names stay as written."""

from __future__ import annotations

import pytest

from lamas.runtime.understanding.french import gloss, is_french


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

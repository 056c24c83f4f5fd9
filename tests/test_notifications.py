"""Who is notified of a message: the one rule (notifications.recipients), mentions, defaults."""

import pytest

from campfire.notifications import recipients

AUTHOR, ANN, BOB = "author", "ann", "bob"


@pytest.mark.parametrize(
    ("involvement", "mentioned", "notified"),
    [
        ("everything", False, True),
        ("everything", True, True),
        ("mentions", False, False),
        ("mentions", True, True),
        ("nothing", False, False),
        ("nothing", True, False),
        ("invisible", False, False),
        ("invisible", True, False),
        ("bogus", True, False),
    ],
)
def test_each_involvement_with_and_without_a_mention(involvement, mentioned, notified):
    members = [(AUTHOR, "everything"), (ANN, involvement)]
    got = recipients(AUTHOR, members, [ANN] if mentioned else [], [])
    assert got == ({ANN} if notified else set())


@pytest.mark.parametrize("involvement", ["everything", "mentions"])
def test_nobody_viewing_the_room_is_notified(involvement):
    members = [(ANN, involvement), (BOB, involvement)]
    assert recipients(AUTHOR, members, [ANN, BOB], viewing_user_ids=[ANN]) == {BOB}


def test_the_author_is_never_notified_even_when_mentioning_themselves():
    members = [(AUTHOR, "everything"), (ANN, "everything")]
    assert recipients(AUTHOR, members, [AUTHOR], []) == {ANN}


def test_a_mention_of_a_non_member_notifies_nobody():
    assert recipients(AUTHOR, [(ANN, "mentions")], ["stranger"], []) == set()

"""The words that seeded messages are made of, shared by `manage.py seed`
(which writes them) and `manage.py admin_timings` (which searches for them).

Messages are built from a pool of phrases over VOCABULARY. SEARCH_WORDS are
never part of a phrase: each is added to a message with its own probability,
so its frequency is known (and none of them is a substring of another word,
which matters because admin's search is "contains").
"""

_WORDS = """
the a to and of in is it you that for on was with he be at by this had not are but from or have an they which
one were all we when your can said there use each she do how their if will up other about out many then them
these so some her would make like him into time has look two more write go see number no way could people my
than first water been call who oil its now find long down day did get come made may part hello thanks please
sure okay yes maybe later today tomorrow yesterday morning evening night week month year meeting call chat
ticket issue bug fix release deploy build test review merge branch server client database query index cache
queue worker login password account profile settings order payment shipping delivery package address phone
email message reply thread group team project plan design draft update status report numbers budget price
cost discount coffee lunch dinner pizza train flight hotel trip photo video music movie game match score goal
happy great awesome nice cool funny weird strange quick slow busy free ready done late early soon again still
really just very quite almost never always often sometimes here where what why who whom whose question answer
help support problem error warning notice alert reminder schedule agenda notes minutes slides document file
folder link page site app mobile desktop browser window screen button menu form field value list table chart
"""
VOCABULARY = _WORDS.split()

# Added to a message with this probability each (per message, independently).
SEARCH_WORDS = {
    "deadline": 0.05,  # common: one message in twenty
    "invoice": 0.01,  # a word that exists in some messages
    "refund": 0.002,
    "narwhal": 0.0001,
    "quokka": 0.00001,  # rare: about ten in a million
}
COMMON_WORD = "deadline"
SOME_WORD = "invoice"
UNCOMMON_WORD = "narwhal"
RARE_WORD = "quokka"
ABSENT_WORD = "ozymandias"  # in no message

SPAM_PHRASES = [
    "get FREE crypto now",
    "click here to claim your prize",
    "cheap followers for sale",
    "limited offer act now",
    "visit cheap-deals dot example",
    "earn money from home fast",
    "you have won a gift card",
]

HIDDEN_REASONS = ["spam", "abusive language", "off-topic advertising", "reported by users", "personal data"]

TOPIC_WORDS = ["Weekly", "Support", "Release", "Planning", "Random", "Announcements", "Design", "Ops", "Sales", "Help"]


def check():
    """No search word may be found inside the vocabulary or another search word."""
    assert ABSENT_WORD not in SEARCH_WORDS
    pieces = [*VOCABULARY, *" ".join(SPAM_PHRASES).lower().split(), *(w.lower() for w in TOPIC_WORDS)]
    for word in [*SEARCH_WORDS, ABSENT_WORD]:
        clash = [p for p in pieces if word in p] + [w for w in SEARCH_WORDS if w != word and word in w]
        assert not clash, f"search word {word!r} is part of {clash}"

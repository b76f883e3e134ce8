"""Stateful property test of the run: never miss an article, never send one twice.

Hypothesis drives the real `Pipeline` and a real SQLite store, with in-process stand-ins for
E-utilities (`StubEntrez`) and the mail server (`StubMail`), through random sequences of: new
search results, new citations of the tracked paper, NCBI failing, deliveries refused (temporary),
deliveries in doubt (the server accepted, or not, but the connection broke before its answer),
restarts (the store closed and reopened) and runs.

Invariants: at every step, no recipient has an article in two different messages (a resend of an
in-doubt delivery is the same message: same Message-ID, same bytes).  After the faults clear and
litwatch runs again, every article announced for a recipient reached them exactly once.
"""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from litwatch.jobs.config import parse_config
from litwatch.jobs.run.pipeline import Pipeline
from litwatch.notifications.delivery import DeliveryError
from litwatch.watchers.articles import Article, ArticleRecord
from litwatch.watchers.entrez import EntrezError, SearchPage
from litwatch.watchers.store import open_store

A, B = "haematology@example.org", "pharmacy@example.org"  # A: everything; B: watch W2, no citations
TRACKED = "90000001"
QUERIES = {"W1": "zanubrutinib[tiab]", "W2": "rilzabrutinib[tiab]"}
LINK = re.compile(r"pubmed\.ncbi\.nlm\.nih\.gov/(\d+)/")


class StubEntrez:
    """What `Pipeline` asks of `EntrezClient`, answered from plain sets."""

    def __init__(self) -> None:
        self.hits: dict[str, set[str]] = {q: set() for q in QUERIES.values()}
        self.cited_by_tracked: set[str] = set()
        self.fail = False
        self.requests_made = 0
        self.unreadable: dict[str, str] = {}  # records that cannot be converted (none here)

    def esearch(self, term: str, *, retstart: int = 0, **_kwargs) -> SearchPage:  # noqa: ANN003
        self.requests_made += 1
        if self.fail:
            raise EntrezError("esearch: HTTP 503 (gave up after 2 attempts)")
        ids = sorted(self.hits.get(term, set()), reverse=True)  # (the daily notice search: none)
        return SearchPage(count=len(ids), ids=ids[retstart:], query_translation=term)

    def fetch_records(self, pmids):  # noqa: ANN001, ANN201
        self.requests_made += 1
        for p in sorted(pmids):
            yield ArticleRecord.of(Article(pmid=p, title_html=f"Article {p}", entrez_date="2026-11-20"))

    def cited_by(self, pmids) -> dict[str, set[str]]:  # noqa: ANN001
        self.requests_made += 1
        return {p: set(self.cited_by_tracked) if p == TRACKED else set() for p in pmids}

    def close(self) -> None:
        pass


class StubMail:
    """A mail server: `accepted` is what it took, whatever the client saw."""

    method = "smtp"

    def __init__(self) -> None:
        self.mode = "ok"  # "ok", "refuse" (451), "doubt_accepted", "doubt_lost"
        self.accepted: list[tuple[str, bytes]] = []

    def describe(self) -> str:
        return "stub"

    def deliver(self, message: bytes, sender: str, recipient: str) -> None:
        if self.mode == "refuse":
            raise DeliveryError(f"smtp: recipient {recipient} refused: 451 try again later")
        if self.mode == "doubt_lost":
            raise DeliveryError("smtp: connection lost after the message was sent", in_doubt=True)
        self.accepted.append((recipient, message))
        if self.mode == "doubt_accepted":
            raise DeliveryError("smtp: connection lost after the message was sent", in_doubt=True)


def _config(folder: Path):  # noqa: ANN202
    return parse_config(
        {
            "ncbi": {"email": "lab@example.org"},
            "watch": [{"name": name, "query": query} for name, query in QUERIES.items()],
            "tracked": {"pmids": [TRACKED]},
            "digest": {"sender": "litwatch@example.org", "recipients": [A], "max_items": 1000, "attach": []},
            "recipient": [{"email": B, "watches": ["W2"], "citations": False}],
        },
        folder / "litwatch.toml",
    )


class RunMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="litwatch-prop-"))
        self.config = _config(self.folder)
        self.ncbi = StubEntrez()
        self.mail = StubMail()
        self.store = open_store(path=self.config.store_path)
        self.next_pmid = 10_000_000
        self.next_citing = 80_000_000
        self.expected: dict[str, set[str]] = {A: set(), B: set()}
        self.parsed: dict[bytes, set[str]] = {}

    # -- the first run: a baseline, announced to nobody --------------------------------------------

    @initialize(w1=st.integers(0, 3), w2=st.integers(0, 3), citing=st.integers(0, 2))
    def first_run(self, w1: int, w2: int, citing: int) -> None:
        self.ncbi.hits[QUERIES["W1"]] |= self._fresh(w1)
        self.ncbi.hits[QUERIES["W2"]] |= self._fresh(w2)
        self.ncbi.cited_by_tracked |= {self._citing() for _ in range(citing)}
        self._run()

    # -- what happens between runs -----------------------------------------------------------------

    @rule(watch=st.sampled_from(["W1", "W2", "both"]), n=st.integers(1, 3), also_old=st.booleans())
    def new_daily_results(self, watch: str, n: int, also_old: bool) -> None:
        new = self._fresh(n)
        for name in (["W1", "W2"] if watch == "both" else [watch]):
            self.ncbi.hits[QUERIES[name]] |= new
            self._expect(name, new)
        if also_old:  # an article W1 found earlier now matches W2 too: news for B only
            old = sorted(self.ncbi.hits[QUERIES["W1"]] - self.ncbi.hits[QUERIES["W2"]])
            if old:
                self.ncbi.hits[QUERIES["W2"]].add(old[0])
                self._expect("W2", {old[0]})

    @rule(n=st.integers(1, 2))
    def new_citations(self, n: int) -> None:
        new = {self._citing() for _ in range(n)}
        self.ncbi.cited_by_tracked |= new
        self.expected[A] |= new  # B does not receive citations

    @rule()
    def restart(self) -> None:
        self.store.close()
        self.store = open_store(path=self.config.store_path)

    @rule()
    def run(self) -> None:
        self._run()

    @rule()
    def run_with_ncbi_down(self) -> None:
        self._run(ncbi_fails=True)

    @rule()
    def run_with_delivery_failing(self) -> None:
        """The mail server refuses for now (451): the digest's items wait for the next run."""
        self._run(mail="refuse")

    @rule(accepted=st.booleans())
    def run_with_delivery_in_doubt(self, accepted: bool) -> None:
        """The connection breaks after the message data: the server took it, or not."""
        self._run(mail="doubt_accepted" if accepted else "doubt_lost")

    # -- invariants ----------------------------------------------------------------------------------

    @invariant()
    def never_in_two_messages(self) -> None:
        for recipient, pmid, ids in self._deliveries():
            assert len(ids) == 1, f"{recipient} got {pmid} in {len(ids)} different messages: {sorted(ids)}"

    @invariant()
    def same_message_id_same_bytes(self) -> None:
        seen: dict[str, bytes] = {}
        for _recipient, raw in self.mail.accepted:
            mid = self._message_id(raw)
            assert seen.setdefault(mid, raw) == raw, f"{mid} sent with different contents"

    def teardown(self) -> None:
        try:
            self._run()
            self._run()
            delivered: dict[str, set[str]] = {A: set(), B: set()}
            for recipient, pmid, ids in self._deliveries():
                assert len(ids) == 1, (recipient, pmid, ids)
                delivered[recipient].add(pmid)
            for r in (A, B):
                assert delivered[r] == self.expected[r], (
                    f"{r}: missing {sorted(self.expected[r] - delivered[r])}, "
                    f"unexpected {sorted(delivered[r] - self.expected[r])}"
                )
            assert not self.store.deliveries.find(status="sending")
            assert not [q for q in self.store.queue.pending() if q.kind != "note"]
        finally:
            self.store.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------------------

    def _run(self, *, ncbi_fails: bool = False, mail: str = "ok") -> None:
        self.ncbi.fail, self.mail.mode = ncbi_fails, mail
        try:
            Pipeline(self.config, self.store, self.ncbi, self.mail).run()
        finally:
            self.ncbi.fail, self.mail.mode = False, "ok"

    def _fresh(self, n: int) -> set[str]:
        out = {str(self.next_pmid + i) for i in range(n)}
        self.next_pmid += n
        return out

    def _citing(self) -> str:
        self.next_citing += 1
        return str(self.next_citing)

    def _expect(self, watch: str, pmids: set[str]) -> None:
        self.expected[A] |= pmids
        if watch == "W2":
            self.expected[B] |= pmids

    def _message_id(self, raw: bytes) -> str:
        head = raw.split(b"\r\n\r\n", 1)[0]
        return str(email.message_from_bytes(head + b"\r\n\r\n", policy=email.policy.default)["Message-ID"])

    def _pmids(self, raw: bytes) -> set[str]:
        if raw not in self.parsed:
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            text = msg.get_body(preferencelist=("plain",)).get_content()
            self.parsed[raw] = set(LINK.findall(text)) - {TRACKED}
        return self.parsed[raw]

    def _deliveries(self):  # noqa: ANN202
        """(recipient, pmid, {Message-IDs that carried it})."""
        seen: dict[tuple[str, str], set[str]] = {}
        for recipient, raw in self.mail.accepted:
            mid = self._message_id(raw)
            for pmid in self._pmids(raw):
                seen.setdefault((recipient, pmid), set()).add(mid)
        return [(r, p, ids) for (r, p), ids in sorted(seen.items())]


RunMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_never_miss_never_repeat = RunMachine.TestCase


def test_an_in_doubt_delivery_refused_on_resend_stays_in_doubt() -> None:
    """The sequence the state machine found: the server took a digest but the connection broke;
    the next run's resend is refused for now (451); the run after that must resend the same
    message, not put its articles into a new one (which would announce them twice)."""
    machine = RunMachine()
    try:
        machine.first_run(w1=1, w2=0, citing=0)
        machine.new_daily_results(watch="W1", n=1, also_old=False)
        machine.new_citations(n=1)
        machine.run_with_delivery_in_doubt(accepted=True)
        machine.run_with_delivery_failing()
        machine.never_in_two_messages()
        assert [d.status for d in machine.store.deliveries.find() if d.recipient == A][0] == "sending"
    finally:
        machine.teardown()
    ids = {machine._message_id(raw) for r, raw in machine.mail.accepted if r == A and machine._pmids(raw)}
    assert len(ids) == 1

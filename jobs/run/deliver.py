"""The one delivery loop: every subscriber (an e-mail reader, a chat target; later a web feedback
or an unsubscribed reader, which is a subscriber state) is queued and delivered the same way.

For each subscriber whose turn it is, the loop takes their pending queue items, has the
subscriber compose the message, records it as a delivery "sending" (claiming the items) before
the first byte goes out, delivers it through the subscriber's `Deliverer`, and marks it "sent" --
or "failed", which puts the items back in the queue for the next run.

One crash rule, for every deliverer: a delivery left "sending" (a run died, or acceptance was
unknown) is resent unchanged at the start of the next run: the same bytes, for e-mail with the
same Message-ID (a mail system can drop the duplicate), for chat the same stored payload (a chat
has no such key: a message whose acceptance was unknown may be seen twice).  A resend refused for
a temporary reason stays "sending"; one refused for good is "failed" and its items go back.

To add a kind of subscriber: build `Subscriber`s for it (jobs/run/subscribers.py) with a
`Deliverer` from `litwatch.notifications`; the loop needs nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from litwatch.jobs.run.crashpoints import crashpoint
from litwatch.jobs.run.summary import RunSummary
from litwatch.notifications.chat import METHOD as CHAT_METHOD
from litwatch.notifications.delivery import Deliverer, DeliveryError, delivery_session
from litwatch.watchers.announcements import Citation, Hit
from litwatch.watchers.store import Delivery, Queued, Store

log = logging.getLogger("litwatch.run")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A composed message: what is stored with the delivery and what the deliverer sends."""

    subject: str
    message: bytes
    message_id: str


@dataclass
class Subscriber:
    """Someone the run tells: a queue recipient (`key`) and how to reach them.

    `compose(items, run_id)` makes their message of the items they take; `due()` says whether it is
    their turn; `problem` (when set) keeps them from being sent anything now and is reported;
    `digest`: e-mail digests are counted in the run summary; `follows`: papers announced to them
    are tracked once delivered (`[tracked] follow = "announced"`).
    """

    key: str
    label: str  # "digest to lab@example.org", "chat message lab chat"
    deliverer: Deliverer | None
    sender: str
    compose: Callable[[list[Queued], int], Outgoing]
    due: Callable[[], bool] = lambda: True
    takes: Callable[[Queued], bool] = lambda q: True
    send_empty: bool = False
    digest: bool = True
    follows: bool = False
    problem: str | None = None
    waiting: str | None = None  # why its items wait, without an error (a warning, once per run)
    sent_verb: str = "delivered"


@dataclass(frozen=True, slots=True)
class _InFlight:
    """A message recorded "sending" and handed to the sender thread."""

    subscriber: Subscriber
    queued: list[Queued]
    delivery: Delivery
    outcome: Future[DeliveryError | None]


@dataclass
class DeliveryLoop:
    """The loop over `subscribers`.  `fallback`: the e-mail deliverer, for a delivery left in doubt
    to a recipient no longer configured (resent all the same, from `sender`, and followed when
    `follow` says so)."""

    store: Store
    subscribers: Sequence[Subscriber]
    summary: RunSummary
    fallback: Deliverer
    sender: str
    follow: bool = False
    # told of each item set aside (the mail server refuses it for good): the admin alert
    on_set_aside: Callable[[str], None] | None = None
    _by_key: dict[str, Subscriber] = field(init=False)
    _open: ExitStack | None = field(default=None, init=False)
    _sessions: dict[int, Deliverer] = field(default_factory=dict, init=False)
    _visited: set[str] = field(default_factory=set, init=False)  # subscribers this run's loop went past

    def __post_init__(self) -> None:
        self._by_key = {s.key: s for s in self.subscribers}

    @contextmanager
    def _session(self) -> Iterator[None]:
        """Deliveries inside go through one session per deliverer (one SMTP connection for all
        the e-mail digests: notifications/delivery.py), closed at the end."""
        if self._open is not None:
            yield
            return
        with ExitStack() as stack:
            self._open, self._sessions = stack, {}
            try:
                yield
            finally:
                self._open, self._sessions = None, {}

    def _through(self, deliverer: Deliverer) -> Deliverer:
        """The open session of `deliverer` (opened on first use), or `deliverer` outside one."""
        if self._open is None:
            return deliverer
        if id(deliverer) not in self._sessions:
            self._sessions[id(deliverer)] = self._open.enter_context(delivery_session(deliverer))
        return self._sessions[id(deliverer)]

    def resend_in_doubt(self) -> None:
        """Deliveries an earlier run left "sending": resend them unchanged."""
        with self._session():
            self._resend_each()

    def _resend_each(self) -> None:
        for d in reversed(self.store.deliveries.find(status="sending")):
            s = self._by_key.get(d.recipient)
            if s is not None and s.deliverer is not None and not (s.problem or s.waiting):
                deliverer, label = s.deliverer, s.label
            elif s is None and d.method != CHAT_METHOD:
                deliverer, label = self.fallback, f"digest to {d.recipient}"
            else:
                log.warning("%s to %s stays unconfirmed: it cannot be resent now", d.message_id, d.recipient)
                continue
            log.warning("resending %s, %s: an earlier run did not see it accepted", label, d.message_id)
            self._attempt(d, s, deliverer, label, resend=True)

    def deliver_due(self, run_id: int, only: Collection[str] | None = None) -> None:
        """Each due subscriber's pending items, in one message each: composed, recorded "sending",
        sent, marked and dropped before the next is composed (never all of them in memory), in one
        session per deliverer.  `only`: these subscribers' keys (a reader group whose news is
        recorded).  A subscriber is gone past once a run: a later call skips them."""
        subscribers = [s for s in self.subscribers if s.key not in self._visited and (only is None or s.key in only)]
        self._visited.update(s.key for s in subscribers)
        if subscribers:
            with self._session():
                self._deliver_each(subscribers, run_id)

    def _deliver_each(self, subscribers: list[Subscriber], run_id: int) -> None:
        # One message is sent (in the sender thread) while the next is composed: the outcome of
        # a send is recorded before the next message is recorded "sending" and handed over, so
        # at most one delivery is in flight, as in a loop without the thread.
        in_flight: _InFlight | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="litwatch-send") as sender:
            try:
                for s in subscribers:
                    if not s.due():
                        continue
                    queued = [q for q in self.store.queue.pending(s.key) if s.takes(q)]
                    if not queued and not s.send_empty:
                        continue
                    if s.waiting:
                        if s.waiting not in self.summary.warnings:
                            self.summary.warnings.append(s.waiting)
                        continue
                    if s.problem or s.deliverer is None:
                        self.summary.errors.append(f"{s.label}: {s.problem}")
                        log.error("%s not sent: %s", s.label, s.problem)
                        continue
                    out = s.compose(queued, run_id)
                    if in_flight is not None:
                        self._landed(in_flight, run_id)
                        in_flight = None
                    d = self._record_sending(s, s.deliverer, queued, out, run_id)
                    in_flight = _InFlight(s, queued, d, sender.submit(self._transmit, d, s, s.deliverer))
            finally:
                if in_flight is not None:
                    self._landed(in_flight, run_id)

    def _landed(self, sent: _InFlight, run_id: int) -> None:
        """Record the outcome of a message sent by the sender thread (and, when the server refused
        it for good, find the items it refuses)."""
        s, queued = sent.subscriber, sent.queued
        assert s.deliverer is not None
        refused = self._settle(
            sent.delivery, s, s.deliverer, s.label, sent.outcome.result(), alone=len(queued) == 1
        )
        if refused is None:
            return
        if len(queued) > 1:
            self._set_aside_refused(s, s.deliverer, queued, run_id, refused)
        elif queued:
            self._report_set_aside(s, queued[0], refused)
        else:
            self.summary.failed += 1
            self.summary.errors.append(f"{s.label}: {refused}")
            log.error("%s not delivered: %s", s.label, refused)

    def _record_sending(
        self, s: Subscriber, deliverer: Deliverer, queued: list[Queued], out: Outgoing, run_id: int
    ) -> Delivery:
        """The delivery of a composed message, recorded "sending" (its items claimed, the attempt
        counted) before the first byte goes out."""
        with self.store.transaction():
            delivery_id = self.store.deliveries.create(
                s.key, out.message_id, out.subject, deliverer.method, out.message, run_id, [q.id for q in queued]
            )
            self.store.deliveries.attempted(delivery_id)  # (one commit before the send, not two)
        return Delivery(delivery_id, s.key, out.message_id, out.subject, deliverer.method, "sending", run_id,
                        "", None, 1, "", out.message)

    def _send(
        self, s: Subscriber, deliverer: Deliverer, queued: list[Queued], run_id: int
    ) -> DeliveryError | None:
        """Compose and deliver one message of these queued items; the refusal, when the server
        refused the message for good after reading it (`DeliveryError.message_refused`)."""
        d = self._record_sending(s, deliverer, queued, s.compose(queued, run_id), run_id)
        return self._attempt(d, s, deliverer, s.label, alone=len(queued) == 1, attempted=True)

    def _set_aside_refused(
        self, s: Subscriber, deliverer: Deliverer, queued: list[Queued], run_id: int, first: DeliveryError
    ) -> None:
        """The server refused a message for good (552: too large; 554: its content): the items it will
        not take must not hold back the others.  Halve the items until each refused group is one
        item; deliver every half the server takes, set the lone refused items aside, tell the admin.
        One culprit among n items costs about 2 log2(n) attempts, all in this run."""
        log.warning("%s refused for good (%s): finding the items the server refuses", s.label, first)
        groups = [queued]
        while groups:
            group = groups.pop()
            middle = len(group) // 2
            for half in (group[middle:], group[:middle]):  # popped last-in: the older half goes first
                refused = self._send(s, deliverer, half, run_id)
                if refused is None:
                    continue
                if len(half) > 1:
                    groups.append(half)
                    continue
                self._report_set_aside(s, half[0], refused)

    def _report_set_aside(self, s: Subscriber, queued: Queued, refused: DeliveryError) -> None:
        item = queued.item
        why = f"PMID {item.pmid} ({item.TYPE}) to {s.key} set aside: the mail server refused it for good ({refused})"
        self.summary.failed += 1
        self.summary.errors.append(why)
        log.error("%s", why)
        if self.on_set_aside is not None:
            self.on_set_aside(why)

    def _attempt(
        self,
        d: Delivery,
        s: Subscriber | None,
        deliverer: Deliverer,
        label: str,
        *,
        resend: bool = False,
        alone: bool = False,
        attempted: bool = False,
    ) -> DeliveryError | None:
        """Deliver, then record the outcome.  `resend`: a delivery an earlier run left in doubt; it may
        already be with the recipient, so a temporary refusal now keeps it "sending" (resent as it is
        next time), never puts its items back into a new message.  Returns the refusal when the
        server refused the message for good after reading it; `alone`: the message holds one item,
        which is then set aside; `attempted`: the attempt is counted already (with the delivery's
        creation)."""
        if not attempted:
            with self.store.transaction():
                self.store.deliveries.attempted(d.id)
        return self._settle(d, s, deliverer, label, self._transmit(d, s, deliverer), resend=resend, alone=alone)

    def _transmit(self, d: Delivery, s: Subscriber | None, deliverer: Deliverer) -> DeliveryError | None:
        """Send a recorded delivery (no store access: the sender thread runs this); the refusal."""
        try:
            crashpoint("before_data")
            self._through(deliverer).deliver(d.message, s.sender if s is not None else self.sender, d.recipient)
        except DeliveryError as exc:
            return exc
        crashpoint("after_accept")
        return None

    def _settle(
        self,
        d: Delivery,
        s: Subscriber | None,
        deliverer: Deliverer,
        label: str,
        outcome: DeliveryError | None,
        *,
        resend: bool = False,
        alone: bool = False,
    ) -> DeliveryError | None:
        """Record what became of a sent delivery (see `_attempt`)."""
        counted = s.digest if s is not None else True
        if outcome is not None:
            exc = outcome
            refused_for_good = exc.message_refused and not exc.in_doubt and not resend
            if not refused_for_good:  # else the caller halves the message and reports what it sets aside
                if counted:
                    self.summary.failed += 1
                self.summary.errors.append(f"{label}: {exc}")
                log.error("%s not delivered: %s", label, exc)
            with self.store.transaction():
                if exc.in_doubt or (resend and exc.temporary):
                    self.store.deliveries.note_error(d.id, str(exc))
                elif refused_for_good and alone:
                    self.store.deliveries.set_aside(d.id, str(exc))
                else:
                    self.store.deliveries.mark_failed(d.id, str(exc))
            return exc if refused_for_good else None
        with self.store.transaction():
            self.store.deliveries.mark_sent(d.id)
            if s.follows if s is not None else self.follow:
                for queued in self.store.queue.of_delivery(d.id):
                    if isinstance(queued.item, Hit | Citation):
                        self.store.tracked.add(queued.item.pmid, "announced")
        crashpoint("after_sent")
        if counted:
            self.summary.sent += 1
        log.info("%s %s (%s)", label, s.sent_verb if s is not None else "delivered", deliverer.describe())
        return None

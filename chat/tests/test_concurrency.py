"""Races on real PostgreSQL: the row lock makes seq gapless and client_id sends unique."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from chat import memberships, selectors, services
from chat.models import Message

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
PER_THREAD = 50


def in_thread(function):
    """Run on a worker thread with its own connection, closed afterwards."""

    def run(*args):
        try:
            return function(*args)
        finally:
            connection.close()

    return run


@pytest.fixture
def crowd(make_user, alice):
    conversation = services.conversation_create(actor=alice, kind="group", name="race")
    senders = [alice]
    for i in range(THREADS - 1):
        user = make_user(f"racer{i}")
        memberships.membership_add(actor=alice, conversation=conversation, user_id=user.pk)
        senders.append(user)
    return conversation, senders


def test_parallel_senders_get_seq_1_to_400_without_gaps(crowd):
    conversation, senders = crowd
    start = threading.Barrier(THREADS)

    @in_thread
    def send_many(sender):
        start.wait()
        return [
            services.message_send(sender=sender, conversation_id=conversation.pk, text=f"{i}")[
                0
            ].seq
            for i in range(PER_THREAD)
        ]

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(send_many, senders))
    seqs = sorted(seq for per_thread in results for seq in per_thread)
    assert seqs == list(range(1, THREADS * PER_THREAD + 1))
    for per_thread in results:
        assert per_thread == sorted(per_thread)  # each sender sees its own sends in order
    assert sorted(Message.objects.values_list("seq", flat=True)) == seqs
    conversation.refresh_from_db()
    assert conversation.last_seq == THREADS * PER_THREAD


def test_concurrent_sends_with_one_client_id_make_one_message(crowd):
    conversation, senders = crowd
    start = threading.Barrier(THREADS)

    @in_thread
    def send_same(_):
        start.wait()
        message, created = services.message_send(
            sender=senders[0], conversation_id=conversation.pk, text="once", client_id="same"
        )
        return message.pk, created

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(send_same, range(THREADS)))
    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert Message.objects.count() == 1


def test_concurrent_first_direct_messages_share_one_conversation(alice, bob):
    start = threading.Barrier(2)

    @in_thread
    def first_contact(pair):
        sender, recipient = pair
        start.wait()
        return services.direct_message_send(sender=sender, recipient_id=recipient.pk, text="hi")[
            0
        ].conversation_id

    with ThreadPoolExecutor(2) as pool:
        ids = list(pool.map(first_contact, [(alice, bob), (bob, alice)]))
    assert ids[0] == ids[1]
    assert sorted(Message.objects.values_list("seq", flat=True)) == [1, 2]


def test_reader_polling_after_seq_never_misses_a_message(crowd):
    conversation, senders = crowd
    writers_done = threading.Event()
    total = (THREADS - 1) * 20

    @in_thread
    def write(sender):
        for i in range(20):
            services.message_send(sender=sender, conversation_id=conversation.pk, text=f"{i}")

    @in_thread
    def read():
        seen, cursor = [], 0
        while True:
            finished = writers_done.is_set()
            rows, _ = selectors.message_page(
                user=senders[0], conversation=conversation, after_seq=cursor, limit=200
            )
            for message in rows:
                seen.append(message.seq)
            if rows:
                cursor = rows[-1].seq
            elif finished:
                return seen

    with ThreadPoolExecutor(THREADS + 1) as pool:
        reader = pool.submit(read)
        writers = [pool.submit(write, sender) for sender in senders[1:]]
        for writer in writers:
            writer.result()
        writers_done.set()
        seen = reader.result(timeout=60)
    assert seen == list(range(1, total + 1))


def test_a_send_outside_a_transaction_has_committed_when_it_returns(crowd):
    from psycopg.pq import TransactionStatus

    from messaging_site.errors import NotFound

    conversation, senders = crowd
    with pytest.raises(NotFound):
        services.message_send(sender=senders[0], conversation_id=10**9, text="lost")
    message, _ = services.message_send(
        sender=senders[0], conversation_id=conversation.pk, text="kept"
    )
    # Nothing left open on this connection: no transaction, no lock.
    assert connection.connection.info.transaction_status == TransactionStatus.IDLE

    @in_thread
    def read_elsewhere():
        return list(Message.objects.values_list("pk", "text"))

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(read_elsewhere).result() == [(message.pk, "kept")]

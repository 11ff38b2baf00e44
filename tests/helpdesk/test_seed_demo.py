"""seed_demo makes a believable help desk: people, books of accounts, history, conversations."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from io import StringIO

from django.core.management import call_command
from django.db.models import Count, Min, Sum
from django.test import TestCase
from django.utils import timezone

from accounts.models import Account, RevenueEvent, SurveyResponse
from helpdesk.management.commands.seed_demo import FOLLOW_UPS
from helpdesk.models import Membership, Role, Team, User
from inbox.models import Message, Ticket
from notes.models import Mention, Note, Notification

EIGHTEEN_MONTHS = dt.timedelta(days=548)
TICKETS = 40  # enough for every kind of history, small enough to stay quick


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", tickets=TICKETS, stdout=out)
    return out.getvalue()


class SeedDemoTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.output = _seed()

    def test_teams_and_people(self) -> None:
        kinds = Counter(Team.objects.values_list("kind", flat=True))
        assert kinds == {"support": 2, "success": 1}
        assert User.objects.filter(role=Role.AGENT).count() == 10
        assert User.objects.filter(role=Role.SUCCESS).count() == 5
        success_team = Team.objects.get(kind="success")
        members = Membership.objects.filter(team=success_team).values_list("user__role", flat=True)
        assert set(members) == {Role.SUCCESS}
        assert "password for all: tandem-demo" in self.output

    def test_accounts_have_contacts_and_a_success_manager(self) -> None:
        accounts = Account.objects.annotate(contact_count=Count("contacts"))
        assert accounts.count() == 100
        assert all(a.contact_count >= 2 for a in accounts)
        assert not accounts.filter(success_manager__isnull=True).exists()

    def test_revenue_spans_eighteen_months_for_most_accounts(self) -> None:
        today = timezone.localdate()
        firsts = Account.objects.annotate(first=Min("revenue_events__occurred_on"))
        long_standing = [a for a in firsts if today - a.first >= EIGHTEEN_MONTHS]
        assert len(long_standing) >= 75
        assert all(a.customer_since == a.first for a in firsts)
        kinds = Counter(RevenueEvent.objects.values_list("kind", flat=True))
        assert kinds["new"] == 100
        for kind in ("expansion", "contraction", "churn", "reactivation"):
            assert kinds[kind] > 0, kind
        assert not RevenueEvent.objects.filter(occurred_on__gt=today).exists()

    def test_reactivated_accounts_are_active_again_and_mrr_adds_up(self) -> None:
        won_back = Account.objects.filter(revenue_events__kind="reactivation").distinct()
        assert won_back.exists()
        for account in won_back:
            churn = account.revenue_events.get(kind="churn")
            again = account.revenue_events.get(kind="reactivation")
            assert churn.occurred_on < again.occurred_on
            assert account.lifecycle == "active"
            assert account.churned_at is None
        for account in Account.objects.annotate(total=Sum("revenue_events__mrr_delta")):
            assert account.mrr == account.total >= 0
            assert (account.lifecycle == "churned") == (account.mrr == 0)

    def test_tickets_are_conversations_not_single_messages(self) -> None:
        assert Ticket.objects.count() == TICKETS
        answered = Ticket.objects.filter(assignee__isnull=False).annotate(n=Count("messages"))
        assert sum(1 for t in answered if t.n >= 4) >= answered.count() // 2
        ticket = max(answered, key=lambda t: t.n)
        directions = list(
            ticket.messages.order_by("created_at").values_list("direction", flat=True)
        )
        assert directions[:4] == ["inbound", "outbound", "inbound", "outbound"]
        times = list(ticket.messages.order_by("id").values_list("created_at", flat=True))
        assert times == sorted(times)
        assert max(times) <= timezone.now()
        follow_up = ticket.messages.filter(direction="inbound").order_by("created_at")[1]
        assert follow_up.author_contact_id == ticket.requester_id
        assert follow_up.body_text.startswith(FOLLOW_UPS[ticket.subject][0][0])

    def test_notes_are_rendered_and_mention_the_success_manager(self) -> None:
        notes = Note.objects.filter(author__isnull=False).select_related("ticket__account")
        assert notes.exists()
        assert any("<strong>" in n.body_html or "<code>" in n.body_html for n in notes)
        mentions = Mention.objects.filter(note__in=notes).select_related(
            "user", "note__ticket__account"
        )
        assert mentions.exists()
        for mention in mentions:
            assert mention.user == mention.note.ticket.account.success_manager
            assert f"@{mention.user.username}" in mention.note.body_html
        mentioned = mentions.first()
        assert Notification.objects.filter(
            recipient=mentioned.user, note=mentioned.note, kind="mentioned"
        ).exists()

    def test_surveys_exist(self) -> None:
        kinds = Counter(SurveyResponse.objects.values_list("kind", flat=True))
        assert kinds["csat"] > 0
        assert kinds["nps"] > 0
        assert not SurveyResponse.objects.filter(responded_at__gt=timezone.now()).exists()

    def test_seeding_again_changes_nothing(self) -> None:
        before = (
            Ticket.objects.count(),
            Message.objects.count(),
            Account.objects.count(),
            RevenueEvent.objects.count(),
            User.objects.count(),
            Note.objects.count(),
        )
        output = _seed()
        assert "Tickets already exist" in output
        after = (
            Ticket.objects.count(),
            Message.objects.count(),
            Account.objects.count(),
            RevenueEvent.objects.count(),
            User.objects.count(),
            Note.objects.count(),
        )
        assert after == before

    def test_default_rules_act_on_new_tickets(self) -> None:
        """The seeded rules are judged by what they do, not by their names."""
        from inbox import services as inbox

        def open_ticket(account: Account) -> Ticket:
            return inbox.ticket_create(
                requester=account.contacts.first(),
                subject="Question",
                team=Team.objects.get(handle="tier1"),
                content=inbox.InboundContent(body_text="Hello", from_email="x@example.com"),
            )

        today = timezone.localdate()
        renewing, lapsed, vip = Account.objects.exclude(plan="vip")[:3]
        Account.objects.filter(pk=renewing.pk).update(renewal_date=today + dt.timedelta(days=10))
        Account.objects.filter(pk=lapsed.pk).update(renewal_date=today - dt.timedelta(days=5))
        Account.objects.filter(pk=vip.pk).update(
            plan="vip", renewal_date=today + dt.timedelta(days=200)
        )

        renewing_ticket = open_ticket(renewing)
        note = Note.objects.get(ticket=renewing_ticket)
        assert f"@{renewing.success_manager.username}" in note.body_markdown
        assert Mention.objects.filter(note=note, user=renewing.success_manager).exists()
        assert not Note.objects.filter(ticket=open_ticket(lapsed)).exists()

        vip_ticket = open_ticket(vip)
        vip_ticket.refresh_from_db()
        assert vip_ticket.team.handle == "tier2"
        assert not Note.objects.filter(ticket=vip_ticket).exists()  # renewal is 200 days out

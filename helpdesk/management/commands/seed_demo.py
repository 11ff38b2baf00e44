"""Seed a believable help desk: teams, people, accounts with revenue, tickets with history.

Idempotent: people, teams and accounts are matched by name; tickets are only made when the
help desk has none yet. Everything goes through the services, so the rules apply.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from accounts.models import (
    Account,
    AccountDomain,
    Contact,
    HealthScoreConfig,
    RevenueEvent,
    SurveyResponse,
    SurveySettings,
)
from helpdesk.models import (
    BusinessHours,
    BusinessHoursInterval,
    CannedResponse,
    Macro,
    Mailbox,
    Membership,
    Role,
    SLAPolicy,
    SLATarget,
    Team,
    User,
)
from helpdesk.roles import role_groups_ensure, user_sync_role
from inbox import services as inbox
from inbox.models import Channel, Status, Ticket

DEMO_PASSWORD = "tandem-demo"  # noqa: S105 - printed for the demo on purpose
SEED = 20261122

AGENTS = ["alice", "bob", "chen", "dana", "emil", "fatima", "goran", "hana", "ivan", "julia"]
SUCCESS = ["sam", "tara", "uma", "victor", "wen"]
PLANS = [("starter", 49, 199), ("pro", 300, 1500), ("enterprise", 2000, 9000)]
COMPANY_WORDS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Wonka",
    "Cyberdyne",
    "Gringotts",
    "Oscorp",
    "Monarch",
    "Pied Piper",
    "Dunder",
    "Prestige",
    "Massive",
    "Nakatomi",
]
COMPANY_SUFFIX = ["Labs", "Systems", "Works", "Group", "Foods"]
TOPICS = [
    (
        "Cannot log in after password reset",
        "I reset my password but the login page still says it is wrong.",
    ),
    (
        "Invoice shows the wrong VAT number",
        "Our latest invoice has an old VAT number on it. Can you fix it?",
    ),
    ("Export to CSV times out", "When I export last quarter's data the download never finishes."),
    ("How do I add a teammate?", "We hired someone new; how do I invite them to our workspace?"),
    ("Webhook deliveries failing", "Since yesterday our endpoint gets no webhooks from you."),
    (
        "Question about upgrading our plan",
        "We are growing and want to know what the next plan offers.",
    ),
    ("Data looks out of date", "The dashboard shows numbers from two days ago."),
    ("Cancel our subscription", "We are thinking of cancelling at renewal. What are our options?"),
    ("API rate limit too low", "We hit 429 errors during our nightly sync."),
    ("SSO setup with Okta", "Could you help us set up single sign-on with Okta?"),
]
REPLIES = [
    "Thanks for reaching out! I've looked into this and here is what I found.",
    "Sorry for the trouble. Could you send a screenshot of what you see?",
    "Good news: this is fixed now. Let us know if anything else comes up.",
    "I've passed this to our engineers and will update you as soon as I hear back.",
]
NOTES = [
    "Customer mentioned renewal is coming up, worth a heads-up to @{csm}.",
    "Reproduced on staging. Bug filed.",
    "They are on an old plan; **expansion opportunity**.",
    "Same issue as last month, see earlier ticket.",
]


class Command(BaseCommand):
    help = "Seed the demo help desk (idempotent) and print the logins."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tickets", type=int, default=1000, help="tickets to make")

    def handle(self, *args: object, **options: object) -> None:
        rng = random.Random(SEED)
        self.ticket_count = int(options["tickets"])
        # History is seeded, not sent: replies from months ago must not hit a mail server.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
            people = self._people()
            teams = self._teams(people)
            accounts = self._accounts(rng, people)
            self._rules(teams)
            if Ticket.objects.exists():
                self.stdout.write("Tickets already exist: left as they are.")
            else:
                self._tickets(rng, people, teams, accounts)
        self._print_logins()

    # --- people and configuration --------------------------------------------------------

    def _user(self, username: str, role: str, first: str, last: str, **extra: object) -> User:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "role": role,
                "first_name": first,
                "last_name": last,
                "email": f"{username}@tandem.example",
                **extra,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        user_sync_role(user=user)
        return user

    def _people(self) -> dict[str, list[User]]:
        role_groups_ensure()
        admin = self._user("admin", Role.ADMIN, "Ada", "Admin", is_superuser=True)
        agents = [self._user(n, Role.AGENT, n.capitalize(), "Agent") for n in AGENTS]
        success = [self._user(n, Role.SUCCESS, n.capitalize(), "Success") for n in SUCCESS]
        return {"admin": [admin], "agents": agents, "success": success}

    def _teams(self, people: dict[str, list[User]]) -> dict[str, Team]:
        hours, _ = BusinessHours.objects.get_or_create(
            name="Office hours", defaults={"time_zone": "Europe/Berlin"}
        )
        if not hours.intervals.exists():
            BusinessHoursInterval.objects.bulk_create(
                BusinessHoursInterval(
                    business_hours=hours, weekday=day, opens_at=dt.time(9), closes_at=dt.time(17)
                )
                for day in range(5)
            )
        policy, _ = SLAPolicy.objects.get_or_create(
            name="Standard", defaults={"business_hours": hours}
        )
        for priority, first, resolution in [
            ("low", 480, 4800),
            ("normal", 240, 2880),
            ("high", 60, 960),
            ("urgent", 30, 480),
        ]:
            SLATarget.objects.get_or_create(
                policy=policy,
                priority=priority,
                defaults={
                    "first_response_minutes": first,
                    "next_response_minutes": first * 2,
                    "resolution_minutes": resolution,
                },
            )
        specs = [
            ("Tier 1", "tier1", "support", people["agents"][:6], "round_robin"),
            ("Tier 2", "tier2", "support", people["agents"][6:], "load_balanced"),
            ("Customer Success", "csm", "success", people["success"], "off"),
        ]
        teams = {}
        for name, handle, kind, members, mode in specs:
            team, _ = Team.objects.get_or_create(
                handle=handle,
                defaults={
                    "name": name,
                    "kind": kind,
                    "sla_policy": policy,
                    "business_hours": hours,
                    "auto_assign": mode,
                },
            )
            for index, member in enumerate(members):
                Membership.objects.get_or_create(
                    team=team, user=member, defaults={"is_lead": index == 0}
                )
            teams[handle] = team
        Mailbox.objects.get_or_create(
            email="support@tandem.example",
            defaults={"name": "Support", "team": teams["tier1"], "auto_acknowledge": True},
        )
        Mailbox.objects.get_or_create(
            email="billing@tandem.example", defaults={"name": "Billing", "team": teams["tier2"]}
        )
        canned, _ = CannedResponse.objects.get_or_create(
            title="Thanks, looking into it",
            defaults={
                "body": "Hi {{ requester.first_name }},\n\nThanks for writing in. "
                "I'm looking into this now and will get back to you today.\n\n"
                "{{ agent.first_name }}"
            },
        )
        CannedResponse.objects.get_or_create(
            title="Solved, anything else?",
            defaults={
                "body": "Hi {{ requester.first_name }}, this should be resolved now. "
                "Just reply if anything is still off."
            },
        )
        Macro.objects.get_or_create(
            name="Ask for details and set pending",
            defaults={
                "canned_response": canned,
                "set_status": Status.PENDING,
                "add_tags": ["needs-info"],
            },
        )
        HealthScoreConfig.load()
        SurveySettings.load()
        return teams

    def _rules(self, teams: dict[str, Team]) -> None:
        """The default automations every Tandem help desk starts with."""
        from automations.models import Rule
        from automations.services import rule_save

        canned = CannedResponse.objects.get(title="Solved, anything else?")
        defaults = [
            (
                "Red account → urgent + notify CSM",
                "ticket_created",
                None,
                {"all": [{"field": "account.health_band", "op": "is", "value": "red"}]},
                [
                    {"type": "set_priority", "value": "urgent"},
                    {"type": "notify", "value": ["success_manager"]},
                ],
            ),
            (
                "Renewal within 30 days and ticket opened → mention the success manager",
                "ticket_created",
                None,
                {
                    "all": [
                        {"field": "account.days_to_renewal", "op": "lte", "value": 30},
                        {"field": "account.success_manager", "op": "not_empty"},
                    ]
                },
                [
                    {
                        "type": "add_note",
                        "value": "@{{ account.success_manager }} this "
                        "account renews in under 30 days.",
                    }
                ],
            ),
            (
                "Pending 5 days without customer reply → solve with a canned reply",
                "hours_since_pending",
                120,
                {},
                [
                    {"type": "send_canned_reply", "value": canned.pk},
                    {"type": "set_status", "value": "solved"},
                ],
            ),
            (
                "VIP plan → team Tier 2",
                "ticket_created",
                None,
                {"all": [{"field": "account.plan", "op": "is", "value": "vip"}]},
                [{"type": "set_team", "value": teams["tier2"].handle}],
            ),
        ]
        for position, (name, trigger, threshold, conditions, actions) in enumerate(defaults):
            if not Rule.objects.filter(name=name).exists():
                rule_save(
                    rule=Rule(
                        name=name,
                        trigger=trigger,
                        threshold=threshold,
                        conditions=conditions,
                        actions=actions,
                        position=(position + 1) * 10,
                    ),
                    user=None,
                )

    def _accounts(self, rng: random.Random, people: dict[str, list[User]]) -> list[Account]:
        today = timezone.now().date()
        accounts = []
        for index in range(100):
            name = f"{COMPANY_WORDS[index % 20]} {COMPANY_SUFFIX[index // 20]}"
            domain = name.lower().replace(" ", "") + ".example"
            plan, low, high = PLANS[0 if index % 10 < 5 else (1 if index % 10 < 9 else 2)]
            if index % 20 == 19:
                plan = "vip"
            account, created = Account.objects.get_or_create(
                name=name,
                defaults={
                    "plan": plan,
                    "success_manager": people["success"][index % 5],
                    "renewal_date": today + dt.timedelta(days=rng.randint(5, 360)),
                },
            )
            accounts.append(account)
            if not created:
                continue
            AccountDomain.objects.create(account=account, domain=domain)
            first_names = ["Carol", "Dave", "Erin", "Frank", "Grace", "Heidi"]
            for first in rng.sample(first_names, rng.randint(2, 4)):
                Contact.objects.create(
                    email=f"{first.lower()}@{domain}",
                    name=f"{first} {name.split()[0]}",
                    account=account,
                )
            self._revenue(rng, account, index, low, high, today)
        return accounts

    def _revenue(
        self, rng: random.Random, account: Account, index: int, low: int, high: int, today: dt.date
    ) -> None:
        """18 months of revenue: a start, some expansions/contractions, a few churns."""
        start = today - dt.timedelta(days=rng.randint(60, 540))
        mrr = Decimal(rng.randrange(low, high, 10))
        events = [
            RevenueEvent(
                account=account,
                kind="new",
                mrr_delta=mrr,
                occurred_on=start,
                external_id=f"demo-{index}-0",
            )
        ]
        day = start
        for step in range(1, rng.randint(1, 5)):
            day += dt.timedelta(days=rng.randint(30, 120))
            if day >= today:
                break
            if index % 13 == 0 and step >= 2:
                events.append(
                    RevenueEvent(
                        account=account,
                        kind="churn",
                        mrr_delta=-mrr,
                        occurred_on=day,
                        external_id=f"demo-{index}-{step}",
                    )
                )
                account.churned_at = day
                account.lifecycle = "churned"
                mrr = Decimal(0)
                break
            if rng.random() < 0.7:
                delta = Decimal(rng.randrange(10, max(20, int(mrr) // 2), 10))
                events.append(
                    RevenueEvent(
                        account=account,
                        kind="expansion",
                        mrr_delta=delta,
                        occurred_on=day,
                        external_id=f"demo-{index}-{step}",
                    )
                )
                mrr += delta
            else:
                delta = Decimal(rng.randrange(10, max(20, int(mrr) // 3), 10))
                events.append(
                    RevenueEvent(
                        account=account,
                        kind="contraction",
                        mrr_delta=-delta,
                        occurred_on=day,
                        external_id=f"demo-{index}-{step}",
                    )
                )
                mrr -= delta
        RevenueEvent.objects.bulk_create(events)
        account.mrr = mrr
        account.customer_since = start
        account.save()

    # --- tickets -----------------------------------------------------------------------------

    def _tickets(
        self,
        rng: random.Random,
        people: dict[str, list[User]],
        teams: dict[str, Team],
        accounts: list[Account],
    ) -> None:
        from notes.models import Note

        now = timezone.now()
        contacts = list(Contact.objects.select_related("account", "account__success_manager"))
        agents = people["agents"]
        mailbox = Mailbox.objects.get(email="support@tandem.example")
        for index in range(self.ticket_count):
            contact = rng.choice(contacts)
            subject, body = rng.choice(TOPICS)
            created = now - dt.timedelta(minutes=rng.randint(10, 180 * 24 * 60))
            team = teams["tier1"] if rng.random() < 0.7 else teams["tier2"]
            with transaction.atomic():
                ticket = inbox.ticket_create(
                    requester=contact,
                    subject=subject,
                    channel=Channel.EMAIL,
                    team=team,
                    mailbox=mailbox if team == teams["tier1"] else None,
                    priority=rng.choices(["low", "normal", "high", "urgent"], [2, 6, 2, 1])[0],
                    content=inbox.InboundContent(
                        body_text=f"Hi,\n\n{body}\n\nThanks,\n{contact.name}",
                        from_email=contact.email,
                        message_id=f"<demo-{index}@{contact.email.split('@')[1]}>",
                    ),
                    created_at=created,
                )
                age_hours = (now - created).total_seconds() / 3600
                if age_hours < 2 and rng.random() < 0.6:
                    continue  # fresh and untouched: the unassigned queue
                members = [a for a in agents if team.memberships.filter(user=a).exists()] or agents
                agent = rng.choice(members)
                inbox.ticket_assign(ticket=ticket, actor=agent, assignee=agent)
                reply_at = created + dt.timedelta(
                    minutes=rng.randint(5, min(2880, int(age_hours * 60) or 5))
                )
                reply_at = min(reply_at, now)
                inbox.reply_create(
                    ticket=ticket, author=agent, body_text=rng.choice(REPLIES), at=reply_at
                )
                if rng.random() < 0.35:
                    csm = contact.account.success_manager if contact.account else None
                    text = rng.choice(NOTES).format(csm=csm.username if csm else "csm")
                    Note.objects.create(
                        ticket=ticket,
                        author=agent,
                        body_markdown=text,
                        body_html=f"<p>{text}</p>",
                        created_at=reply_at,
                    )
                roll = rng.random()
                if age_hours > 24 and roll < 0.75:
                    solve_at = min(now, reply_at + dt.timedelta(hours=rng.randint(1, 72)))
                    inbox.ticket_set_status(
                        ticket=ticket, actor=agent, status=Status.SOLVED, at=solve_at
                    )
                    if rng.random() < 0.4:
                        SurveyResponse.objects.create(
                            kind="csat",
                            score=rng.choices([1, 2, 3, 4, 5], [1, 1, 2, 4, 6])[0],
                            contact=contact,
                            account=contact.account,
                            ticket=ticket,
                            responded_at=min(now, solve_at + dt.timedelta(hours=2)),
                        )
                    if age_hours > 24 * 14 and rng.random() < 0.8:
                        inbox.ticket_set_status(
                            ticket=ticket,
                            actor=None,
                            status=Status.CLOSED,
                            at=min(now, solve_at + dt.timedelta(days=7)),
                        )
                elif roll < 0.85:
                    inbox.ticket_set_status(
                        ticket=ticket, actor=agent, status=Status.PENDING, at=reply_at
                    )
            if index % 200 == 199:
                self.stdout.write(f"  {index + 1} tickets")
        for contact in rng.sample(contacts, min(150, len(contacts))):
            if contact.account_id:
                SurveyResponse.objects.create(
                    kind="nps",
                    score=rng.choices(range(11), [1, 1, 1, 1, 1, 2, 2, 3, 4, 5, 5])[0],
                    contact=contact,
                    account_id=contact.account_id,
                    responded_at=now - dt.timedelta(days=rng.randint(1, 170)),
                )
        from accounts.metrics import recompute_accounts

        self._history(accounts)
        recompute_accounts(account_ids=[a.pk for a in accounts])

    def _history(self, accounts: list[Account]) -> None:
        """Weekly snapshots for the last 12 weeks, so the account trends have a shape.

        Computed from the seeded raw data as of each past day (windows and revenue move
        with the date; ticket statuses are today's, so backlog-like values are approximate).
        """
        from accounts.metrics.health import health_compute
        from accounts.metrics.recompute import compute_accounts
        from accounts.models import MetricSnapshot

        ids = [account.pk for account in accounts]
        plans = {account.pk: account.plan for account in accounts}
        config = HealthScoreConfig.load()
        rows = []
        for weeks_ago in range(12, 0, -1):
            moment = timezone.now() - dt.timedelta(weeks=weeks_ago)
            computed = compute_accounts(account_ids=ids, now=moment, plans=plans)
            for account_id, (values, risky) in computed.items():
                health = health_compute(values, has_churn_risk_handoff=risky, config=config)
                values.update(
                    health_score=health.score,
                    health_band=health.band,
                    health_components=health.components,
                    computed_at=moment,
                )
                rows.append(
                    MetricSnapshot(account_id=account_id, date=timezone.localdate(moment), **values)
                )
        MetricSnapshot.objects.bulk_create(rows, ignore_conflicts=True)

    def _print_logins(self) -> None:
        self.stdout.write(
            self.style.SUCCESS(f"Demo help desk ready. Logins (password for all: {DEMO_PASSWORD}):")
        )
        self.stdout.write("  admin   — admin (Django admin at /admin/)")
        self.stdout.write(f"  agents  — {', '.join(AGENTS)}")
        self.stdout.write(f"  success managers — {', '.join(SUCCESS)}")

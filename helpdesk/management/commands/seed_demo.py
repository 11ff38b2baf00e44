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
    "Reproduced on staging. Bug filed as `ENG-{number}`.",
    "They are on an old plan; **expansion opportunity**. @{csm} want to take this one?",
    "Same issue as last month, see earlier ticket.",
    "@{csm} they sound frustrated: *third* ticket this quarter. Worth a call?",
]
# The rest of each conversation: (customer follow-up, agent answer) pairs, in order.
FOLLOW_UPS = {
    TOPICS[0][0]: [
        (
            "I cleared the cache as you said, still the same error.",
            "Thanks for trying. "
            "I've reset your session server-side; could you try once more in a private window?",
        ),
        ("That worked, I'm in. Thank you!", "Great to hear! I'll close this for now."),
    ],
    TOPICS[1][0]: [
        (
            "Our VAT number is DE 123 456 789.",
            "Thanks, I've updated it and re-issued the "
            "invoice. You'll find the new PDF under Billing.",
        ),
        ("Got it, looks right now.", "Perfect, glad that's sorted."),
    ],
    TOPICS[2][0]: [
        (
            "It's about 400,000 rows, if that matters.",
            "It does: exports that size run in the "
            "background now. You'll get an e-mail with the download link when it's ready.",
        ),
        ("The e-mail arrived and the file is complete.", "Excellent. Shout if you need more."),
    ],
    TOPICS[3][0]: [
        (
            "I don't see the Invite button you mentioned.",
            "Only workspace owners see it. "
            "I've made you an owner, so it should be under Settings > Team now.",
        ),
        ("Found it, invitation sent.", "Wonderful, welcome to your new teammate!"),
    ],
    TOPICS[4][0]: [
        (
            "Our endpoint returns 200, we checked the logs.",
            "We're seeing TLS handshake "
            "failures on our side; did your certificate change recently?",
        ),
        (
            "Yes, we renewed it yesterday. Intermediate was missing, fixed now.",
            "Deliveries are flowing again and I've replayed the ones you missed.",
        ),
    ],
    TOPICS[5][0]: [
        (
            "We are about 40 people now and need SSO.",
            "SSO is in the Pro plan. I've asked your success manager to walk you through pricing.",
        ),
        ("Sounds good, we'll wait for the call.", "They'll reach out this week."),
    ],
    TOPICS[6][0]: [
        (
            "It's still showing Tuesday's numbers.",
            "A stuck sync job on our side: I restarted it and your dashboard is catching up now.",
        ),
        ("All current again, thanks.", "Thanks for your patience!"),
    ],
    TOPICS[7][0]: [
        (
            "Mostly price; we use only a few features.",
            "Understood. A smaller plan might fit "
            "better; I've looped in your success manager to look at options with you.",
        ),
        ("OK, happy to talk before we decide.", "They'll be in touch shortly."),
    ],
    TOPICS[8][0]: [
        (
            "We run about 50 requests per second at peak.",
            "I've raised your limit to 100 "
            "per second for the nightly window. Let me know how tonight's run goes.",
        ),
        ("No 429s last night, thanks!", "Great, I'll keep the higher limit in place."),
    ],
    TOPICS[9][0]: [
        (
            "Here is our Okta metadata URL.",
            "Thanks! SSO is configured; try signing in from your Okta dashboard.",
        ),
        ("Works for me and two colleagues.", "Brilliant. You can enforce SSO in Settings."),
    ],
}


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
                        # A renewal date already past is a lapsed contract, not a renewal.
                        {"field": "account.days_to_renewal", "op": "gte", "value": 0},
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
        """Revenue since the account signed: 18+ months for most, churns, win-backs.

        Four in five accounts are long-standing (signed 18 to 24 months ago), so retention
        and the 12-month figures have a full year before them; the rest signed recently.
        Every 13th account churns after a while, and every other churner comes back.
        """
        long_standing = index % 10 < 8
        start = today - dt.timedelta(
            days=rng.randint(550, 730) if long_standing else rng.randint(20, 400)
        )
        mrr = Decimal(rng.randrange(low, high, 10))
        serial = iter(range(1, 100))

        def event(kind: str, delta: Decimal, day: dt.date) -> RevenueEvent:
            return RevenueEvent(
                account=account,
                kind=kind,
                mrr_delta=delta,
                occurred_on=day,
                external_id=f"demo-{index}-{next(serial)}",
            )

        events = [event("new", mrr, start)]
        day, step = start, 0
        churns, wins_back = index % 13 == 0, index % 26 == 0
        while True:
            day += dt.timedelta(days=rng.randint(45, 120))
            step += 1
            if day >= today:
                break
            if churns and step == 3 and mrr > 0:
                events.append(event("churn", -mrr, day))
                account.churned_at, account.lifecycle, mrr = day, "churned", Decimal(0)
                if not wins_back:
                    break
                continue
            if mrr == 0:  # a churned customer signs again
                mrr = Decimal(rng.randrange(low, high, 10))
                events.append(event("reactivation", mrr, day))
                account.churned_at, account.lifecycle = None, "active"
                continue
            roll = rng.random()  # most quarters nothing changes
            if roll < 0.35:
                delta = Decimal(rng.randrange(10, max(20, int(mrr) // 3), 10))
                events.append(event("expansion", delta, day))
                mrr += delta
            elif roll < 0.5:
                delta = Decimal(rng.randrange(10, max(20, int(mrr) // 3), 10))
                if delta < mrr:
                    events.append(event("contraction", -delta, day))
                    mrr -= delta
        if account.lifecycle != "churned" and (today - start).days < 90:
            account.lifecycle = "onboarding"
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
        from django.core.cache import cache

        from accounts.services import RECOMPUTE_KEY_TTL_SECONDS, coalesce_key
        from notes.services import note_create

        now = timezone.now()
        contacts = list(Contact.objects.select_related("account", "account__success_manager"))
        agents = people["agents"]
        members_of = {
            team.pk: [a for a in agents if a.pk in {m.user_id for m in team.memberships.all()}]
            for team in teams.values()
        }
        mailbox = Mailbox.objects.get(email="support@tandem.example")
        # Every account is recomputed once at the end, so the seed holds the "recompute
        # already queued" keys meanwhile: thousands of seeded messages do not each queue one.
        # (The dirty flags are still set; if the seed dies, the keys expire and the sweep runs.)
        held = {coalesce_key(account.pk): 1 for account in accounts}
        for index in range(self.ticket_count):
            if index % 20 == 0:
                cache.set_many(held, RECOMPUTE_KEY_TTL_SECONDS)
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
                agent = rng.choice(members_of[team.pk] or agents)
                inbox.ticket_assign(ticket=ticket, actor=agent, assignee=agent)
                last_at, customer_waits = self._conversation(
                    rng, ticket=ticket, contact=contact, agent=agent, index=index, now=now
                )
                if rng.random() < 0.35:
                    csm = contact.account.success_manager if contact.account else None
                    # Through the notes service: Markdown rendered, @mentions stored/notified.
                    # Without a manager, "@csm" names the success team.
                    text = rng.choice(NOTES).format(
                        csm=csm.username if csm else teams["csm"].handle, number=ticket.number
                    )
                    note_create(ticket=ticket, author=agent, body_markdown=text, at=last_at)
                roll = rng.random()
                if customer_waits:
                    pass  # the customer wrote last: open, waiting for the agent's answer
                elif age_hours > 24 and roll < 0.75:
                    solve_at = min(now, last_at + dt.timedelta(hours=rng.randint(1, 72)))
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
                        ticket=ticket, actor=agent, status=Status.PENDING, at=last_at
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
        cache.delete_many(list(held))

    def _conversation(
        self,
        rng: random.Random,
        *,
        ticket: Ticket,
        contact: Contact,
        agent: User,
        index: int,
        now: dt.datetime,
    ) -> tuple[dt.datetime, bool]:
        """Answer, then a few rounds of customer follow-up and agent reply, oldest first.

        Return when the last message was written and whether the customer had the last word
        (an answer that would lie in the future is not written: the ticket waits for it).
        """
        rounds = FOLLOW_UPS[ticket.subject][: rng.choices([0, 1, 2], [2, 5, 4])[0]]
        # "Fixed now" only closes a conversation that has no follow-up.
        openers = REPLIES if not rounds else [r for r in REPLIES if "fixed now" not in r]
        age_minutes = int((now - ticket.created_at).total_seconds() // 60)
        at = min(
            now,
            ticket.created_at
            + dt.timedelta(minutes=rng.randint(5, max(5, min(2880, age_minutes)))),
        )
        inbox.reply_create(ticket=ticket, author=agent, body_text=rng.choice(openers), at=at)
        domain = contact.email.split("@")[1]
        for turn, (question, answer) in enumerate(rounds, start=1):
            asked_at = at + dt.timedelta(minutes=rng.randint(20, 24 * 60))
            if asked_at >= now:
                break
            inbox.message_add_inbound(
                ticket=ticket,
                contact=contact,
                content=inbox.InboundContent(
                    body_text=f"{question}\n\n{contact.name}",
                    from_email=contact.email,
                    message_id=f"<demo-{index}-{turn}@{domain}>",
                ),
                at=asked_at,
            )
            at = asked_at
            answered_at = asked_at + dt.timedelta(minutes=rng.randint(10, 8 * 60))
            if answered_at >= now:
                return at, True
            inbox.reply_create(ticket=ticket, author=agent, body_text=answer, at=answered_at)
            at = answered_at
        return at, False

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

"""The routing policy: every branch of the ring plan, and walking it with outcomes."""

import itertools
from datetime import UTC, datetime

import pytest

from callrouting.model import Caller, Directory, Operator, Presence, Role, Team
from callrouting.policy import (
    AttemptRecord,
    CallContext,
    CallHistory,
    Outcome,
    ReviewReason,
    RingPlan,
    StepKind,
    display_name,
    next_step,
    plan_call,
    review_reason,
)
from callrouting.rules import RoutingConfig

pytestmark = pytest.mark.unit

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
A, R, B, U = Presence.AVAILABLE, Presence.RINGING, Presence.IN_USE, Presence.UNAVAILABLE

RETAIL, PAYOUTS, SOLO = 10, 20, 30
DIRECTORY = Directory(
    operators={
        1: Operator(1, "Petrov", "1001", Role.MANAGER, RETAIL, backup_ids=(3, 4)),
        2: Operator(2, "Sidorova", "1002", Role.TEAM_LEAD, RETAIL),
        3: Operator(3, "Orlov", "1003", Role.MANAGER, RETAIL, backup_ids=(1,)),
        4: Operator(4, "Kuznetsova", "1004", Role.MANAGER, RETAIL),
        5: Operator(5, "Volkov", "1005", Role.MANAGER, RETAIL, backup_ids=(5, 4, 4, 99)),
        6: Operator(6, "Lebedev", "1006", Role.MANAGER, PAYOUTS),
        7: Operator(7, "Morozova", "1007", Role.TEAM_LEAD, PAYOUTS),
        8: Operator(8, "Popova", "1008", Role.MANAGER, PAYOUTS),
        9: Operator(9, "Freelance", "1009", Role.MANAGER, None, backup_ids=(4,)),
        11: Operator(11, "Solo", "1011", Role.TEAM_LEAD, SOLO, backup_ids=(4,)),
        12: Operator(12, "Leadless", "1012", Role.MANAGER, 40),
        13: Operator(13, "Orphan", "1013", Role.MANAGER, 99),
    },
    teams={
        RETAIL: Team(RETAIL, "Retail", lead_id=2),
        PAYOUTS: Team(PAYOUTS, "Payouts", lead_id=7),
        SOLO: Team(SOLO, "Solo", lead_id=11),
        40: Team(40, "NoLead", lead_id=None),
        50: Team(50, "GhostLead", lead_id=98),
    },
)

IVANOVA = Caller(100, "+79161234567", "Ivanova", vip=True, personal_manager_id=1)
SMIRNOV = Caller(101, "+79161112233", "Smirnov")  # no personal manager
PLAIN = Caller(102, "+79160000001", "Kozlov", personal_manager_id=1)

CONFIG = RoutingConfig.model_validate(
    {
        "defaults": {
            "manager_ring_seconds": 15,
            "backups_ring_seconds": 20,
            "team_lead_ring_seconds": 20,
            "pool_queue": "hotline-pool",
            "pool_priority": 0,
            "vip_pool_priority": 10,
        },
        "rules": [
            {
                "name": "big_win",
                "when": {"intent": "claim_winnings", "amount_over": 100000},
                "route_to": {"team": "Payouts"},
                "ring_seconds": 25,
            }
        ],
    }
)


NO_HISTORY = CallHistory()
NO_CONTEXT = CallContext()


def plan(
    caller=IVANOVA,
    presence=None,
    history=NO_HISTORY,
    context=NO_CONTEXT,
    config=CONFIG,
    directory=DIRECTORY,
) -> RingPlan:
    return plan_call(
        caller=caller,
        directory=directory,
        presence=presence or {},
        history=history,
        context=context,
        config=config,
        now=NOW,
    )


def shape(p: RingPlan) -> list[tuple]:
    """(reason, extensions, timeout, flag) per step; queue steps give (reason, queue, prio, flag)."""
    out = []
    for s in p.steps:
        if s.kind is StepKind.QUEUE:
            out.append((s.reason, s.queue, s.priority, s.flag_for_review))
        else:
            out.append((s.reason, s.extensions, s.timeout, s.flag_for_review))
    return out


def with_config(**defaults) -> RoutingConfig:
    return RoutingConfig.model_validate({"defaults": {**CONFIG.defaults.model_dump(), **defaults}})


POOL_VIP = ("pool", "hotline-pool", 10, None)
POOL = ("pool", "hotline-pool", 0, None)
NO_ANSWER = ReviewReason.NO_ANSWER


# --- the personal manager chain ---------------------------------------------------------


def test_full_chain_when_everyone_is_available():
    p = plan()
    assert shape(p) == [
        ("personal_manager", ("1001",), 15, None),
        ("backups", ("1001", "1003", "1004"), 20, None),
        ("team_lead", ("1002",), 20, NO_ANSWER),
        POOL_VIP,
    ]
    assert p.caller_id == 100
    assert p.created_at == NOW
    assert p.display_name == "VIP Ivanova"
    assert [s.index for s in p.steps] == [0, 1, 2, 3]
    assert p.steps[1].operator_ids == (1, 3, 4)


@pytest.mark.parametrize(
    ("state", "rings", "flag"),
    [
        (A, True, NO_ANSWER),
        (R, False, ReviewReason.MANAGER_BUSY),
        (B, False, ReviewReason.MANAGER_BUSY),
        (U, False, ReviewReason.MANAGER_UNAVAILABLE),
    ],
)
def test_manager_presence_decides_whether_he_rings(state, rings, flag):
    p = plan(presence={1: state})
    backups = ("1001", "1003", "1004") if rings else ("1003", "1004")
    expected = [("backups", backups, 20, None), ("team_lead", ("1002",), 20, flag), POOL_VIP]
    if rings:
        expected.insert(0, ("personal_manager", ("1001",), 15, None))
    assert shape(p) == expected
    assert any("skipped" in n for n in p.notes) is not rings


def test_manager_not_rung_again_with_backups_when_configured_off():
    p = plan(config=with_config(also_ring_manager_with_backups=False))
    assert p.steps[1].extensions == ("1003", "1004")


@pytest.mark.parametrize(
    ("backup_states", "backups_step"),
    [
        ({3: A, 4: A}, ("1001", "1003", "1004")),
        ({3: R, 4: A}, ("1001", "1003", "1004")),  # a ringing backup may still pick up
        ({3: B, 4: A}, ("1001", "1004")),
        ({3: U, 4: A}, ("1001", "1004")),
        ({3: A, 4: B}, ("1001", "1003")),
        ({3: B, 4: U}, None),  # nobody left: the step is dropped
        ({3: U, 4: U}, None),
    ],
)
def test_backups_skip_busy_and_unavailable(backup_states, backups_step):
    p = plan(presence=backup_states)
    steps = {s.reason: s for s in p.steps}
    if backups_step is None:
        assert "backups" not in steps
        assert p.reasons == ("personal_manager", "team_lead", "pool")
    else:
        assert steps["backups"].extensions == backups_step


def test_backups_dropped_even_if_manager_would_ring_with_them():
    p = plan(presence={3: U, 4: U})
    assert "backups: nobody can take the call, step dropped" in p.notes


def test_backups_without_self_duplicates_or_ghosts():
    caller = Caller(103, "+79160000003", "Belova", personal_manager_id=5)
    p = plan(caller=caller, config=with_config(also_ring_manager_with_backups=False))
    assert p.steps[1].extensions == ("1004",)
    assert any("#99" in n for n in p.notes)


def test_manager_without_backups_goes_to_lead():
    caller = Caller(104, "+79160000004", "Zaitsev", personal_manager_id=4)
    assert shape(plan(caller=caller)) == [
        ("personal_manager", ("1004",), 15, None),
        ("team_lead", ("1002",), 20, NO_ANSWER),
        POOL,
    ]


@pytest.mark.parametrize(
    ("lead_state", "lead_rings"), [(A, True), (R, False), (B, False), (U, False)]
)
def test_lead_presence(lead_state, lead_rings):
    p = plan(presence={2: lead_state})
    if lead_rings:
        assert p.reasons[-2:] == ("team_lead", "pool")
        assert p.steps[-1].flag_for_review is None
    else:
        # Nobody above the manager can ring: the pool step carries the QA flag.
        assert "team_lead" not in p.reasons
        assert shape(p)[-1] == ("pool", "hotline-pool", 10, NO_ANSWER)


@pytest.mark.parametrize(
    ("manager_id", "note"),
    [
        (11, "1011 is the team lead"),
        (9, "1009 has no team lead"),  # no team at all
        (12, "1012 has no team lead"),  # team without a lead
        (13, "1013 has no team lead"),  # team missing from the directory
    ],
)
def test_no_lead_to_escalate_to_still_flags(manager_id, note):
    caller = Caller(105, "+79160000005", "Egorova", personal_manager_id=manager_id)
    p = plan(caller=caller)
    assert "team_lead" not in p.reasons
    assert p.steps[-1].kind is StepKind.QUEUE
    assert p.steps[-1].flag_for_review is NO_ANSWER
    assert any(note in n for n in p.notes), p.notes


def test_lead_missing_from_directory_still_flags():
    directory = Directory(
        operators={1: Operator(1, "Petrov", "1001", Role.MANAGER, 50)},
        teams={50: Team(50, "GhostLead", lead_id=98)},
    )
    p = plan(directory=directory, presence={1: B})
    assert shape(p) == [("pool", "hotline-pool", 10, ReviewReason.MANAGER_BUSY)]
    assert any("#98" in n for n in p.notes)


def test_everyone_busy_goes_to_pool_flagged():
    p = plan(presence={1: B, 2: B, 3: B, 4: U})
    assert shape(p) == [("pool", "hotline-pool", 10, ReviewReason.MANAGER_BUSY)]


def test_team_overrides_follow_the_managers_team():
    config = RoutingConfig.model_validate(
        {
            "defaults": CONFIG.defaults.model_dump(),
            "teams": {
                "Retail": {
                    "manager_ring_seconds": 25,
                    "backups_ring_seconds": 30,
                    "team_lead_ring_seconds": 12,
                    "pool_queue": "retail-pool",
                }
            },
        }
    )
    assert shape(plan(config=config)) == [
        ("personal_manager", ("1001",), 25, None),
        ("backups", ("1001", "1003", "1004"), 30, None),
        ("team_lead", ("1002",), 12, NO_ANSWER),
        ("pool", "retail-pool", 10, None),
    ]


def test_pool_max_wait_is_the_queue_timeout():
    assert plan(config=with_config(pool_max_wait_seconds=300)).steps[-1].timeout == 300
    assert plan().steps[-1].timeout is None


# --- last manager, unknown callers, VIPs -------------------------------------------------


def test_last_manager_when_no_personal_manager():
    p = plan(caller=SMIRNOV, history=CallHistory(last_manager_id=3))
    assert shape(p) == [
        ("last_manager", ("1003",), 15, None),
        ("backups", ("1003", "1001"), 20, None),
        ("team_lead", ("1002",), 20, NO_ANSWER),
        POOL,
    ]


def test_last_manager_busy_is_skipped_like_a_personal_one():
    p = plan(caller=SMIRNOV, history=CallHistory(last_manager_id=3), presence={3: B})
    assert p.reasons == ("backups", "team_lead", "pool")
    assert p.steps[1].flag_for_review is ReviewReason.MANAGER_BUSY


def test_personal_manager_wins_over_last_manager():
    assert plan(history=CallHistory(last_manager_id=3)).reasons[0] == "personal_manager"


@pytest.mark.parametrize(
    ("history", "first"),
    [(CallHistory(last_manager_id=3), "last_manager"), (CallHistory(), "pool")],
)
def test_personal_manager_missing_from_directory(history, first):
    ghost = Caller(106, "+79160000006", "Ghost", personal_manager_id=99)
    p = plan(caller=ghost, history=history)
    assert p.reasons[0] == first
    assert "personal manager #99 not in the directory" in p.notes


def test_last_manager_missing_from_directory_goes_to_pool():
    p = plan(caller=SMIRNOV, history=CallHistory(last_manager_id=99))
    assert shape(p) == [POOL]
    assert "last manager #99 not in the directory" in p.notes


@pytest.mark.parametrize("history", [CallHistory(), CallHistory(last_manager_id=1)])
def test_unknown_caller_goes_straight_to_the_pool(history):
    p = plan(caller=None, history=history)
    assert shape(p) == [POOL]
    assert p.caller_id is None
    assert p.display_name == "Unknown"


@pytest.mark.parametrize(("vip", "priority"), [(True, 10), (False, 0)])
def test_vip_goes_first_in_the_pool(vip, priority):
    caller = Caller(107, "+79160000007", "Orlova", vip=vip)
    (step,) = plan(caller=caller).steps
    assert (step.kind, step.queue, step.priority) == (StepKind.QUEUE, "hotline-pool", priority)


# --- rules ----------------------------------------------------------------------------------

BIG_WIN = CallContext(intent="claim_winnings", slots={"amount": 250000})


@pytest.mark.parametrize(
    ("context", "matches"),
    [
        (BIG_WIN, True),
        (CallContext(intent="claim_winnings", slots={"amount": "100 000,01"}), True),
        (CallContext(intent="claim_winnings", slots={"amount": 100000}), False),
        (CallContext(intent="claim_winnings", slots={"amount": 500}), False),
        (CallContext(intent="claim_winnings", slots={"amount": "a lot"}), False),
        (CallContext(intent="claim_winnings"), False),
        (CallContext(intent="ticket_check", slots={"amount": 250000}), False),
        (CallContext(), False),
    ],
)
def test_big_win_rule(context, matches):
    p = plan(caller=PLAIN, context=context)
    if matches:
        assert p.matched_rule == "big_win"
        assert shape(p)[0] == ("rule:big_win", ("1006", "1008"), 25, None)  # managers, not the lead
        assert p.reasons[1:] == ("personal_manager", "backups", "team_lead", "pool")
    else:
        assert p.matched_rule is None
        assert p.reasons[0] == "personal_manager"


def test_rule_applies_to_unknown_callers_then_pool():
    assert shape(plan(caller=None, context=BIG_WIN)) == [
        ("rule:big_win", ("1006", "1008"), 25, None),
        POOL,
    ]


def test_rule_team_members_busy_drops_the_step():
    p = plan(caller=None, context=BIG_WIN, presence={6: B, 8: U})
    assert shape(p) == [POOL]
    assert p.matched_rule == "big_win"
    assert "rule:big_win: nobody can take the call, step dropped" in p.notes


def rules_config(*rules, teams=None) -> RoutingConfig:
    return RoutingConfig.model_validate(
        {"defaults": CONFIG.defaults.model_dump(), "rules": list(rules), "teams": teams or {}}
    )


def test_rule_then_pool_skips_the_manager_chain():
    config = rules_config(
        {
            "name": "payout",
            "when": {"intent": "claim_winnings"},
            "route_to": {"team": "Payouts"},
            "then": "pool",
        }
    )
    p = plan(context=CallContext(intent="claim_winnings"), config=config)
    assert shape(p) == [("rule:payout", ("1006", "1008"), 20, None), POOL_VIP]


def test_rule_team_ring_time_comes_from_the_teams_overrides():
    config = rules_config(
        {"name": "payout", "route_to": {"team": "Payouts"}, "then": "pool"},
        teams={"Payouts": {"backups_ring_seconds": 40}},
    )
    assert plan(config=config).steps[0].timeout == 40


def test_rule_to_a_queue_is_final():
    config = rules_config(
        {
            "name": "complaint",
            "when": {"category": ["complaint", "fraud"]},
            "route_to": {"queue": "complaints"},
        }
    )
    p = plan(context=CallContext(category="fraud"), config=config)
    assert shape(p) == [("rule:complaint", "complaints", 10, None)]


@pytest.mark.parametrize(("state", "rings"), [(A, True), (R, False), (B, False), (U, False)])
def test_rule_to_an_operator(state, rings):
    config = rules_config(
        {"name": "press", "when": {"intent": "press"}, "route_to": {"operator": "1009"}}
    )
    p = plan(caller=None, context=CallContext(intent="press"), config=config, presence={9: state})
    expected = [("rule:press", ("1009",), 15, None), POOL] if rings else [POOL]
    assert shape(p) == expected


@pytest.mark.parametrize(
    ("route_to", "note"),
    [
        ({"team": "Nowhere"}, "rule r: no team 'Nowhere' in the directory"),
        ({"operator": "1999"}, "rule r: no operator with extension '1999'"),
    ],
)
def test_rule_target_missing_from_directory_is_noted_not_fatal(route_to, note):
    p = plan(caller=None, config=rules_config({"name": "r", "route_to": route_to}))
    assert shape(p) == [POOL]
    assert note in p.notes


@pytest.mark.parametrize(
    ("caller", "context", "expected"),
    [
        (IVANOVA, CallContext(intent="x"), "rule:vip"),
        (PLAIN, CallContext(intent="x"), "rule:known"),
        (None, CallContext(intent="x"), "rule:any_x"),
        (None, CallContext(intent="y"), "pool"),
    ],
)
def test_first_matching_rule_wins(caller, context, expected):
    config = rules_config(
        {"name": "vip", "when": {"vip": True}, "route_to": {"queue": "vip"}},
        {"name": "known", "when": {"known_caller": True}, "route_to": {"queue": "known"}},
        {"name": "any_x", "when": {"intent": ["x", "z"]}, "route_to": {"queue": "x"}},
        {"name": "never", "when": {"intent": "x"}, "route_to": {"queue": "never"}},
    )
    assert plan(caller=caller, context=context, config=config).reasons[0] == expected


def test_rule_with_custom_amount_slot():
    config = rules_config(
        {
            "name": "r",
            "when": {"amount_over": 10, "amount_slot": "prize"},
            "route_to": {"queue": "q"},
        }
    )
    assert plan(context=CallContext(slots={"prize": 11}), config=config).reasons == ("rule:r",)
    assert plan(context=CallContext(slots={"amount": 11}), config=config).reasons[0] != "rule:r"


# --- invariants over every presence combination ------------------------------------------

STATES = list(Presence)


@pytest.mark.parametrize("states", list(itertools.product(STATES, repeat=4)))
@pytest.mark.parametrize("context", [CallContext(), BIG_WIN])
def test_plan_invariants(states, context):
    presence = dict(zip((1, 2, 3, 4), states, strict=True))
    p = plan(presence=presence, context=context)
    kinds = [s.kind for s in p.steps]
    assert kinds[-1] is StepKind.QUEUE and kinds.count(StepKind.QUEUE) == 1  # never a hang-up
    assert [s.index for s in p.steps] == list(range(len(p.steps)))
    for s in p.steps[:-1]:
        assert s.targets and s.timeout
        assert len(set(s.operator_ids)) == len(s.operator_ids)
        for t in s.targets:
            assert presence.get(t.operator_id, A) not in s.skip_when
    # The manager chain always ends flagged: on the lead step, else on the pool step.
    flagged = [s for s in p.steps if s.flag_for_review]
    assert len(flagged) == 1
    assert flagged[0].reason in ("team_lead", "pool")


# --- walking the plan ---------------------------------------------------------------------


def walk(p: RingPlan, outcomes, presence=None):
    """Feed outcomes in order; return the reasons and flags of the steps handed out."""
    attempts: list[AttemptRecord] = []
    seen = []
    for outcome in outcomes:
        step = next_step(p, attempts, presence)
        assert step is not None
        seen.append((step.reason, step.flag_for_review))
        attempts.append(AttemptRecord.for_step(step, outcome))
    return seen, attempts


def test_walk_until_answered():
    p = plan()
    seen, attempts = walk(p, [Outcome.NO_ANSWER, Outcome.NO_ANSWER, Outcome.ANSWERED])
    assert seen == [("personal_manager", None), ("backups", None), ("team_lead", NO_ANSWER)]
    assert next_step(p, attempts) is None
    assert review_reason(attempts) is NO_ANSWER


def test_answered_by_manager_is_not_flagged():
    p = plan()
    step = next_step(p)
    attempts = [AttemptRecord.for_step(step, Outcome.ANSWERED, answered_by=1, started_at=NOW)]
    assert next_step(p, attempts) is None
    assert review_reason(attempts) is None
    assert attempts[0].rang == (1,) and attempts[0].answered_by == 1


def test_caller_hanging_up_ends_the_walk():
    p = plan()
    _, attempts = walk(p, [Outcome.CALLER_HUNG_UP])
    assert next_step(p, attempts) is None


def test_queue_timeout_puts_the_caller_back_in_the_queue():
    p = plan(caller=None)
    seen, attempts = walk(p, [Outcome.NO_ANSWER, Outcome.UNAVAILABLE, Outcome.NO_ANSWER])
    assert seen == [("pool", None)] * 3
    assert next_step(p, attempts).queue == "hotline-pool"


@pytest.mark.parametrize(
    ("manager_outcome", "flag"),
    [
        (Outcome.NO_ANSWER, NO_ANSWER),
        (Outcome.BUSY, ReviewReason.MANAGER_BUSY),
        (Outcome.UNAVAILABLE, ReviewReason.MANAGER_UNAVAILABLE),
    ],
)
def test_dial_outcome_of_the_manager_refines_the_review_reason(manager_outcome, flag):
    seen, _ = walk(plan(), [manager_outcome, Outcome.NO_ANSWER, Outcome.NO_ANSWER])
    assert seen[2] == ("team_lead", flag)


def test_fresh_presence_drops_targets_that_became_busy():
    p = plan()
    first = next_step(p, (), {})
    attempts = [AttemptRecord.for_step(first, Outcome.NO_ANSWER)]
    step = next_step(p, attempts, {3: B})
    assert step.reason == "backups" and step.extensions == ("1001", "1004")
    assert p.steps[1].extensions == ("1001", "1003", "1004")  # the plan itself is unchanged


@pytest.mark.parametrize(
    ("state", "flag"), [(B, ReviewReason.MANAGER_BUSY), (U, ReviewReason.MANAGER_UNAVAILABLE)]
)
def test_manager_busy_by_the_time_the_call_gets_there(state, flag):
    p = plan(caller=SMIRNOV, history=CallHistory(last_manager_id=4))  # no backups
    step = next_step(p, (), {4: state})
    assert (step.reason, step.flag_for_review) == ("team_lead", flag)


def test_lead_gone_by_the_time_the_call_gets_there_passes_the_flag_to_the_pool():
    p = plan()
    _, attempts = walk(p, [Outcome.NO_ANSWER, Outcome.NO_ANSWER])
    step = next_step(p, attempts, {2: U})
    assert (step.reason, step.flag_for_review) == ("pool", NO_ANSWER)


def test_whole_group_busy_at_runtime_skips_the_step():
    p = plan()
    _, attempts = walk(p, [Outcome.NO_ANSWER])
    step = next_step(p, attempts, {1: B, 3: B, 4: U})
    assert step.reason == "team_lead"


def test_review_reason_of_unflagged_walk():
    _, attempts = walk(plan(caller=None), [Outcome.ANSWERED])
    assert review_reason(attempts) is None
    assert review_reason([]) is None


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("ANSWER", Outcome.ANSWERED),
        ("NOANSWER", Outcome.NO_ANSWER),
        ("BUSY", Outcome.BUSY),
        ("CHANUNAVAIL", Outcome.UNAVAILABLE),
        ("CONGESTION", Outcome.UNAVAILABLE),
        ("CANCEL", Outcome.CALLER_HUNG_UP),
        (" busy ", Outcome.BUSY),
        ("", Outcome.NO_ANSWER),
        ("SOMETHING_NEW", Outcome.NO_ANSWER),
    ],
)
def test_from_dialstatus(status, outcome):
    assert Outcome.from_dialstatus(status) is outcome


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("TIMEOUT", Outcome.NO_ANSWER), ("JOINEMPTY", Outcome.UNAVAILABLE), ("x", Outcome.NO_ANSWER)],
)
def test_from_queuestatus(status, outcome):
    assert Outcome.from_queuestatus(status) is outcome


# --- the name on the operator's phone ------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "context", "expected"),
    [
        (IVANOVA, CallContext(topic="ticket check"), "VIP Ivanova - ticket check"),
        (IVANOVA, CallContext(intent="check_ticket"), "VIP Ivanova - check ticket"),
        (PLAIN, CallContext(category="payouts", intent="claim_winnings"), "Kozlov - payouts"),
        (PLAIN, CallContext(), "Kozlov"),
        (None, CallContext(topic="ticket check"), "Unknown - ticket check"),
        (None, CallContext(), "Unknown"),
        (
            Caller(1, "+7", "Иванова Анна"),
            CallContext(topic="проверка билета"),
            "Иванова Анна - проверка билета",
        ),
        (Caller(1, "+7", 'Ivan"ova,;\\ <x>'), CallContext(), "Ivan ova x"),
        (Caller(1, "+7", "Eve\u202eavonavI"), CallContext(), "Eve avonavI"),  # RTL override
        (Caller(1, "+7", "Bad\r\nInject: yes"), CallContext(), "Bad Inject yes"),
        (Caller(1, "+7", "\x00\x07"), CallContext(), "Caller"),
        (
            Caller(1, "+7", "O'Brien-Smith"),
            CallContext(topic="#1 (win)"),
            "O'Brien-Smith - #1 (win)",
        ),
        (Caller(1, "+7", "x" * 60), CallContext(), "x" * 40),
        (Caller(1, "+7", "A" * 37), CallContext(topic="ticket"), "A" * 37),  # no dangling " -"
    ],
)
def test_display_name(caller, context, expected):
    assert display_name(caller, context) == expected


def test_display_name_length_is_configurable():
    assert display_name(IVANOVA, CallContext(topic="ticket check"), max_length=11) == "VIP Ivanova"

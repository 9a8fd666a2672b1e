"""The dialplan's `queue:` turned into the pool queue's Asterisk parameters."""

from __future__ import annotations

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from callrouting.model import Directory, Operator, Role, Team
from hotline.app.wiring import pool_params
from hotline.paths import PROJECT_ROOT
from hotline.pbx.asterisk import OVERFLOW_RULE, PoolParams
from ivr.model import QueueWait

TEXTS = dict(position="p {position}", wait="w {wait}", less_than_a_minute="l", one_minute="o",
             minutes="{minutes} m")
DIRECTORY = Directory(
    operators={
        1: Operator(1, "Anna", "1001", Role.MANAGER, 1),
        2: Operator(2, "Nina", "1007", Role.MANAGER, 2),
        5: Operator(5, "Olga", "1005", Role.TEAM_LEAD, 1),
        6: Operator(6, "Pavel", "1006", Role.TEAM_LEAD, 2),
    },
    teams={1: Team(1, "Hotline", 5), 2: Team(2, "Payouts", 6)},
)


def test_no_queue_section_keeps_asterisks_defaults():
    assert pool_params(None, DIRECTORY).params == PoolParams()


def test_team_leads_overflow_holds_the_leads_back():
    q = QueueWait(**TEXTS, wrapup=10, overflow={"after": 90, "ring": "team_leads"})
    plan = pool_params(q, DIRECTORY)
    assert plan.overflow == {"1005", "1006"} and plan.problem is None
    assert plan.params == PoolParams(10, {"1001": 1, "1007": 1, "1005": 2, "1006": 2}, 90)


def test_second_team_overflow_and_an_unknown_team():
    plan = pool_params(QueueWait(**TEXTS, overflow={"after": 60, "team": "Payouts"}), DIRECTORY)
    assert plan.overflow == {"1007", "1006"}
    bad = pool_params(QueueWait(**TEXTS, overflow={"after": 60, "team": "Nobody"}), DIRECTORY)
    assert bad.params == PoolParams() and bad.problem == "overflow team 'Nobody' is not in the directory"


def test_templates_render_wrapup_penalties_and_the_rule():
    env = Environment(loader=FileSystemLoader(str(PROJECT_ROOT / "asterisk" / "templates")),
                      undefined=StrictUndefined, keep_trailing_newline=True)
    ops = [o for o in DIRECTORY.operators.values()]
    ctx = dict(operators=ops, pool_queue="hotline-pool", pool_wrapup=10,
               pool_penalties={"1001": 1, "1005": 2}, pool_overflow_after=90,
               pool_overflow_rule=OVERFLOW_RULE)
    queues = env.get_template("queues.conf.j2").render(**ctx)
    assert "wrapuptime = 10" in queues
    assert "member => PJSIP/1001,1,Anna,PJSIP/1001" in queues
    assert "member => PJSIP/1005,2,Olga,PJSIP/1005" in queues
    assert "member => PJSIP/1007,0,Nina,PJSIP/1007" in queues  # not in the map: no penalty
    rules = env.get_template("queuerules.conf.j2").render(**ctx)
    assert "[hotline-overflow]\npenaltychange => 90,2\n" in rules
    assert "penaltychange" not in env.get_template("queuerules.conf.j2").render(
        **{**ctx, "pool_overflow_after": None})

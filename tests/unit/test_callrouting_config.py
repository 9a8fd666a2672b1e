"""routing.yaml: defaults, team overrides, rules, and line-numbered problems."""

from pathlib import Path
from textwrap import dedent

import pytest

from callrouting.config import RoutingConfigError, load_routing_config, parse_routing_config
from callrouting.model import Directory, Operator, Role, Team
from callrouting.rules import RoutingConfig, parse_amount
from hotline.problems import YamlFileError

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]

DIRECTORY = Directory(
    operators={
        1: Operator(1, "Petrov", "1001", Role.MANAGER, team_id=10),
        2: Operator(2, "Sidorova", "1002", Role.TEAM_LEAD, team_id=10),
        3: Operator(3, "Orlov", "1003", Role.MANAGER, team_id=20),
    },
    teams={10: Team(10, "Retail", lead_id=2), 20: Team(20, "Payouts", lead_id=None)},
)


def parse(text: str, directory: Directory | None = None) -> RoutingConfig:
    return parse_routing_config(dedent(text), "routing.yaml", directory)


def problems(text: str, directory: Directory | None = None) -> list[str]:
    with pytest.raises(RoutingConfigError) as info:
        parse(text, directory)
    assert isinstance(info.value, YamlFileError)
    return [str(p) for p in info.value.problems]


def test_shipped_config_loads_and_matches_the_brief():
    config = load_routing_config(REPO / "config" / "routing.yaml")
    d = config.defaults
    assert (d.manager_ring_seconds, d.backups_ring_seconds, d.team_lead_ring_seconds) == (
        15,
        20,
        20,
    )
    assert d.pool_queue == "hotline-pool"
    assert d.pool_max_wait_seconds is None
    assert d.vip_pool_priority > d.pool_priority
    assert [r.name for r in config.rules] == ["big_win_claim"]
    assert config.rules[0].route_to.team == "Payouts"


def test_shipped_config_against_a_directory_with_payouts():
    config = load_routing_config(REPO / "config" / "routing.yaml")
    assert config.validate_against(DIRECTORY) == []


def test_empty_file_gives_defaults():
    config = parse("")
    assert config.model_dump() == RoutingConfig().model_dump()
    assert config.defaults.manager_ring_seconds == 15


def test_team_overrides_merge_over_defaults():
    config = parse(
        """
        defaults:
          manager_ring_seconds: 15
          pool_queue: hotline-pool
        teams:
          Retail:
            manager_ring_seconds: 25
            also_ring_manager_with_backups: false
        """
    )
    retail = config.settings_for("Retail")
    assert retail.manager_ring_seconds == 25
    assert retail.also_ring_manager_with_backups is False
    assert retail.pool_queue == "hotline-pool"
    assert config.settings_for("Payouts") == config.defaults
    assert config.settings_for(None) == config.defaults


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "defaults:\n  manager_ring_secs: 15\n",
            "routing.yaml:2:3: unknown key 'manager_ring_secs'",
        ),
        (
            "defaults:\n  manager_ring_seconds: 0\n",
            "routing.yaml:2:25: Input should be greater than or equal to 1",
        ),
        (
            "defaults:\n  manager_ring_seconds: soon\n",
            "routing.yaml:2:25: Input should be a valid integer",
        ),
        ("defaults:\n  pool_queue: 'pool,1'\n", "routing.yaml:2:15: String should match pattern"),
        (
            "defaults:\n  pool_max_wait_seconds: 1\n",
            "routing.yaml:2:26: Input should be greater than or equal to 10",
        ),
        (
            "defaults:\n  pool_priority: 5\n  vip_pool_priority: 1\n",
            "vip_pool_priority must not be lower than pool_priority",
        ),
        ("colour: red\n", "routing.yaml:1:1: unknown key 'colour'"),
        ("- 1\n", "routing.yaml:1:1: the routing configuration must be a mapping"),
        ("teams:\n  Retail:\n    ring: 5\n", "routing.yaml:3:5: unknown key 'ring'"),
        (
            "teams:\n  Retail:\n    vip_pool_priority: 0\n    pool_priority: 3\n",
            "routing.yaml:2:3: Value error, vip_pool_priority must not be lower than pool_priority (at teams -> Retail)",
        ),
        ("rules:\n  - name: a\n", "routing.yaml:2:5: missing required key 'route_to'"),
        ("rules:\n  - route_to: {queue: q}\n", "missing required key 'name'"),
        (
            "rules:\n  - name: a\n    route_to: {}\n",
            "give exactly one of 'team', 'operator' or 'queue'",
        ),
        ("rules:\n  - name: a\n    route_to: {team: X, queue: q}\n", "give exactly one"),
        (
            "rules:\n  - name: a\n    route_to: {queue: q}\n    then: pool\n",
            "'then' cannot be used with a queue target",
        ),
        (
            "rules:\n  - name: a\n    route_to: {team: X}\n    then: later\n",
            "routing.yaml:4:11: Input should be 'standard' or 'pool'",
        ),
        ("rules:\n  - name: a\n    route_to: {operator: '10;01'}\n", "String should match pattern"),
        (
            "rules:\n  - name: 'big win'\n    route_to: {team: X}\n",
            "routing.yaml:2:11: String should match pattern",
        ),
        (
            "rules:\n  - name: a\n    when: {intent: x, amount_above: 5}\n    route_to: {team: X}\n",
            "routing.yaml:3:23: unknown key 'amount_above'",
        ),
        (
            "rules:\n  - name: a\n    when: {amount_over: -1}\n    route_to: {team: X}\n",
            "greater than or equal to 0",
        ),
        (
            "rules:\n  - name: a\n    route_to: {team: X}\n  - name: a\n    route_to: {team: Y}\n",
            "routing.yaml:4:11: duplicate rule name 'a' (at rules -> 1 -> name)",
        ),
        (
            "defaults:\n  manager_ring_seconds: 15\n  manager_ring_seconds: 20\n",
            "routing.yaml:3:3: duplicate key",
        ),
        ("defaults: [\n", "routing.yaml:2:1: YAML syntax error"),
    ],
)
def test_problems_name_file_and_line(text, expected):
    found = problems(text)
    assert any(expected in p for p in found), found


def test_all_problems_are_reported_at_once():
    found = problems(
        """
        defaults:
          manager_ring_seconds: 0
          pool_queue: 'a b'
        rules:
          - name: x
            route_to: {}
        """
    )
    assert len(found) == 3
    assert [p.split(":")[1] for p in found] == ["3", "4", "7"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "teams:\n  Wholesale: {}\n",
            ["routing.yaml:2:3: unknown team 'Wholesale' (at teams -> Wholesale)"],
        ),
        (
            "rules:\n  - name: a\n    route_to: {team: Payout}\n",
            ["routing.yaml:3:22: unknown team 'Payout' (at rules -> 0 -> route_to -> team)"],
        ),
        (
            "rules:\n  - name: a\n    route_to: {operator: '1999'}\n",
            [
                "routing.yaml:3:26: no operator with extension '1999' (at rules -> 0 -> route_to -> operator)"
            ],
        ),
        ("rules:\n  - name: a\n    route_to: {operator: '1001'}\n", []),
        ("rules:\n  - name: a\n    route_to: {queue: anything}\n", []),
        ("teams:\n  Retail: {}\n  Payouts: {}\n", []),
    ],
)
def test_validate_against_directory(text, expected):
    config = parse(text)
    assert [str(p) for p in config.validate_against(DIRECTORY)] == expected


def test_team_without_managers_is_reported():
    directory = Directory(operators={}, teams={20: Team(20, "Payouts", lead_id=None)})
    config = parse("rules:\n  - name: a\n    route_to: {team: Payouts}\n")
    assert [
        "team 'Payouts' has no managers" in str(p) for p in config.validate_against(directory)
    ] == [True]


def test_loading_with_a_directory_raises_on_unknown_names():
    found = problems("teams:\n  Wholesale: {}\n", DIRECTORY)
    assert found == ["routing.yaml:2:3: unknown team 'Wholesale' (at teams -> Wholesale)"]


def test_programmatic_config_reports_without_marks():
    config = RoutingConfig.model_validate({"teams": {"Nope": {}}})
    (problem,) = config.validate_against(DIRECTORY)
    assert problem.message == "unknown team 'Nope'"


def test_missing_file(tmp_path):
    with pytest.raises(RoutingConfigError) as info:
        load_routing_config(tmp_path / "missing.yaml")
    assert "cannot read file" in str(info.value)


def test_config_is_immutable():
    config = parse("")
    with pytest.raises(ValueError):
        config.defaults.manager_ring_seconds = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (150000, 150000),
        (150000.5, 150000.5),
        ("150000", 150000),
        ("150 000", 150000),
        ("150\u00a0000,50", 150000.5),
        ("lots", None),
        ("", None),
        (None, None),
        (True, None),
        (float("nan"), None),
        (float("inf"), None),
        ("Infinity", None),
        ([1], None),
    ],
)
def test_parse_amount(value, expected):
    amount = parse_amount(value)
    assert (amount if amount is None else float(amount)) == expected

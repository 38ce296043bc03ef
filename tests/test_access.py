"""The authorisation decision: a pure function of (staff list, account, action); and what a refusal says."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retention_agent.errors import AccessDeniedError
from retention_agent.i18n.actions import ACTION_WORDS
from retention_agent.i18n.catalogue import translate
from retention_agent.rules.access import (
    REQUIRED_ROLES,
    ROLES,
    StaffMember,
    decide,
    officers_after_change,
    refusal,
    validate_roles,
)

ALL_ROLE_SETS = [frozenset(c) for n in range(len(ROLES) + 1) for c in combinations(ROLES, n)]

# Who may do what, written out by hand from the issue and the deliberation (nrs. 45, 64), so that a change
# to access.REQUIRED_ROLES has to be made twice: there and here.
EXPECTED: dict[str, set[str]] = {
    **{action: {"officer"} for action in (
        "status", "staff.list", "staff.add", "staff.remove", "audit.show", "audit.checkpoint",
        "audit.verify", "vault.verify", "checklist.set", "hold", "release", "purge.due",
        "purge.quarantined", "purge.all", "quarantine.release", "report", "proof.list", "proof.show", "proof.export",
        "ceremony.extend", "open.quarantined")},
    "ingest": {"import"},
    "deliveries": {"read", "modify", "destroy", "officer"},
    "ceremony.list": {"read", "modify", "destroy", "officer"},
    "ceremony.set": {"modify", "officer"},
    "open": {"read"},
    "purge.early": {"destroy"},
    "ceremony.early": {"destroy"},
    "keys.public": set(ROLES),
    "secret.set": {"officer"},
    "mailbox.signin": {"officer"},
    "notifications": set(ROLES),
    "whoami": set(ROLES),
    "copies.targets": set(ROLES),
    "copies.report": set(ROLES),
    "delivery.unlock": {"read"},
}


def staff_with(account: str, roles: frozenset[str]) -> dict[str, StaffMember]:
    return {account: StaffMember(account, "Name", roles)} if roles else {}


def test_the_table_of_required_roles_is_the_one_written_down() -> None:
    assert {a: set(r) for a, r in REQUIRED_ROLES.items()} == EXPECTED


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_every_action_against_every_role_set(action: str) -> None:
    """All 32 role sets (including not being on the list at all) for each action."""
    for roles in ALL_ROLE_SETS:
        decision = decide(staff_with("mpeeters", roles), "mpeeters", action)
        assert decision.granted == bool(roles & EXPECTED[action]), (action, sorted(roles))
        assert (decision.action, decision.account) == (action, "mpeeters")


@pytest.mark.parametrize("action", ["", "staff", "staff.list ", "STAFF.LIST", "delete-everything", "open\x00"])
def test_unknown_actions_are_refused_even_to_an_officer_with_every_role(action: str) -> None:
    decision = decide(staff_with("boss", frozenset(ROLES)), "boss", action)
    assert not decision.granted
    assert decision.needs == frozenset()


def test_roles_of_one_account_do_not_grant_another() -> None:
    staff = staff_with("officer1", frozenset(ROLES))
    assert decide(staff, "officer1", "staff.list").granted
    assert not decide(staff, "officer2", "staff.list").granted
    assert not decide(staff, "Officer1", "staff.list").granted  # account names are exact


staff_lists = st.dictionaries(
    st.sampled_from(["a", "b", "c", "d"]),
    st.frozensets(st.sampled_from((*ROLES, "admin", "root", ""))),
).map(lambda raw: {acct: StaffMember(acct, acct.upper(), roles) for acct, roles in raw.items()})


@given(staff=staff_lists, account=st.sampled_from(["a", "b", "c", "d", "e"]),
       action=st.one_of(st.sampled_from(sorted(REQUIRED_ROLES)), st.text(max_size=12)))
def test_nothing_is_granted_without_a_required_role(staff: dict[str, StaffMember], account: str,
                                                    action: str) -> None:
    decision = decide(staff, account, action)
    member = staff.get(account)
    needs = REQUIRED_ROLES.get(action, frozenset())
    if decision.granted:
        assert member is not None
        assert member.roles & needs
    else:
        assert member is None or not (member.roles & needs)
    assert decide(staff, account, action) == decision  # pure: same input, same answer


@pytest.mark.parametrize("roles", [[], ["admin"], ["read", "superuser"], ["Officer"]])
def test_unknown_or_missing_roles_are_rejected(roles: list[str]) -> None:
    with pytest.raises(ValueError, match="roles must be among"):
        validate_roles(roles)


def test_officer_count_after_a_change() -> None:
    staff = {"a": StaffMember("a", "A", frozenset({"officer"})),
             "b": StaffMember("b", "B", frozenset({"read"}))}
    assert officers_after_change(staff, "a", None) == 0
    assert officers_after_change(staff, "a", frozenset({"read"})) == 0
    assert officers_after_change(staff, "b", frozenset({"officer"})) == 2
    assert officers_after_change(staff, "c", frozenset({"officer", "read"})) == 2


# ---- what a refusal says ----------------------------------------------------------------------------------

STAFF = {"an": StaffMember("an", "An Peeters", frozenset({"officer"})),
         "bo": StaffMember("bo", "Bo Claes", frozenset({"officer", "read"})),
         "clerk": StaffMember("clerk", "Cas", frozenset({"modify"}))}
# the ways the old refusals pointed at a right to hand out, or leaked an operation's code
SUGGESTS_RIGHTS = ("give the account", "staff add", "the role officer", "de rol officer", "geef", "vraag")


def test_every_action_has_words_and_no_words_are_left_over() -> None:
    assert set(ACTION_WORDS) == set(REQUIRED_ROLES)


@pytest.mark.parametrize("lang", ["en", "nl"])
@pytest.mark.parametrize("action", sorted(REQUIRED_ROLES))
def test_a_refusal_names_the_action_in_words_and_who_may_do_it_never_a_code_or_a_right_to_hand_out(
        action: str, lang: str) -> None:
    text = AccessDeniedError(**refusal(STAFF, "clerk", action)).render(lang)
    assert [code for code in REQUIRED_ROLES if "." in code and code in text] == [], text
    assert f"{translate(ACTION_WORDS[action], lang)}." in text.splitlines()[0]
    assert not any(s in text.lower() for s in SUGGESTS_RIGHTS), text
    needs = REQUIRED_ROLES[action]
    if needs == {"officer"}:
        assert "An Peeters (an), Bo Claes (bo)" in text  # by name, from the staff list
    elif needs != set(ROLES):
        roles = sorted(needs - {"officer"}, key=ROLES.index)
        assert " ".join(roles) in text.replace(",", "").replace(" or ", " ").replace(" of ", " "), text
    assert text.count("\n") == 1  # the message and one hint line


def test_the_refusal_is_structured_for_any_client() -> None:
    """Error id and plain values: the desktop app renders the same text from them."""
    wire = AccessDeniedError(**refusal(STAFF, "clerk", "ceremony.extend")).to_wire()
    assert wire == {"id": "access-denied", "params": {
        "account": "clerk", "action": "ceremony.extend", "who": "officer", "roles": [],
        "officers": "An Peeters (an), Bo Claes (bo)"}}
    again = AccessDeniedError(**wire["params"])
    assert again.render("en") == ("The account clerk may not move a ceremony date later, which keeps the data longer."
                                  "\nhint: Only the privacy officer can do this: An Peeters (an), Bo Claes (bo).")
    early = AccessDeniedError(**refusal(STAFF, "clerk", "ceremony.early")).render("en")
    assert early == ("The account clerk may not record a ceremony date that makes a delivery due now, which "
                     "destroys it at once.\nhint: Only a staff member with the role destroy can do this.")
    either = AccessDeniedError(**refusal(STAFF, "x", "ceremony.set")).render("en")
    assert either.endswith("Only a staff member with the role modify, or the privacy officer (An Peeters (an), "
                           "Bo Claes (bo)), can do this.")

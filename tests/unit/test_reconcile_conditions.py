from datetime import UTC, datetime, timedelta

from mlops_operator.reconcile.conditions import Cond, set_conditions, with_conditions

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_transition_time_kept_while_status_unchanged() -> None:
    first = set_conditions([], [Cond("Ready", "False", "Profiling", "a")], 1, T0)
    second = set_conditions(first, [Cond("Ready", "False", "Training", "b")], 2, T1)
    assert second[0]["lastTransitionTime"] == "2026-01-01T12:00:00Z"
    assert second[0]["reason"] == "Training" and second[0]["observedGeneration"] == 2


def test_transition_time_moves_when_status_flips() -> None:
    first = set_conditions([], [Cond("Ready", "False", "Profiling")], 1, T0)
    second = set_conditions(first, [Cond("Ready", "True", "Profiled")], 1, T1)
    assert second[0]["lastTransitionTime"] == "2026-01-01T12:05:00Z"


def test_untouched_conditions_are_kept_and_ready_sorts_first() -> None:
    existing = set_conditions([], [Cond("Drifted", "Unknown", "TooFewSamples")], 1, T0)
    merged = set_conditions(existing, [Cond("Ready", "True", "Checked")], 1, T1)
    assert [c["type"] for c in merged] == ["Ready", "Drifted"]
    assert merged[1]["reason"] == "TooFewSamples"


def test_with_conditions_sets_observed_generation() -> None:
    patch = with_conditions({"phase": "Ready"}, {}, [Cond("Ready", "True", "Ok")], 7, T0)
    assert patch["observedGeneration"] == 7
    assert patch["conditions"][0]["observedGeneration"] == 7
    assert patch["phase"] == "Ready"


def test_a_status_object_is_written_whole_nothing_of_the_old_one_survives() -> None:
    from mlops_operator.reconcile.conditions import replacing, without_nones

    old = {"realized": 0.34, "labeled": 400, "metrics": {"accuracy": 0.34, "f1": 0.3}, "k": 1}
    new = without_nones({"realized": None, "labeled": 0, "metrics": {"accuracy": 0.9}})
    assert new == {"labeled": 0, "metrics": {"accuracy": 0.9}}
    patch = replacing(old, new)
    assert patch == {"labeled": 0, "metrics": {"accuracy": 0.9, "f1": None}, "realized": None,
                     "k": None}  # fmt: skip
    # what a JSON merge patch makes of it is exactly the new object
    merged = _merge(old, patch)
    assert merged == new
    assert replacing(None, new) == new and replacing(old, [1]) == [1]


def _merge(target: object, patch: object) -> object:
    """RFC 7386, as the API server applies a merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out

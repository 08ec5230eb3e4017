from provisioning.engine.strings import OneCopy


def fresh(text: str) -> str:
    """An equal string that is not the same object, as a decoder makes it."""
    return "".join(list(text))


def test_equal_strings_become_one_object_and_other_values_keep_their_type():
    once = OneCopy()
    first = once(fresh("Sales"))
    row = once.row([fresh("Sales"), 1, 1.0, True, None])
    mapping = once.mapping({fresh("department"): fresh("Sales"), "level": 1.0, "on": True})
    assert row[0] is first and mapping["department"] is first
    assert [type(v) for v in row[1:]] == [int, float, bool, type(None)]
    assert mapping == {"department": "Sales", "level": 1.0, "on": True}
    assert type(mapping["level"]) is float and mapping["on"] is True
    (key,) = [k for k in once.mapping({fresh("department"): "x"})]
    assert key is next(iter(mapping))

"""The task model beyond title and completion: due dates, priority, labels and completion time."""

import pytest


def create(client, user, headers, **fields):
    response = client.post(f"/api/{user}/tasks", json={"title": "Buy milk", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def refused_fields(response) -> set[str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {error["field"] for error in response.json()["errors"]}


def test_a_new_task_takes_the_defaults(client, alice, alice_headers):
    task = create(client, alice, alice_headers)
    assert (task["due_at"], task["priority"], task["labels"], task["completed_at"]) == (None, "none", [], None)


def test_every_new_field_is_stored_and_read_back(client, alice, alice_headers):
    task = create(client, alice, alice_headers, due_at="2026-12-02T18:00:00.123456+01:00", priority="high",
                  labels=["errand", "Home", "home", "ERRAND"])
    assert task["due_at"] == "2026-12-02T17:00:00.123456Z"  # the offset converted, not dropped
    assert task["priority"] == "high"
    assert task["labels"] == ["errand", "Home"]  # merged case-insensitively, first spelling kept
    assert client.get(f"/api/{alice}/tasks/{task['id']}", headers=alice_headers).json() == task


def test_labels_are_sorted_by_their_lower_cased_form_in_code_point_order(client, alice, alice_headers):
    task = create(client, alice, alice_headers, labels=["Zebra", "äpfel", "apple", "Книга", "10", "B"])
    assert task["labels"] == ["10", "apple", "B", "Zebra", "äpfel", "Книга"]


def test_labels_that_differ_only_in_case_are_one_label_in_every_script(client, alice, alice_headers):
    task = create(client, alice, alice_headers, labels=["ΟΔΟΣ", "οδοσ", "Straße", "STRASSE", "Книга", "КНИГА"])
    assert task["labels"] == ["Straße", "ΟΔΟΣ", "Книга"]
    listed = client.get(f"/api/{alice}/tasks", params={"label": "οδος"}, headers=alice_headers).json()
    assert [t["id"] for t in listed["tasks"]] == [task["id"]]


def test_a_lower_case_t_and_z_are_rfc_3339_too(client, alice, alice_headers):
    assert create(client, alice, alice_headers, due_at="2026-12-02t18:00:00z")["due_at"] == "2026-12-02T18:00:00Z"


def test_twenty_labels_after_merging_are_accepted_and_a_21st_is_refused(client, alice, alice_headers):
    twenty = [f"label-{n}" for n in range(20)]
    assert create(client, alice, alice_headers, labels=[*twenty, "LABEL-0"])["labels"] == sorted(twenty)

    response = client.post(f"/api/{alice}/tasks", json={"title": "t", "labels": [*twenty, "one more"]},
                           headers=alice_headers)
    assert refused_fields(response) == {"labels"}
    assert "20" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("label", ["", " leading", "trailing ", "with,comma", "tab\there", "nul\u0000", "del\u007f",
                                   "x" * 51, "\u00a0nbsp", "ideographic\u3000", "newline\n"])
def test_a_label_the_spec_refuses_is_a_400_naming_it(client, alice, alice_headers, label):
    response = client.post(f"/api/{alice}/tasks", json={"title": "t", "labels": ["fine", label]},
                           headers=alice_headers)
    assert refused_fields(response) == {"labels.1"}


@pytest.mark.parametrize("label", ["a", "x" * 50, "two words", "Книга", "家事", "🙂", "a\u00a0b"])
def test_labels_of_any_script_are_accepted(client, alice, alice_headers, label):
    assert create(client, alice, alice_headers, labels=[label])["labels"] == [label]


@pytest.mark.parametrize("body, field", [
    ({"priority": "urgent"}, "priority"),
    ({"priority": None}, "priority"),
    ({"due_at": "2026-12-02T18:00:00"}, "due_at"),  # no time zone
    ({"due_at": "2026-12-02"}, "due_at"),
    ({"due_at": "tomorrow"}, "due_at"),
    ({"due_at": "9999-12-31T23:59:59-01:00"}, "due_at"),  # past the year 9999 in UTC
    ({"due_at": "0001-01-01T00:00:00+01:00"}, "due_at"),  # before the year 1 in UTC
    ({"labels": "home"}, "labels"),
    ({"completed_at": "2026-12-02T18:00:00Z"}, "completed_at"),  # read-only
])
def test_bad_new_fields_are_a_400_naming_the_field(client, alice, alice_headers, body, field):
    for method, url in (("post", f"/api/{alice}/tasks"),
                        ("put", f"/api/{alice}/tasks/{create(client, alice, alice_headers)['id']}")):
        response = client.request(method, url, json={"title": "t", **body}, headers=alice_headers)
        assert refused_fields(response) == {field}, method


def test_update_is_partial_and_can_clear_the_due_date(client, alice, alice_headers):
    task = create(client, alice, alice_headers, due_at="2026-12-02T18:00:00Z", priority="low", labels=["a", "b"])
    url = f"/api/{alice}/tasks/{task['id']}"

    moved = client.put(url, json={"priority": "medium"}, headers=alice_headers).json()
    assert (moved["due_at"], moved["priority"], moved["labels"]) == ("2026-12-02T18:00:00Z", "medium", ["a", "b"])

    replaced = client.put(url, json={"labels": ["C"], "due_at": None}, headers=alice_headers).json()
    assert (replaced["due_at"], replaced["labels"], replaced["title"]) == (None, ["C"], "Buy milk")
    assert client.put(url, json={"labels": []}, headers=alice_headers).json()["labels"] == []


def test_updated_at_moves_only_when_a_new_field_really_changes(client, alice, alice_headers):
    task = create(client, alice, alice_headers, due_at="2026-12-02T18:00:00+01:00", priority="low", labels=["Home"])
    url = f"/api/{alice}/tasks/{task['id']}"

    same = client.put(url, json={"due_at": "2026-12-02T17:00:00Z", "priority": "low", "labels": ["Home", "home"]},
                      headers=alice_headers).json()
    assert same == task

    respelled = client.put(url, json={"labels": ["home"]}, headers=alice_headers).json()
    assert respelled["labels"] == ["home"] and respelled["updated_at"] > task["updated_at"]


def test_completed_at_follows_completion_by_every_route(client, alice, alice_headers):
    task = create(client, alice, alice_headers, completed=True)
    url = f"/api/{alice}/tasks/{task['id']}"
    first = task["completed_at"]
    assert first is not None and first.endswith("Z") and first == task["created_at"]

    # Completing again, by update or by setting, keeps the first completion time.
    assert client.put(url, json={"completed": True, "title": "Renamed"}, headers=alice_headers).json()["completed_at"] \
        == first
    assert client.patch(f"{url}/complete", json={"completed": True}, headers=alice_headers).json()["completed_at"] \
        == first

    reopened = client.patch(f"{url}/complete", headers=alice_headers).json()  # toggle
    assert (reopened["completed"], reopened["completed_at"]) == (False, None)
    redone = client.patch(f"{url}/complete", headers=alice_headers).json()
    assert redone["completed"] and redone["completed_at"] > first and redone["completed_at"] == redone["updated_at"]

    assert client.put(url, json={"completed": False}, headers=alice_headers).json()["completed_at"] is None
    set_done = client.patch(f"{url}/complete", json={"completed": True}, headers=alice_headers).json()
    assert set_done["completed_at"] == set_done["updated_at"]
    assert client.patch(f"{url}/complete", json={"completed": False}, headers=alice_headers).json()["completed_at"] \
        is None

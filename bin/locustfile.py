"""The load test of `make bench-load` (bin/bench): people of each role browsing their pages.

bin/bench writes the plan (var/bench/load-plan.json): for each role, a signed-in session and the pages
that role opens (from the permission table, with the synthetic trust's ids). Each simulated person takes a
role in turn and opens its pages at random, a second or two apart, as someone reading would.
"""

import itertools
import json
import os
import random

from locust import HttpUser, between, task

with open(os.environ.get("BENCH_PLAN", "var/bench/load-plan.json")) as f:
    PLAN = json.load(f)
ROLES = itertools.cycle(sorted(PLAN["people"]))


class Person(HttpUser):
    wait_time = between(1, 2)

    def on_start(self):
        self.role = next(ROLES)
        person = PLAN["people"][self.role]
        self.paths = person["paths"]
        self.client.cookies.set(PLAN["cookie"], person["session"])

    @task
    def browse(self):
        path = random.choice(self.paths)
        # Grouped by role and page, not by id, so the summary stays readable.
        with self.client.get(path, name=f"{self.role} {path[:60]}", allow_redirects=False, catch_response=True) as r:
            if r.status_code >= 400:
                r.failure(f"{r.status_code}")
            elif r.status_code in (301, 302) and "/accounts/login/" in r.headers.get("Location", ""):
                r.failure("signed out")
            else:
                r.success()

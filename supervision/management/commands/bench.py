"""`make bench`: build a synthetic trust, then time every page each role uses and every beat job (issue 14).

Run it through bin/bench, which points it at its own PostgreSQL database (never the development or test
data), migrates it and runs the optional load test.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from supervision import bench, bench_run


class Command(BaseCommand):
    help = "Generate a synthetic trust and print the time of every page and beat job against it."

    def add_arguments(self, parser):
        parser.add_argument("--staff", type=int, default=12000)
        parser.add_argument(
            "--setting-count", type=int, default=100, help="Settings (schools); bin/bench calls it --settings."
        )
        parser.add_argument("--seed", type=int, default=14)
        parser.add_argument(
            "--repeat", type=int, default=5, help="Requests a page, after a warm-up; the median counts."
        )
        parser.add_argument("--reuse", action="store_true", help="Measure the trust made last time; generate none.")
        parser.add_argument("--generate-only", action="store_true")
        parser.add_argument("--only", default="", help="Only the pages and jobs whose name contains this.")
        parser.add_argument("--no-jobs", action="store_true", help="Pages only, no beat jobs.")
        parser.add_argument(
            "--export", type=int, default=0, help="Time an auditor's export of this many records (needs a worker)."
        )
        parser.add_argument("--worker-pid", type=int, default=None, help="The Celery worker, for its peak memory.")
        parser.add_argument("--load-plan", default="", help="Write the load test's sessions and pages to this file.")

    def handle(self, *args, **options):
        out = self.stdout.write
        if options["reuse"]:
            organisation = bench_run.latest_trust()
            if organisation is None:
                raise CommandError("No benchmark trust in this database: run without --reuse first.")
            people = bench_run.people_of(organisation)
            missing = [who for who, person in people.items() if person is None]
            if missing:
                raise CommandError(
                    f"The benchmark trust has no {', '.join(missing)} (made before they were measured): "
                    "run without --reuse to make it again."
                )
            # The last run's export rewrote a thousand records' rows twice: among the dead rows of a few
            # runs, a list of records read 15% slower (issue 14).
            bench.vacuum()
        else:
            out(f"Generating a trust of {options['staff']} staff in {options['setting_count']} settings...")
            start = time.perf_counter()
            trust = bench.generate(
                staff=options["staff"], settings=options["setting_count"], seed=options["seed"], log=out
            )
            out(
                f"Generated in {time.perf_counter() - start:.0f} s: "
                + ", ".join(f"{v} {k}" for k, v in trust.counts.items())
            )
            organisation, people = trust.organisation, trust.people
        if options["load_plan"]:
            bench_run.load_plan(organisation, people, options["load_plan"])
        if options["generate_only"]:
            return
        out(
            f"\nPages, median of {options['repeat']} requests; 'x trivial': against the median of "
            "/accounts/password/ for the same person, requested just before each of them."
        )
        out(bench_run.HEADER)
        results = bench_run.measure_pages(organisation, people, repeat=options["repeat"], only=options["only"], log=out)
        if not options["no_jobs"]:
            out("\nBeat jobs, run once each (peak memory from a second, traced run).")
            out(bench_run.HEADER)
            results += bench_run.measure_jobs(only=options["only"], log=out)
            if not options["only"] or options["only"] in "records.store_record_pdf":
                out("\nThe signed PDF: rendered, signed and stored, as a worker does once a record is signed.")
                results.append(bench_run.measure_pdf(organisation, repeat=max(options["repeat"], 20), log=out))
            if options["export"] and (not options["only"] or options["only"] in "records.run_export"):
                out(f"\nAn auditor's export of {options['export']} records whose PDFs are missing, by the workers.")
                results.append(
                    bench_run.measure_export(
                        organisation, people, records=options["export"], worker_pid=options["worker_pid"], log=out
                    )
                )
        failed = [r for r in results if r.status >= 500]
        slow = sorted(
            (r for r in results if r.ratio is not None and r.ratio > bench_run.RATIO_LIMIT), key=lambda r: -r.ratio
        )
        out(
            f"\n{len(results)} measured; {len(slow)} pages over {bench_run.RATIO_LIMIT}x the trivial page; "
            f"{len(failed)} errors."
        )
        for r in slow:
            out("  slow: " + bench_run.format_result(r))
        for r in failed:
            out("  error: " + bench_run.format_result(r))
        staff = organisation.staff.count()
        out(
            f"\nIssue 14's targets, as this run found them at {staff:,} staff in {organisation.settings.count()} "
            f"settings{'' if staff >= 12000 else ' (the issue sets them for 12,000)'}; the load test, when asked "
            "for, follows:"
        )
        for target in bench_run.check_targets(results):
            out(bench_run.format_target(target))

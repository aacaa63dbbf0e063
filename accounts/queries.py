"""Query expressions shared by the apps (issue 14)."""

from django.db import models
from django.db.models import F, Func, Q, Subquery
from django.db.models.functions import Coalesce


class InArray(models.Expression):
    """`column = ANY(ARRAY(subquery))` on PostgreSQL, `column IN (subquery)` elsewhere: the subquery's
    few ids are worked out first and then looked up by index. A plain IN or a join lets the planner hash a
    whole table instead: the overdue actions of one school scanned all 77,000 records of a 12,000-staff
    trust (28 ms) to keep the 742 of its 829 sessions (3 ms this way, issue 14)."""

    output_field = models.BooleanField()
    conditional = True

    def __init__(self, column, queryset):
        super().__init__()
        self.column = F(column) if isinstance(column, str) else column
        # Without the model's default ordering: a set needs none, and PostgreSQL sorted it for nothing
        # (an auditor's 7,600 covered records, by date, on every dashboard list).
        self.subquery = Subquery(queryset.order_by())

    def get_source_expressions(self):
        return [self.column, self.subquery]

    def set_source_expressions(self, exprs):
        self.column, self.subquery = exprs

    def as_sql(self, compiler, connection):
        column, column_params = compiler.compile(self.column)
        subquery, subquery_params = compiler.compile(self.subquery)  # (SELECT ...)
        return f"{column} IN {subquery}", (*column_params, *subquery_params)

    def as_postgresql(self, compiler, connection):
        column, column_params = compiler.compile(self.column)
        subquery, subquery_params = compiler.compile(self.subquery)
        return f"{column} = ANY(ARRAY{subquery})", (*column_params, *subquery_params)


class OneOf(models.Expression):
    """`column IN (values)` for a list of ids known in Python, as `column = ANY(%s)` with the list as one
    array parameter on PostgreSQL (`IN` with a parameter each elsewhere). The same rows as
    `column__in=values`, and the same plan (PostgreSQL reads `IN (...)` as `= ANY(...)`), but compiled
    without preparing each value: a school's 120 people, named a dozen times in a dashboard's query, were
    1,400 parameters prepared one at a time, a third of the Python time of a head's home page (issue 14).
    NULL in `column` is neither in nor out, as with `IN`. An empty list matches nothing."""

    output_field = models.BooleanField()
    conditional = True

    def __init__(self, column, values):
        super().__init__()
        self.column = F(column) if isinstance(column, str) else column
        self.values = sorted({int(v) for v in values})

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, exprs):
        (self.column,) = exprs

    def as_sql(self, compiler, connection):
        column, params = compiler.compile(self.column)
        if not self.values:
            return "1 = 0", ()
        return f"{column} IN ({', '.join(['%s'] * len(self.values))})", (*params, *self.values)

    def as_postgresql(self, compiler, connection):
        column, params = compiler.compile(self.column)
        return f"{column} = ANY(%s::bigint[])", (*params, self.values)


def in_values(model, path: str, values, where: Q | None = None) -> Q | InArray:
    """Rows of `model` whose `path` (through foreign keys, `record__session__setting_id`) is one of
    `values`, one `InArray` a foreign key: from the few rows at the far end inwards. `where`: conditions
    on the rows at the far end (the sessions of a year), applied there, before any is looked up inwards."""
    first, _, rest = path.partition("__")
    if not rest:
        return Q(**{f"{first}__in": values}) & (where or Q())
    field = model._meta.get_field(first)
    inner = field.related_model._base_manager.filter(in_values(field.related_model, rest, values, where))
    return InArray(field.attname, inner.values(field.target_field.attname))


def count_of(qs, *, distinct: bool = False):
    """A correlated count of `qs` as an annotation (0 when none): one subquery, no join that multiplies the
    outer rows. `COUNT(*)`, which an index on the correlated column answers alone (the records of a form's
    version: 21 to 7 ms at 77,000, issue 14); `COUNT(DISTINCT pk)` when `distinct`, for a `qs` whose joins
    repeat its rows."""
    template = "COUNT(DISTINCT %(expressions)s)" if distinct else "COUNT(*)"
    counted = qs.order_by().values(n=Func(F("pk"), template=template, output_field=models.IntegerField()))
    return Coalesce(Subquery(counted[:1]), 0)

# An auditor's export counts the PDFs the workers make for it before its ZIP (ExportJob.making_pdfs).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("records", "0015_decision_and_flag_setting"),
    ]

    operations = [
        migrations.AddField(
            model_name="exportjob",
            name="making_pdfs",
            field=models.BooleanField(default=False),
        ),
    ]

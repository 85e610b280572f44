"""What `breakeven finetune` / `finetune-jobs` print and the Quality page shows about CPU
fine-tuning jobs (one wording for both)."""

from __future__ import annotations

from analysis.replay.tuning.fine_tune_jobs import FineTuneJob


def job_rows(jobs: list[FineTuneJob]) -> list[dict]:
    """One row per job: id, status, base model, tokens, epochs, seconds, candidate, message."""
    return [{"job": job.job_id, "status": job.status, "base model": job.base_model,
             "export": job.export_id or job.settings.get("export_directory"),
             "training tokens": job.training_tokens, "epochs": job.epochs_done,
             "train seconds": round(job.train_seconds, 1) if job.train_seconds is not None else None,
             "candidate": job.candidate or "", "message": job.error or job.message or "",
             "created": job.created_at[:19]} for job in jobs]


def job_line(job: FineTuneJob) -> str:
    """One line: the job, its status, progress and message (the CLI's progress line)."""
    share = f" {100 * job.progress:.0f}%" if job.progress is not None and job.status in ("running", "cancelling") else ""
    candidate = f" -> {job.candidate}" if job.candidate else ""
    return f"job {job.job_id} {job.status}{share}: {job.error or job.message or ''}{candidate}"


def export_label(export) -> str:
    """An export in a picker: id, date, train rows (`training_set.TrainingExport`)."""
    counts = export.manifest.get("counts", {})
    created = str(export.manifest.get("created_at", ""))[:16].replace("T", " ")
    return f"{export.export_id} ({created}, {counts.get('train', '?')} train / {counts.get('test', '?')} test)"


def speed_text(seconds_per_token: float | None, tokens: int, epochs: int) -> str:
    """The expected training time of `tokens` x `epochs` at the measured speed, or why none is known."""
    if seconds_per_token is None:
        return ("No job has finished in this workspace yet, so its training speed is not measured here; the "
                "time budget stops the job in any case.")
    minutes = seconds_per_token * tokens * epochs / 60
    return (f"Measured here: {seconds_per_token * 1000:.0f} s per 1,000 tokens per epoch, so at most "
            f"{minutes:.1f} minutes for {tokens:,} tokens x {epochs} epoch(s).")

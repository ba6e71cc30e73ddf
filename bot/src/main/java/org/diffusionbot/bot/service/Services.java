package org.diffusionbot.bot.service;

import org.diffusionbot.bot.workers.WorkerRegistry;

/** The application services the Discord adapters use (built once, in {@link org.diffusionbot.bot.Bot}). */
public record Services(SubmitService submit, DerivedJobs derived, CancelService cancel, JobViews views,
        QuotaService quotas, UserSettingsService userSettings, AdminService admin, ModerationService moderation,
        LoraService loras, WorkerRegistry workers, FleetStatus fleet) {
}

package org.diffusionbot.bot.discord;

import java.util.Set;
import org.diffusionbot.bot.workers.WorkerRegistry;
import org.diffusionbot.db.ImageStore;
import org.diffusionbot.db.SettingsStore;

/**
 * What the buttons, /settings, /models and /admin need besides the job service: the settings and image stores,
 * the worker registry (heartbeats) and the role ids that make a member an admin (besides Manage Server).
 */
public record UxContext(SettingsStore settings, ImageStore images, WorkerRegistry workers, Set<Long> adminRoleIds) {
    public UxContext {
        adminRoleIds = Set.copyOf(adminRoleIds);
    }
}
